"""The ledger's indexes, as the migrations leave them on each back-end: no table has two
indexes of the same columns in the same order (each write would keep both for nothing)."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from collector.ledger.base import Ledger
from collector.ledger.migrations import Dialect

_PG_INDEXES = """
SELECT c.relname, i.relname, x.indisunique, pg_get_expr(x.indpred, x.indrelid),
       array_to_string(ARRAY(
           SELECT pg_get_indexdef(x.indexrelid, k + 1, true)
           FROM generate_subscripts(x.indkey, 1) AS k ORDER BY k), ',')
FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid JOIN pg_class c ON c.oid = x.indrelid
JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = current_schema()
"""


def _indexes(ledger: Any) -> dict[tuple[object, ...], list[str]]:
    """(table, unique, partial predicate, columns) -> the indexes so defined."""
    out: dict[tuple[object, ...], list[str]] = defaultdict(list)
    with ledger._transaction(write=False) as tx:
        if ledger.dialect is Dialect.SQLITE:
            tables = [
                r[0] for r in tx.tuples("SELECT name FROM sqlite_master WHERE type = 'table'")
            ]
            for table in tables:
                for _, name, unique, _origin, partial in tx.tuples(f"PRAGMA index_list('{table}')"):
                    columns = ",".join(str(r[2]) for r in tx.tuples(f"PRAGMA index_info('{name}')"))
                    sql = tx.tuples("SELECT sql FROM sqlite_master WHERE name = ?", (name,))
                    where = (sql[0][0] or "").partition(" WHERE ")[2] if partial else ""
                    out[(table, bool(unique), where, columns)].append(name)
        else:
            for table, name, unique, where, columns in tx.tuples(_PG_INDEXES):
                out[(table, bool(unique), where or "", columns)].append(name)
    return out


def test_no_two_indexes_of_a_table_are_the_same(ledger: Ledger) -> None:
    indexes = _indexes(ledger)
    assert any(key[0] == "probes" for key in indexes)  # the catalogue was read
    doubled = {key: names for key, names in indexes.items() if len(names) > 1}
    assert not doubled, f"indexes defined twice: {doubled}"
    assert ["probes_by_planned"] in indexes.values()  # planned-time reads keep theirs
