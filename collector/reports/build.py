"""An SLA report as data: the figures by every breakdown plus the series the charts need."""

from __future__ import annotations

import functools
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from agent.common.units import NS
from collector.reports.figures import (
    DIMENSIONS,
    Cell,
    JudgedProbe,
    Pools,
    Tally,
    Thresholds,
    aggregate,
    merge_times,
    tallies_of,
)
from collector.reports.gc_paused import without_gc_pauses
from collector.reports.sims import SimOutlier, sim_outliers
from collector.stats import Ordered, wilson_interval

BREAKDOWNS: dict[str, tuple[str, ...]] = {
    "vendor": ("vendor",),
    "vendor_carrier": ("vendor", "carrier"),
    "vendor_band": ("vendor", "band"),
    "vendor_profile": ("vendor", "profile"),
    "vendor_region": ("vendor", "region"),
    "vendor_calendar": ("vendor", "calendar"),
    "line": ("line",),
    "vendor_line": ("vendor", "line"),
    "vendor_sim": ("vendor", "line", "sim"),
    "full": DIMENSIONS,
}

# The breakdowns in the order they are made: each coarser one after a finer one whose
# cells it merges (figures.Pools); the report lists them as BREAKDOWNS does.
_FINER_FIRST = ("full", "vendor_carrier", "vendor_band", "vendor_profile", "vendor_region",
                "vendor", "vendor_sim", "vendor_line", "line", "vendor_calendar")  # fmt: skip
assert sorted(_FINER_FIRST) == sorted(BREAKDOWNS)

# Bucket sizes for the arrival-rate series, 10 s to a day: the smallest one that cuts the
# measured span into at most MAX_BUCKETS, and into no more buckets than a vendor's probes
# fill with MIN_PER_BUCKET each on average (a bucket of one probe reads 0 % or 100 %). So a
# one-minute demo shows its course in 10 s buckets, a day of probes every minute in 10 min
# buckets, a year one point a day (the one case above MAX_BUCKETS).
BUCKET_STEPS_S = (10, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400)
MAX_BUCKETS = 200
MIN_PER_BUCKET = 3


