"""`smsprobe-collector cost` and `invoice import|list` end to end: a ledger filled by a
simulator run (test_statement_sim.py), the config's [billing], the vendor's CDR imported
through the command; figures held to the simulator's truth, exit codes 0 and 2."""

from __future__ import annotations

import csv
import hashlib
import io
import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from collector.cli import main

PRICE = 0.04


def cli(*args: str) -> Result:
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def _cdr(truth: dict[str, Any], tmp_path: Path, *, extra: str = "") -> Path:
    text = "msgid,计费条数,金额,发送时间\n" + "".join(
        f"{t.vendor_message_id},{t.billed_parts},{t.billed_parts * PRICE:.4f},2026-11-24 10:00:00\n"
        for t in truth.values()
    ) + extra  # fmt: skip
    path = tmp_path / "cdr.csv"
    path.write_bytes(text.encode("gbk"))
    return path


def test_cost_gives_each_models_bill_and_the_invoices_over_charge(
    billing_world: tuple[Path, dict[str, Any]], tmp_path: Path, restore_logging: None
) -> None:
    config, truth = billing_world
    cdr = _cdr(truth, tmp_path)
    done = cli("invoice", "import", "--config", str(config), "--vendor", "acct", str(cdr))
    assert done.exit_code == 0 and f"imported {len(truth)} lines" in done.output
    again = cli("invoice", "import", "--config", str(config), "--vendor", "acct", str(cdr))
    assert again.exit_code == 0 and "already imported" in again.output
    listed = cli("invoice", "list", "--config", str(config))
    assert listed.output.count("cdr.csv") == 1

    out = cli("cost", "--config", str(config), "--since", "2000-01-01", "--format", "json")
    assert out.exit_code == 0, out.output
    (st,) = json.loads(out.output)["vendors"]
    lost = [t for t in truth.values() if t.fate != "delivered"]
    fake = [t for t in lost if t.dlr_status == "DELIVRD"]
    arrived = [t for t in truth.values() if t.fate == "delivered"]
    assert st["vendor"] == "acct" and st["currency"] == "CNY" and st["model"] == "on_success"
    model = st["bases"]["model"]
    assert model["over_gross"] == pytest.approx(sum(t.parts for t in fake) * PRICE)
    invoice = st["bases"]["invoice"]
    billed_lost = sum(t.billed_parts for t in lost)
    billed_above = sum(t.billed_parts - t.parts for t in arrived)
    assert invoice["over_gross"] == pytest.approx((billed_lost + billed_above) * PRICE)
    assert len(st["overcharged"]) == len(fake)

    table = cli("cost", "--config", str(config), "--since", "2000-01-01", "--format", "csv")
    rows = list(csv.DictReader(io.StringIO(table.output)))
    assert [r["basis"] for r in rows] == ["model", "vendor_reported", "invoice"]
    assert float(rows[2]["over_gross"]) == pytest.approx(invoice["over_gross"])

    text = cli("cost", "--config", str(config), "--since", "2000-01-01").output
    assert f"over-charge {model['over_gross']:,.2f} CNY" in text
    assert f"billed but not arrived: {len(fake)} probe(s)" in text


def test_the_buyers_cost_trial(
    billing_world: tuple[Path, dict[str, Any]], restore_logging: None
) -> None:
    config, _ = billing_world
    out = cli("cost", "--config", str(config), "--since", "2000-01-01", "--format", "json",
              "--trial", "1000000", "--rate", "0.98", "--coefficient", "0.98")  # fmt: skip
    trial = json.loads(out.output)["trial"]["acct"]
    assert trial["parts"] == {"on_submit": 1_000_000, "on_success": 980_000,
                              "coefficient": 980_000}  # fmt: skip
    assert trial["bill"] == {"on_submit": 40_000.0, "on_success": 39_200.0,
                             "coefficient": 39_200.0}  # fmt: skip
    assert trial["worth"] == 39_200.0 and trial["over"]["on_submit"] == 800.0
    # Without --rate: the vendor's measured arrival rate and DLR-delivered share.
    measured = json.loads(cli("cost", "--config", str(config), "--since", "2000-01-01",
                              "--format", "json", "--trial", "1000").output)  # fmt: skip
    st, t = measured["vendors"][0], measured["trial"]["acct"]
    assert t["parts"]["on_success"] == pytest.approx(1000 * st["success_share"])
    assert t["worth"] == pytest.approx(1000 * st["arrival_rate"] * PRICE)
    assert t["coefficient"] is None and "coefficient" not in t["bill"]


