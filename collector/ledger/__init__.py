"""The ledger: SQLite and PostgreSQL behind one protocol (`Ledger`, see base.py).

`open_ledger(url)` picks the backend. The values it stores and returns are in model.py
(agents), probes.py and health.py; the SQL in sql/; the pure ingest rules in
ingest_rules.py.
"""

from __future__ import annotations

from pathlib import Path

from collector.ledger.base import (
    Ledger,
    LedgerConflictError,
    LedgerError,
    LedgerUnavailableError,
    MigrationError,
    UnknownAgentError,
)
from collector.ledger.model import (
    AgentStatus,
    BatchOutcome,
    GapSpan,
    LedgerEvent,
    LedgerEventKind,
    QuarantineEntry,
    RecordRejection,
    RegistrationOutcome,
    StoredHealth,
    StoredSms,
    StoredStatusReport,
)
from collector.ledger.sql import SqlLedger

__all__ = [
    "AgentStatus",
    "BatchOutcome",
    "GapSpan",
    "Ledger",
    "LedgerConflictError",
    "LedgerError",
    "LedgerEvent",
    "LedgerEventKind",
    "LedgerUnavailableError",
    "MigrationError",
    "QuarantineEntry",
    "RecordRejection",
    "RegistrationOutcome",
    "StoredHealth",
    "StoredSms",
    "StoredStatusReport",
    "UnknownAgentError",
    "open_ledger",
]


def open_ledger(url: str, *, migrate: bool = True) -> SqlLedger:
    """Open the ledger a URL names, migrated to the current schema unless told not to.

    - `postgresql://...` / `postgres://...`: PostgresLedger (libpq URL);
    - `sqlite:///relative/path`, `sqlite:////absolute/path` (SQLAlchemy's convention),
      or a plain file path: SqliteLedger.
    """
    ledger: SqlLedger
    if url.startswith(("postgresql://", "postgres://")):
        from collector.ledger.postgres import PostgresLedger

        ledger = PostgresLedger(url)
    else:
        from collector.ledger.sqlite import SqliteLedger

        if url.startswith("sqlite:///"):
            path = url[len("sqlite:///") :]
        elif "://" in url:
            raise LedgerError(f"unsupported ledger URL scheme: {url.split('://', 1)[0]}://")
        else:
            path = url
        if not path:
            raise LedgerError("ledger URL names no file")
        if path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        ledger = SqliteLedger(path)
    if migrate:
        try:
            ledger.migrate()
        except BaseException:
            ledger.close()
            raise
    return ledger
