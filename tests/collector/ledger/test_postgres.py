"""PostgresLedger specifics, against the real server of tests/servers/postgres.py."""

from __future__ import annotations

import psycopg
import pytest

from collector.ledger import LedgerUnavailableError, open_ledger
from tests.collector.ledger.builders import NOW, record, registration


def test_a_lost_connection_fails_one_call_then_reconnects(postgres_url: str) -> None:
    ledger = open_ledger(postgres_url)
    try:
        ledger.register_agent(registration(), at_ns=NOW)
        with psycopg.connect(postgres_url, autocommit=True) as admin:
            admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        with pytest.raises(LedgerUnavailableError):  # transient: the agent resends
            ledger.ingest_batch("agent-1", [record(1)], [], at_ns=NOW)
        out = ledger.ingest_batch("agent-1", [record(1)], [], at_ns=NOW)
        assert (out.ingested, out.committed_seq) == (1, 1)
    finally:
        ledger.close()


def test_an_unreachable_server_is_a_transient_error(postgres_url: str) -> None:
    dead = postgres_url.rsplit("@", 1)[0] + "@127.0.0.1:1/nodb"
    with pytest.raises(LedgerUnavailableError, match="cannot connect"):
        open_ledger(dead)
