"""Hourly rollups of probes with their current verdicts (migration 0015): the values the
ledger returns and what a check found.

A rollup row counts the probes that share every field the report figures read
(`RollupCount`); `RollupValue` keeps the exact multiset of each measured value (the float
itself, so a percentile over any set of hours equals the one over the raw rows). The ledger
keeps both in the transaction of every write that changes one of those fields
(collector/ledger/sql/rollups.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

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


class ValueRun(NamedTuple):
    """The values of one value group (RollupValue.group()) and kind: ascending, each with
    how many probes have it (`Ledger.rollup_value_runs`)."""

    group: tuple[object, ...]
    kind: str
    values: Sequence[float]
    counts: Sequence[int]


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
