"""`retention run` on a ledger with exported evidence (SQLite, then PostgreSQL): the bundle
exported before still verifies (verify needs no ledger), a bundle exported after shows the
masked facts as such and verifies too, the texts and numbers are gone from the database
files, and every action is in the audit log."""

from __future__ import annotations

import base64
import hashlib
import json
import zipfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
import pytest
from click.testing import CliRunner
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from agent.wire.signing import RecordSigner
from collector.audit.cli import audit_command
from collector.certs import create_ca, issue_agent
from collector.certs_cli import certs_group
from collector.evidence.bundle import build_bundle
from collector.evidence.cli import evidence_group
from collector.ledger import open_ledger
from collector.ledger.retention import mask_msisdn, mask_text
from collector.reports.figures import Thresholds
from collector.retention.cli import retention_group
from tests.collector.reports.world import AGENT, MSISDN, SINCE, UNTIL, token, write_config
from tests.collector.retention.world import (
    ALERTED_SIM,
    CHANNEL_SENDER,
    LANES,
    OPEN_ALERT_SIM,
    PERSON,
    PRIVATE,
    REFUSED_FOR,
    TOUCHES,
    build_retention_world,
)

TLS = """
[tls]
ca_cert = "certs/ca.pem"
cert = "certs/collector.pem"
key = "certs/collector.key"
"""
# The world was ingested 2026-11-24: older than 7 days from any day this test runs.
RETENTION = """
[retention]
run_every_s = 0
texts = { action = "mask", after_days = 7 }
msisdns = { action = "mask", after_days = 7 }
"""


@pytest.fixture
def world(tmp_path: Path) -> Path:
    """A SQLite ledger with the retention world, its agent signing with a key of the CA in
    certs/; returns collector.toml ([tls], [reports], [retention])."""
    url = f"sqlite:///{tmp_path}/l.db"
    certs = tmp_path / "certs"
    create_ca(certs)
    issued = issue_agent(certs, AGENT)
    ledger = open_ledger(url)
    try:
        build_retention_world(
            ledger, RecordSigner.from_pem_file(issued.key), issued.cert.read_bytes()
        )
    finally:
        ledger.close()
    config: Path = write_config(tmp_path, url, extra=RETENTION)
    config.write_text(TLS + config.read_text())
    return config


def invoke(command: Any, *args: str) -> Any:
    return CliRunner().invoke(command, list(args))


def export(config: Path, out: Path) -> None:
    done = invoke(evidence_group, "export", "--config", str(config), "--vendor", "acme",
                  "--since", SINCE, "--until", UNTIL, "--out", str(out))  # fmt: skip
    assert done.exit_code == 0, done.output


def verify(bundle: Path, pub: Path) -> Any:
    return invoke(evidence_group, "verify", str(bundle), "--public-key", str(pub))


def bundle_file(bundle: Path, name: str) -> bytes:
    with zipfile.ZipFile(bundle) as zf:
        return zf.read(name)


def records_of(bundle: Path) -> list[dict[str, Any]]:
    lines = bundle_file(bundle, "records.jsonl").splitlines()
    return [json.loads(line)["record"] for line in lines]


def ledger_bytes(directory: Path) -> bytes:
    """Every file SQLite keeps the ledger in (the database, its WAL and shared memory)."""
    return b"".join(p.read_bytes() for p in sorted(directory.glob("l.db*")))


def counts_of(output: str) -> dict[str, int]:
    out = {}
    for line in output.splitlines():
        parts = line.split()
        if len(parts) == 2 and "." in parts[0] and parts[1].isdigit():
            out[parts[0]] = int(parts[1])
    return out