def bucket_for(span_ns: int, probes_per_vendor: float | None = None) -> int:
    """The bucket size (s) for a series spanning `span_ns` (module constants above)."""
    most = MAX_BUCKETS
    if probes_per_vendor is not None:
        most = max(1, min(MAX_BUCKETS, int(probes_per_vendor // MIN_PER_BUCKET)))
    for step in BUCKET_STEPS_S:
        if span_ns < step * NS * most:
            return step
    return BUCKET_STEPS_S[-1]


@dataclass(frozen=True, slots=True)
class RatePoint:
    start_ns: int
    judged: int
    arrived: int
    rate: float | None
    ci_low: float
    ci_high: float


@dataclass(frozen=True, slots=True)
class Gap:
    """A window in which a vendor was not measured (not probed, or not judged)."""

    start_ns: int
    end_ns: int
    causes: tuple[str, ...]  # the units that were not running (collector/health)

    def to_dict(self) -> dict[str, Any]:
        return {"start_ns": self.start_ns, "end_ns": self.end_ns,
                "seconds": round((self.end_ns - self.start_ns) / NS, 3),
                "causes": list(self.causes)}  # fmt: skip


def merge_gaps(
    spans: Iterable[tuple[str, int, int, str]], *, since_ns: int, until_ns: int
) -> dict[str, list[Gap]]:
    """(vendor, start, end, cause) spans, end 0 = still open, clipped to [since, until)
    and merged per vendor where they overlap or touch."""
    by_vendor: dict[str, list[tuple[int, int, str]]] = defaultdict(list)
    for vendor, start, end, cause in spans:
        lo, hi = max(start, since_ns), min(end or until_ns, until_ns)
        if lo < hi:
            by_vendor[vendor].append((lo, hi, cause))
    out: dict[str, list[Gap]] = {}
    for vendor, items in sorted(by_vendor.items()):
        merged: list[Gap] = []
        for lo, hi, cause in sorted(items):
            if merged and lo <= merged[-1].end_ns:
                last = merged[-1]
                causes = tuple(sorted({*last.causes, cause}))
                merged[-1] = Gap(last.start_ns, max(last.end_ns, hi), causes)
            else:
                merged.append(Gap(lo, hi, (cause,)))
        out[vendor] = merged
    return out


def _in_gap(gaps: Sequence[Gap], at_ns: int) -> bool:
    return any(g.start_ns <= at_ns < g.end_ns for g in gaps)


@dataclass
class Report:
    since: str
    until: str
    generated_at: str
    software_version: str
    thresholds: Thresholds
    prices: Mapping[str, float]
    tables: dict[str, list[Cell]]
    rate_series: dict[str, list[RatePoint]]  # vendor -> arrival rate per bucket_s
    # vendor -> arrived probes' latencies, ascending (the vendor cell's stats.Ordered: a
    # Sequence read lazily, merged into one list only if iterated or sliced)
    latencies: dict[str, Sequence[float]]
    bucket_s: int
    filters: dict[str, str] = field(default_factory=dict)
    not_measured: dict[str, list[Gap]] = field(default_factory=dict)
    excluded: dict[str, int] = field(default_factory=dict)  # vendor -> probes in a gap
    period_ns: tuple[int, int] = (0, 0)
    periods: list[str] = field(default_factory=list)  # which hours each band covers, where
    bursts: list[dict[str, Any]] = field(default_factory=list)  # reports/bursts.py
    # vendor -> profile -> marketing sends held back by quiet hours (reports/quiet.py)
    quiet_hours: dict[str, dict[str, int]] = field(default_factory=dict)
    sim_outliers: list[SimOutlier] = field(default_factory=list)  # reports/sims.py
    # vendor -> kind of content change -> probes (reports/content_changes.py)
    content_changes: dict[str, dict[str, int]] = field(default_factory=dict)
    # per vendor: each billing model's charge, the vendor's bill, the over-charge
    # (collector/billing/statement.py VendorStatement.to_dict); set by the report command
    billing: list[dict[str, Any]] = field(default_factory=list)
    timezone: str = ""  # IANA zone the report's times are shown in ("" = that of `since`)
    # the channel figures of the period (collector/channels/figures.py: channel_figures)
    channels: dict[str, Any] = field(default_factory=dict)

    def measured_fraction(self, vendor: str) -> float | None:
        since, until = self.period_ns
        if until <= since:
            return None
        dark = sum(g.end_ns - g.start_ns for g in self.not_measured.get(vendor, ()))
        return 1.0 - dark / (until - since)

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
            "not_measured": {
                v: {
                    "spans": [g.to_dict() for g in gaps],
                    "seconds": round(sum(g.end_ns - g.start_ns for g in gaps) / NS, 3),
                    "measured_fraction": self.measured_fraction(v),
                    "probes_excluded": self.excluded.get(v, 0),
                }
                for v, gaps in self.not_measured.items()
            },
            "periods": self.periods,
            "bursts": self.bursts,
            "quiet_hours_suppressed": self.quiet_hours,
            "sim_outliers": [o.to_dict() for o in self.sim_outliers],
            "content_changes": self.content_changes,
            "billing": self.billing,
            "timezone": self.timezone,
            "channels": self.channels,
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


@without_gc_pauses
def build_report(
    probes: Iterable[JudgedProbe | Tally],
    *,
    since: str,
    until: str,
    generated_at: str,
    software_version: str,
    thresholds: Thresholds | None = None,
    prices: Mapping[str, float] | None = None,
    price_of: Callable[[JudgedProbe], float] | None = None,
    bucket_s: int | None = None,
    progress: Callable[[str], None] | None = None,
    filters: Mapping[str, str] | None = None,
    not_measured: Mapping[str, Sequence[Gap]] | None = None,
    period_ns: tuple[int, int] = (0, 0),
    periods: Sequence[str] = (),
    day_kind: Callable[[int], str] | None = None,
    bursts: Sequence[Mapping[str, Any]] = (),
    exclude: Callable[[JudgedProbe], bool] | None = None,
    quiet_hours: Mapping[str, Mapping[str, int]] | None = None,
    line_overrides: Mapping[str, str] | None = None,
    content_changes: Mapping[str, Mapping[str, int]] | None = None,
    timezone: str = "",
    channels: Mapping[str, Any] | None = None,
) -> Report:
    """`probes`: one by one, or counted (`Tally`: reports/judged.py load_tallies reads
    them from the hourly rollups), the same report either way. `not_measured`: each
    vendor's gaps (merge_gaps); a probe submitted inside one is left out of every figure,
    so rates are computed over measured time only. `day_kind` labels each probe's send
    time for the calendar breakdown; `exclude` leaves probes out of every figure (burst
    probes: measured apart in `bursts`, never in the baseline).
    `price_of`: a probe's price per part for every money figure (billing's
    BillingConfig.part_price), else `prices` flat per vendor.
    `line_overrides`: national MSISDN -> kind of line, over the derived one ([reports.lines]).
    `bucket_s`: the rate series' bucket; None chooses it from the span of the judged
    probes' submits and their number per vendor (bucket_for), the period's length when
    there are none."""
    thresholds = thresholds or Thresholds()
    gaps = dict(not_measured or {})
    excluded: dict[str, int] = defaultdict(int)
    all_probes: list[Tally] = []
    for t in tallies_of(probes):
        if exclude is not None and exclude(t.probe):
            continue
        # a tally's send times may fall on days of other kinds, or some in a gap: split
        labelled = [t] if day_kind is None else [
            part.with_probe(replace(part.probe, calendar=kind)) for kind, part in t.parted(day_kind)
        ]  # fmt: skip
        for part in labelled:
            p = part.probe
            if line_overrides and p.sim in line_overrides:
                part = part.with_probe(replace(p, line=line_overrides[p.sim]))
            if not (dark := gaps.get(p.vendor)):
                all_probes.append(part)
                continue
            for inside, counted_part in part.parted(functools.partial(_in_gap, dark)):
                if inside:
                    excluded[p.vendor] += counted_part.n
                else:
                    all_probes.append(counted_part)
    # The breakdowns read no send time (the calendar is labelled above): counted tallies
    # alike but for it are one, so their cost follows the distinct keys, not the hours.
    merged = merge_times(all_probes)
    memo: dict[tuple[int, ...], Ordered] = {}
    pools = Pools()
    made = {}
    for name in _FINER_FIRST:
        if progress:
            progress(f"figures by {name.replace('_', ' × ')}")
        made[name] = aggregate(merged, group_by=BREAKDOWNS[name], thresholds=thresholds,
                               price_per_part=price_of or prices, memo=memo,
                               pools=pools)  # fmt: skip
    tables = {name: made[name] for name in BREAKDOWNS}
    if progress:
        progress("time series")
    buckets: dict[str, dict[int, list[int]]] = defaultdict(lambda: defaultdict(lambda: [0, 0]))
    counted = [t for t in all_probes if t.probe.outcome in ("delivered", "late", "lost")]
    if bucket_s is None:
        sends = [at for t in counted for at, _ in t.send_times()]
        span = max(sends) - min(sends) if sends else period_ns[1] - period_ns[0]
        vendors = len({t.probe.vendor for t in counted}) or 1
        total = sum(t.n for t in counted)
        bucket_s = bucket_for(span, total / vendors if counted else None)
    step = bucket_s * NS
    for t in counted:
        vendor_slots, got = buckets[t.probe.vendor], t.probe.outcome != "lost"
        for at, n in t.send_times():
            slot = vendor_slots[at // step * step]
            slot[0] += n
            slot[1] += n * got
    # A vendor's latencies are its "vendor" cell's multiset (not listed: read lazily); for
    # the vendors with a latency kind among their tallies' values.
    with_latency = {t.probe.vendor for t in merged if any(k == "latency" for k, *_ in t.values)}
    by_vendor = pools.cells[BREAKDOWNS["vendor"]]
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
        latencies={v: by_vendor[(v,)]["latency"] for v in sorted(with_latency)},
        bucket_s=bucket_s,
        filters=dict(filters or {}),
        not_measured={v: list(g) for v, g in sorted(gaps.items())},
        excluded=dict(excluded),
        period_ns=period_ns,
        periods=list(periods),
        bursts=[dict(b) for b in bursts],
        quiet_hours={v: dict(by) for v, by in (quiet_hours or {}).items()},
        sim_outliers=sim_outliers(merged, alpha=thresholds.alpha),
        content_changes={v: dict(c) for v, c in (content_changes or {}).items()},
        timezone=timezone,
        channels=dict(channels or {}),
    )
