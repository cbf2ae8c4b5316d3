"""`evidence verify` re-judges every verdict from the facts it quotes, with the judge's code:
a verdict changed and re-signed with the genuine collector key is refused, a genuine one
(the real judge's, partial outcome included) passes, an older bundle only when told."""

from __future__ import annotations

import dataclasses
import json
import zipfile
from pathlib import Path
from typing import Any

from agent.wire.records import ReceivedSms
from agent.wire.signing import RecordSigner
from collector.certs import create_ca, issue_agent
from collector.evidence.bundle import build_bundle
from collector.evidence.cli import load_signing_key
from collector.evidence.recompute import judging_json
from collector.evidence.records import collect_records
from collector.evidence.signatures import key_files, signers_of
from collector.evidence.verify import verify_bundle
from collector.judging import Judge, JudgingConfig
from collector.ledger import open_ledger
from tests.collector.evidence.test_evidence_cli import export, rebuild, records_of, verify
from tests.collector.reports.world import (
    AGENT,
    NS,
    T0,
    Agent,
    dlr,
    health,
    plan,
    registration,
    sms,
    submit,
)


def test_a_verdict_turned_from_delivered_to_lost_and_resigned_is_refused(
    world: Path, tmp_path: Path
) -> None:
    """The forgery of issue 11: p-acme-1 shown lost (with a fake DELIVRD) while its signed
    arrival is still quoted; chain, report and manifest re-made with the collector's key."""
    certs = world.parent / "certs"
    bundle = tmp_path / "acme.zip"
    assert export(world, bundle).exit_code == 0
    pub = str(certs / "signing.pub")
    genuine = verify(bundle, "--public-key", pub)
    assert genuine.exit_code == 0, genuine.output
    assert "every verdict (re-judged from its facts)" in genuine.stdout

    records = records_of(bundle)
    forged = records[1]
    assert forged["probe_id"] == "p-acme-1" and forged["arrivals"]
    forged["verdict"].update(
        outcome="lost", dlr="fake_success", content="none", latency_s=None,
        latency_uncertainty_s=None, vendor_delay_s=None, carrier_delay_s=None,
    )  # fmt: skip
    forged["judged"].update(
        outcome="lost", dlr="fake_success", content="none", latency_s=None,
        latency_uncertainty_s=None, vendor_delay_s=None, carrier_delay_s=None,
    )  # fmt: skip
    result = verify(rebuild(bundle, records, certs, tmp_path / "lost.zip"), "--public-key", pub)
    assert result.exit_code == 1
    (problem,) = result.stdout.splitlines()  # the agent signatures still hold: one line
    assert problem.startswith(
        "PROBLEM: record 2 (probe p-acme-1): verdict differs from re-judging the quoted facts"
    )
    assert "outcome 'lost' (recomputed 'delivered')" in problem
    assert "dlr 'fake_success' (recomputed 'consistent')" in problem

    # The same, with the arrival moved off the probe's SIM (its MSISDN is the collector's
    # attribution, not signed) so that re-judging no longer attributes it: refused.
    records = records_of(bundle)
    forged = records[1]
    forged["arrivals"][0]["msisdn"] = "+8613800009999"
    for shown in (forged["verdict"], forged["judged"]):
        shown.update(
            outcome="lost",
            dlr="fake_success",
            content="none",
            latency_s=None,
            latency_uncertainty_s=None,
            vendor_delay_s=None,
            carrier_delay_s=None,
        )
    forged["verdict"].update(sender="", arrival_uuids=[])
    result = verify(rebuild(bundle, records, certs, tmp_path / "sim.zip"), "--public-key", pub)
    assert result.exit_code == 1
    uuid = forged["arrivals"][0]["record_uuid"]
    assert result.stdout.splitlines() == [
        f"PROBLEM: record 2 (probe p-acme-1): arrival {uuid} is quoted but re-judging does not "
        "attribute it to this probe (token on the probe's SIM)"
    ]

    # Only the figures' input changed, the verdict left as judged: refused too.
    records = records_of(bundle)
    records[1]["judged"]["outcome"] = "lost"
    result = verify(rebuild(bundle, records, certs, tmp_path / "judged.zip"), "--public-key", pub)
    assert result.exit_code == 1
    assert result.stdout.splitlines() == [
        "PROBLEM: record 2 (probe p-acme-1): judged object does not follow from the verdict: "
        "outcome 'lost' (recomputed 'delivered')"
    ]

    # The judging settings are signed: a give-up cut to 1 s makes the genuine verdicts of
    # the arrivals after it disagree (late, not delivered), named per probe.
    with zipfile.ZipFile(bundle) as zf:
        manifest = json.loads(zf.read("manifest.json"))
    judging = manifest["judging"]
    judging["policy"]["deadline_s"] = 5.0
    out = tmp_path / "policy.zip"
    key = load_signing_key([certs / "signing.key"])
    with zipfile.ZipFile(bundle) as zf:
        extra = {n: zf.read(n) for n in manifest["files_sha256"]}
    out.write_bytes(
        build_bundle(
            records_of(bundle), signing_key=key, vendor="acme", since=manifest["since"],
            until=manifest["until"], software_version=manifest["software_version"],
            created_at=manifest["created_at"], prices=manifest["prices"], extra_files=extra,
            judging=judging,
        )
    )  # fmt: skip
    result = verify(out, "--public-key", pub)
    assert result.exit_code == 1
    # Latencies 2..9 s: p-acme-4..7 (6..9 s) are late under a 5 s deadline.
    refused = [line.split(":")[1] for line in result.stdout.splitlines()]
    assert refused == [f" record {i + 1} (probe p-acme-{i})" for i in range(4, 8)]


