"""`PostgresLedger`: one ledger shared by several collector replicas.

psycopg 3, synchronous, one connection used by one thread at a time. Per-agent work
locks the agent's row (SELECT ... FOR UPDATE), so two replicas ingesting for the same
agent serialise and sequence tracking stays exact; migrations and verdict writes take an
advisory lock; leases expire by the server's clock (collector/ledger/sql/leases.py).
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from itertools import chain
from typing import Any

import psycopg
import structlog
from psycopg import errors as pg_errors
from psycopg.rows import dict_row, tuple_row

from collector.ledger.base import LedgerConflictError, LedgerError, LedgerUnavailableError
from collector.ledger.ingest_rules import DEFAULT_LIMITS, IngestLimits
from collector.ledger.migrations import Dialect
from collector.ledger.retention import RETENTION_TABLES
from collector.ledger.sql import SqlLedger, Tx
from collector.ledger.sql.query import INSERT_ROWS, chunks, multirow

log = structlog.get_logger("collector.ledger.postgres")

# pg_advisory_xact_lock key for migrations: any constant unique to this application.
_MIGRATION_LOCK_KEY = 0x736D7370726F6265  # "smsprobe"
PgRow = dict[str, Any]  # dict_row: rows read by column name


@functools.lru_cache(maxsize=512)
def _pg(sql: str) -> str:
    """Our SQL uses `?` (qmark); psycopg wants `%s`. No literal `%` or `?` occurs in it."""
    return sql.replace("?", "%s")


@functools.lru_cache(maxsize=256)
def _numbered(sql: str, n: int) -> str:
    """`multirow` with server-side placeholders ($1, $2, ...): psycopg does not cache the
    parse of a statement this long (Tx.insert)."""
    pieces = multirow(sql, n).split("?")
    return pieces[0] + "".join(f"${i}{p}" for i, p in enumerate(pieces[1:], 1))


class _PgTx:
    __slots__ = ("_cur",)

    def __init__(self, cur: psycopg.Cursor[PgRow]) -> None:
        self._cur = cur

    def all(self, sql: str, params: Sequence[Any] = ()) -> list[PgRow]:
        self._cur.execute(_pg(sql), params)
        return self._cur.fetchall()

    def tuples(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        # results in binary: a bytea comes as its bytes, not hex text twice its size to
        # decode (the month's value blobs 1.35 -> 0.66 s), integers as 8 bytes; the same
        # Python values (psycopg's binary loaders)
        with self._cur.connection.cursor(row_factory=tuple_row, binary=True) as cur:
            cur.execute(_pg(sql), params)
            return cur.fetchall()

    def run(self, sql: str, params: Sequence[Any] = ()) -> int:
        self._cur.execute(_pg(sql), params)
        return self._cur.rowcount

    def many(self, sql: str, rows: Sequence[Sequence[Any]]) -> int:
        if not rows:
            return 0
        self._cur.executemany(_pg(sql), rows)
        return self._cur.rowcount

    def insert(self, sql: str, rows: Sequence[Sequence[Any]]) -> int:
        if not rows:
            return 0
        inserted = 0
        for chunk in chunks(rows, INSERT_ROWS):
            with psycopg.RawCursor(self._cur.connection) as cur:
                cur.execute(_numbered(sql, len(chunk)), list(chain.from_iterable(chunk)))
                inserted += cur.rowcount
        return inserted


class PostgresLedger(SqlLedger):
    dialect = Dialect.POSTGRESQL
    _for_update = " FOR UPDATE"
    _for_share = " FOR SHARE"

    def __init__(
        self,
        url: str,
        *,
        connect_timeout_s: float = 10.0,
        limits: IngestLimits = DEFAULT_LIMITS,
        clock: Callable[[], int] = time.time_ns,
    ) -> None:
        super().__init__(limits=limits, clock=clock)
        self._url = url
        self._connect_timeout_s = max(1, int(connect_timeout_s))
        # One connection shared with the fenced views of this ledger (SqlCore.fenced): a
        # reconnect made through any of them serves all.
        self._shared: list[psycopg.Connection[PgRow]] = [self._connect()]

    @property
    def _conn(self) -> psycopg.Connection[PgRow]:
        return self._shared[0]

    @_conn.setter
    def _conn(self, conn: psycopg.Connection[PgRow]) -> None:
        self._shared[0] = conn

    def _connect(self) -> psycopg.Connection[PgRow]:
        try:
            # autocommit: each call opens its own transaction with conn.transaction().
            return psycopg.connect(
                self._url,
                autocommit=True,
                connect_timeout=self._connect_timeout_s,
                row_factory=dict_row,
            )
        except psycopg.Error as exc:
            raise LedgerUnavailableError(f"cannot connect to PostgreSQL ledger: {exc}") from exc

    @contextmanager
    def _transaction(self, *, write: bool = True) -> Iterator[Tx]:
        with self._lock:
            if self._conn.closed or self._conn.broken:
                # The server restarted or the network dropped: the failed call already
                # raised LedgerUnavailableError (retried by the agent); reconnect now.
                self._conn = self._connect()
                log.info("ledger_reconnected", backend="postgresql")
            try:
                with self._conn.transaction(), self._conn.cursor() as cur:
                    yield _PgTx(cur)
            except (pg_errors.DeadlockDetected, pg_errors.SerializationFailure) as exc:
                raise LedgerConflictError(str(exc)) from exc  # rolled back: run it again
            except psycopg.OperationalError as exc:
                # lost connections, server shutting down, ...
                raise LedgerUnavailableError(str(exc)) from exc
            except psycopg.Error as exc:
                raise LedgerError(str(exc)) from exc

    def _has_table(self, tx: Tx, name: str) -> bool:
        return tx.all("SELECT to_regclass(?) AS oid", (name,))[0]["oid"] is not None

    def _allocate_ids(self, tx: Tx, n: int) -> Sequence[int]:
        rows = tx.all("SELECT nextval('records_id_seq') AS id FROM generate_series(1, ?)", (n,))
        return [int(r["id"]) for r in rows]

    def _migration_lock(self, tx: Tx) -> None:
        tx.all("SELECT pg_advisory_xact_lock(?)", (_MIGRATION_LOCK_KEY,))

    def _serialize(self, tx: Tx, key: int) -> None:
        tx.all("SELECT pg_advisory_xact_lock(?)", (key,))

    def _now_ns(self, tx: Tx) -> int:
        rows = tx.all("SELECT (EXTRACT(EPOCH FROM clock_timestamp()) * 1000000000)::BIGINT AS now")
        return int(rows[0]["now"])

    def reclaim_space(self) -> None:
        """After a retention run: VACUUM the tables it rewrote, so the dead row versions
        that still hold the old values are reclaimed (the space is reused; VACUUM FULL, an
        operator's decision, gives it back to the file system)."""
        with self._lock:
            try:
                for table in RETENTION_TABLES:
                    self._conn.execute(f"VACUUM {table}")  # autocommit: outside a transaction
            except psycopg.Error as exc:
                raise LedgerUnavailableError(f"VACUUM failed: {exc}") from exc

    def close(self) -> None:
        with self._lock:
            self._conn.close()