def test_a_hostile_invoice_is_refused_whole_with_exit_2(
    billing_world: tuple[Path, dict[str, Any]], tmp_path: Path, restore_logging: None
) -> None:
    config, truth = billing_world
    cdr = _cdr(truth, tmp_path, extra="M-X,三,0.04,2026-11-24 10:00:00\n")
    bad = CliRunner().invoke(main, ["invoice", "import", "--config", str(config), "--vendor",
                                    "acct", str(cdr)])  # fmt: skip
    assert bad.exit_code == 2
    assert f"cdr.csv: line {len(truth) + 2}, column '计费条数': expected a whole number" \
        in bad.output and "nothing imported" in bad.output  # fmt: skip
    assert cli("invoice", "list", "--config", str(config)).output == ""
    unknown = CliRunner().invoke(main, ["invoice", "import", "--config", str(config),
                                        "--vendor", "nobody", str(cdr)])  # fmt: skip
    assert unknown.exit_code == 2 and "'nobody' is in neither" in unknown.output


def test_config_and_usage_errors_exit_2(tmp_path: Path, restore_logging: None) -> None:
    config = tmp_path / "collector.toml"
    config.write_text(f'[ledger]\nurl = "{tmp_path}/l.db"\n[billing.vendors.a]\nmodel = "x"\n')
    bad = CliRunner().invoke(main, ["cost", "--config", str(config), "--since", "-1d"])
    assert bad.exit_code == 2
    assert 'collector.toml: billing.vendors.a.model: expected one of "on_submit"' in bad.output
    config.write_text(f'[ledger]\nurl = "{tmp_path}/l.db"\n')
    since = CliRunner().invoke(main, ["cost", "--config", str(config), "--since", "soon"])
    assert since.exit_code == 2 and "--since" in since.output
    empty = CliRunner().invoke(main, ["cost", "--config", str(config), "--since", "-1d"])
    assert empty.exit_code == 0 and "no probes in the period" in empty.output


def test_every_invoice_import_is_in_the_audit_log(
    billing_world: tuple[Path, dict[str, Any]], tmp_path: Path, restore_logging: None
) -> None:
    """Imported, imported again (nothing added) and refused: three operator actions, each
    one entry of kind invoice_import with the file's SHA-256 and what became of it."""
    config, truth = billing_world
    good = _cdr(truth, tmp_path)
    digest = hashlib.sha256(good.read_bytes()).hexdigest()
    imp = ["invoice", "import", "--config", str(config), "--vendor", "acct"]
    assert cli(*imp, str(good)).exit_code == 0
    assert cli(*imp, str(good)).exit_code == 0
    bad = tmp_path / "bad" / "cdr.csv"
    bad.parent.mkdir()
    bad.write_bytes(good.read_bytes() + "M-X,三,0.04,2026-11-24 10:00:00\n".encode("gbk"))
    assert CliRunner().invoke(main, [*imp, str(bad)]).exit_code == 2

    out = cli("audit", "--config", str(config), "--kind", "invoice_import", "--json")
    entries = [json.loads(line) for line in out.output.splitlines()]
    assert [e["summary"] for e in entries] == [
        "invoice of acct: cdr.csv", "invoice of acct: cdr.csv (imported before)",
        "invoice of acct refused"]  # fmt: skip
    first, again, refused = (e["arguments"] for e in entries)
    assert first == {
        "vendor": "acct",
        "file": str(good.resolve()),
        "sha256": digest,
        "invoice_id": again["invoice_id"],
        "lines": len(truth),
        "new": True,
    }
    assert again["new"] is False and again["lines"] == len(truth)
    assert [e["outcome"] for e in entries[:2]] == ["ok", "ok"]
    assert entries[2]["outcome"].startswith(
        f"refused: cdr.csv: line {len(truth) + 2}, column '计费条数'")  # fmt: skip
    assert refused == {"vendor": "acct", "file": str(bad.resolve()),
                       "sha256": hashlib.sha256(bad.read_bytes()).hexdigest()}  # fmt: skip
