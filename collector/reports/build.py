"""An SLA report as data: the figures by every breakdown plus the series the charts need."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from collector.correlation.model import NS
from collector.reports.figures import DIMENSIONS, Cell, JudgedProbe, Thresholds, aggregate
from collector.stats import wilson_interval

BREAKDOWNS: dict[str, tuple[str, ...]] = {
    "vendor": ("vendor",),
    "vendor_carrier": ("vendor", "carrier"),
    "vendor_band": ("vendor", "band"),
    "vendor_profile": ("vendor", "profile"),
    "vendor_region": ("vendor", "region"),
    "full": DIMENSIONS,
}


@dataclass(frozen=True, slots=True)
class RatePoint:
    start_ns: int
    judged: int
    arrived: int
    rate: float | None
    ci_low: float
    ci_high: float


@dataclass
class Report:
    since: str
    until: str
    generated_at: str
    software_version: str
    thresholds: Thresholds
    prices: Mapping[str, float]
    tables: dict[str, list[Cell]]
    rate_series: dict[str, list[RatePoint]]  # vendor -> hourly (or bucketed) arrival rate
    latencies: dict[str, list[float]]  # vendor -> arrived probes' latencies
    bucket_s: int
    filters: dict[str, str] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "since": self.since,
            "until": self.until,
            "generated_at": self.generated_at,
            "software_version": self.software_version,
            "filters": self.filters,
            "thresholds": {
                "arrival_rate": self.thresholds.arrival_rate,
                "p95_latency_s": self.thresholds.p95_latency_s,
                "alpha": self.thresholds.alpha,
            },
            "prices": dict(self.prices),
            "tables": {name: [c.to_dict() for c in cells] for name, cells in self.tables.items()},
            "rate_series": {
                v: [_point(p) for p in points] for v, points in self.rate_series.items()
            },
            "bucket_s": self.bucket_s,
        }


def _point(p: RatePoint) -> dict[str, Any]:
    return {
        "start_ns": p.start_ns,
        "judged": p.judged,
        "arrived": p.arrived,
        "rate": p.rate,
        "ci_low": p.ci_low,
        "ci_high": p.ci_high,
    }


def build_report(
    probes: Iterable[JudgedProbe],
    *,
    since: str,
    until: str,
    generated_at: str,
    software_version: str,
    thresholds: Thresholds | None = None,
    prices: Mapping[str, float] | None = None,
    bucket_s: int = 3600,
    progress: Callable[[str], None] | None = None,
    filters: Mapping[str, str] | None = None,
) -> Report:
    thresholds = thresholds or Thresholds()
    all_probes: Sequence[JudgedProbe] = list(probes)
    tables = {}
    for name, dims in BREAKDOWNS.items():
        if progress:
            progress(f"figures by {name.replace('_', ' × ')}")
        tables[name] = aggregate(
            all_probes, group_by=dims, thresholds=thresholds, price_per_part=prices
        )
    if progress:
        progress("time series")
    buckets: dict[str, dict[int, list[int]]] = defaultdict(lambda: defaultdict(lambda: [0, 0]))
    latencies: dict[str, list[float]] = defaultdict(list)
    step = bucket_s * NS
    for p in all_probes:
        if p.outcome in ("delivered", "late", "lost"):
            slot = buckets[p.vendor][p.submitted_at_ns // step * step]
            slot[0] += 1
            slot[1] += p.outcome != "lost"
        if p.outcome in ("delivered", "late") and p.latency_s is not None:
            latencies[p.vendor].append(p.latency_s)
    series = {}
    for vendor, slots in sorted(buckets.items()):
        points = []
        for start in sorted(slots):
            judged, arrived = slots[start]
            low, high = wilson_interval(arrived, judged)
            points.append(
                RatePoint(start, judged, arrived, arrived / judged if judged else None, low, high)
            )
        series[vendor] = points
    return Report(
        since=since,
        until=until,
        generated_at=generated_at,
        software_version=software_version,
        thresholds=thresholds,
        prices=dict(prices or {}),
        tables=tables,
        rate_series=series,
        latencies={v: sorted(ls) for v, ls in sorted(latencies.items())},
        bucket_s=bucket_s,
        filters=dict(filters or {}),
    )
