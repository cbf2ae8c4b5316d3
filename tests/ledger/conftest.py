"""The `ledger` fixture: every contract test runs against SQLite and a real PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from collector.ledger import Ledger, open_ledger
from tests.servers.postgres import postgres_server, postgres_url  # noqa: F401

LedgerFactory = Callable[[], Ledger]


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
