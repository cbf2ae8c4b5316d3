"""A month's SLA report on an existing ledger, against the floor of ordering its values.

    python bench/month_report.py [LEDGER_URL] [--days 30] [--runs 3] [--command] [--priced]
                                 [--scale 0.02]

The month: the `--days` whole days of the reports' zone (Asia/Shanghai, the default of
[reports] timezone) ending at the local midnight a day before the ledger's newest planned
probe (the days it overlaps closed and compacted) — on a ledger
`bench/year_ledger.py` generated (`generate`, rollups rebuilt and compacted for the zone:
what the judge's compaction does). Each measurement in a process of its own, as a `report`
command runs (no cache an earlier step warmed), the steps alternating, `--runs` times:

- figures: `load_tallies` + `build_report` (all vendors, the period's slices and bucket),
  seconds and CPU seconds; the tallies made;
- command (`--command`): `period_report` as the `report` command calls it, rollups serving
  (`--priced`: every vendor billed on submit, so each lost probe is over-charged and
  listed), with the process' peak RSS and the CPU of the process that reads the channel
  section beside it (beside_cpu_s; cpu_s is this process' alone);
- command_target_s, command_meets_target: the target of bench/year_ledger.py's TARGETS_S
  (docs/scale.md), against the command's median run;
- values_floor (the same-run baseline): the month's value blobs stored for the zone read by
  one plain SELECT, each value key's days joined in C, made Python floats at once and
  sorted, then freed: what ordering the values costs in Python before any figure is made
  (every percentile and its interval needs them ordered); figures_over_floor compares.

Without LEDGER_URL (`make bench`), a month of `--days` + 2 days is generated first at
`--scale` of the year's density into a temporary SQLite file (`generate`, then the rollups
rebuilt and compacted for the zone): the same steps on a small month, the JSON line
saying which (`generated_scale`); the real month's figures need the real density (about
15 minutes to generate, `bench/year_ledger.py`). Prints one JSON line. Opening the ledger
applies this code's migrations to it.
"""

from __future__ import annotations

import argparse
import gc
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from array import array
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "protos" / "python"), str(ROOT / "bench")]

import structlog  # noqa: E402
from year_ledger import TARGETS_S, generate  # noqa: E402

from collector.billing.config import BillingConfig  # noqa: E402
from collector.billing.terms import Model, VendorTerms  # noqa: E402
from collector.ledger import open_ledger  # noqa: E402
from collector.ledger.rollups import DAY_NS, whole_offset_ns  # noqa: E402
from collector.ledger.sql.rollup_days import BLOB_KEY  # noqa: E402
from collector.probes.bands import Periods  # noqa: E402
from collector.reports.build import build_report  # noqa: E402
from collector.reports.config import ReportsConfig  # noqa: E402
from collector.reports.judged import HOURLY, load_tallies  # noqa: E402
from collector.reports.period import period_bucket, period_report, period_slices  # noqa: E402


def month_of(ledger: Any, days: int, zone: Any) -> tuple[int, int]:
    """[since, until): `days` whole local days ending at the local midnight at least a day
    before the newest planned probe (so the UTC days it overlaps are closed: compacted)."""
    with ledger._transaction(write=False) as tx:
        newest = int(tx.tuples("SELECT max(planned_at_ns) FROM probes")[0][0])
    offset = whole_offset_ns(zone, [newest]) or 0  # a zone of whole hours (period_slices)
    until = (newest - DAY_NS + offset) // DAY_NS * DAY_NS - offset
    return until - days * DAY_NS, until


def timed(step: Callable[[], Any]) -> tuple[Any, float, float]:
    wall, cpu = time.perf_counter(), time.process_time()
    out = step()
    return out, time.perf_counter() - wall, time.process_time() - cpu