def test_evidence_before_and_after_retention_verifies(world: Path, tmp_path: Path) -> None:
    pub = tmp_path / "certs" / "signing.pub"
    before = tmp_path / "before.zip"
    export(world, before)
    assert verify(before, pub).exit_code == 0
    # Every table a number or a text lands in: sms, probes (and the vendor's refusal
    # quoting a number), quiet-hour suppressions, an ended alert naming a SIM.
    secrets = [PRIVATE.encode(), PERSON.encode(), f"code {token('p-acme-3')}".encode(),
               REFUSED_FOR.encode(), *(lane.encode() for lane in LANES), ALERTED_SIM.encode(),
               CHANNEL_SENDER.encode()]  # fmt: skip
    assert all(s in ledger_bytes(tmp_path) for s in secrets)  # the grep can find them
    ledger = open_ledger(f"sqlite:///{tmp_path}/l.db")
    try:
        suppressed = len(ledger.suppressions())
        samples = len(ledger.agent_samples_after(0, 10_000))
        last_samples = ledger.last_agent_samples()
    finally:
        ledger.close()
    assert suppressed == 3 and samples > TOUCHES

    dry = invoke(retention_group, "run", "--config", str(world), "--dry-run")
    assert dry.exit_code == 0, dry.output
    planned = counts_of(dry.output)
    assert planned["sms.text"] == 14 and planned["records.raw"] == 14
    assert planned["quiet_suppressions.msisdn"] == 3 and planned["alerts.subject"] == 1
    assert planned["probes.error_detail"] == 1 and planned["verdicts.sender"] == 13
    assert planned["channel_observations.sender"] == 1
    assert planned["agent_samples.rows"] == samples - 1  # the agent's latest one stays
    assert "would change" in dry.output
    assert all(s in ledger_bytes(tmp_path) for s in secrets)  # a dry run changes nothing

    done = invoke(retention_group, "run", "--config", str(world))
    assert done.exit_code == 0, done.output
    assert counts_of(done.output) == planned
    assert "database space reclaimed" in done.output
    # Gone from the database files, not just unreferenced (VACUUM, WAL emptied).
    on_disk = ledger_bytes(tmp_path)
    assert [s for s in secrets if s in on_disk] == []
    assert OPEN_ALERT_SIM.encode() in on_disk  # an open alert ends by its subject: kept
    ledger = open_ledger(f"sqlite:///{tmp_path}/l.db")
    try:
        kept = ledger.suppressions()  # two lanes masked alike share a row, counted twice
        assert len(kept) == suppressed
        assert {q.msisdn for q in kept} == {mask_msisdn(LANES[0])} == {mask_msisdn(LANES[1])}
        left = ledger.agent_samples_after(0, 10_000)
        assert [x.sample_id for x in left] == [x.sample_id for x in last_samples]
        assert ledger.last_agent_samples() == left  # the agent's last state is still known
        refusal = ledger.probes(probe_ids=["p-acme-10"])[0].error_detail
        assert refusal == f"mobile {mask_msisdn(REFUSED_FOR)} is on the blacklist (code 4011)"
        subjects = sorted(a.subject["sim"] for a in ledger.alerts())
        assert subjects == sorted([mask_msisdn(ALERTED_SIM), OPEN_ALERT_SIM])
    finally:
        ledger.close()

    # The bundle made before is self-contained: it verifies as it did.
    old = verify(before, pub)
    assert old.exit_code == 0, old.output
    assert old.stdout.startswith("OK: 11 records")

    after = tmp_path / "after.zip"
    export(world, after)
    new = verify(after, pub)
    assert new.exit_code == 0, new.output
    assert "except 11 whose facts retention masked" in new.stdout
    today = datetime.now(UTC).date().isoformat()
    assert f"8 purged by retention (8 on {today})" in new.stderr
    assert "0 unsigned" in new.stderr and "11 verdicts NOT re-judged" in new.stderr

    # The new bundle shows masked facts as masked, tied to the old one by the record hash.
    old_arrivals = {a["record_uuid"]: a for r in records_of(before) for a in r["arrivals"]}
    new_records = records_of(after)
    new_arrivals = [a for r in new_records for a in r["arrivals"]]
    assert len(new_arrivals) == len(old_arrivals) == 8
    for a in new_arrivals:
        was = old_arrivals[a["record_uuid"]]
        signed = base64.b64decode(was["record_b64"])
        assert a["record_b64"] is None
        assert a["retention"]["record_sha256"] == hashlib.sha256(signed).hexdigest()
        assert a["retention"]["minimised"] == ["text:mask", "msisdn:mask", "raw:purge"]
        assert a["text"] == mask_text(was["text"]) != was["text"]
        assert a["msisdn"] == mask_msisdn(MSISDN)
        # Times stay: they are what the verdicts rest on.
        assert [(p["received_at_ns"], p["scts_ns"]) for p in a["parts"]] == [
            (p["received_at_ns"], p["scts_ns"]) for p in was["parts"]
        ]
        assert all(p["pdu_hex"] == "" for p in a["parts"])
    assert all(r["plan"]["msisdn"] == mask_msisdn(MSISDN) for r in new_records)
    # Verdicts and every figure are the same as before retention; the sender a verdict
    # copies from its arrival is masked as the arrival's is.
    was_verdicts = [r["verdict"] for r in records_of(before)]
    assert [r["verdict"] for r in new_records] == [
        v if v is None else {**v, "sender": mask_msisdn(v["sender"])} for v in was_verdicts
    ]
    assert any(v and v["sender"] != mask_msisdn(v["sender"]) for v in was_verdicts)
    figures = [json.loads(bundle_file(b, "report.json"))["by_vendor"] for b in (before, after)]
    assert figures[0] == figures[1]

    # A fact stripped of its signed record without a purge is still refused.
    forged = verify(_strip_purge_mark(after, tmp_path / "forged.zip"), pub)
    assert forged.exit_code == 1
    (problem,) = forged.stdout.splitlines()
    assert problem.endswith("no signed record (record_b64) behind it")

    # The audit log: both exports and the run (the dry run changed nothing: not audited).
    listed = invoke(audit_command, "--config", str(world), "--json")
    assert listed.exit_code == 0, listed.output
    entries = [json.loads(line) for line in listed.stdout.splitlines()]
    assert [e["kind"] for e in entries] == ["evidence_export", "retention_run", "evidence_export"]
    export_args = entries[0]["arguments"]
    assert export_args["bundle_sha256"] == hashlib.sha256(before.read_bytes()).hexdigest()
    assert export_args["records"] == 11 and export_args["vendor"] == "acme"
    assert entries[1]["arguments"]["counts"] == {k: v for k, v in planned.items() if v}
    assert all(e["actor"] and e["outcome"] == "ok" for e in entries)
    only = invoke(audit_command, "--config", str(world), "--kind", "retention_run")
    assert only.exit_code == 0 and len(only.stdout.splitlines()) == 1
    assert "retention_run" in only.stdout and "values masked or purged" in only.stdout
    later = invoke(audit_command, "--config", str(world), "--since", "now", "--json")
    assert later.exit_code == 0 and later.stdout == ""
    bad = invoke(audit_command, "--config", str(world), "--since", "yesterday-ish")
    assert bad.exit_code == 2


