"""`SqliteLedger`: the default single-collector ledger.

WAL with synchronous=FULL, so a committed batch survives power loss (SQLite docs,
"pragma synchronous": FULL syncs the WAL on every commit) and the collector may ack it.
One connection, used from any thread but by one at a time (the lock in SqlCore).
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from itertools import chain
from pathlib import Path
from typing import Any

from collector.ledger.base import LedgerError, LedgerUnavailableError
from collector.ledger.ingest_rules import DEFAULT_LIMITS, IngestLimits
from collector.ledger.migrations import Dialect
from collector.ledger.sql import SqlLedger, Tx
from collector.ledger.sql.query import INSERT_ROWS, chunks, multirow


class _SqliteTx:
    __slots__ = ("_conn",)

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    def all(self, sql: str, params: Sequence[Any] = ()) -> list[sqlite3.Row]:
        return self._conn.execute(sql, params).fetchall()

    def tuples(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        cur = self._conn.cursor()
        cur.row_factory = None  # the connection's is sqlite3.Row
        return cur.execute(sql, params).fetchall()

    def run(self, sql: str, params: Sequence[Any] = ()) -> int:
        return self._conn.execute(sql, params).rowcount

    def many(self, sql: str, rows: Sequence[Sequence[Any]]) -> int:
        return self._conn.executemany(sql, rows).rowcount

    def insert(self, sql: str, rows: Sequence[Sequence[Any]]) -> int:
        inserted = 0
        for chunk in chunks(rows, INSERT_ROWS):
            flat = list(chain.from_iterable(chunk))  # in C: a third of a comprehension's cost
            inserted += self._conn.execute(multirow(sql, len(chunk)), flat).rowcount
        return inserted


class SqliteLedger(SqlLedger):
    dialect = Dialect.SQLITE

    def __init__(
        self,
        path: str | Path,
        *,
        busy_timeout_s: float = 10.0,
        limits: IngestLimits = DEFAULT_LIMITS,
        clock: Callable[[], int] = time.time_ns,
    ) -> None:
        super().__init__(limits=limits, clock=clock)
        self.path = str(path)
        try:
            # isolation_level=None: we issue BEGIN/COMMIT ourselves (one per call).
            self._conn = sqlite3.connect(
                self.path,
                timeout=busy_timeout_s,
                isolation_level=None,
                check_same_thread=False,
                cached_statements=256,
            )
            self._conn.row_factory = sqlite3.Row  # rows read by column name
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute("PRAGMA synchronous=FULL")
            # 64 MB page cache: the uuid index takes random inserts and slows as it grows.
            self._conn.execute("PRAGMA cache_size=-65536")
        except sqlite3.Error as exc:
            raise LedgerUnavailableError(f"cannot open SQLite ledger {self.path}: {exc}") from exc

    @contextmanager
    def _transaction(self, *, write: bool = True) -> Iterator[_SqliteTx]:
        with self._lock:
            try:
                # IMMEDIATE: take the write lock up front, so two collectors on one file
                # wait (busy timeout) instead of failing mid-transaction.
                self._conn.execute("BEGIN IMMEDIATE" if write else "BEGIN")
            except sqlite3.OperationalError as exc:
                raise LedgerUnavailableError(f"SQLite ledger busy: {exc}") from exc
            try:
                yield _SqliteTx(self._conn)
            except BaseException as exc:
                self._conn.execute("ROLLBACK")
                if isinstance(exc, sqlite3.OperationalError):
                    raise LedgerUnavailableError(str(exc)) from exc
                if isinstance(exc, sqlite3.Error):
                    raise LedgerError(str(exc)) from exc
                raise
            try:
                self._conn.execute("COMMIT")
            except sqlite3.Error as exc:
                self._conn.execute("ROLLBACK")
                raise LedgerUnavailableError(f"SQLite commit failed: {exc}") from exc

    def _has_table(self, tx: Tx, name: str) -> bool:
        return bool(
            tx.all("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (name,))
        )

    def _allocate_ids(self, tx: Tx, n: int) -> Sequence[int]:
        # BEGIN IMMEDIATE made us the only writer: max(id) cannot move under us.
        top = int(tx.all("SELECT COALESCE(MAX(id), 0) AS top FROM records")[0]["top"])
        return range(top + 1, top + 1 + n)

    def reclaim_space(self) -> None:
        """After a retention run: rewrite the file (VACUUM) and empty the WAL, so masked and
        purged bytes are gone from the database files, not just unreferenced."""
        with self._lock:
            try:
                self._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
                self._conn.execute("VACUUM")
                self._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            except sqlite3.Error as exc:
                raise LedgerUnavailableError(f"SQLite VACUUM failed: {exc}") from exc

    def close(self) -> None:
        with self._lock:
            self._conn.close()
