"""Hourly rollups of probes with their current verdicts (migration 0015): the values the
ledger returns and what a check found.

A rollup row counts the probes that share every field the report figures read
(`RollupCount`); `RollupValue` keeps the exact multiset of each measured value (the float
itself, so a percentile over any set of hours equals the one over the raw rows). The ledger
keeps both in the transaction of every write that changes one of those fields
(collector/ledger/sql/rollups.py).
"""

from __future__ import annotations

from array import array
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, tzinfo
from typing import Any, NamedTuple

HOUR_NS = 3_600_000_000_000
DAY_NS = 24 * HOUR_NS  # rollup_value_days compacts a UTC day of value rows (migration 0016)
VALUE_KINDS = ("latency", "uncertainty", "vendor_delay", "carrier_delay")


@dataclass(frozen=True, slots=True)
class RollupCount:
    hour_ns: int  # planned hour
    sent_hour_ns: int  # hour of the submit (the planned time when never submitted)
    vendor: str
    carrier: str
    mvno: str
    region: str
    profile: str
    band: str
    msisdn: str
    burst: bool  # a burst probe (collector/probes/bursts.py ids)
    parts: int
    billed_parts: int | None  # what the vendor says it billed; None: it said nothing
    billed_from: str
    submit_status: str
    outcome: str  # "" when the probe has no verdict
    dlr: str
    dlr_claim: str
    content: str
    duplicates: int
    missing_parts: str  # the verdict's comma-separated missing part numbers
    n: int


@dataclass(frozen=True, slots=True)
class RollupValue:
    hour_ns: int
    vendor: str
    sent_hour_ns: int
    carrier: str
    mvno: str
    region: str
    profile: str
    band: str
    msisdn: str
    burst: bool
    submit_status: str
    kind: str  # one of VALUE_KINDS; latency only of arrived probes (delivered, late)
    value: float
    n: int

    def group(self) -> tuple[object, ...]:
        """The probe fields it shares with the counts (everything but the verdict's)."""
        return (self.hour_ns, self.sent_hour_ns, self.vendor, self.carrier, self.mvno,
                self.region, self.profile, self.band, self.msisdn, self.burst,
                self.submit_status)  # fmt: skip


class CountSum(NamedTuple):
    """A sum of count rows per key without its hours and per slice
    (`Ledger.rollup_count_sum_rows`): `key` the RollupCount fields from vendor to
    missing_parts (one tuple object per distinct key, so a reader can cache on it),
    `first_sent_ns` the first send hour the sum holds."""

    first_sent_ns: int
    key: tuple[Any, ...]
    n: int


class ValueRun(NamedTuple):
    """The values of one value group (RollupValue.group()) and kind: ascending, each with
    how many probes have it (`Ledger.rollup_value_runs`)."""

    group: tuple[object, ...]
    kind: str
    values: Sequence[float]
    counts: Sequence[int]


class AscendingValues(array):  # type: ignore[type-arg]
    """Packed values known ascending (`Ledger.rollup_value_sums` gives a local day's
    values so when they come as one stored part, migration 0021): a reader needs no sort
    within them."""

    __slots__ = ()


@dataclass(slots=True)
class RollupCheck:
    """Rollups against a recomputation from the raw rows. `differences`: keys whose count
    differs, as (table, key, kept, recomputed). Hours holding probes retention minimised
    are left out: their rollups keep the SIM the masked rows no longer show."""

    count_rows: int
    value_rows: int
    differences: list[tuple[str, tuple[object, ...], int, int]] = field(default_factory=list)
    minimised_hours: int = 0
    rebuilt: bool = False
    value_blobs: int = 0  # day blobs compared with the value rows they hold (0016)
    compacted_days: int = 0  # days compacted after a rebuild

    @property
    def consistent(self) -> bool:
        return not self.differences


@dataclass(frozen=True, slots=True)
class Slices:
    """How a report reads the rollups summed over hours (`Ledger.rollup_count_sum_rows`,
    `rollup_value_sums`): counts per slice — the send hour's `step_ns` step (whole hours,
    from the epoch) cut at the local midnights of a zone `offset_ns` east of UTC (whole
    hours) — and values per local day. A slice's start lies in the same step and the same
    local day as every send hour it holds: the rate series' buckets (a multiple of the
    step) and the calendar labels (per local day) see the same as hour by hour. A sum is
    timed at the first send hour it holds (its start may lie in hours skipped for a span)."""

    step_ns: int = HOUR_NS
    offset_ns: int = 0

    def day(self, at_ns: int) -> int:
        """The start of the local day holding `at_ns`."""
        return (at_ns + self.offset_ns) // DAY_NS * DAY_NS - self.offset_ns

    def bounds(self, at_ns: int) -> tuple[int, int]:
        """The slice holding `at_ns` as [start, end): its step cut at its local day's ends."""
        local = self.day(at_ns)
        start = at_ns // self.step_ns * self.step_ns
        return max(local, start), min(local + DAY_NS, start + self.step_ns)


class HourMark(NamedTuple):
    """What decides whether a report reads a planned hour raw (reports/judged.py): one per
    distinct combination in the hour's count rows (`Ledger.rollup_hour_marks`)."""

    hour_ns: int
    sent_hour_ns: int
    burst: bool
    over_billed: bool  # billed_parts above parts
    outcome: str
    content: str


def whole_offset_ns(zone: tzinfo | None, instants: Iterable[int]) -> int | None:
    """The zone's offset east of UTC (ns) at these instants (ns) when it is the same whole
    hours at each, else None (no zone, no instant, a fractional offset, a change such as
    daylight saving): what a compaction cuts local days by (migration 0021) and a report
    slices its period by (reports/period.py period_slices)."""
    if zone is None:
        return None
    found: set[int] = set()
    for at in instants:
        offset = datetime.fromtimestamp(at // 10**9, UTC).astimezone(zone).utcoffset()
        if offset is None or offset.total_seconds() % 3600:
            return None
        found.add(int(offset.total_seconds()) * 10**9)
    return found.pop() if len(found) == 1 else None
