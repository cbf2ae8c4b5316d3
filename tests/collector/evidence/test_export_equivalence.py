"""The streamed export (`evidence export`: a day of records at a time, built in this
process or in worker processes, each encoded once, blocks compressed on a thread, billing
from the message ids the records carry) writes the same bundle as the whole-period way it
replaced: the same files with the same bytes, on SQLite and a real PostgreSQL. It
verifies, and a changed record is still caught."""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import zipfile
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from cryptography.hazmat.primitives import serialization

from agent.wire.signing import RecordSigner
from collector.billing.load import invoice_bills
from collector.billing.settings import load_billing
from collector.certs import create_ca, issue_agent
from collector.evidence import records as records_module
from collector.evidence.billing import billing_file
from collector.evidence.bundle import GENESIS, build_bundle
from collector.evidence.cli import evidence_group
from collector.evidence.records import collect_records
from collector.evidence.signatures import key_files, signers_of
from collector.evidence.verify import verify_bundle
from collector.ledger import open_ledger
from collector.ledger.invoices import InvoiceLine
from collector.reports.build import build_report
from collector.reports.judged import row_of
from collector.reports.options import load_settings, parse_period
from collector.reports.render import render
from tests.collector.reports.world import AGENT, NS, T0, build_world, plan, submit, write_config

# Two day-windows that cut the world's 00:00-04:00 in the middle (zone: [reports]).
SINCE, UNTIL = "2026-11-23T02:00", "2026-11-25T02:00"


def _defined_json(obj: Any) -> bytes:
    """Canonical JSON as the bundle's README defines it (the old exporter's encoding)."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def _world(url: str, directory: Path) -> Path:
    """The reports world, signed, plus a probe whose text is not ASCII and an invoice
    that bills one message twice; returns collector.toml."""
    create_ca(directory / "certs")
    issued = issue_agent(directory / "certs", AGENT)
    ledger = open_ledger(url)
    try:
        build_world(ledger, RecordSigner.from_pem_file(issued.key), issued.cert.read_bytes())
        zh = dataclasses.replace(
            plan("p-acme-zh", "acme", T0 + 150 * 60 * NS),
            body="【验证】您的验证码是 424242\x7f",
            expected_text="【验证】您的验证码是 424242\x7f",
        )
        submit(ledger, zh)
        lines = [
            InvoiceLine(2, "Mp-acme-0", 1, 0.05),
            InvoiceLine(3, "Mp-acme-3", 1, 0.05),
            InvoiceLine(4, "Mp-acme-3", 1, 0.05),
            InvoiceLine(5, "Mp-acme-zh", 2, None),
            InvoiceLine(6, "Mp-bolt-1", 2, 0.08),  # another vendor's: not in acme's file
        ]
        ledger.import_invoice(vendor="acme", source="cdr.csv", sha256="ab" * 32,
                              currency="CNY", lines=lines, at_ns=T0)  # fmt: skip
    finally:
        ledger.close()
    path: Path = write_config(directory, url)
    return path


def _old_bundle(config: Path, manifest: dict[str, Any]) -> bytes:
    """The bundle as the whole-period exporter made it: every record of the period read
    at once, billing from the period's stored probes."""
    settings, reports = load_settings(str(config))
    since_ns, until_ns = parse_period(SINCE, UNTIL, reports)
    key = serialization.load_pem_private_key(
        (config.parent / "certs" / "signing.key").read_bytes(), password=None
    )
    billing = load_billing(settings)
    ledger = open_ledger(settings.ledger.url)
    try:
        records, judged = collect_records(
            ledger, vendor="acme", since_ns=since_ns, until_ns=until_ns,
            give_up_s=reports.give_up_s,
        )  # fmt: skip
        stored = ledger.probes(since_ns=since_ns, until_ns=until_ns, vendor="acme")
        billed = invoice_bills(ledger, [row_of(p, None) for p in stored]).get("acme", {})
        report = build_report(
            judged, since=manifest["since"], until=manifest["until"],
            generated_at=manifest["created_at"], software_version=manifest["software_version"],
            thresholds=reports.thresholds, prices=billing.base_prices(),
            filters={"vendor": "acme"},
        )  # fmt: skip
        extras = {
            "report.html": render(report, "html").encode(),
            "report.md": render(report, "md").encode(),
            "billing.json": billing_file(
                "acme", judged, billing.terms("acme"), billed, priced="acme" in billing.vendors
            ),
            **key_files(ledger.agent_keys(sorted(signers_of(records))), None),
        }
    finally:
        ledger.close()
    # records.jsonl as the README defines it, line by line
    prev, lines = GENESIS, []
    for seq, record in enumerate(records, start=1):
        digest = hashlib.sha256(prev + _defined_json(record)).digest()
        line = {"seq": seq, "prev": prev.hex(), "hash": digest.hex(), "record": record}
        lines.append(_defined_json(line) + b"\n")
        prev = digest
    assert manifest["records_sha256"] == hashlib.sha256(b"".join(lines)).hexdigest()
    assert manifest["chain_head"] == prev.hex()
    return build_bundle(
        records, signing_key=key, vendor="acme", since=manifest["since"],  # type: ignore[arg-type]
        until=manifest["until"], software_version=manifest["software_version"],
        created_at=manifest["created_at"], thresholds=reports.thresholds,
        prices=billing.base_prices(), extra_files=extras, judging=manifest["judging"],
    )  # fmt: skip


