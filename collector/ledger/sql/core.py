"""`SqlCore`: what every part of the SQL ledger stands on (collector/ledger/sql/__init__.py).

Backends differ only in how a transaction is opened, the parameter style and row
locking (`SqliteLedger`, `PostgresLedger` fill in the hooks). One lock serialises calls
on the one connection each ledger owns.
"""

from __future__ import annotations

import json
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager

from collector.ledger.ingest_rules import DEFAULT_LIMITS, IngestLimits
from collector.ledger.migrations import Dialect
from collector.ledger.model import LedgerEvent
from collector.ledger.sql.query import Tx


class SqlCore(ABC):
    """Connection hooks of a backend; the parts of `SqlLedger` run their SQL through them."""

    dialect: Dialect
    _for_update = ""  # row lock suffix for SELECTs of rows about to be updated

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
