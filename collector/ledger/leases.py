"""Leases of work done once across several collectors (migration 0007): values only; the
SQL is in collector/ledger/sql/leases.py, the keeper in collector/coordination.

A lease names a piece of work (`probing`, `alerts`, `timeseries`). Its holder renews it
before it expires; anyone may take it once it has expired, and each new tenure gets the
next fencing token. Every write the lease protects runs through a ledger view made with
`Ledger.fenced(...)`, which checks in the same transaction that the token is still the
lease's current one: a holder that stalled past its expiry and was replaced can no
longer write, whatever it believes.
"""

from __future__ import annotations

from dataclasses import dataclass

# The leases a collector takes (collector/coordination/keeper.py), and the units they cover.
PROBING = "probing"  # scheduler + runner, judge, DLR pulls: a vendor is measured by its holder
ALERTS = "alerts"
TIMESERIES = "timeseries"
LEASE_NAMES = (PROBING, ALERTS, TIMESERIES)


@dataclass(frozen=True, slots=True)
class Fence:
    """What a protected write proves: `holder` holds `name` in tenure `token`."""

    name: str
    holder: str
    token: int


@dataclass(frozen=True, slots=True)
class Lease:
    """A lease as stored; `expires_at_ns` 0 once released. Times are the ledger's clock."""

    name: str
    holder: str
    token: int
    acquired_at_ns: int
    renewed_at_ns: int
    expires_at_ns: int
    previous_holder: str = ""

    @property
    def fence(self) -> Fence:
        return Fence(self.name, self.holder, self.token)


@dataclass(frozen=True, slots=True)
class Grant:
    """The answer to `acquire_lease`: the lease now, and whether this call began a tenure.
    `lapsed_holder` is the previous holder whose lease ran out without being released (it
    died or stalled), with its last renewal: the time its work was not being done."""

    lease: Lease
    held: bool  # the caller holds it (new tenure or renewed)
    new_tenure: bool = False
    lapsed_holder: str = ""
    lapsed_renewed_at_ns: int = 0


@dataclass(frozen=True, slots=True)
class DeliveryRow:
    """One alert event to one webhook (alert_deliveries)."""

    alert_id: int
    phase: str  # start | end
    url: str
    state: str  # pending | claimed | delivered | failed
    claimed_token: int
    claimed_by: str
    attempts: int
