"""The collector's own health in SQL (migration 0006): unit states with a heartbeat, and
the spans in which a vendor was not measured."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from collector.ledger.health import (
    COLLECTOR_DOWN,
    SCHEDULER_UNIT,
    STANDBY_STATE,
    SpanChange,
    UnitChange,
    UnitRow,
    UnmeasuredSpan,
)
from collector.ledger.sql.core import SqlCore
from collector.ledger.sql.query import Row, Where

_UNIT_COLS = "instance, unit, state, since_ns, heartbeat_ns, failures, restarts, last_error"
_SPAN_COLS = "instance, vendor, cause, reason, start_ns, end_ns"


def _span(r: Row) -> UnmeasuredSpan:
    return UnmeasuredSpan(
        instance=r["instance"],
        vendor=r["vendor"],
        cause=r["cause"],
        reason=r["reason"],
        start_ns=int(r["start_ns"]),
        end_ns=int(r["end_ns"]),
    )


class HealthSql(SqlCore):
    def save_health(
        self, instance: str, units: Sequence[UnitRow], spans: Sequence[SpanChange]
    ) -> None:
        """Unit states (upserted, heartbeat moved) and span changes, in one transaction."""
        with self._transaction() as tx:
            before = {
                str(r["unit"]): (str(r["state"]), int(r["failures"]), int(r["restarts"]))
                for r in tx.all(
                    "SELECT unit, state, failures, restarts FROM collector_units"
                    " WHERE instance = ?",
                    (instance,),
                )
            }
            changes = []
            for u in units:
                old = before.get(u.unit)
                if old != (u.state, u.failures, u.restarts):
                    at = u.since_ns if old is None or old[0] != u.state else u.heartbeat_ns
                    changes.append((instance, u.unit, u.state, u.failures, u.restarts, at))
            if changes:
                tx.many(
                    "INSERT INTO unit_changes (instance, unit, state, failures, restarts, at_ns)"
                    " VALUES (?, ?, ?, ?, ?, ?)",
                    changes,
                )
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
        where = Where().maybe("instance = ?", instance)
        with self._transaction(write=False) as tx:
            rows = tx.all(
                f"SELECT {_UNIT_COLS} FROM collector_units{where} ORDER BY instance, unit",
                where.params,
            )
        return [
            UnitRow(
                instance=r["instance"],
                unit=r["unit"],
                state=r["state"],
                since_ns=int(r["since_ns"]),
                heartbeat_ns=int(r["heartbeat_ns"]),
                failures=int(r["failures"]),
                restarts=int(r["restarts"]),
                last_error=r["last_error"],
            )
            for r in rows
        ]

    def unit_changes_after(self, change_id: int, limit: int) -> list[UnitChange]:
        with self._transaction(write=False) as tx:
            rows = tx.all(
                "SELECT change_id, instance, unit, state, failures, restarts, at_ns"
                " FROM unit_changes WHERE change_id > ? ORDER BY change_id LIMIT ?",
                (change_id, limit),
            )
        return [
            UnitChange(int(r["change_id"]), r["instance"], r["unit"], r["state"],
                       int(r["failures"]), int(r["restarts"]), int(r["at_ns"]))
            for r in rows
        ]  # fmt: skip

    def unmeasured_spans(
        self, *, since_ns: int = 0, until_ns: int | None = None, vendor: str | None = None
    ) -> list[UnmeasuredSpan]:
        """Spans overlapping [since_ns, until_ns) (open ones included), oldest first."""
        where = (
            Where()
            .add("(end_ns = 0 OR end_ns > ?)", since_ns)
            .maybe("start_ns < ?", until_ns)
            .maybe("vendor = ?", vendor)
        )
        with self._transaction(write=False) as tx:
            rows = tx.all(
                f"SELECT {_SPAN_COLS} FROM unmeasured_spans{where} ORDER BY start_ns, span_id",
                where.params,
            )
        return [_span(r) for r in rows]

    def resume_health(self, instance: str, *, at_ns: int) -> list[UnmeasuredSpan]:
        """On start: this instance was not measuring anything since it last wrote its
        health. Spans it left open end now; if it left none, each vendor it probed gets a
        `collector` span from its last heartbeat to now — unless it was on standby (another
        collector held the probing lease and measured them). Its old unit rows are removed
        (the new run writes its own). Returns the spans it closed or added."""
        with self._transaction() as tx:
            units = tx.all(
                "SELECT unit, state, heartbeat_ns FROM collector_units WHERE instance = ?",
                (instance,),
            )
            open_rows = tx.all(
                f"SELECT {_SPAN_COLS} FROM unmeasured_spans WHERE instance = ? AND end_ns = 0",
                (instance,),
            )
            out = [replace(_span(r), end_ns=at_ns) for r in open_rows]
            tx.run(
                "UPDATE unmeasured_spans SET end_ns = ? WHERE instance = ? AND end_ns = 0",
                (at_ns, instance),
            )
            beat = max((int(r["heartbeat_ns"]) for r in units), default=0)
            dark = {v.vendor for v in out}
            standby = any(
                r["unit"] == SCHEDULER_UNIT and r["state"] == STANDBY_STATE for r in units
            )
            if standby:  # it probed nothing: the probing lease's holder did
                dark = {str(r["unit"]).removeprefix("vendor:") for r in units}
            for unit in (str(r["unit"]) for r in units):
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
