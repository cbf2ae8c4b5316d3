"""Ledger rows as the figures see them: one conversion for reports, alerts, time series,
evidence and the demo, so they all count the same probes the same way.

This is the data seam between the ledger and everything that reports on it; it lives apart
from the `report` command so alerts and evidence do not import a CLI module.
"""

from __future__ import annotations

import functools
from collections import defaultdict
from collections.abc import Callable, Collection, Iterator, Sequence
from dataclasses import dataclass, replace
from typing import Any

from agent.common.numberplan import national
from collector.correlation.model import Outcome
from collector.ledger.base import Ledger
from collector.ledger.probes import JudgedRow, StoredProbe, StoredVerdict
from collector.ledger.rollups import DAY_NS, HOUR_NS, RollupCount, Slices, ValueRun
from collector.reports.figures import JudgedProbe, Tally, tally_of
from collector.reports.gc_paused import without_gc_pauses
from collector.reports.lines import line_type

HOURLY = Slices()  # hour by hour, UTC days
PROBE_FIELDS = tuple(JudgedProbe.__dataclass_fields__)  # JudgedProbe's positional order
_SENT_AT = PROBE_FIELDS.index("submitted_at_ns")
_rollup_count: Callable[..., RollupCount] = RollupCount  # from a CountSum's key (unsized)


def load_judged(
    ledger: Ledger, *, since_ns: int, until_ns: int, vendor: str | None = None
) -> tuple[list[StoredProbe], dict[str, StoredVerdict], list[JudgedProbe]]:
    """Probes planned in [since, until) with their current verdicts, as the figures see them."""
    probes = [
        p
        for p in ledger.probes(since_ns=since_ns, until_ns=until_ns, vendor=vendor)
        if p.submit_status != "planned"  # never handed to the vendor: not "sent"
    ]
    verdicts = ledger.verdicts([p.plan.probe_id for p in probes])
    judged = [judged_probe(p, verdicts.get(p.plan.probe_id)) for p in probes]
    return probes, verdicts, judged


def judged_probe(probe: StoredProbe, verdict: StoredVerdict | None) -> JudgedProbe:
    """A probe with its current verdict; without one it is pending (or rejected/planned)."""
    return judged_of_row(row_of(probe, verdict))


def row_of(probe: StoredProbe, verdict: StoredVerdict | None) -> JudgedRow:
    """A probe and its verdict as Ledger.judged_rows reads them (one definition of the
    judged probe: judged_of_row)."""
    plan, v = probe.plan, verdict.verdict if verdict is not None else None
    return JudgedRow(
        plan.probe_id, plan.vendor, plan.msisdn, plan.carrier, plan.mvno, plan.region,
        plan.profile, plan.band, plan.planned_at_ns, plan.parts, probe.submit_status,
        probe.submitted_at_ns, "\n".join(probe.message_ids), probe.error_kind,
        probe.billed_parts, probe.billed_from,
        *(
            (None,) * 9 + (0,) if v is None else (
                v.outcome.value, v.dlr.value, v.dlr_claim.value, v.content.value,
                v.latency_s, v.latency_uncertainty_s, v.vendor_delay_s, v.carrier_delay_s,
                v.duplicates, len(v.missing_parts) if v.outcome is Outcome.PARTIAL else 0,
            )
        ),
    )  # fmt: skip


def judged_of_row(r: JudgedRow) -> JudgedProbe:
    """The judged probe of one row (judged_probe's definition)."""
    (probe_id, vendor, msisdn, carrier, mvno, region, profile, band, planned_at_ns, parts,
     status, submitted_at_ns, _, _, billed_parts, billed_from, outcome, dlr, dlr_claim,
     content, latency_s, uncertainty_s, vendor_delay_s, carrier_delay_s, duplicates,
     missing_parts) = r  # unpacked: a month is 4 million rows  # fmt: skip
    sim, line = _sim_line(msisdn, carrier, mvno)  # once per SIM, not per probe
    if outcome is None:
        outcome = _unjudged(status)
        return JudgedProbe(
            probe_id, vendor, carrier, region, profile, band, submitted_at_ns or planned_at_ns,
            status == "accepted", outcome,
            "not_applicable" if outcome == "rejected" else "pending", "none", "none",
            parts=parts, vendor_billed_parts=billed_parts, billed_from=billed_from, sim=sim,
            line=line,
        )  # fmt: skip
    # a verdict's columns are NOT NULL
    assert dlr is not None and dlr_claim is not None and content is not None
    assert duplicates is not None
    return JudgedProbe(
        probe_id, vendor, carrier, region, profile, band, submitted_at_ns or planned_at_ns,
        status == "accepted", outcome, dlr, dlr_claim, content,
        latency_s if outcome in ("delivered", "late") else None, uncertainty_s,
        vendor_delay_s, carrier_delay_s, duplicates, parts, missing_parts, billed_parts,
        billed_from, "", sim, line,
    )  # fmt: skip


