"""What the ledger keeps about periods and bursts (migration 0012): marketing probes held
back by quiet hours, and one-off bursts asked for from the command line.

Plain values, no I/O; the SQL is in collector/ledger/sql/periods.py.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class QuietSuppression:
    """A marketing lane held back because its local time was outside marketing hours."""

    vendor: str
    msisdn: str
    profile: str
    at_ns: int  # collector clock
    local_day: str  # YYYY-MM-DD in the [probes] zone
    resume_at_ns: int  # when the lane is due again


class BurstState(enum.StrEnum):
    PENDING = "pending"  # waiting for its start time and the probing lease's holder
    STARTED = "started"  # claimed and being sent (never sent twice, even by a successor)
    DONE = "done"
    EXPIRED = "expired"  # its start time had long passed when a scheduler saw it
    REFUSED = "refused"  # the holder cannot send it (e.g. the vendor is not probed there)


@dataclass(frozen=True, slots=True)
class BurstRequest:
    """A one-off stress burst (collector/probes/bursts.py), its probe ids
    `burst-<name>-<start second>-<index>`."""

    name: str
    vendor: str
    profile: str
    count: int
    within_s: float
    at_ns: int  # when it is to start, collector clock
    budget: float
    max_attempts: int = 1
    requested_at_ns: int = 0
    requested_by: str = ""
    state: BurstState = BurstState.PENDING
    started_at_ns: int = 0
    started_by: str = ""
    sent: int = 0
    note: str = ""