def _strip_purge_mark(bundle: Path, out: Path) -> Path:
    """The bundle re-chained and re-signed with the genuine key, one arrival's retention
    mark removed: a fact without its signed record and without a purge."""
    records = records_of(bundle)
    next(a for r in records for a in r["arrivals"]).pop("retention")
    manifest = json.loads(bundle_file(bundle, "manifest.json"))
    key = serialization.load_pem_private_key(
        (bundle.parent / "certs" / "signing.key").read_bytes(), password=None
    )
    with zipfile.ZipFile(bundle) as zf:
        keys = {n: zf.read(n) for n in zf.namelist() if n.startswith(("agent_keys/", "agents_ca"))}
    assert isinstance(key, Ed25519PrivateKey)
    data = build_bundle(
        records, signing_key=key, vendor="acme", since=manifest["since"],
        until=manifest["until"], software_version="t", created_at="t",
        thresholds=Thresholds(**manifest["thresholds"]), prices=manifest["prices"],
        judging=manifest["judging"], extra_files=keys,
    )  # fmt: skip
    out.write_bytes(data)
    return out


def test_retention_config_errors_exit_2(tmp_path: Path) -> None:
    too_soon = '[retention]\ntexts = { action = "mask", after_days = 2 }\n'
    config = write_config(tmp_path, f"sqlite:///{tmp_path}/l.db", extra=too_soon)
    done = invoke(retention_group, "run", "--config", str(config))
    assert done.exit_code == 2
    assert "retention.texts.after_days: expected a number of days > 3" in done.stderr
    config.write_text(config.read_text().replace('"mask"', '"shred"').replace("= 2", "= 9"))
    done = invoke(retention_group, "run", "--config", str(config))
    assert done.exit_code == 2 and "retention.texts.action" in done.stderr


