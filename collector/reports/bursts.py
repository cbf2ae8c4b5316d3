"""Stress bursts measured (collector/probes/bursts.py sends them): per burst, accepted rate,
throttled submits, arrival and latency percentiles, against the same vendor's scheduled
probes in the same hour band and calendar day kind of the report period (its baseline),
with the tests of collector/reports/compare.py."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from typing import Any

from collector.ledger.probes import StoredProbe
from collector.probes.bursts import burst_of
from collector.reports.compare import compare_sides
from collector.reports.figures import JudgedProbe, Tally, tallies_of

THROTTLED = "Throttled"  # the error kind of a ThrottledError (collector/vendors/base.py)


def burst_figures(
    stored: Iterable[StoredProbe],
    judged: Iterable[JudgedProbe | Tally],
    *,
    alpha: float = 0.05,
) -> list[dict[str, Any]]:
    """One entry per burst found among the judged probes (one by one, or counted: the
    baseline may come from rollups). `stored`: at least the burst probes (their submit
    errors), matched by probe id."""
    errors = {s.plan.probe_id: s.error_kind for s in stored if burst_of(s.plan.probe_id)}
    tallies = list(tallies_of(judged))
    members: dict[str, list[JudgedProbe]] = defaultdict(list)
    for t in tallies:
        burst = burst_of(t.probe.probe_id)
        if burst is not None:
            members[burst] += [t.probe] * t.n
    out = []
    for burst, probes in sorted(members.items()):
        vendor = probes[0].vendor
        bands = {p.band for p in probes}
        days = {p.calendar for p in probes}
        baseline = [
            t
            for t in tallies
            if burst_of(t.probe.probe_id) is None
            and t.probe.vendor == vendor
            and t.probe.band in bands
            and t.probe.calendar in days
        ]
        start = min(p.submitted_at_ns for p in probes)
        end = max(p.submitted_at_ns for p in probes)
        row = compare_sides(probes, baseline, alpha=alpha)
        sent = len(probes)
        out.append(
            {
                "burst": burst,
                "vendor": vendor,
                "bands": sorted(bands),
                "calendar": sorted(days),
                "sent": sent,
                "spread_s": round((end - start) / 1e9, 3),
                "accepted": sum(1 for p in probes if p.accepted),
                "accept_rate": round(sum(1 for p in probes if p.accepted) / sent, 6),
                "throttled": sum(1 for p in probes if errors.get(p.probe_id) == THROTTLED),
                "under_load": row["a"],
                "baseline": row["b"],
                "tests": {k: v for k, v in row.items() if k not in ("a", "b")},
            }
        )
    return out
