"""Ledger fixtures for every test package (registered in tests/conftest.py).

- `postgres_server` (session scope): one real PostgreSQL 15 per pytest process, so each
  xdist worker has its own (tests/servers/postgres.py); a machine without PostgreSQL fails
  loudly (`make servers` installs it): a skipped ledger test would hide a broken backend.
- `postgres_url`: a fresh, empty database on it, dropped after the test.
- `ledger_url`, `open_ledgers`, `ledger`: parametrised over SQLite and PostgreSQL, so a
  test that takes `ledger` runs the same assertions against both backends.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from collector.ledger import Ledger, open_ledger
from tests.servers.postgres import PostgresServer, start_postgres

LedgerFactory = Callable[[], Ledger]


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    try:
        server = start_postgres()
    except RuntimeError as exc:
        pytest.fail(str(exc), pytrace=False)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def postgres_url(postgres_server: PostgresServer) -> Iterator[str]:
    """A fresh empty database on the session's server; dropped after the test."""
    name = postgres_server.create_database()
    try:
        yield postgres_server.url(name)
    finally:
        postgres_server.drop_database(name)


@pytest.fixture(params=["sqlite", "postgresql"])
def ledger_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path_factory.mktemp('ledger')}/ledger.db"
    url: str = request.getfixturevalue("postgres_url")
    return url


@pytest.fixture
def open_ledgers(ledger_url: str) -> Iterator[LedgerFactory]:
    """Opens (and at teardown closes) ledgers on the same database, e.g. to reopen one."""
    opened: list[Ledger] = []

    def factory() -> Ledger:
        ledger = open_ledger(ledger_url)
        opened.append(ledger)
        return ledger

    yield factory
    for ledger in opened:
        ledger.close()


@pytest.fixture
def ledger(open_ledgers: LedgerFactory) -> Ledger:
    return open_ledgers()
