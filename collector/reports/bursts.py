"""Stress bursts measured (collector/probes/bursts.py sends them): per burst, accepted rate,
throttled submits, arrival and latency percentiles, against the same vendor's scheduled
probes in the same hour band and calendar day kind of the report period (its baseline),
with the tests of collector/reports/compare.py."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from collector.ledger.probes import StoredProbe
from collector.probes.bursts import burst_of
from collector.reports.compare import compare_sides
from collector.reports.figures import JudgedProbe

THROTTLED = "Throttled"  # the error kind of a ThrottledError (collector/vendors/base.py)


def burst_figures(
    stored: Sequence[StoredProbe], judged: Sequence[JudgedProbe], *, alpha: float = 0.05
) -> list[dict[str, Any]]:
    """One entry per burst found among the probes (judged in the same order as stored)."""
    members: dict[str, list[tuple[StoredProbe, JudgedProbe]]] = defaultdict(list)
    for s, j in zip(stored, judged, strict=True):
        burst = burst_of(s.plan.probe_id)
        if burst is not None:
            members[burst].append((s, j))
    out = []
    for burst, pairs in sorted(members.items()):
        probes = [j for _, j in pairs]
        vendor = probes[0].vendor
        bands = {p.band for p in probes}
        days = {p.calendar for p in probes}
        baseline = [
            j
            for s, j in zip(stored, judged, strict=True)
            if burst_of(s.plan.probe_id) is None
            and j.vendor == vendor
            and j.band in bands
            and j.calendar in days
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
                "throttled": sum(1 for s, _ in pairs if s.error_kind == THROTTLED),
                "under_load": row["a"],
                "baseline": row["b"],
                "tests": {k: v for k, v in row.items() if k not in ("a", "b")},
            }
        )
    return out
