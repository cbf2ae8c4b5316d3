"""The evidence export of one vendor and period, measured in a process of its own (so its
peak RSS is the export's, not the ledger generator's), with a same-run baseline.

- export: what `smsprobe-collector evidence export` runs — `iter_records` (a day of
  planned time at a time) into `write_bundle`, streamed to a file; and with
  `--workers 2` (`iter_encoded`: worker processes build and encode the windows); the extra files
  (report pages, billing.json from the message ids the records carried) as the command
  makes them, minus the agent certificates (none in a generated ledger);
- baseline: a raw SQL dump of the same rows to a zip at the same deflate level — the
  vendor's probes of each day with their verdicts, DLRs and revisions (joined by planned
  time), the quoted SMS records with their parts and signed bytes (by uuid) — each row
  written as its repr: the reads and the compression with next to no Python per record.

`measure(url, ...)` runs both as `python bench/evidence_export.py --child ...` and
returns seconds, records, bundle bytes and peak RSS (MiB, VmHWM; of the main process:
the workers' own are not in it) of each. Used by
bench/year_ledger.py; runnable alone on an existing ledger:

    python bench/evidence_export.py --url sqlite:///year.db --vendor vendor-2 \
        --since-ns ... --until-ns ...
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "protos" / "python")]

DAY_NS = 86400 * 1_000_000_000


def _export(
    url: str, vendor: str, since_ns: int, until_ns: int, workers: int = 1
) -> dict[str, Any]:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from collector.billing.terms import VendorTerms
    from collector.evidence.billing import billing_file
    from collector.evidence.bundle import write_bundle
    from collector.evidence.pages import BundleReport
    from collector.evidence.records import export_records
    from collector.ledger import open_ledger
    from collector.reports.figures import Thresholds

    ledger = open_ledger(url)
    billed: dict[str, Any] = {}
    signers: set[str] = set()

    def records() -> Any:  # as the command: in this process, or `workers` processes
        yield from export_records(
            ledger, url, workers=workers, signers=signers, billed=billed,
            vendor=vendor, since_ns=since_ns, until_ns=until_ns,
        )  # fmt: skip

    # the pages and report.json's cells from one report, as the command
    pages = BundleReport(vendor, "s", "u", "now", "b", Thresholds(), {})

    def extra_files(judged: Any) -> dict[str, bytes]:
        return {
            **pages.pages(judged),
            "billing.json": billing_file(vendor, judged, VendorTerms(vendor), billed),
        }

    with tempfile.TemporaryFile() as sink:
        t0 = time.perf_counter()
        written = write_bundle(
            sink, records(), signing_key=Ed25519PrivateKey.generate(), vendor=vendor,
            since="s", until="u", software_version="b", created_at="now",
            extra_files=extra_files, report_tables=pages.json_tables,
        )  # fmt: skip
        seconds = time.perf_counter() - t0
        size = sink.tell()
    ledger.close()
    return {"s": seconds, "records": written.records, "bytes": size, "workers": workers}


def _baseline(url: str, vendor: str, since_ns: int, until_ns: int) -> dict[str, Any]:
    from collector.evidence.bundle import COMPRESSLEVEL
    from collector.ledger import open_ledger
    from collector.ledger.sql.query import chunks, marks

    ledger = open_ledger(url)
    by_planned = (
        " JOIN probes p ON p.probe_id = x.probe_id WHERE p.vendor = ? AND p.planned_at_ns >= ?"
        " AND p.planned_at_ns < ? ORDER BY p.planned_at_ns, p.probe_id"
    )
    rows = 0
    with tempfile.TemporaryFile() as sink:
        t0 = time.perf_counter()
        with (
            zipfile.ZipFile(sink, "w", zipfile.ZIP_DEFLATED, compresslevel=COMPRESSLEVEL) as zf,
            zf.open("rows.txt", "w", force_zip64=True) as out,
        ):
            for lo in range(since_ns, until_ns, DAY_NS):
                span = (vendor, lo, min(lo + DAY_NS, until_ns))
                with ledger._transaction(write=False) as tx:
                    got = [
                        tx.all(
                            "SELECT * FROM probes WHERE vendor = ? AND planned_at_ns >= ?"
                            " AND planned_at_ns < ? ORDER BY planned_at_ns, probe_id",
                            span,
                        )
                    ]
                    for table in ("verdicts", "dlrs", "verdict_revisions"):
                        got.append(tx.all(f"SELECT x.* FROM {table} x{by_planned}", span))
                    uuids = [u for v in got[1] for u in v["arrival_uuids"].split(",") if u]
                    for chunk in chunks(uuids):
                        sms = tx.all(
                            "SELECT r.*, s.* FROM records r JOIN sms s ON s.record_id = r.id"
                            f" WHERE r.uuid IN ({marks(len(chunk))})",
                            chunk,
                        )
                        ids = [r["record_id"] for r in sms]
                        parts = tx.all(
                            f"SELECT * FROM sms_parts WHERE record_id IN ({marks(len(ids))})",
                            ids,
                        )
                        got += [sms, parts]
                for result in got:
                    rows += len(result)
                    out.write("\n".join(repr(_values(r)) for r in result).encode())
        seconds = time.perf_counter() - t0
        size = sink.tell()
    ledger.close()
    return {"s": seconds, "rows": rows, "bytes": size}


def _values(row: Any) -> list[Any]:
    """A row's values: psycopg's dict rows and sqlite3.Row alike."""
    return list(row.values()) if isinstance(row, dict) else list(row)


def measure(url: str, vendor: str, since_ns: int, until_ns: int) -> dict[str, Any]:
    """The export and its baseline, each in a fresh process: seconds, sizes, peak RSS."""
    out: dict[str, Any] = {}
    for what, n in (("export", 1), ("export_2_workers", 2), ("baseline", 1)):
        done = subprocess.run(
            [sys.executable, __file__, "--child", what.split("_")[0], "--url", url,
             "--vendor", vendor, "--since-ns", str(since_ns), "--until-ns", str(until_ns),
             "--workers", str(n)],
            capture_output=True, text=True, check=False,
        )  # fmt: skip
        if done.returncode != 0:
            raise SystemExit(f"evidence export {what} failed:\n{done.stderr}")
        out[what] = json.loads(done.stdout.strip().splitlines()[-1])
    return out


def result_fields(measured: dict[str, Any], factor: float) -> dict[str, Any]:
    """bench/year_ledger.py's JSON fields for a `measure` result (factor: to a month of
    the full year's density)."""
    export, base = measured["export"], measured["baseline"]
    two = measured["export_2_workers"]
    return {
        "evidence_export_2_workers_s": round(two["s"], 3),
        "evidence_export_2_workers_peak_rss_mib": two["peak_rss_mib"],
        "evidence_export_cpu_s": export["cpu_s"],
        "evidence_export_records": export["records"],
        "evidence_export_bundle_bytes": export["bytes"],
        "evidence_export_peak_rss_mib": export["peak_rss_mib"],
        "evidence_export_raw_dump_s": round(base["s"], 3),
        "evidence_export_raw_dump_full_year_s": round(base["s"] * factor, 1),
        "evidence_export_raw_dump_cpu_s": base["cpu_s"],
        "evidence_export_raw_dump_rows": base["rows"],
        "evidence_export_raw_dump_peak_rss_mib": base["peak_rss_mib"],
    }


