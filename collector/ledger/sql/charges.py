"""The billing statement's read of the probes it lists by id (Ledger.charge_rows): only
the columns a listing line and its price take, driven from the verdicts of the outcomes
asked (verdicts_by_outcome, migration 0019), not from every probe of the period."""

from __future__ import annotations

from collections.abc import Sequence

from collector.ledger.migrations import Dialect
from collector.ledger.probes import ChargeRow
from collector.ledger.sql.core import SqlCore
from collector.ledger.sql.probes import judged_columns
from collector.ledger.sql.query import Where

_CHARGE_COLS = judged_columns(ChargeRow._fields)
# SQLite would otherwise pick the probes' planned-time index and pass over every probe of
# the period (a month: 4 million, for 10^5 lost); the verdict copy of the planned time
# bounds the index range, the probe's own bounds the rows as judged_rows does.
_JOINED = {
    Dialect.SQLITE: "verdicts v INDEXED BY verdicts_by_outcome CROSS JOIN probes p",
    Dialect.POSTGRESQL: "verdicts v JOIN probes p",
}


class ChargeSql(SqlCore):
    def charge_rows(
        self,
        *,
        since_ns: int,
        until_ns: int,
        outcomes: Sequence[str],
        vendor: str | None = None,
    ) -> list[ChargeRow]:
        if not outcomes:
            return []
        where = (
            Where()
            .among("v.outcome", list(outcomes))
            .add("v.planned_at_ns >= ?", since_ns)
            .add("v.planned_at_ns < ?", until_ns)
            .add("p.planned_at_ns >= ?", since_ns)
            .add("p.planned_at_ns < ?", until_ns)
            .add("p.submit_status = ?", "accepted")
            .maybe("p.vendor = ?", vendor)
        )
        sql = (
            f"SELECT {_CHARGE_COLS} FROM {_JOINED[self.dialect]} ON p.probe_id = v.probe_id{where}"
        )
        with self._transaction(write=False) as tx:
            rows = tx.tuples(sql, where.params)
        return list(map(ChargeRow._make, rows))