def test_certificate_issues_are_audited(tmp_path: Path) -> None:
    config = write_config(tmp_path, f"sqlite:///{tmp_path}/l.db")
    certs = tmp_path / "certs"
    done = invoke(certs_group, "init", "--dir", str(certs), "--config", str(config))
    assert done.exit_code == 0, done.output
    done = invoke(certs_group, "issue-agent", "agent-7", "--dir", str(certs),
                  "--config", str(config))  # fmt: skip
    assert done.exit_code == 0, done.output
    unaudited = invoke(certs_group, "issue-agent", "agent-8", "--dir", str(certs))
    assert unaudited.exit_code == 0 and "not recorded in an audit log" in unaudited.stderr
    listed = invoke(audit_command, "--config", str(config), "--json", "--kind", "cert_issue")
    entries = [json.loads(line) for line in listed.stdout.splitlines()]
    assert [e["summary"] for e in entries] == [
        "certs init: CA, collector certificate and evidence signing key",
        "certificate issued to agent agent-7",
    ]
    from cryptography import x509

    from collector.certs import cert_fingerprint

    cert = x509.load_pem_x509_certificate((certs / "agents" / "agent-7.pem").read_bytes())
    assert entries[1]["arguments"]["fingerprint"] == cert_fingerprint(cert)


def test_postgresql_rows_are_masked_and_purged(postgres_url: str, tmp_path: Path) -> None:
    ledger = open_ledger(postgres_url)
    try:
        uuid = build_retention_world(ledger)
    finally:
        ledger.close()
    config = write_config(tmp_path, postgres_url, extra=RETENTION)
    done = invoke(retention_group, "run", "--config", str(config))
    assert done.exit_code == 0, done.output
    assert counts_of(done.output)["sms.text"] == 14
    with psycopg.connect(postgres_url) as conn:
        person = conn.execute(
            "SELECT s.text, s.sender, s.msisdn, s.user_data, r.raw, r.raw_sha256, r.minimised"
            " FROM sms s JOIN records r ON r.id = s.record_id WHERE r.uuid = %s",
            (uuid,),
        ).fetchone()
        assert person is not None
        text, sender, msisdn, user_data, raw, digest, marks = person
        assert (text, sender, msisdn) == (mask_text(PRIVATE), mask_msisdn(PERSON),
                                          mask_msisdn(MSISDN))  # fmt: skip
        assert bytes(user_data) == b"" and raw is None and len(digest) == 64
        assert marks == "text:mask,msisdn:mask,raw:purge"
        left = conn.execute(
            "SELECT"
            " (SELECT count(*) FROM sms WHERE text LIKE %s OR sender = %s) AS sms,"
            " (SELECT count(*) FROM records WHERE raw IS NOT NULL AND kind = 'sms') AS raw,"
            " (SELECT count(*) FROM sms_parts WHERE length(raw_pdu) > 0) AS pdus,"
            " (SELECT count(*) FROM probes WHERE final = 1 AND msisdn = %s) AS probes",
            (f"%{PRIVATE[:20]}%", PERSON, MSISDN),
        ).fetchone()
        assert left == (0, 0, 0, 0)
        # The verdicts stay.
        verdict = conn.execute("SELECT outcome FROM verdicts WHERE probe_id = 'p-acme-8'")
        assert verdict.fetchall() == [("lost",)]