def _standalone(args: argparse.Namespace) -> dict[str, Any]:
    """On --url and its period, or on a SQLite ledger of 3 days generated at --scale by
    bench/year_ledger.py (the export: the first whole day, vendor-2)."""
    if args.url is not None:
        if args.since_ns is None or args.until_ns is None:
            raise SystemExit("--url needs --since-ns and --until-ns")
        return measure(args.url, args.vendor, args.since_ns, args.until_ns)
    import structlog
    from year_ledger import generate

    from collector.ledger import open_ledger

    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(40))
    with tempfile.TemporaryDirectory(prefix="smsprobe-export-") as tmp:
        url = f"{tmp}/year.db"
        end_ns = time.time_ns() // 1_000_000_000 * 1_000_000_000
        ledger = open_ledger(url)
        made = generate(ledger, args.scale, end_ns, 3)
        ledger.close()
        measured = measure(url, args.vendor, end_ns - 3 * DAY_NS, end_ns - 2 * DAY_NS)
    factor = 30 / args.scale
    return {"scale": args.scale, **made, **result_fields(measured, factor),
            "evidence_export_s": round(measured["export"]["s"], 3),
            "evidence_export_full_year_s": round(measured["export"]["s"] * factor, 1)}  # fmt: skip


def _peak_rss_mib() -> float:
    """This process's peak RSS since its exec (VmHWM). Not getrusage's ru_maxrss: Linux
    carries the parent's high-water mark across fork and exec, so a child started by a
    process holding a generated ledger's gigabytes reported those as its own peak."""
    with open("/proc/self/status") as status:
        kib = next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))
    return round(kib / 1024, 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--child", choices=("export", "baseline"))
    parser.add_argument("--url", help="an existing ledger (default: generate one)")
    parser.add_argument("--vendor", default="vendor-2")
    parser.add_argument("--since-ns", type=int)
    parser.add_argument("--until-ns", type=int)
    parser.add_argument("--workers", type=int, default=1, help="--child export's processes")
    parser.add_argument("--scale", type=float, default=0.1, help="generated: year_ledger's")
    args = parser.parse_args()
    if args.child is None:
        print(json.dumps({"bench": "evidence_export", **_standalone(args)}))
        return
    import structlog

    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(40))
    if args.child == "export":
        result = _export(args.url, args.vendor, args.since_ns, args.until_ns, args.workers)
    else:
        result = _baseline(args.url, args.vendor, args.since_ns, args.until_ns)
    result["peak_rss_mib"] = _peak_rss_mib()
    # CPU seconds (this process's threads, and worker processes it waited for): on a shared
    # machine the wall time follows the load, the CPU time far less
    own, workers = (
        resource.getrusage(who) for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)
    )
    result["cpu_s"] = round(
        sum((own.ru_utime, own.ru_stime, workers.ru_utime, workers.ru_stime)), 2
    )
    print(json.dumps(result))


if __name__ == "__main__":
    main()