def load_judged_rows(
    ledger: Ledger, *, since_ns: int, until_ns: int, vendor: str | None = None
) -> tuple[list[JudgedRow], list[JudgedProbe]]:
    """`load_judged` as plain rows and their judged probes, the same figures, without the
    StoredProbe/StoredVerdict objects (billing and channels over a month: 4 million)."""
    rows = ledger.judged_rows(since_ns=since_ns, until_ns=until_ns, vendor=vendor)
    return rows, list(map(judged_of_row, rows))


def _unjudged(submit_status: str) -> str:
    """The outcome of a probe without a verdict."""
    return "rejected" if submit_status == "rejected" else "pending"


def load_judged_rollups(
    ledger: Ledger,
    *,
    since_ns: int,
    until_ns: int,
    vendor: str | None = None,
    raw_sent_hours: Collection[int] = (),
) -> list[JudgedProbe]:
    """What `load_judged` gives as judged probes (the same multiset: every figure of
    `build_report` equal), read from the hourly rollups where that is exact and from the
    raw rows elsewhere: the part-hours at the period's edges, hours with burst probes or
    probes billed above the rule (named by id in reports), and planned hours with probes
    sent in `raw_sent_hours` (hour starts: e.g. those a not-measured span cuts, whose
    probes are told apart by their exact send time). A probe from a rollup row is sent at
    the start of its send hour and has no id: exact where the rate series' buckets are
    whole hours (build_report's bucket_s) and calendar days begin on the hour (zones with
    whole-hour offsets, as Asia/Shanghai)."""
    read = _read_rollups(ledger, since_ns, until_ns, vendor, raw_sent_hours)
    out = list(read.raw[2])
    for key, rows in read.groups.items():
        out += _expand(rows, read.values.get(key, []))
    return out


@dataclass
class RollupRead:
    """A period read as `load_judged_rollups` reads it: the raw part (load_judged's probes,
    verdicts and judged probes) and the rollup rows of the other hours, by probe group."""

    raw: tuple[list[StoredProbe], dict[str, StoredVerdict], list[JudgedProbe]]
    groups: dict[tuple[object, ...], list[RollupCount]]
    values: dict[tuple[object, ...], list[ValueRun]]


