"""The collector's own health in the ledger: unit states with a heartbeat, and the spans
in which a vendor was not measured (migration 0006). Plain values; the SQL is in
collector/ledger/sql/health.py."""

from __future__ import annotations

from dataclasses import dataclass

COLLECTOR_DOWN = "collector"  # cause of a span in which the collector itself was not running
SCHEDULER_UNIT = "service:scheduler"
# A leased unit waiting while another collector of the group holds its lease (its work is
# done there): its instance measures nothing and owes no not-measured span.
STANDBY_STATE = "standby"


@dataclass(frozen=True, slots=True)
class UnitRow:
    instance: str
    unit: str  # vendor:acme | service:judge
    state: str
    since_ns: int
    heartbeat_ns: int
    failures: int = 0
    restarts: int = 0
    last_error: str = ""


@dataclass(frozen=True, slots=True)
class UnitChange:
    """A unit's state, failures or restarts changed (migration 0014): at the state's
    since_ns when the state changed, else when the change was written."""

    change_id: int
    instance: str
    unit: str
    state: str
    failures: int
    restarts: int
    at_ns: int


@dataclass(frozen=True, slots=True)
class SpanChange:
    phase: str  # open | close
    vendor: str
    cause: str
    at_ns: int
    reason: str = ""


@dataclass(frozen=True, slots=True)
class UnmeasuredSpan:
    instance: str
    vendor: str
    cause: str
    reason: str
    start_ns: int
    end_ns: int  # 0 while open

    def clipped(self, since_ns: int, until_ns: int) -> tuple[int, int]:
        """[start, end) inside [since, until); an open span runs to `until`."""
        end = self.end_ns or until_ns
        return max(self.start_ns, since_ns), min(end, until_ns)
