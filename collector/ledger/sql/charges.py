"""The billing statement's read of the probes it lists by id (Ledger.charge_rows): only
the columns a listing line and its price take, from the verdicts of the outcomes asked
(verdicts_by_outcome, migration 0019) and their copies of the probe's fields (0025), not
from every probe of the period nor from any probe's row."""

from __future__ import annotations

from collections.abc import Sequence

from collector.ledger.migrations import Dialect
from collector.ledger.probes import ChargeRow
from collector.ledger.sql.core import SqlCore
from collector.ledger.sql.probes import judged_columns
from collector.ledger.sql.query import Where

_CHARGE_COLS = judged_columns(ChargeRow._fields, copied=True)
# a range of the index per outcome, covering on SQLite: no verdict row read either
_VERDICTS = {
    Dialect.SQLITE: "verdicts v INDEXED BY verdicts_by_outcome",
    Dialect.POSTGRESQL: "verdicts v",
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
            .add("v.submit_status = ?", "accepted")
            .maybe("v.vendor = ?", vendor)
        )
        sql = f"SELECT {_CHARGE_COLS} FROM {_VERDICTS[self.dialect]}{where}"
        with self._transaction(write=False) as tx:
            rows = tx.tuples(sql, where.params)
        return list(map(ChargeRow._make, rows))
