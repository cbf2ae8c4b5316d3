"""Records signed as they are persisted (agent.wire.signing, Outbox(signer=...)), and the
config that decides it (`[collector] key`, `sign_records`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from agent.app import EXIT_CONFIG, record_signer
from agent.config import ConfigError, load_config
from agent.outbox.store import ModemRef, Outbox
from agent.run_cli import run_command
from agent.wire.records import AgentEvent, ReceivedSms
from agent.wire.serde import WireRecord, record_from_wire
from agent.wire.signing import RecordSigner, SigningError, key_id, split_signed, verify_record
from collector.certs import create_ca, issue_agent

MODEM = ModemRef(key="861234567890123", imei="861234567890123", iccid="89860012345678901234")


def _sms(text: str) -> ReceivedSms:
    return ReceivedSms(parts=(), sender="1069012345", text=text, encoding="gsm7")


def _key_pem(key: Any) -> bytes:
    pem: bytes = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return pem


@pytest.fixture
def ec_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def test_every_persisted_record_carries_a_signature_that_verifies(
    tmp_path: Path, ec_key: ec.EllipticCurvePrivateKey
) -> None:
    signer = RecordSigner(ec_key)
    with Outbox(tmp_path / "o.sqlite", signer=signer) as box:
        box.append(_sms("code 123456"), MODEM)
        box.append(AgentEvent(at_ns=1, kind="agent_started", detail="v1"))
        wires = box.pending_wire(0, 10)
        decoded = box.pending(0, 10)
    assert [w.seq for w in wires] == [1, 2]
    for w in wires:
        assert verify_record(w.wire, ec_key.public_key()) is None
        _, signature, who = split_signed(w.wire)
        assert signature and who == signer.signer == key_id(ec_key.public_key())
    # the signature is invisible to the record's meaning
    assert decoded[0].body == _sms("code 123456")
    assert record_from_wire(wires[0]) == decoded[0]


def test_a_changed_byte_or_another_key_fails_verification(
    tmp_path: Path, ec_key: ec.EllipticCurvePrivateKey
) -> None:
    with Outbox(tmp_path / "o.sqlite", signer=RecordSigner(ec_key)) as box:
        box.append(_sms("code 123456"), MODEM)
        (w,) = box.pending_wire(0, 1)
    tampered = w.wire.replace(b"123456", b"654321")
    assert tampered != w.wire
    problem = verify_record(tampered, ec_key.public_key())
    assert problem is not None and "altered" in problem
    other = ec.generate_private_key(ec.SECP256R1()).public_key()
    problem = verify_record(w.wire, other)
    assert problem is not None and "not by this key" in problem
    # re-signing with another key does not pass for the original agent
    forged_source = RecordSigner(ec.generate_private_key(ec.SECP256R1()))
    signed, _, _ = split_signed(tampered)
    forged = forged_source.sign(signed)
    assert verify_record(forged, ec_key.public_key()) is not None
    assert verify_record(b"\xff\xff\xff", ec_key.public_key()) is not None


def test_without_a_signer_records_are_stored_unsigned(
    tmp_path: Path, ec_key: ec.EllipticCurvePrivateKey
) -> None:
    with Outbox(tmp_path / "o.sqlite") as box:
        box.append(_sms("hello"), MODEM)
        (w,) = box.pending_wire(0, 1)
    assert split_signed(w.wire)[1] == b""
    assert verify_record(w.wire, ec_key.public_key()) == "not signed"
    assert isinstance(record_from_wire(WireRecord(w.seq, 0, w.kind, w.wire)).body, ReceivedSms)


@pytest.mark.parametrize(
    "make_key",
    [
        lambda: ec.generate_private_key(ec.SECP384R1()),
        ed25519.Ed25519PrivateKey.generate,
        lambda: rsa.generate_private_key(public_exponent=65537, key_size=2048),
    ],
    ids=["p384", "ed25519", "rsa"],
)
def test_other_key_types_sign_and_verify(tmp_path: Path, make_key: Any) -> None:
    key = make_key()
    (tmp_path / "k.pem").write_bytes(_key_pem(key))
    signer = RecordSigner.from_pem_file(tmp_path / "k.pem")
    signed = signer.sign(b"\x0a\x03abc")
    assert verify_record(signed, key.public_key()) is None


def _agent_toml(tmp: Path, collector: str) -> Path:
    path = tmp / "agent.toml"
    path.write_text(
        f'[agent]\nid = "lab-01"\n[outbox]\npath = "o.sqlite"\n'
        f'[[modems]]\nport = "/dev/null-modem"\n[collector]\n{collector}\n'
    )
    return path


def test_the_agent_signs_with_its_enrolment_key(tmp_path: Path) -> None:
    create_ca(tmp_path / "ca")
    issued = issue_agent(tmp_path / "ca", "lab-01")
    body = (
        f'address = "c:7443"\nca_cert = "{issued.ca_cert}"\n'
        f'cert = "{issued.cert}"\nkey = "{issued.key}"'
    )
    config = load_config(_agent_toml(tmp_path, body))
    signer = record_signer(config)
    assert signer is not None
    from cryptography import x509

    cert = x509.load_pem_x509_certificate(issued.cert.read_bytes())
    assert signer.signer == key_id(cert.public_key())  # type: ignore[arg-type]

    off = load_config(_agent_toml(tmp_path, body + "\nsign_records = false"))
    assert off.collector is not None and not off.collector.sign_records
    assert record_signer(off) is None
    insecure = load_config(_agent_toml(tmp_path, 'address = "c:7443"\ninsecure = true'))
    assert record_signer(insecure) is None


def test_a_key_that_cannot_sign_is_a_config_error_naming_the_key(tmp_path: Path) -> None:
    bad = tmp_path / "agent.key"
    bad.write_text("-----BEGIN PRIVATE KEY-----\nbm90IGEga2V5\n-----END PRIVATE KEY-----\n")
    cert = tmp_path / "agent.pem"
    cert.write_text("unused")
    path = _agent_toml(tmp_path, f'address = "c:7443"\ncert = "{cert}"\nkey = "{bad}"')
    with pytest.raises(ConfigError) as err:
        record_signer(load_config(path))
    assert err.value.key_path == "collector.key"
    assert str(err.value).startswith("agent.toml: collector.key: ") and str(bad) in str(err.value)

    encrypted = ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(b"pw"),
    )
    bad.write_bytes(encrypted)
    with pytest.raises(ConfigError, match="unencrypted"):
        record_signer(load_config(path))
    with pytest.raises(SigningError):
        RecordSigner.from_pem_file(tmp_path / "missing.key")

    result = CliRunner().invoke(run_command, ["--config", str(path)])
    assert result.exit_code == EXIT_CONFIG
    assert "collector.key" in result.output
