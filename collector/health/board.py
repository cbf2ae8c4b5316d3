"""Live state of every supervised unit, and which vendors are measured. Pure, no I/O.

A unit is `vendor:<name>` (one vendor account: bound/started and submitting) or
`service:<name>` (scheduler, judge, dlr_webhooks, dlr_pull, timeseries, alerts, canaries,
health). A vendor is *measured* only while its own unit and the services its
measurement needs (`MEASURING_SERVICES`: the scheduler that sends its probes and the
judge that decides them) all run on the collector holding the probing lease (the group
measures a vendor once; an instance on standby keeps no spans); any other moment is a
not-measured span, one per (vendor, cause unit), opened and closed here as span events for
the recorder to persist.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace

MEASURING_SERVICES = ("service:scheduler", "service:judge")


class UnitState(enum.StrEnum):
    STARTING = "starting"
    RUNNING = "running"
    BACKOFF = "backoff"  # failed; waiting to be restarted
    FAILED = "failed"  # gave up: the process is exiting
    STOPPED = "stopped"
    STANDBY = "standby"  # leased: another collector of the group holds the lease


def vendor_unit(vendor: str) -> str:
    return f"vendor:{vendor}"


def service_unit(service: str) -> str:
    return f"service:{service}"


def measured_vendors(states: Mapping[str, str]) -> dict[str, bool]:
    """vendor -> measured, from one instance's unit name -> state (as the ledger keeps them).
    An instance on standby measures nothing itself (collector/health/status.py asks the
    group: a vendor is measured when the probing lease's holder measures it)."""
    services_up = all(states.get(s) == UnitState.RUNNING.value for s in MEASURING_SERVICES)
    return {
        name.removeprefix("vendor:"): services_up and state == UnitState.RUNNING.value
        for name, state in states.items()
        if name.startswith("vendor:")
    }


@dataclass(frozen=True, slots=True)
class UnitStatus:
    name: str  # vendor:acme | service:judge
    state: UnitState
    since_ns: int  # in this state since
    failures: int = 0  # consecutive failures (0 once it ran again)
    restarts: int = 0  # since the process started
    last_error: str = ""

    @property
    def kind(self) -> str:
        return self.name.split(":", 1)[0]


@dataclass(frozen=True, slots=True)
class SpanEvent:
    phase: str  # open | close
    vendor: str
    cause: str  # the unit that was not running
    at_ns: int
    reason: str = ""


@dataclass
class HealthBoard:
    """Every unit's state; `vendors` are the ones probes are planned for."""

    clock: Callable[[], int]
    vendors: tuple[str, ...] = ()
    listeners: list[Callable[[UnitStatus], None]] = field(default_factory=list)
    _units: dict[str, UnitStatus] = field(default_factory=dict)
    _open: set[tuple[str, str]] = field(default_factory=set)  # (vendor, cause)
    _events: list[SpanEvent] = field(default_factory=list)

    def add_vendor(self, vendor: str) -> None:
        if vendor not in self.vendors:
            self.vendors = (*self.vendors, vendor)
            self._spans()

    def units(self) -> list[UnitStatus]:
        return sorted(self._units.values(), key=lambda u: u.name)

    def get(self, name: str) -> UnitStatus | None:
        return self._units.get(name)

    def running(self, name: str) -> bool:
        return self.is_state(name, UnitState.RUNNING)

    def is_state(self, name: str, state: UnitState) -> bool:
        unit = self._units.get(name)
        return unit is not None and unit.state is state

    def set_state(self, name: str, state: UnitState, *, error: str = "") -> UnitStatus:
        """Record a transition; a failure (BACKOFF/FAILED) counts, RUNNING clears the count."""
        now = self.clock()
        old = self._units.get(name) or UnitStatus(name, UnitState.STOPPED, now)
        failures, restarts = old.failures, old.restarts
        if state in (UnitState.BACKOFF, UnitState.FAILED) and old.state not in (
            UnitState.BACKOFF,
            UnitState.FAILED,
        ):
            failures += 1
        if state is UnitState.RUNNING:
            failures = 0
        if state is UnitState.STARTING and old.state is UnitState.BACKOFF:
            restarts += 1
        since = old.since_ns if state is old.state else now
        unit = replace(
            old,
            state=state,
            since_ns=since,
            failures=failures,
            restarts=restarts,
            last_error=error or (old.last_error if state is not UnitState.RUNNING else ""),
        )
        self._units[name] = unit
        self._spans()
        for listener in self.listeners:
            listener(unit)
        return unit

    # ------------------------------------------------------------ measured time
    def standby(self) -> bool:
        """Another collector holds the probing lease: the vendors are measured (or not)
        there, by whoever probes them for the group; this instance accounts for nothing."""
        return any(self.is_state(s, UnitState.STANDBY) for s in MEASURING_SERVICES)

    def unmeasured(self) -> dict[str, set[str]]:
        """vendor -> the units whose absence keeps it from being measured now (empty on
        standby: the lease holder keeps the group's spans)."""
        out: dict[str, set[str]] = {}
        if self.standby():
            return out
        for vendor in self.vendors:
            causes = {
                name
                for name in (vendor_unit(vendor), *MEASURING_SERVICES)
                if not self.running(name)
            }
            if causes:
                out[vendor] = causes
        return out

    def measured(self, vendor: str) -> bool:
        return vendor not in self.unmeasured()

    def take_events(self) -> list[SpanEvent]:
        """Span events since the last call (the recorder persists them in order)."""
        events, self._events = self._events, []
        return events

    def put_back(self, events: Iterable[SpanEvent]) -> None:
        """Events the recorder could not persist: kept, in order, ahead of newer ones."""
        self._events = [*events, *self._events]

    def _spans(self) -> None:
        now = self.clock()
        current = {(v, c) for v, causes in self.unmeasured().items() for c in causes}
        for vendor, cause in sorted(current - self._open):
            unit = self._units.get(cause)
            reason = (unit.last_error or unit.state.value) if unit is not None else "not started"
            self._events.append(SpanEvent("open", vendor, cause, now, reason))
        for vendor, cause in sorted(self._open - current):
            self._events.append(SpanEvent("close", vendor, cause, now))
        self._open = current
