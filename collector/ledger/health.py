"""The collector's own health in the ledger: unit states with a heartbeat, and the spans
in which a vendor was not measured (migration 0006). A mixin over `SqlLedger`."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any, Protocol

Row = tuple[Any, ...]
COLLECTOR_DOWN = "collector"  # cause of a span in which the collector itself was not running


class _Tx(Protocol):
    def all(self, sql: str, params: Sequence[Any] = ()) -> list[Row]: ...

    def run(self, sql: str, params: Sequence[Any] = ()) -> int: ...


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


_UNIT_COLS = "instance, unit, state, since_ns, heartbeat_ns, failures, restarts, last_error"
_SPAN_COLS = "instance, vendor, cause, reason, start_ns, end_ns"


class HealthLedgerMixin:
    _transaction: Callable[..., AbstractContextManager[_Tx]]

    def save_health(
        self, instance: str, units: Sequence[UnitRow], spans: Sequence[SpanChange]
    ) -> None:
        """Unit states (upserted, heartbeat moved) and span changes, in one transaction."""
        with self._transaction() as tx:
            for u in units:
                values = (u.state, u.since_ns, u.heartbeat_ns, u.failures, u.restarts,
                          u.last_error, instance, u.unit)  # fmt: skip
                if not tx.run(
                    "UPDATE collector_units SET state = ?, since_ns = ?, heartbeat_ns = ?,"
                    " failures = ?, restarts = ?, last_error = ? WHERE instance = ? AND unit = ?",
                    values,
                ):
                    tx.run(
                        f"INSERT INTO collector_units ({_UNIT_COLS})"
                        " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                        (instance, u.unit, u.state, u.since_ns, u.heartbeat_ns, u.failures,
                         u.restarts, u.last_error),
                    )  # fmt: skip
            for s in spans:
                if s.phase == "open":
                    tx.run(
                        "INSERT INTO unmeasured_spans (instance, vendor, cause, reason, start_ns)"
                        " VALUES (?, ?, ?, ?, ?)",
                        (instance, s.vendor, s.cause, s.reason[:500], s.at_ns),
                    )
                else:
                    tx.run(
                        "UPDATE unmeasured_spans SET end_ns = ? WHERE instance = ? AND vendor = ?"
                        " AND cause = ? AND end_ns = 0",
                        (max(s.at_ns, 1), instance, s.vendor, s.cause),
                    )

    def collector_units(self, instance: str | None = None) -> list[UnitRow]:
        sql = f"SELECT {_UNIT_COLS} FROM collector_units"
        params: tuple[str, ...] = ()
        if instance is not None:
            sql, params = sql + " WHERE instance = ?", (instance,)
        with self._transaction(write=False) as tx:
            rows = tx.all(sql + " ORDER BY instance, unit", params)
        return [
            UnitRow(r[0], r[1], r[2], int(r[3]), int(r[4]), int(r[5]), int(r[6]), r[7])
            for r in rows
        ]

    def unmeasured_spans(
        self, *, since_ns: int = 0, until_ns: int | None = None, vendor: str | None = None
    ) -> list[UnmeasuredSpan]:
        """Spans overlapping [since_ns, until_ns) (open ones included), oldest first."""
        sql = f"SELECT {_SPAN_COLS} FROM unmeasured_spans WHERE (end_ns = 0 OR end_ns > ?)"
        params: list[Any] = [since_ns]
        if until_ns is not None:
            sql += " AND start_ns < ?"
            params.append(until_ns)
        if vendor is not None:
            sql += " AND vendor = ?"
            params.append(vendor)
        with self._transaction(write=False) as tx:
            rows = tx.all(sql + " ORDER BY start_ns, span_id", params)
        return [UnmeasuredSpan(r[0], r[1], r[2], r[3], int(r[4]), int(r[5])) for r in rows]

    def resume_health(self, instance: str, *, at_ns: int) -> list[UnmeasuredSpan]:
        """On start: this instance was not measuring anything since it last wrote its
        health. Spans it left open end now; if it left none, each vendor it probed gets a
        `collector` span from its last heartbeat to now. Its old unit rows are removed
        (the new run writes its own). Returns the spans it closed or added."""
        with self._transaction() as tx:
            units = tx.all(
                "SELECT unit, heartbeat_ns FROM collector_units WHERE instance = ?", (instance,)
            )
            open_rows = tx.all(
                f"SELECT {_SPAN_COLS} FROM unmeasured_spans WHERE instance = ? AND end_ns = 0",
                (instance,),
            )
            out = [UnmeasuredSpan(r[0], r[1], r[2], r[3], int(r[4]), at_ns) for r in open_rows]
            tx.run(
                "UPDATE unmeasured_spans SET end_ns = ? WHERE instance = ? AND end_ns = 0",
                (at_ns, instance),
            )
            beat = max((int(r[1]) for r in units), default=0)
            dark = {v.vendor for v in out}
            for unit, _ in units:
                vendor = unit.removeprefix("vendor:")
                if unit.startswith("vendor:") and vendor not in dark and 0 < beat < at_ns:
                    reason = "the collector was not running"
                    tx.run(
                        "INSERT INTO unmeasured_spans (instance, vendor, cause, reason,"
                        " start_ns, end_ns) VALUES (?, ?, ?, ?, ?, ?)",
                        (instance, vendor, COLLECTOR_DOWN, reason, beat, at_ns),
                    )
                    span = UnmeasuredSpan(instance, vendor, COLLECTOR_DOWN, reason, beat, at_ns)
                    out.append(span)
            tx.run("DELETE FROM collector_units WHERE instance = ?", (instance,))
        return out