def _files(bundle: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(bundle)) as zf:
        assert zf.testzip() is None
        return {name: zf.read(name) for name in zf.namelist()}


# in this process; 3 processes, 2 days; and the invoice look-up a record's ids at a time
@pytest.mark.parametrize(("workers", "bill_batch"), [("1", 20_000), ("3", 20_000), ("1", 1)])
def test_streamed_export_writes_the_old_bundle(
    ledger_url: str, tmp_path: Path, workers: str, bill_batch: int, monkeypatch: Any
) -> None:
    monkeypatch.setattr(records_module, "BILL_BATCH", bill_batch)
    config = _world(ledger_url, tmp_path)
    out = tmp_path / "acme.zip"
    result = CliRunner().invoke(
        evidence_group,
        ["export", "--config", str(config), "--vendor", "acme", "--since", SINCE,
         "--until", UNTIL, "--out", str(out), "--workers", workers],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    new = _files(out.read_bytes())
    manifest = json.loads(new["manifest.json"])
    old = _files(_old_bundle(config, manifest))

    assert sorted(new) == sorted(old)
    assert {n: hashlib.sha256(d).hexdigest() for n, d in new.items()} == {
        n: hashlib.sha256(d).hexdigest() for n, d in old.items()
    }
    records = [json.loads(line)["record"] for line in new["records.jsonl"].splitlines()]
    # Both day windows, the unjudged non-ASCII probe, and what the invoice billed.
    ids = [r["probe_id"] for r in records]
    assert ids[:2] == ["p-acme-0", "p-acme-1"] and "p-acme-9" in ids and "p-acme-zh" in ids
    assert len(ids) == 12 == manifest["record_count"]
    assert "验证码".encode() in new["records.jsonl"]  # UTF-8, not \u escapes
    invoice = json.loads(new["billing.json"])["invoice"]
    assert invoice["p-acme-3"] == {"parts": 2, "amount": 0.1, "lines": 2}
    assert invoice["p-acme-zh"] == {"parts": 2, "amount": None, "lines": 1}
    assert sorted(invoice) == ["p-acme-0", "p-acme-3", "p-acme-zh"]

    pub = (tmp_path / "certs" / "signing.pub").read_bytes()
    assert verify_bundle(out.read_bytes(), pub).ok
    # A record changed after export (its text), the rest of the zip as it was: caught.
    text = new["records.jsonl"].replace(b"424242", b"424243", 1)
    assert text != new["records.jsonl"]
    tampered = io.BytesIO()
    with zipfile.ZipFile(tampered, "w") as zf:
        for name, data in new.items():
            zf.writestr(name, text if name == "records.jsonl" else data)
    checked = verify_bundle(tampered.getvalue(), pub)
    assert not checked.ok
    assert any("records.jsonl" in p or "hash" in p for p in checked.problems), checked.problems
