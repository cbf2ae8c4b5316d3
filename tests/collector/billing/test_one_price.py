"""One price per probe for every money figure: the report's tables and summary, its
billing section and `cost` price each probe by the vendor's table (carrier, profile), and
the probes the tables leave out (a burst, one sent while the vendor was not measured) are
their own lines in the statement, so the report's figures reconcile with the bill."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from collector.cli import main
from collector.ledger import open_ledger
from collector.ledger.health import SpanChange
from collector.probes.bursts import burst_probe_id
from tests.collector.billing.test_cost_cli import cli
from tests.collector.reports.world import T0, delivered, plan, submit

NS = 1_000_000_000
BASE, CMCC, NOTE, LONG = 0.04, 0.035, 0.03, 0.05
TABLE = f"""
[billing]
currency = "CNY"
[billing.vendors.acct]
model = "on_success"
price = {BASE}
[[billing.vendors.acct.prices]]
carrier = "china_mobile"
price = {CMCC}
[[billing.vendors.acct.prices]]
carrier = "china_mobile"
profile = "notification"
price = {NOTE}
[[billing.vendors.acct.prices]]
carrier = "china_mobile"
profile = "long_ucs2"
price = {LONG}
"""


def _price(t: Any) -> float:
    return LONG if t.parts > 1 else NOTE  # the simulator run's long_ucs2 and notification


def _extra_probes(ledger_url: str) -> None:
    """A burst probe and one sent inside a not-measured span: both delivered with a
    DELIVRD, both billed (verification_code to China Mobile: the carrier's price)."""
    ledger = open_ledger(ledger_url)
    try:
        burst = plan(burst_probe_id("peak", T0, 1), "acct", T0 + 60 * NS)
        dark = plan("acct-dark-1", "acct", T0 + 600 * NS)
        for p in (burst, dark):
            submit(ledger, p)
        ledger.save_health("c1", [], [SpanChange("open", "acct", "vendor:acct", T0 + 500 * NS),
                                      SpanChange("close", "acct", "vendor:acct",
                                                 T0 + 700 * NS)])  # fmt: skip
        verdicts = [delivered(burst.probe_id, 2.0, "u-b"), delivered(dark.probe_id, 2.0, "u-d")]
        ledger.save_verdicts(verdicts, at_ns=T0 + 900 * NS)
    finally:
        ledger.close()


def test_the_tables_money_equals_the_billing_sections_and_costs(
    billing_world: tuple[Path, dict[str, Any]],
    ledger_url: str,
    tmp_path: Path,
    restore_logging: None,
) -> None:
    config, truth = billing_world
    config.write_text(f'[ledger]\nurl = "{ledger_url}"\n{TABLE}')
    _extra_probes(ledger_url)
    args = ["--config", str(config), "--since", "2000-01-01"]
    (st,) = json.loads(cli("cost", *args, "--format", "json").output)["vendors"]
    out = tmp_path / "r.json"
    done = CliRunner().invoke(main, ["report", *args, "--out", str(out)])
    assert done.exit_code == 0, done.output
    report = json.loads(out.read_text())
    assert report["billing"] == [st]
    (cell,) = report["tables"]["vendor"]

    # The simulator's probes, each at its own price from the table (none at the base).
    claimed = [t for t in truth.values() if t.dlr_status == "DELIVRD"]
    arrived = [t for t in truth.values() if t.fate == "delivered"]
    on_success = sum(t.parts * _price(t) for t in claimed)
    worth = sum(t.parts * _price(t) for t in arrived)
    assert cell["billed_money"] == pytest.approx(on_success)
    assert cell["verified_money"] == pytest.approx(worth)
    assert cell["overbilled_money"] == pytest.approx(max(on_success - worth, 0.0))

    # cost and the billing section bill the burst and the unmeasured probe too, each as
    # its own line; without those lines they are the tables' money exactly.
    assert st["apart"] == {
        why: {"probes": 1, "parts": 1, "worth": CMCC,
              "charge": {"on_submit": CMCC, "on_success": CMCC, "coefficient": CMCC}}
        for why in ("bursts", "not_measured")
    }  # fmt: skip
    assert st["charge"]["on_success"] == pytest.approx(on_success + 2 * CMCC)
    assert st["worth"] == pytest.approx(worth + 2 * CMCC)
    apart = st["apart"].values()
    assert st["charge"]["on_success"] - sum(a["charge"]["on_success"] for a in apart) \
        == pytest.approx(cell["billed_money"])  # fmt: skip
    assert st["worth"] - sum(a["worth"] for a in apart) == pytest.approx(cell["verified_money"])

    text = cli("cost", *args).output
    assert (f"apart from the report's tables: bursts 1 probe(s), on_success {CMCC:,.2f}"
            in text)  # fmt: skip
    assert f"the tables count on_success {on_success:,.2f}, worth {worth:,.2f}" in text
    md = tmp_path / "r.md"
    CliRunner().invoke(main, ["report", *args, "--out", str(md)])
    page = md.read_text()
    assert f"the tables count on_success {cell['billed_money']:,.2f}" in page
    assert f"billed {cell['billed_money']:.2f} for {cell['billed_parts']} parts" in page
