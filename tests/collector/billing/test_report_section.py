"""The report's billing section: `report` on a simulator run's ledger shows each model's
charge, the vendor's bill (its own figures, the imported CDR) and the over-charge, with
the figures `cost` gives, in JSON, HTML and Markdown."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from click.testing import CliRunner

from collector.cli import main
from tests.collector.billing.test_cost_cli import PRICE, _cdr, cli


def test_the_report_carries_the_cost_figures(
    billing_world: tuple[Path, dict[str, Any]],
    tmp_path: Path,
    restore_logging: None,
) -> None:
    config, truth = billing_world
    cli("invoice", "import", "--config", str(config), "--vendor", "acct",
        str(_cdr(truth, tmp_path)))  # fmt: skip
    args = ["--config", str(config), "--since", "2000-01-01"]
    cost = json.loads(cli("cost", *args, "--format", "json").output)["vendors"]
    out = tmp_path / "r.json"
    done = CliRunner().invoke(main, ["report", *args, "--out", str(out)])
    assert done.exit_code == 0, done.output
    report = json.loads(out.read_text())
    assert report["billing"] == cost
    fake = [t for t in truth.values() if t.fate != "delivered" and t.dlr_status == "DELIVRD"]
    (st,) = report["billing"]
    assert st["bases"]["model"]["over_gross"] == round(sum(t.parts for t in fake) * PRICE, 4)
    # The summary's flat figures use the [billing] price too (no [reports.prices] here).
    (cell,) = report["tables"]["vendor"]
    assert cell["billed_money"] == round(cell["billed_parts"] * PRICE, 4) > 0

    html = tmp_path / "r.html"
    CliRunner().invoke(main, ["report", *args, "--out", str(html)])
    page = html.read_text()
    assert "<table class=billing>" in page
    over = f"{st['bases']['invoice']['over_gross']:,.2f} (net"
    assert over in page and "invoice/CDR" in page
    md = tmp_path / "r.md"
    CliRunner().invoke(main, ["report", *args, "--out", str(md)])
    text = md.read_text()
    assert "## Billing: each model's charge" in text
    assert f"billed but not arrived: {len(fake)} probe(s)" in text
