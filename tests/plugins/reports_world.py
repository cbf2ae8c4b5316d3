"""Fixtures shared by the report, evidence and alert tests (registered in tests/conftest.py).

- `restore_logging`: puts process-wide logging back after a CLI configured it; the
  report, evidence and alert test packages use it for every test (their conftest.py).
- `world`: a SQLite ledger holding tests/collector/reports/world.py; returns collector.toml.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
import structlog

from agent.wire.signing import RecordSigner
from collector.certs import create_ca, issue_agent
from collector.ledger import open_ledger
from tests.collector.reports.world import AGENT, build_world, write_config


@pytest.fixture
def restore_logging() -> Iterator[None]:
    """The CLIs configure logging once at their edge, onto CliRunner's stderr; put the
    process-wide logging back so later tests do not write to a closed stream."""
    saved = structlog.get_config()
    handlers = list(logging.getLogger().handlers)
    level = logging.getLogger().level
    yield
    structlog.configure(**saved)
    root = logging.getLogger()
    for h in list(root.handlers):
        if h not in handlers:
            root.removeHandler(h)
    root.setLevel(level)


@pytest.fixture
def world(tmp_path: Path) -> Path:
    """A SQLite ledger holding tests/collector/reports/world.py; returns collector.toml."""
    url = f"sqlite:///{tmp_path}/l.db"
    ledger = open_ledger(url)
    # The agent signs its records with a key certified by the CA in certs/ (`certs init`).
    certs = tmp_path / "certs"
    create_ca(certs)
    issued = issue_agent(certs, AGENT)
    try:
        build_world(ledger, RecordSigner.from_pem_file(issued.key), issued.cert.read_bytes())
    finally:
        ledger.close()
    path: Path = write_config(tmp_path, url)
    return path
