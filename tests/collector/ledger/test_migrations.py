"""Migration files and ledger URLs, without a server."""

from __future__ import annotations

from pathlib import Path

import pytest

from collector.ledger import LedgerError, open_ledger
from collector.ledger.migrations import Dialect, load, render


@pytest.mark.parametrize("dialect", list(Dialect))
def test_migrations_are_numbered_and_fully_rendered(dialect: Dialect) -> None:
    migrations = load(dialect)
    assert [m.version for m in migrations] == list(range(1, len(migrations) + 1))
    for m in migrations:
        for statement in m.statements:
            assert "{" not in statement.replace("'{}'", "")  # every token rendered
            assert not statement.startswith("@")
            assert "--" not in statement


def test_backend_only_statements_run_on_their_backend_only() -> None:
    sql = "CREATE TABLE a (id {idkey});\n@postgresql CREATE SEQUENCE s;\n@sqlite SELECT 1;\n"
    assert render(sql, Dialect.SQLITE) == ("CREATE TABLE a (id INTEGER PRIMARY KEY)", "SELECT 1")
    assert render(sql, Dialect.POSTGRESQL) == (
        "CREATE TABLE a (id BIGINT PRIMARY KEY)",
        "CREATE SEQUENCE s",
    )


def test_sqlite_urls(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    nested = tmp_path / "a" / "b" / "ledger.db"
    ledger = open_ledger(str(nested))  # a plain path; parent directories are made
    ledger.close()
    assert nested.exists()
    absolute = open_ledger(f"sqlite:///{tmp_path}/abs.db")  # sqlite:////abs/path
    absolute.close()
    assert (tmp_path / "abs.db").exists()
    monkeypatch.chdir(tmp_path)
    relative = open_ledger("sqlite:///rel/r.db")
    relative.close()
    assert (tmp_path / "rel" / "r.db").exists()


def test_unknown_url_schemes_are_refused() -> None:
    with pytest.raises(LedgerError, match="mysql://"):
        open_ledger("mysql://db/ledger")
    with pytest.raises(LedgerError, match="no file"):
        open_ledger("sqlite:///")
