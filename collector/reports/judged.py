"""Ledger rows as the figures see them: one conversion for reports, alerts, time series,
evidence and the demo, so they all count the same probes the same way.

This is the data seam between the ledger and everything that reports on it; it lives apart
from the `report` command so alerts and evidence do not import a CLI module.
"""

from __future__ import annotations

import functools
from collections import defaultdict
from collections.abc import Collection, Iterator

from agent.common.numberplan import national
from collector.correlation.model import Outcome
from collector.ledger.base import Ledger
from collector.ledger.probes import StoredProbe, StoredVerdict
from collector.ledger.rollups import HOUR_NS, RollupCount, RollupValue
from collector.reports.figures import JudgedProbe
from collector.reports.lines import line_type


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
    plan = probe.plan
    sim = national(plan.msisdn)
    line = line_type(plan.msisdn, plan.carrier, plan.mvno)
    if verdict is None:
        outcome = _unjudged(probe.submit_status)
        return JudgedProbe(
            probe_id=plan.probe_id,
            vendor=plan.vendor,
            carrier=plan.carrier,
            region=plan.region,
            profile=plan.profile,
            band=plan.band,
            submitted_at_ns=probe.submitted_at_ns or plan.planned_at_ns,
            accepted=probe.submit_status == "accepted",
            outcome=outcome,
            dlr="not_applicable" if outcome == "rejected" else "pending",
            dlr_claim="none",
            content="none",
            parts=plan.parts,
            vendor_billed_parts=probe.billed_parts,
            billed_from=probe.billed_from,
            sim=sim,
            line=line,
        )
    v = verdict.verdict
    return JudgedProbe(
        probe_id=plan.probe_id,
        vendor=plan.vendor,
        carrier=plan.carrier,
        region=plan.region,
        profile=plan.profile,
        band=plan.band,
        submitted_at_ns=probe.submitted_at_ns or plan.planned_at_ns,
        accepted=probe.submit_status == "accepted",
        outcome=v.outcome.value,
        dlr=v.dlr.value,
        dlr_claim=v.dlr_claim.value,
        content=v.content.value,
        latency_s=v.latency_s if v.outcome in (Outcome.DELIVERED, Outcome.LATE) else None,
        latency_uncertainty_s=v.latency_uncertainty_s,
        vendor_delay_s=v.vendor_delay_s,
        carrier_delay_s=v.carrier_delay_s,
        duplicates=v.duplicates,
        parts=plan.parts,
        vendor_billed_parts=probe.billed_parts,
        billed_from=probe.billed_from,
        missing_parts=len(v.missing_parts) if v.outcome is Outcome.PARTIAL else 0,
        sim=sim,
        line=line,
    )


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
    values: dict[tuple[object, ...], list[RollupValue]] = defaultdict(list)
    for v in ledger.rollup_values(since_ns=first, until_ns=last, vendor=vendor):
        if v.hour_ns not in raw:
            values[v.group()].append(v)
    out: list[JudgedProbe] = []
    spans = [(since_ns, min(first, until_ns)), (max(last, since_ns), until_ns)]
    spans += [(h, h + HOUR_NS) for h in sorted(raw)]
    for lo, hi in spans:
        if lo < hi:
            out += load_judged(ledger, since_ns=lo, until_ns=hi, vendor=vendor)[2]
    groups: dict[tuple[object, ...], list[RollupCount]] = defaultdict(list)
    for hour, rows in counts.items():
        if hour not in raw:
            for r in rows:
                if r.submit_status != "planned":  # never handed to the vendor: not "sent"
                    groups[_group(r)].append(r)
    for key, rows in groups.items():
        out += _expand(rows, values.get(key, []))
    return out


def _group(r: RollupCount) -> tuple[object, ...]:
    return (r.hour_ns, r.sent_hour_ns, r.vendor, r.carrier, r.mvno, r.region, r.profile,
            r.band, r.msisdn, r.burst, r.submit_status)  # fmt: skip


def _expand(rows: list[RollupCount], values: list[RollupValue]) -> Iterator[JudgedProbe]:
    """The probes of one group of rollup rows (same probe fields), each measured value
    given to a probe that can carry it: a latency to an arrived one, the rest to a judged
    one. Figures group probes by these fields only, so each figure sees the exact multiset
    of the raw rows' values."""
    pools = {kind: [v.value for v in values if v.kind == kind for _ in range(v.n)]
             for kind in ("latency", "uncertainty", "vendor_delay", "carrier_delay")}  # fmt: skip
    sim, line = _sim_line(rows[0].msisdn, rows[0].carrier, rows[0].mvno)
    for r in rows:
        judged = r.outcome != ""
        outcome = r.outcome if judged else _unjudged(r.submit_status)
        arrived = outcome in (Outcome.DELIVERED.value, Outcome.LATE.value)
        missing = len(r.missing_parts.split(",")) if r.missing_parts else 0
        for _ in range(r.n):
            yield JudgedProbe(
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
                latency_s=_take(pools["latency"], arrived),
                latency_uncertainty_s=_take(pools["uncertainty"], judged),
                vendor_delay_s=_take(pools["vendor_delay"], judged),
                carrier_delay_s=_take(pools["carrier_delay"], judged),
                duplicates=r.duplicates,
                parts=r.parts,
                vendor_billed_parts=r.billed_parts,
                billed_from=r.billed_from,
                missing_parts=missing if outcome == Outcome.PARTIAL.value else 0,
                sim=sim,
                line=line,
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