def values_floor(ledger: Any, since: int, until: int, offset: int) -> tuple[int, float]:
    """The month's stored local parts for the zone (those of its local days, from the UTC
    days it overlaps), each value key's ordered as Python floats (module doc): (values
    ordered, seconds)."""
    wall = time.perf_counter()
    was = gc.isenabled()
    gc.disable()  # as the report's steps (reports/gc_paused.py)
    try:
        with ledger._transaction(write=False) as tx:
            rows = tx.tuples(
                f"SELECT {', '.join(BLOB_KEY)}, local_days, local_vals FROM rollup_value_days"
                " WHERE day_ns >= ? AND day_ns < ? AND local_offset_ns = ?",
                (since // DAY_NS * DAY_NS, until, offset),
            )
        by_key: dict[tuple[Any, ...], list[bytes]] = {}
        for r in rows:
            heads, vals, start = array("q"), bytes(r[-1]), 0
            heads.frombytes(bytes(r[-2]))
            parts = by_key.setdefault(tuple(r[:-2]), [])
            for day, end in zip(heads[0::2], heads[1::2], strict=True):
                if since <= day < until:  # (local day, where its part ends), 8-byte floats
                    parts.append(vals[start * 8 : end * 8])
                start = end
        ordered, n = [], 0
        for parts in by_key.values():
            packed = array("d")
            packed.frombytes(b"".join(parts))
            values = packed.tolist()
            values.sort()
            ordered.append(values)
            n += len(values)
        del rows, by_key, ordered
    finally:
        if was:
            gc.enable()
    return n, time.perf_counter() - wall


def measure(what: str, url: str, days: int, priced: bool) -> dict[str, Any]:
    """One measurement (`what`: floor, figures, command) in this process, as a fresh
    `report` process would make it (no cache of an earlier step warm)."""
    periods, reports = Periods(), ReportsConfig()
    ledger = open_ledger(url)
    try:
        since, until = month_of(ledger, days, periods.tz)
        slices = period_slices(since, until, periods.tz) or HOURLY
        out: dict[str, Any] = {"since_ns": since, "until_ns": until}
        if what == "floor":
            out["values_ordered"], out["s"] = values_floor(ledger, since, until, slices.offset_ns)
            return out
        if what == "figures":

            def figures() -> int:
                tallies = load_tallies(ledger, since_ns=since, until_ns=until, slices=slices)[2]
                build_report(tallies, since="", until="", generated_at="",
                             software_version="bench",
                             bucket_s=period_bucket(until - since, tallies))  # fmt: skip
                return len(tallies)

            out["tallies"], out["s"], out["cpu_s"] = timed(figures)
            return out
        billing = BillingConfig()
        if priced:  # every vendor billed on submit: each lost probe over-charged, listed
            vendors = _vendors(ledger)
            billing = BillingConfig(vendors={v: VendorTerms(v, Model.ON_SUBMIT, 0.04 + i / 100)
                                             for i, v in enumerate(vendors)})  # fmt: skip
        (_, out["probes"]), out["s"], out["cpu_s"] = timed(lambda: period_report(
            ledger, since_ns=since, until_ns=until, vendor=None, reports=reports,
            billing=billing, periods=periods, generated_at="bench", url=url))  # fmt: skip
        out["peak_rss_mib"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
        beside = resource.getrusage(resource.RUSAGE_CHILDREN)  # the channel section's process
        out["beside_cpu_s"] = beside.ru_utime + beside.ru_stime
        return out
    finally:
        ledger.close()


def _vendors(ledger: Any) -> list[str]:
    with ledger._transaction(write=False) as tx:
        return sorted(str(r[0]) for r in tx.tuples("SELECT DISTINCT vendor FROM probes"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "ledger",
        nargs="?",
        help="ledger URL or SQLite path (a generated month; none: generate one)",
    )
    parser.add_argument(
        "--scale",
        type=float,
        default=0.02,
        help="density of a month generated without a ledger (default 0.02)",
    )
    parser.add_argument("--days", type=int, default=30, help="whole local days (default 30)")
    parser.add_argument("--runs", type=int, default=3, help="measurements of each (default 3)")
    parser.add_argument("--command", action="store_true", help="also the `report` command")
    parser.add_argument("--priced", action="store_true", help="the command priced on submit")
    parser.add_argument("--one", choices=("floor", "figures", "command"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(40))
    if args.one:  # a measurement in a process of its own (below)
        print(json.dumps(measure(args.one, args.ledger, args.days, args.priced)))
        return
    steps = ["floor", "figures"] + (["command"] if args.command else [])
    out: dict[str, Any] = {"bench": "month_report", "days": args.days, "priced": args.priced}
    with tempfile.TemporaryDirectory() as scratch:
        if args.ledger is None:
            args.ledger = str(Path(scratch) / "month.db")
            out["generated_scale"] = args.scale
            out["generated_probes"] = generated(args.ledger, args.scale, args.days + 2)
        measured(args, steps, out)
    print(json.dumps(out))


def generated(url: str, scale: float, days: int) -> int:
    """A ledger of `days` days ending now at `scale` of the year's density, its rollups
    rebuilt and compacted for the reports' zone, as the judge's compaction leaves them."""
    ledger = open_ledger(url)
    try:
        made = generate(ledger, scale, time.time_ns(), days)
        ledger.check_rollups(rebuild=True, zone=Periods().tz)
        return int(made["probes"])
    finally:
        ledger.close()


def measured(args: argparse.Namespace, steps: list[str], out: dict[str, Any]) -> None:
    """Each step `args.runs` times, alternating, each in a process of its own, into `out`."""
    for _ in range(args.runs):  # each step in a fresh process, the steps alternating
        for step in steps:
            child = [sys.executable, __file__, args.ledger, "--days", str(args.days), "--one", step]
            done = subprocess.run(child + (["--priced"] if args.priced else []),
                                  check=True, capture_output=True, text=True)  # fmt: skip
            got = json.loads(done.stdout.splitlines()[-1])
            out["since_ns"], out["until_ns"] = got.pop("since_ns"), got.pop("until_ns")
            name = {"floor": "values_floor"}.get(step, step)
            for key, value in got.items():
                if key in ("s", "cpu_s", "peak_rss_mib", "beside_cpu_s"):
                    out.setdefault(f"{name}_{key}", []).append(round(value, 3))
                else:
                    out[key] = value
    out["figures_over_floor"] = round(
        statistics.median(out["figures_s"]) / statistics.median(out["values_floor_s"]), 2
    )
    if "command_s" in out:  # the operation people wait for, by its median run
        out["command_target_s"] = TARGETS_S["month_report"]
        out["command_meets_target"] = statistics.median(out["command_s"]) <= out["command_target_s"]


if __name__ == "__main__":
    main()
