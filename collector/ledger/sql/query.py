"""The SQL plumbing every part of the ledger shares: the transaction seam, rows read by
column name, and the one WHERE builder.

Queries are portable SQL with `?` parameters (the PostgreSQL backend rewrites them).
Rows are read by column name (`row["uuid"]`), never by position, so a column added to a
SELECT cannot shift what the mapping reads; an expression gets an alias (`AS n`).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator, Sequence
from typing import Any, Protocol, TypeVar

T = TypeVar("T")
CHUNK = 500  # parameters per IN (...) list; far below SQLite's and PostgreSQL's limits


class Row(Protocol):
    """One result row, read by column name (sqlite3.Row, psycopg's dict_row)."""

    def __getitem__(self, key: str, /) -> Any: ...


class Tx(Protocol):
    """One open transaction. SQL uses `?` placeholders."""

    def all(self, sql: str, params: Sequence[Any] = ()) -> Sequence[Row]: ...

    def tuples(self, sql: str, params: Sequence[Any] = ()) -> Sequence[tuple[Any, ...]]:
        """Plain tuples in the SELECT's column order: only for bulk reads made straight into
        a NamedTuple whose fields are the selected columns, checked at import (a by-name row
        costs more than the rest of such a read)."""
        ...

    def run(self, sql: str, params: Sequence[Any] = ()) -> int: ...

    def many(self, sql: str, rows: Sequence[Sequence[Any]]) -> int: ...

    def insert(self, sql: str, rows: Sequence[Sequence[Any]]) -> int:
        """`INSERT ... VALUES (<one row>) [ON CONFLICT DO NOTHING]` for many rows: the
        number inserted, as `many` gives it, sent as multi-row VALUES statements
        (`multirow`): psycopg's per-row executemany costs ~30 µs of Python a row, SQLite's
        a GIL hand-over per row."""
        ...


_VALUES = re.compile(r"\bVALUES\s*(\([^()]*\))")
INSERT_ROWS = 1000  # rows per multi-row INSERT: ≤ 18,000 parameters for our widest row


@functools.lru_cache(maxsize=256)
def multirow(sql: str, n: int) -> str:
    """`sql` (`INSERT ... VALUES (<one row of ?>)`, plain or ON CONFLICT DO NOTHING) with
    its VALUES tuple repeated n times (Tx.insert)."""
    m = _VALUES.search(sql)
    if m is None:
        raise ValueError(f"not an INSERT ... VALUES: {sql[:60]}")
    head, one, tail = sql[: m.start(1)], m.group(1), sql[m.end(1) :]
    if "?" in head + tail or ("ON CONFLICT" in tail and "DO NOTHING" not in tail):
        # DO UPDATE may not touch a row twice in one statement: rows one by one.
        raise ValueError(f"not a multi-row INSERT: {sql[:60]}")
    return head + ", ".join([one] * n) + tail


def chunks(items: Sequence[T], n: int = CHUNK) -> Iterator[Sequence[T]]:
    for i in range(0, len(items), n):
        yield items[i : i + n]


def marks(n: int) -> str:
    """`?, ?, ?` for an IN list of n values."""
    return ",".join("?" * n)


class Where:
    """AND-ed conditions with their parameters, built up by the optional filters a query
    takes; `str()` is "" when there is none, else " WHERE ...".

        where = Where().add("at_ns >= ?", since_ns).maybe("agent_id = ?", agent_id)
        tx.all(f"SELECT ... FROM events{where} ORDER BY at_ns", where.params)
    """

    __slots__ = ("_terms", "params")

    def __init__(self) -> None:
        self._terms: list[str] = []
        self.params: list[Any] = []

    def add(self, term: str, *params: Any) -> Where:
        """Always applies; `term` has one `?` per parameter."""
        self._terms.append(term)
        self.params.extend(params)
        return self

    def maybe(self, term: str, value: Any) -> Where:
        """Applies only when the filter was given (value is not None)."""
        return self if value is None else self.add(term, value)

    def when(self, flag: bool, term: str) -> Where:
        """A condition without parameters, applied when `flag` holds."""
        return self.add(term) if flag else self

    def among(self, column: str, values: Sequence[Any]) -> Where:
        """`column IN (...)`; the caller keeps the list within CHUNK (see `chunks`)."""
        return self.add(f"{column} IN ({marks(len(values))})", *values)

    def __str__(self) -> str:
        return " WHERE " + " AND ".join(self._terms) if self._terms else ""
