"""`SqlCore`: what every part of the SQL ledger stands on (collector/ledger/sql/__init__.py).

Backends differ only in how a transaction is opened, the parameter style and row
locking (`SqliteLedger`, `PostgresLedger` fill in the hooks). One lock serialises calls
on the one connection each ledger owns.
"""

from __future__ import annotations

import copy
import json
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Sequence
from contextlib import AbstractContextManager
from typing import Self, TypeVar

from collector.ledger.base import FencedError, LedgerConflictError
from collector.ledger.ingest_rules import DEFAULT_LIMITS, IngestLimits
from collector.ledger.leases import Fence
from collector.ledger.migrations import Dialect
from collector.ledger.model import LedgerEvent
from collector.ledger.sql.query import Tx, Where, chunks

T = TypeVar("T")


class SqlCore(ABC):
    """Connection hooks of a backend; the parts of `SqlLedger` run their SQL through them."""

    dialect: Dialect
    _for_update = ""  # row lock suffix for SELECTs of rows about to be updated
    _for_share = ""  # row lock suffix for SELECTs of rows that must not change until commit
    # Set on a view made by `fenced`: the lease its protected writes need (sql/leases.py).
    _fence: Callable[[], Fence | None] | None = None

    def __init__(
        self, *, limits: IngestLimits = DEFAULT_LIMITS, clock: Callable[[], int] = time.time_ns
    ) -> None:
        self._lock = threading.Lock()
        self._limits = limits
        self._clock = clock

    @abstractmethod
    def _transaction(self, *, write: bool = True) -> AbstractContextManager[Tx]:
        """Begin (a writer takes the write lock where the backend has one), commit on exit."""

    @abstractmethod
    def _has_table(self, tx: Tx, name: str) -> bool: ...

    @abstractmethod
    def _allocate_ids(self, tx: Tx, n: int) -> Sequence[int]:
        """n new, unused, increasing record ids (called inside a write transaction)."""

    def _migration_lock(self, tx: Tx) -> None:  # noqa: B027 - optional: PostgreSQL only
        """Serialise concurrent migrate() calls across processes where BEGIN does not."""

    def _serialize(self, tx: Tx, key: int) -> None:  # noqa: B027 - optional: PostgreSQL only
        """Serialise one kind of write (`key`) across processes where BEGIN does not."""

    def _lock_probes(self, tx: Tx, probe_ids: Iterable[str]) -> list[str]:
        """Row-lock these probes in probe_id order before a multi-row write of probes or
        their verdicts: every such writer takes them in this one order, so two collectors
        never wait on each other in a cycle (PostgreSQL; SQLite's write lock covers all).
        Returns the ids sorted, the order to write them in."""
        ids = sorted(set(probe_ids))
        if self._for_update:
            for chunk in chunks(ids):  # sorted chunks: still one order across them
                where = Where().among("probe_id", chunk)
                tx.all(
                    f"SELECT probe_id FROM probes{where} ORDER BY probe_id{self._for_update}",
                    where.params,
                )
        return ids

    def _retry_conflicts(self, work: Callable[[], T], *, attempts: int = 5) -> T:
        """Run `work` (one whole transaction) again when PostgreSQL aborted it for a
        deadlock or serialization failure: it was rolled back, so nothing is doubled."""
        for attempt in range(1, attempts + 1):
            try:
                return work()
            except LedgerConflictError:
                if attempt == attempts:
                    raise
                time.sleep(0.01 * attempt)
        raise AssertionError("unreachable")

    def _now_ns(self, tx: Tx) -> int:
        """The ledger's clock: leases expire by it (PostgreSQL: the server's clock)."""
        return self._clock()

    def fenced(self, fence: Callable[[], Fence | None]) -> Self:
        """A view of this ledger (same connection) whose protected writes — probe claims
        and submissions, verdicts, DLR attribution, cursors, alerts and their deliveries —
        first check, in their own transaction, that `fence()` is still the lease's current
        tenure, and raise FencedError otherwise (None: the lease is not held)."""
        view = copy.copy(self)
        view._fence = fence
        return view

    def _check_fence(self, tx: Tx) -> None:
        """Raise FencedError unless this view's lease tenure is the current one."""
        if self._fence is None:
            return
        fence = self._fence()
        if fence is None:
            raise FencedError("this collector does not hold the lease this write needs")
        rows = tx.all(
            f"SELECT holder, token FROM leases WHERE name = ?{self._for_share}", (fence.name,)
        )
        if not rows or rows[0]["holder"] != fence.holder or int(rows[0]["token"]) != fence.token:
            now = f"{rows[0]['holder']} #{rows[0]['token']}" if rows else "nobody"
            raise FencedError(
                f"lease {fence.name} #{fence.token} of {fence.holder} was taken over ({now})"
            )

    @abstractmethod
    def close(self) -> None: ...

    def _insert_events(self, tx: Tx, events: Sequence[LedgerEvent]) -> None:
        if events:
            tx.many(
                "INSERT INTO events (agent_id, at_ns, kind, source, modem_imei, detail,"
                " attributes, record_uuid) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    (
                        e.agent_id,
                        e.at_ns,
                        str(e.kind),
                        e.source.value,
                        e.modem_imei,
                        e.detail,
                        json.dumps(dict(e.attributes), sort_keys=True),
                        e.record_uuid,
                    )
                    for e in events
                ],
            )