def legacy(bundle: Path, certs: Path, out: Path) -> Path:
    """The bundle as smsprobe-evidence/1 made it: no judging settings in the manifest."""
    key = load_signing_key([certs / "signing.key"])
    with zipfile.ZipFile(bundle) as zf:
        files = {n: zf.read(n) for n in zf.namelist()}
    manifest = json.loads(files["manifest.json"])
    del manifest["judging"]
    manifest["format"] = "smsprobe-evidence/1"
    data = json.dumps(manifest).encode()
    files.update({"manifest.json": data, "manifest.sig": key.sign(data).hex().encode()})
    with zipfile.ZipFile(out, "w") as zf:
        for name, content in files.items():
            zf.writestr(name, content)
    return out


def test_an_older_bundle_verifies_only_when_told(world: Path, tmp_path: Path) -> None:
    certs = world.parent / "certs"
    bundle = tmp_path / "acme.zip"
    assert export(world, bundle).exit_code == 0
    old = legacy(bundle, certs, tmp_path / "old.zip")
    pub = str(certs / "signing.pub")
    result = verify(old, "--public-key", pub)
    assert result.exit_code == 1
    assert result.stdout.splitlines() == [
        "PROBLEM: the signed manifest has no judging settings (smsprobe-evidence/1, made "
        "before verify re-judged verdicts): no verdict can be checked against its facts; "
        "pass --allow-legacy to accept the verdicts as the collector states them"
    ]
    result = verify(old, "--public-key", pub, "--allow-legacy")
    assert result.exit_code == 0, result.output
    assert "note: verdicts NOT re-judged" in result.stderr
    assert "verdicts NOT re-judged (legacy bundle)" in result.stdout


def test_a_partial_long_sms_recomputes_and_a_forged_outcome_does_not(tmp_path: Path) -> None:
    """A two-part probe whose second part never came: the real judge says partial (part 2
    missing, content truncated, the DELIVRD consistent); the bundle re-judges to the same,
    and the same probe shown lost is refused."""
    certs = tmp_path / "certs"
    create_ca(certs)
    issued = issue_agent(certs, AGENT)
    ledger = open_ledger(f"sqlite:///{tmp_path}/l.db")
    try:
        ledger.register_agent(registration(), at_ns=T0 - 3600 * NS)
        ledger.remember_agent_key(AGENT, issued.cert.read_bytes(), at_ns=T0 - 3600 * NS)
        agent = Agent(ledger, RecordSigner.from_pem_file(issued.key))
        for k in range(-15, 30):
            agent.add(T0 + k * 60 * NS, health(T0 + k * 60 * NS))
        p = plan("p-long", "acme", T0, parts=2)
        submit(ledger, p)
        dlr(ledger, "acme", "p-long", T0 + 40 * NS)
        whole = sms(T0 + 5 * NS, p.expected_text, T0 + NS)
        first = whole.parts[0]
        agent.add(
            T0 + 5 * NS,
            dataclasses.replace(
                whole, parts=(first,), text=p.expected_text[:67], partial=True,
                missing_parts=(2,),
            ),
        )  # fmt: skip
        agent.flush()
        config = JudgingConfig(full_pass_interval_s=0)
        (verdict,), _ = Judge(ledger, config, lambda: T0 + 20 * 60 * NS).judge_once()
        assert (verdict.outcome.value, verdict.missing_parts) == ("partial", (2,))
        assert (verdict.content.value, verdict.dlr.value) == ("truncated", "consistent")
        records, _ = collect_records(
            ledger,
            vendor="acme",
            since_ns=T0 - 3600 * NS,
            until_ns=T0 + 3600 * NS,
            judging=config,
        )
    finally:
        ledger.close()
    assert isinstance(whole, ReceivedSms) and len(whole.parts) == 2
    (record,) = records
    assert record["arrivals"][0]["concat_ref"] == 7
    assert record["judged"]["outcome"] == "partial" and record["judged"]["missing_parts"] == 1
    key = load_signing_key([certs / "signing.key"])
    pub = (certs / "signing.pub").read_bytes()
    cert = issued.cert.read_bytes()
    agent_keys = key_files(
        {signer: (AGENT, cert) for signer in signers_of(records)}, (certs / "ca.pem").read_bytes()
    )

    def check(recs: list[dict[str, Any]]) -> list[str]:
        data = build_bundle(
            recs, signing_key=key, vendor="acme", since="s", until="u",
            software_version="t", created_at="c", judging=judging_json(config),
            extra_files=agent_keys,
        )  # fmt: skip
        return verify_bundle(data, pub).problems

    assert check(records) == []
    forged = json.loads(json.dumps(record))
    forged["verdict"]["outcome"] = forged["judged"]["outcome"] = "lost"
    forged["judged"]["missing_parts"] = 0
    (problem,) = check([forged])
    assert problem.startswith("record 1 (probe p-long): verdict differs")
    assert "outcome 'lost' (recomputed 'partial')" in problem