@without_gc_pauses
def load_tallies(
    ledger: Ledger,
    *,
    since_ns: int,
    until_ns: int,
    vendor: str | None = None,
    raw_sent_hours: Collection[int] = (),
    raw_if: Callable[[str, str], bool] | None = None,
    slices: Slices = HOURLY,
) -> tuple[list[StoredProbe], dict[str, StoredVerdict], list[Tally]]:
    """The period's probes as counted tallies for the figures (every figure of
    `build_report` equal to the raw rows'; exact under the same conditions as
    `load_judged_rollups`, with rate buckets a multiple of `slices.step_ns` and calendar
    days in the zone `slices.offset_ns` east of UTC): the count rows summed in SQL per key
    and slice, one tally per key and local day with its slices' sums as its sends
    (`Tally.sends`: a month's 145,000 sums are 30,000 tallies), the value runs per key
    and local day on one tally of their key and day; the raw rows' probes one by one
    where the rollups cannot tell, and also in the hours where a count row's (outcome,
    content) matches `raw_if` (a section needing stored probes, e.g. changed content).
    Returns the raw part's stored probes and verdicts with the tallies."""
    first = -(-since_ns // HOUR_NS) * HOUR_NS
    last = max(until_ns // HOUR_NS * HOUR_NS, first)
    raw = {
        m.hour_ns
        for m in ledger.rollup_hour_marks(since_ns=first, until_ns=last, vendor=vendor)
        if m.burst
        or m.over_billed
        or m.sent_hour_ns in raw_sent_hours
        or (raw_if is not None and raw_if(m.outcome, m.content))
    }
    stored, verdicts, judged = _load_raw(ledger, since_ns, until_ns, first, last, raw, vendor)
    out = [tally_of(p) for p in judged]
    read = {"since_ns": first, "until_ns": last, "vendor": vendor, "slices": slices,
            "skip_hours": raw}  # fmt: skip
    # values by (their group's number, local day): a small key to look up per tally
    values: dict[tuple[int, int], list[tuple[str, Sequence[float], Sequence[int]]]] = {}
    numbers: dict[tuple[object, ...], int] = {}  # value group without its hours -> number
    for run in ledger.rollup_value_sums(**read):  # type: ignore[arg-type]
        group = run.group
        slot = (numbers.setdefault(group[2:], len(numbers)), int(group[0]))  # type: ignore[call-overload]
        if (kinds := values.get(slot)) is None:
            values[slot] = [run[1:]]  # (kind, values, counts), as a tally carries them
        else:
            kinds.append(run[1:])
    sums = ledger.rollup_count_sum_rows(**read)  # type: ignore[arg-type]
    # by the key's identity: one tuple object per distinct key (CountSum), all alive in
    # `sums`, so an id is never reused meanwhile; a reader giving equal keys as distinct
    # objects only makes more templates
    made: dict[int, _Parts | None] = {}
    # one tally per key and local day, holding its slices' sums as its sends (in the
    # order read: the first is the probe's send time and the day's values go with it)
    days: dict[tuple[int, int], tuple[_Parts, list[int], list[tuple[int, int]]]] = {}
    offset = slices.offset_ns
    for at, key, n in sums:
        try:
            parts = made[id(key)]
        except KeyError:
            parts = made[id(key)] = _sum_parts(key, numbers)
        if parts is None:  # never handed to the vendor: not "sent"
            continue
        slot = (id(key), (at + offset) // DAY_NS * DAY_NS - offset)
        if (day := days.get(slot)) is None:
            days[slot] = (parts, [n], [(at, n)])
        else:
            day[1][0] += n
            day[2].append((at, n))
    make, tally = new_probe, Tally
    for (_, local_day), ((head, tail, group_number), total, sends) in days.items():
        runs = () if group_number is None else values.pop((group_number, local_day), ())
        probe = make(*head, sends[0][0], *tail)
        out.append(tally(probe, total[0], tuple(runs), tuple(sends) if len(sends) > 1 else ()))
    return stored, verdicts, out


_Parts = tuple[tuple[Any, ...], tuple[Any, ...], int | None]


def _sum_parts(key: tuple[Any, ...], numbers: dict[tuple[object, ...], int]) -> _Parts | None:
    """A sum's template (`_template`'s fields before and after the send time) and the
    number of its value group without the hours (None: no values), made once per key;
    None for planned probes."""
    r = _rollup_count(0, 0, *key, 0)
    if r.submit_status == "planned":
        return None
    probe = _template(r, *_sim_line(r.msisdn, r.carrier, r.mvno))
    fields = tuple(getattr(probe, f) for f in PROBE_FIELDS)
    return fields[:_SENT_AT], fields[_SENT_AT + 1 :], numbers.get(_group(r)[2:])


def _probe_maker() -> Callable[..., JudgedProbe]:
    """JudgedProbe(*fields) without the frozen dataclass' __init__, which sets each of the
    24 fields through object.__setattr__ (~3 µs a probe; a month's hourly tallies are
    484,000): each slot set by its own descriptor, in a function made once. The same
    object: equal and hashing alike (tests/collector/reports/test_rollup_report.py)."""
    names = ", ".join(PROBE_FIELDS)
    sets = "".join(f"    _set{i}(o, {f})\n" for i, f in enumerate(PROBE_FIELDS))
    scope: dict[str, Any] = {"_new": object.__new__, "_cls": JudgedProbe}
    scope |= {f"_set{i}": getattr(JudgedProbe, f).__set__ for i, f in enumerate(PROBE_FIELDS)}
    exec(f"def make({names}):\n    o = _new(_cls)\n{sets}    return o\n", scope)
    made: Callable[..., JudgedProbe] = scope["make"]
    return made


new_probe = _probe_maker()


def _load_raw(
    ledger: Ledger,
    since_ns: int,
    until_ns: int,
    first: int,
    last: int,
    raw: Collection[int],
    vendor: str | None,
) -> tuple[list[StoredProbe], dict[str, StoredVerdict], list[JudgedProbe]]:
    """load_judged of the part-hours at the edges and of the `raw` hours."""
    stored: list[StoredProbe] = []
    verdicts: dict[str, StoredVerdict] = {}
    judged: list[JudgedProbe] = []
    spans = [(since_ns, min(first, until_ns)), (max(last, since_ns), until_ns)]
    spans += [(h, h + HOUR_NS) for h in sorted(raw)]
    for lo, hi in spans:
        if lo < hi:
            part = load_judged(ledger, since_ns=lo, until_ns=hi, vendor=vendor)
            stored += part[0]
            verdicts.update(part[1])
            judged += part[2]
    return stored, verdicts, judged


def _read_rollups(
    ledger: Ledger,
    since_ns: int,
    until_ns: int,
    vendor: str | None,
    raw_sent_hours: Collection[int],
) -> RollupRead:
    first = -(-since_ns // HOUR_NS) * HOUR_NS
    last = max(until_ns // HOUR_NS * HOUR_NS, first)
    counts: dict[int, list[RollupCount]] = defaultdict(list)
    for row in ledger.rollup_counts(since_ns=first, until_ns=last, vendor=vendor):
        counts[row.hour_ns].append(row)
    raw = {
        hour
        for hour, rows in counts.items()
        if any(
            r.burst or r.sent_hour_ns in raw_sent_hours or (r.billed_parts or 0) > r.parts
            for r in rows
        )
    }
    values: dict[tuple[object, ...], list[ValueRun]] = defaultdict(list)
    for run in ledger.rollup_value_runs(since_ns=first, until_ns=last, vendor=vendor):
        if run.group[0] not in raw:
            values[run.group].append(run)
    stored, verdicts, judged = _load_raw(ledger, since_ns, until_ns, first, last, raw, vendor)
    groups: dict[tuple[object, ...], list[RollupCount]] = defaultdict(list)
    for hour, rows in counts.items():
        if hour not in raw:
            for r in rows:
                if r.submit_status != "planned":  # never handed to the vendor: not "sent"
                    groups[_group(r)].append(r)
    return RollupRead((stored, verdicts, judged), groups, values)


def _template(r: RollupCount, sim: str, line: str) -> JudgedProbe:
    """The probes of a count row as the figures see them (no id, no measured values: the
    tally carries those), sent at the start of their send hour."""
    judged = r.outcome != ""
    outcome = r.outcome if judged else _unjudged(r.submit_status)
    missing = len(r.missing_parts.split(",")) if r.missing_parts else 0
    return JudgedProbe(
        probe_id="",
        vendor=r.vendor,
        carrier=r.carrier,
        region=r.region,
        profile=r.profile,
        band=r.band,
        submitted_at_ns=r.sent_hour_ns,
        accepted=r.submit_status == "accepted",
        outcome=outcome,
        dlr=r.dlr if judged else ("not_applicable" if outcome == "rejected" else "pending"),
        dlr_claim=r.dlr_claim if judged else "none",
        content=r.content if judged else "none",
        duplicates=r.duplicates,
        parts=r.parts,
        vendor_billed_parts=r.billed_parts,
        billed_from=r.billed_from,
        missing_parts=missing if outcome == Outcome.PARTIAL.value else 0,
        sim=sim,
        line=line,
    )


def _group(r: RollupCount) -> tuple[object, ...]:
    return (r.hour_ns, r.sent_hour_ns, r.vendor, r.carrier, r.mvno, r.region, r.profile,
            r.band, r.msisdn, r.burst, r.submit_status)  # fmt: skip


def _expand(rows: list[RollupCount], runs: list[ValueRun]) -> Iterator[JudgedProbe]:
    """The probes of one group of rollup rows (same probe fields), each measured value
    given to a probe that can carry it: a latency to an arrived one, the rest to a judged
    one. Figures group probes by these fields only, so each figure sees the exact multiset
    of the raw rows' values."""
    pools: dict[str, list[float]] = {k: [] for k in ("latency", "uncertainty", "vendor_delay",
                                                     "carrier_delay")}  # fmt: skip
    for run in runs:
        pools[run.kind] += [v for v, n in zip(run.values, run.counts, strict=True)
                            for _ in range(n)]  # fmt: skip
    sim, line = _sim_line(rows[0].msisdn, rows[0].carrier, rows[0].mvno)
    for r in rows:
        template = _template(r, sim, line)
        judged = r.outcome != ""
        arrived = template.outcome in (Outcome.DELIVERED.value, Outcome.LATE.value)
        for _ in range(r.n):
            yield replace(
                template,
                latency_s=_take(pools["latency"], arrived),
                latency_uncertainty_s=_take(pools["uncertainty"], judged),
                vendor_delay_s=_take(pools["vendor_delay"], judged),
                carrier_delay_s=_take(pools["carrier_delay"], judged),
            )


@functools.lru_cache(maxsize=4096)
def _sim_line(msisdn: str, carrier: str, mvno: str) -> tuple[str, str]:
    """A SIM's national number and kind of line (a few hundred SIMs, thousands of groups)."""
    return national(msisdn), line_type(msisdn, carrier, mvno)


def _take(pool: list[float], eligible: bool) -> float | None:
    return pool.pop() if eligible and pool else None


def sent_hours_cut(spans: Collection[tuple[int, int]]) -> set[int]:
    """Hour starts that (start, end) spans (end 0: still open, to the end of the hour it
    began in at least) overlap: their probes must be told apart by exact send time."""
    hours: set[int] = set()
    for start, end in spans:
        hour = start // HOUR_NS * HOUR_NS
        while True:
            hours.add(hour)
            hour += HOUR_NS
            if not end or hour >= end:
                break
    return hours
