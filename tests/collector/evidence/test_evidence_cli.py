"""`evidence export` from a real ledger, then `evidence verify` offline: agree, or name the
problem."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import subprocess
import sys
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from collector.certs import create_ca
from collector.evidence.cli import evidence_group
from tests.collector.reports.world import (
    ICCID,
    IMEI,
    NS,
    SINCE,
    T0,
    UNTIL,
    pdus,
    plan,
    write_config,
)

ROOT = Path(__file__).resolve().parents[3]
TLS = """
[tls]
ca_cert = "certs/ca.pem"
cert = "certs/collector.pem"
key = "certs/collector.key"
"""


@pytest.fixture
def certs(world: Path) -> Path:
    """[tls] pointing at the `certs init` next to collector.toml (the world made it: its
    agent's certificate comes from that CA)."""
    directory = world.parent / "certs"
    assert (directory / "ca.pem").exists()
    world.write_text(TLS + world.read_text())
    return directory


def export(config: Path, out: Path, *extra: str) -> Any:
    return CliRunner().invoke(
        evidence_group,
        ["export", "--config", str(config), "--vendor", "acme", "--since", SINCE,
         "--until", UNTIL, "--out", str(out), *extra],
    )  # fmt: skip


def verify(bundle: Path, *extra: str) -> Any:
    return CliRunner().invoke(evidence_group, ["verify", str(bundle), *extra])


def records_of(bundle: Path) -> list[dict[str, Any]]:
    with zipfile.ZipFile(bundle) as zf:
        return [json.loads(line)["record"] for line in zf.read("records.jsonl").splitlines()]


def rewrite(bundle: Path, name: str, change: Callable[[bytes], bytes]) -> Path:
    out = bundle.with_name(f"tampered-{name}.zip")
    with zipfile.ZipFile(bundle) as src, zipfile.ZipFile(out, "w") as dst:
        for item in src.namelist():
            data = src.read(item)
            dst.writestr(item, change(data) if item == name else data)
    return out


def test_export_then_verify_agrees(world: Path, certs: Path, tmp_path: Path) -> None:
    bundle = tmp_path / "acme.zip"
    result = export(world, bundle)
    assert result.exit_code == 0, result.output
    assert "wrote 11 records of acme" in result.stderr
    checked = verify(bundle, "--public-key", str(certs / "signing.pub"))
    assert checked.exit_code == 0, checked.output
    assert checked.stdout.startswith("OK: 11 records")

    with zipfile.ZipFile(bundle) as zf:
        names = set(zf.namelist())
        manifest = json.loads(zf.read("manifest.json"))
        report = json.loads(zf.read("report.json"))
    assert {"records.jsonl", "report.json", "report.html", "report.md", "README.txt"} <= names
    assert manifest["record_count"] == 11 and manifest["vendor"] == "acme"
    assert manifest["since"] == "2026-11-24T00:00:00+08:00"
    # The agent's certificate (its key signed the quoted records) and the agents' CA.
    signer = next(n for n in manifest["files_sha256"] if n.startswith("agent_keys/"))
    assert set(manifest["files_sha256"]) == {
        "report.html", "report.md", "agents_ca.pem", signer, "README.txt", "signing.pub",
        "billing.json",
    }  # fmt: skip
    quoted = sum(len(r["arrivals"]) + len(r["receiver"]["health"]) for r in records_of(bundle))
    assert quoted > 11  # every arrival and every health sample around each window
    assert f"note: agent records: {quoted} signed by the agent and verified, 0 unsigned" in (
        checked.stderr
    )
    (acme,) = report["by_vendor"]
    assert (acme["judged"], acme["delivered"], acme["arrival_rate"]) == (9, 8, 0.888889)
    assert acme["overbilled_money"] == 0.1


def test_each_record_holds_everything_behind_its_verdict(
    world: Path, certs: Path, tmp_path: Path
) -> None:
    bundle = tmp_path / "acme.zip"
    assert export(world, bundle).exit_code == 0
    records = {r["probe_id"]: r for r in records_of(bundle)}
    assert sorted(records) == sorted(f"p-acme-{i}" for i in range(11))
    r = records["p-acme-0"]
    submitted = T0 + 5 * 60 * NS
    assert base64.b64decode(r["submit"]["request_b64"]).startswith(b"mobile=+8613800000001")
    assert base64.b64decode(r["submit"]["response_b64"]) == b'{"code":0,"msgid":"Mp-acme-0"}'
    (dlr,) = r["dlrs"]
    assert base64.b64decode(dlr["raw_b64"]) == b"id:Mp-acme-0 stat:DELIVRD"
    assert dlr["status"] == "DELIVRD" and dlr["received_at_ns"] == submitted + 30 * NS
    (arrival,) = r["arrivals"]
    (part,) = arrival["parts"]
    expected = plan("p-acme-0", "acme", submitted).expected_text
    assert arrival["text"] == expected
    assert [part["pdu_hex"]] == [p.hex().upper() for p in pdus(expected, submitted + NS)]
    assert part["scts"] == "2026-11-24T00:05:01+08:00"  # SMSC zone kept (+8 h)
    # 2 s after submit on the collector's clock; the agent's runs 12.5 ms behind.
    assert part["received_at_ns"] == submitted + 2 * NS - 12_500_000
    assert arrival["clock"]["offset_ms"] == 12.5 and arrival["clock"]["uncertainty_ms"] == 3.25
    receiver = r["receiver"]
    assert (receiver["modem_imei"], receiver["iccid"], receiver["agent_id"]) == (
        IMEI,
        ICCID,
        "agent-1",
    )
    assert receiver["modem"]["model"] == "EC25"
    # Health every minute; window = submit - 10 min .. submit + give-up (600 s) + 10 min:
    # samples at -10..+19 min (+12.5 ms on the collector's clock: +20 min is just out).
    times = [h["at_ns"] for h in receiver["health"]]
    window = receiver["health_window"]
    assert window == {"since_ns": submitted - 600 * NS, "until_ns": submitted + 1200 * NS}
    assert len(times) == 30 and all(window["since_ns"] <= t <= window["until_ns"] for t in times)
    assert receiver["sequence_gaps"] == [] and receiver["canaries"] == []
    assert r["clock"]["source"] == "arrival" and r["clock"]["offset_ms"] == 12.5
    # The judge's own verdict: 2 s on the collector's clock, ±(3.25 ms + 1 s read resolution).
    v = r["verdict"]
    assert (v["outcome"], v["dlr"], v["content"]) == ("delivered", "consistent", "intact")
    assert (v["latency_s"], v["latency_uncertainty_s"]) == (2.0, 1.00325)
    assert (v["vendor_delay_s"], v["carrier_delay_s"]) == (1.0, 1.0)
    assert v["judged_at_ns"] == T0 + 86 * 60 * NS and v["arrival_uuids"] == [arrival["record_uuid"]]
    assert r["judged"]["latency_s"] == 2.0 and r["judged"]["outcome"] == "delivered"
    # The inconclusive probe shows the unhealthy receiver around its window.
    sick = records["p-acme-9"]["receiver"]["health"]
    assert any(not h["healthy"] and h["reasons"] == ["not_registered"] for h in sick)
    assert records["p-acme-9"]["verdict"]["reasons"] == ["receiver:not_registered"]
    lost = records["p-acme-8"]
    assert lost["arrivals"] == [] and lost["verdict"]["dlr"] == "fake_success"
    assert [(x["old"]["outcome"], x["new"]["outcome"]) for x in lost["revisions"]] == [
        ("pending", "lost"),
    ]
    rejected = records["p-acme-10"]
    assert rejected["verdict"]["outcome"] == "rejected"
    assert rejected["judged"]["outcome"] == "rejected"
    assert rejected["submit"]["error_kind"] == "rejected:template"


def test_tampering_is_named_and_exits_1(world: Path, certs: Path, tmp_path: Path) -> None:
    bundle = tmp_path / "acme.zip"
    assert export(world, bundle).exit_code == 0
    pub = str(certs / "signing.pub")

    def lost_becomes_delivered(data: bytes) -> bytes:
        lines = data.splitlines()
        line = json.loads(lines[8])
        assert line["record"]["probe_id"] == "p-acme-8"
        line["record"]["judged"]["outcome"] = "delivered"
        lines[8] = json.dumps(line).encode()
        return b"\n".join(lines) + b"\n"

    result = verify(rewrite(bundle, "records.jsonl", lost_becomes_delivered), "--public-key", pub)
    assert result.exit_code == 1
    problems = result.stdout.splitlines()
    assert "PROBLEM: record 9 (probe p-acme-8): content does not match its hash" in problems
    assert "PROBLEM: records file: SHA-256 differs from the signed manifest" in problems

    result = verify(rewrite(bundle, "report.html", lambda d: d.replace(b"88.89", b"99.99")),
                    "--public-key", pub)  # fmt: skip
    assert result.exit_code == 1
    assert result.stdout.splitlines() == [
        "PROBLEM: report.html: SHA-256 differs from the signed manifest"
    ]

    other = tmp_path / "other"
    create_ca(other)
    result = verify(bundle, "--public-key", str(other / "signing.pub"))
    assert result.exit_code == 1
    assert "PROBLEM: manifest.json: signature does not verify with this key" in result.stdout

    # Without --public-key the bundle's own copy is refused, unless trusted explicitly.
    result = verify(bundle)
    assert result.exit_code == 1 and "--trust-bundle-key" in result.stdout
    result = verify(bundle, "--trust-bundle-key")
    assert result.exit_code == 0 and "note: verified against the key inside" in result.stderr


def test_missing_key_and_unreadable_input_exit_2(world: Path, tmp_path: Path) -> None:
    key = tmp_path / "certs" / "signing.key"  # the world ran `certs init`: hide its key
    key.rename(tmp_path / "away.key")
    result = export(world, tmp_path / "x.zip")
    assert result.exit_code == 2
    assert "no evidence signing key" in result.stderr and "certs init" in result.stderr
    assert not (tmp_path / "x.zip").exists()
    result = export(world, tmp_path / "x.zip", "--key", str(tmp_path / "collector.toml"))
    assert result.exit_code == 2 and "not a readable unencrypted PEM private key" in result.stderr

    not_zip = tmp_path / "bundle.zip"
    not_zip.write_bytes(b"PK? no")
    result = verify(not_zip)
    assert result.exit_code == 2 and "is not a zip file" in result.stderr
    result = verify(tmp_path / "absent.zip")
    assert result.exit_code == 2 and "cannot read" in result.stderr

    (tmp_path / "away.key").rename(key)
    bundle = tmp_path / "ok.zip"
    assert export(world, bundle, "--key", str(tmp_path / "certs" / "signing.key")).exit_code == 0
    result = verify(bundle, "--public-key", str(tmp_path / "nope.pem"))
    assert result.exit_code == 2 and "cannot read public key" in result.stderr
    result = verify(bundle, "--public-key", str(tmp_path / "certs" / "ca.pem"))
    assert result.exit_code == 2 and "not a PEM public key" in result.stderr
    result = verify(bundle, "--public-key", str(tmp_path / "certs" / "signing.pub"))
    assert result.exit_code == 0


def test_export_and_verify_as_subprocesses(world: Path, certs: Path, tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    code = "from collector.evidence.cli import evidence_group; evidence_group()"
    bundle = tmp_path / "acme.zip"

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-c", code, *args], capture_output=True,
                              text=True, timeout=60, env=env, cwd=ROOT, check=False)  # fmt: skip

    done = run("export", "--config", str(world), "--vendor", "acme", "--since", SINCE,
               "--until", UNTIL, "--out", str(bundle))  # fmt: skip
    assert done.returncode == 0, done.stderr
    # Plain progress lines off a terminal: at the start, each day of records, the figures.
    lines = [line for line in done.stderr.splitlines() if line.startswith("evidence acme:")]
    steps = lines[0].removeprefix("evidence acme: reading the ledger (0/").removesuffix(")")
    assert steps.isdigit() and int(steps) >= 2, done.stderr  # the days, then the figures
    assert lines[1] == f"evidence acme: records (1/{steps})"
    assert lines[-1] == f"evidence acme: report figures and billing ({steps}/{steps})"
    done = run("verify", str(bundle), "--public-key", str(certs / "signing.pub"))
    assert done.returncode == 0 and done.stdout.startswith("OK: 11 records"), done.stderr
    # Cut the tail off: the signed count and chain head catch it.
    with zipfile.ZipFile(bundle) as zf:
        cut = io.BytesIO()
        with zipfile.ZipFile(cut, "w") as out:
            for name in zf.namelist():
                data = zf.read(name)
                if name == "records.jsonl":
                    data = b"".join(data.splitlines(keepends=True)[:-1])
                out.writestr(name, data)
    (tmp_path / "cut.zip").write_bytes(cut.getvalue())
    done = run("verify", str(tmp_path / "cut.zip"), "--public-key", str(certs / "signing.pub"))
    assert done.returncode == 1
    assert "records.jsonl has 10 records, the signed manifest says 11" in done.stdout


def test_export_on_postgresql(postgres_url: str, tmp_path: Path) -> None:
    from collector.ledger import open_ledger
    from tests.collector.reports.world import build_world

    ledger = open_ledger(postgres_url)
    try:
        build_world(ledger)
    finally:
        ledger.close()
    config = write_config(tmp_path, postgres_url)
    create_ca(tmp_path / "certs")  # found at <config dir>/certs/signing.key
    bundle = tmp_path / "acme.zip"
    result = export(config, bundle)
    assert result.exit_code == 0, result.output
    pub = str(tmp_path / "certs" / "signing.pub")
    # This world's agent did not sign: its facts are refused unless that is accepted.
    assert verify(bundle, "--public-key", pub).exit_code == 1
    assert verify(bundle, "--public-key", pub, "--allow-unsigned").exit_code == 0
    assert len(records_of(bundle)) == 11


def test_a_period_without_probes_still_verifies(world: Path, certs: Path, tmp_path: Path) -> None:
    bundle = tmp_path / "empty.zip"
    result = CliRunner().invoke(
        evidence_group,
        ["export", "--config", str(world), "--vendor", "nobody", "--since", SINCE,
         "--until", UNTIL, "--out", str(bundle)],
    )  # fmt: skip
    assert result.exit_code == 0 and "warning: no probes of nobody" in result.stderr
    checked = verify(bundle, "--public-key", str(certs / "signing.pub"))
    assert checked.exit_code == 0 and checked.stdout.startswith("OK: 0 records")


def rebuild(bundle: Path, records: list[dict[str, Any]], certs: Path, out: Path) -> Path:
    """The bundle re-made from altered records with the collector's own key: what a
    dishonest collector operator could do. Only the agents' signatures can catch it."""
    from collector.evidence.bundle import build_bundle
    from collector.evidence.cli import load_signing_key
    from collector.reports.figures import Thresholds

    with zipfile.ZipFile(bundle) as zf:
        manifest = json.loads(zf.read("manifest.json"))
        extra = {n: zf.read(n) for n in manifest["files_sha256"]}
    if "billing.json" in extra:  # re-made from the altered records too, same terms
        from collector.billing.statement import Billed
        from collector.billing.terms import VendorTerms
        from collector.evidence.billing import billing_file
        from collector.reports.figures import JudgedProbe

        doc = json.loads(extra["billing.json"])
        extra["billing.json"] = billing_file(
            manifest["vendor"], [JudgedProbe.from_dict(r["judged"]) for r in records],
            VendorTerms.from_json(doc["terms"]),
            {pid: Billed(**b) for pid, b in doc["invoice"].items()}, priced=doc["priced"],
        )  # fmt: skip
    out.write_bytes(
        build_bundle(
            records, signing_key=load_signing_key([certs / "signing.key"]),
            vendor=manifest["vendor"], since=manifest["since"], until=manifest["until"],
            software_version=manifest["software_version"], created_at=manifest["created_at"],
            thresholds=Thresholds(**manifest["thresholds"]), prices=manifest["prices"],
            extra_files=extra,
        )
    )  # fmt: skip
    return out


def test_agent_signatures_catch_a_rewritten_and_resigned_bundle(
    world: Path, certs: Path, tmp_path: Path
) -> None:
    from smsprobe.v1 import agent_pb2

    bundle = tmp_path / "acme.zip"
    assert export(world, bundle).exit_code == 0
    pub = str(certs / "signing.pub")
    ca = str(certs / "ca.pem")
    assert verify(bundle, "--public-key", pub, "--agents-ca", ca).exit_code == 0

    # 1. An arrival's PDU changed in the JSON, chain and manifest re-made and re-signed.
    records = records_of(bundle)
    part = records[0]["arrivals"][0]["parts"][0]
    part["pdu_hex"] = part["pdu_hex"][:-2] + ("00" if part["pdu_hex"][-2:] != "00" else "01")
    result = verify(rebuild(bundle, records, certs, tmp_path / "a.zip"), "--public-key", pub)
    assert result.exit_code == 1
    assert "arrival" in result.stdout and "parts[0].pdu_hex is" in (result.stdout)

    # 2. The quoted record itself altered to match: its signature no longer verifies.
    records = records_of(bundle)
    arrival = records[0]["arrivals"][0]
    pb = agent_pb2.Record.FromString(base64.b64decode(arrival["record_b64"]))
    pb.sms.parts[0].raw_pdu = pb.sms.parts[0].raw_pdu[:-1] + b"\x00"
    arrival["record_b64"] = base64.b64encode(pb.SerializeToString()).decode()
    arrival["parts"][0]["pdu_hex"] = pb.sms.parts[0].raw_pdu.hex().upper()
    result = verify(rebuild(bundle, records, certs, tmp_path / "b.zip"), "--public-key", pub)
    assert result.exit_code == 1
    assert "agent signature: signature does not verify" in result.stdout

    # 3. Checked against another CA (the right one obtained out of band would not match a
    # forged agent certificate): every signer is refused.
    other = tmp_path / "other-ca"
    create_ca(other)
    result = verify(bundle, "--public-key", pub, "--agents-ca", str(other / "ca.pem"))
    assert result.exit_code == 1
    assert "was not issued by the agents' CA" in result.stdout


def test_forgeries_resigned_with_the_genuine_collector_key_are_refused(
    world: Path, certs: Path, tmp_path: Path
) -> None:
    """What the collector's key alone can do to a bundle, each caught by the agents'
    signatures: a moved arrival time, and a fact stripped of its signed record and edited."""
    bundle = tmp_path / "acme.zip"
    assert export(world, bundle).exit_code == 0
    pub = str(certs / "signing.pub")

    # 1. An arrival's received_at moved by 60 s (both forms shown), re-chained, re-signed.
    records = records_of(bundle)
    part = records[0]["arrivals"][0]["parts"][0]
    was = part["received_at_ns"]
    part["received_at_ns"] = was + 60 * NS
    result = verify(rebuild(bundle, records, certs, tmp_path / "moved.zip"), "--public-key", pub)
    assert result.exit_code == 1
    assert (
        f"parts[0].received_at_ns is {was + 60 * NS} but the signed record says {was}"
        in result.stdout
    )

    # 2. record_b64 removed and the health verdict edited: no signed record, refused...
    records = records_of(bundle)
    sample = records[9]["receiver"]["health"][0]
    sample.pop("record_b64")
    sample["healthy"] = not sample["healthy"]
    stripped = rebuild(bundle, records, certs, tmp_path / "stripped.zip")
    result = verify(stripped, "--public-key", pub)
    assert result.exit_code == 1
    assert "no signed record (record_b64) behind it" in result.stdout
    # ...and accepted only when the person verifying says unsigned facts are acceptable.
    assert verify(stripped, "--public-key", pub, "--allow-unsigned").exit_code == 0

    # 3. Sender and text of a signed arrival rewritten in the JSON only.
    records = records_of(bundle)
    arrival = records[1]["arrivals"][0]
    arrival["sender"] = "10690000"
    result = verify(rebuild(bundle, records, certs, tmp_path / "sender.zip"), "--public-key", pub)
    assert result.exit_code == 1 and "sender is '10690000' but the signed record" in result.stdout


def _zip(files: dict[str, bytes], out: Path) -> Path:
    with zipfile.ZipFile(out, "w") as zf:
        for name, data in files.items():
            zf.writestr(name, data)
    return out


def test_malformed_bundles_get_one_line_and_exit_1(
    world: Path, certs: Path, tmp_path: Path
) -> None:
    bundle = tmp_path / "acme.zip"
    assert export(world, bundle).exit_code == 0
    key = load_key(certs)
    with zipfile.ZipFile(bundle) as zf:
        files = {n: zf.read(n) for n in zf.namelist()}
    manifest = json.loads(files["manifest.json"])
    lines = files["records.jsonl"].splitlines()

    def signed(manifest_bytes: bytes, **more: bytes) -> dict[str, bytes]:
        return {**files, **more, "manifest.json": manifest_bytes,
                "manifest.sig": key.sign(manifest_bytes).hex().encode()}  # fmt: skip

    first = json.loads(lines[0])

    def records(line: dict[str, Any], *, rechain: bool = False) -> dict[str, bytes]:
        """records.jsonl made of `line` (re-chained if asked), the manifest re-signed."""
        from collector.evidence.bundle import chain

        head = manifest["chain_head"]
        if rechain:
            (line,), head = chain([line["record"]])
        data = json.dumps(line).encode() + b"\n"
        sha = hashlib.sha256(data).hexdigest()
        fixed = {**manifest, "records_sha256": sha, "chain_head": head, "record_count": 1}
        return signed(json.dumps(fixed).encode(), **{"records.jsonl": data})

    cases = {
        "manifest not an object": (signed(b"[1, 2]"), "manifest.json is list"),
        "a record that is a list": (
            records({**first, "record": [1]}),
            "'record' is list",
        ),
        "a non-hex hash": (
            signed(json.dumps({**manifest, "records_sha256": "zz" * 32}).encode()),
            "manifest records_sha256 is 'zzzz",
        ),
        "a non-hex chain hash": (
            records({**first, "hash": "not hex"}),
            "records.jsonl line 1 hash is 'not hex'",
        ),
        "arrivals not a list": (
            records({**first, "record": {**first["record"], "arrivals": {"a": 1}}}, rechain=True),
            "record 1 arrivals is dict",
        ),
        "files_sha256 not an object": (
            signed(json.dumps({**manifest, "files_sha256": ["README.txt"]}).encode()),
            "manifest files_sha256 is list",
        ),
    }
    for name, (content, expect) in cases.items():
        result = verify(
            _zip(content, tmp_path / "bad.zip"), "--public-key", str(certs / "signing.pub")
        )
        assert result.exit_code == 1, name
        assert result.exception is None or isinstance(result.exception, SystemExit), name
        problems = result.stdout.splitlines()
        assert len(problems) == 1 and expect in problems[0], (name, problems)
        assert "Traceback" not in result.output

    # A file slipped into the bundle that the signed manifest does not list.
    extra = _zip({**files, "notes.txt": b"trust me"}, tmp_path / "extra.zip")
    result = verify(extra, "--public-key", str(certs / "signing.pub"))
    assert result.exit_code == 1
    assert result.stdout.splitlines() == [
        "PROBLEM: notes.txt: in the bundle but not covered by the signed manifest"
    ]
    # The README is covered: an edited README is named.
    readme = _zip({**files, "README.txt": b"no need to verify"}, tmp_path / "readme.zip")
    result = verify(readme, "--public-key", str(certs / "signing.pub"))
    assert result.stdout.splitlines() == [
        "PROBLEM: README.txt: SHA-256 differs from the signed manifest"
    ]


def load_key(certs: Path) -> Any:
    from collector.evidence.cli import load_signing_key

    return load_signing_key([certs / "signing.key"])
