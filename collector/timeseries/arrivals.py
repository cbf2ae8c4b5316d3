"""The `arrival` series: one point per vendor × carrier × region × profile cell of a window,
from the ledger's lean rows (Ledger.arrival_rows). Pure.

The fields are the report's cell figures of the same probes (collector/reports/figures.py
`_cell`: arrived = delivered + late, the rate over arrived + lost, its Wilson interval,
latency percentiles, all rounded alike) computed from the same `collector.stats`
functions, without the rest of a report cell (SLA tests, DLR classes, money) that the
points never carry: a year is over a hundred thousand windows.
tests/collector/timeseries/test_arrivals.py holds them equal to `aggregate` on mixed
ledgers.
"""

from __future__ import annotations

import operator
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable

from collector.ledger.probes import ArrivalRow, ProbeSeriesRow
from collector.stats import percentile, wilson_interval
from collector.timeseries.points import Point, make_point

ARRIVED = ("delivered", "late")


def _round(value: float | None, digits: int) -> float | None:
    return None if value is None else round(value, digits)


# Rows read by position (a year is 50 million of them), in ArrivalRow's order: [0] planned
# time, [1:5] the cell, [5] outcome, [6] latency, [7] missing parts.
Arrival = tuple[int, str, str, str, str, str, float | None, int]
if ArrivalRow._fields != ("planned_at_ns", "vendor", "carrier", "region", "profile",
                          "outcome", "latency_s", "missing_parts"):  # fmt: skip
    raise ImportError("arrivals is out of step with ArrivalRow")
# A ProbeSeriesRow (a backfill's one read for both series) in ArrivalRow's order
arrival_of: Callable[[ProbeSeriesRow], Arrival] = operator.itemgetter(
    *(ProbeSeriesRow._fields.index(f) for f in ArrivalRow._fields)
)


def arrival_points(rows: Iterable[Arrival], window: str, start_ns: int) -> list[Point]:
    cells: dict[tuple[str, str, str, str], list[Arrival]] = defaultdict(list)
    for r in rows:
        cells[r[1:5]].append(r)
    points = []
    for key in sorted(cells):
        members = cells[key]
        count = Counter([r[5] for r in members])
        arrived = count["delivered"] + count["late"]
        judged = arrived + count["lost"]
        ci_low, ci_high = wilson_interval(arrived, judged)
        latencies = [r[6] for r in members
                     if r[6] is not None and r[5] in ARRIVED]  # fmt: skip
        vendor, carrier, region, profile = key
        points.append(
            make_point(
                "arrival",
                {
                    "vendor": vendor,
                    "carrier": carrier,
                    "region": region,
                    "profile": profile,
                    "window": window,
                },
                {
                    "sent": len(members),
                    "delivered": arrived,
                    "lost": count["lost"],
                    "partial": count["partial"],
                    "parts_missing": sum([r[7] for r in members]) if count["partial"] else 0,
                    "inconclusive": count["inconclusive"],
                    "rate": _round(arrived / judged if judged else None, 6),
                    "ci_low": round(ci_low, 6),
                    "ci_high": round(ci_high, 6),
                    "p50_s": _round(percentile(latencies, 50), 3),
                    "p95_s": _round(percentile(latencies, 95), 3),
                },
                start_ns,
            )
        )
    return points
