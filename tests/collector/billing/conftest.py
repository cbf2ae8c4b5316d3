"""Fixtures of the billing tests: a ledger filled by a simulator run, its collector.toml;
`certs` of the evidence tests ([tls] next to the report world's `certs init`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from collector.ledger import open_ledger
from tests.collector.billing.test_statement_sim import _arrange
from tests.collector.evidence.test_evidence_cli import certs

__all__ = ["billing_world", "certs"]

BILLING = """
[billing]
currency = "CNY"
[billing.vendors.acct]
model = "on_success"
price = 0.04
[billing.vendors.acct.invoice]
message_id = "msgid"
parts = "计费条数"
amount = "金额"
billed_at = "发送时间"
time_format = "%Y-%m-%d %H:%M:%S"
encoding = "gbk"
"""


@pytest.fixture
def billing_world(tmp_path: Path, ledger_url: str) -> tuple[Path, dict[str, Any]]:
    ledger = open_ledger(ledger_url)
    try:
        truth = _arrange(ledger)
    finally:
        ledger.close()
    config = tmp_path / "collector.toml"
    config.write_text(f'[ledger]\nurl = "{ledger_url}"\n{BILLING}')
    return config, truth
