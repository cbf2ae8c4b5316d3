"""collector/certs.py makes the identities; collector/api/auth.py reads them back."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from click.testing import CliRunner
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.x509.oid import NameOID

from collector.api.auth import Authenticator, AuthError, DenyReason
from collector.certs import agent_ids_in_cert, cert_fingerprint
from collector.certs_cli import certs_group
from tests.grpc.conftest import Pki


def _ctx(pem: bytes) -> dict[str, list[bytes]]:
    return {"transport_security_type": [b"ssl"], "x509_pem_cert": [pem]}


def test_cli_init_and_issue_agent(tmp_path: Path) -> None:
    runner = CliRunner()
    d = tmp_path / "ca"
    res = runner.invoke(certs_group, ["init", "--dir", str(d), "--hostname", "collector.example"])
    assert res.exit_code == 0, res.output
    server = x509.load_pem_x509_certificate((d / "collector.pem").read_bytes())
    san = server.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert {"localhost", "collector.example"} <= set(san.get_values_for_type(x509.DNSName))
    assert {str(ip) for ip in san.get_values_for_type(x509.IPAddress)} == {"127.0.0.1", "::1"}
    assert (d / "ca.key").stat().st_mode & 0o077 == 0  # private keys are private
    # Evidence signing pair works: sign with the key, verify with the .pub.
    key = serialization.load_pem_private_key((d / "signing.key").read_bytes(), None)
    pub = serialization.load_pem_public_key((d / "signing.pub").read_bytes())
    assert isinstance(key, ed25519.Ed25519PrivateKey)
    assert isinstance(pub, ed25519.Ed25519PublicKey)
    pub.verify(key.sign(b"bundle"), b"bundle")

    res = runner.invoke(certs_group, ["issue-agent", "site-7", "--dir", str(d)])
    assert res.exit_code == 0, res.output
    cert = x509.load_pem_x509_certificate((d / "agents" / "site-7.pem").read_bytes())
    assert agent_ids_in_cert(cert) == ("site-7", ("site-7",))
    ca = x509.load_pem_x509_certificate((d / "ca.pem").read_bytes())
    cert.verify_directly_issued_by(ca)

    # A second init must not silently replace the CA every agent trusts.
    res = runner.invoke(certs_group, ["init", "--dir", str(d)])
    assert res.exit_code != 0 and "refusing" in res.output
    res = runner.invoke(certs_group, ["issue-agent", "bad id/..", "--dir", str(d)])
    assert res.exit_code != 0 and "invalid agent id" in res.output


def test_authorize_matches_certificate_to_claim(pki: Pki) -> None:
    auth = Authenticator()
    pem = pki.agents["agent-a"].cert.read_bytes()
    assert auth.authorize(_ctx(pem), "agent-a") == "agent-a"
    with pytest.raises(AuthError) as err:
        auth.authorize(_ctx(pem), "agent-b")
    assert err.value.reason is DenyReason.AGENT_ID_MISMATCH
    assert not err.value.unauthenticated
    assert "only report as itself" in err.value.message
    with pytest.raises(AuthError) as err:
        auth.authorize({}, "agent-a")
    assert err.value.reason is DenyReason.NO_CERTIFICATE and err.value.unauthenticated


def test_deny_list_by_id_and_by_fingerprint(pki: Pki) -> None:
    pem_a = pki.agents["agent-a"].cert.read_bytes()
    pem_b = pki.agents["agent-b"].cert.read_bytes()
    auth = Authenticator(deny=["agent-a"])
    with pytest.raises(AuthError) as err:
        auth.authorize(_ctx(pem_a), "agent-a")
    assert err.value.reason is DenyReason.REVOKED
    assert auth.authorize(_ctx(pem_b), "agent-b") == "agent-b"
    fp = cert_fingerprint(x509.load_pem_x509_certificate(pem_b))
    hexpart = fp.removeprefix("sha256:").upper()
    colons = ":".join(hexpart[i : i + 2] for i in range(0, len(hexpart), 2))
    auth.set_deny(["SHA256:" + colons])  # as `openssl x509 -fingerprint -sha256` prints it
    with pytest.raises(AuthError):
        auth.authorize(_ctx(pem_b), "agent-b")
    assert auth.authorize(_ctx(pem_a), "agent-a") == "agent-a"  # un-revoked on reload


def test_certificate_without_agent_san_is_not_an_identity(pki: Pki, tmp_path: Path) -> None:
    # Same CA, CN looks like an agent, but no smsprobe://agent/ URI (e.g. the server cert).
    ca_key = serialization.load_pem_private_key(pki.ca.ca_key.read_bytes(), None)
    assert isinstance(ca_key, ec.EllipticCurvePrivateKey)
    ca = x509.load_pem_x509_certificate(pki.ca.ca_cert.read_bytes())
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "agent-a")]))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + dt.timedelta(days=1))
        .sign(ca_key, hashes.SHA256())
    )
    with pytest.raises(AuthError) as err:
        Authenticator().authorize(_ctx(cert.public_bytes(serialization.Encoding.PEM)), "agent-a")
    assert err.value.reason is DenyReason.NOT_AN_AGENT_CERTIFICATE
    with pytest.raises(AuthError):
        Authenticator().authorize(_ctx(pki.ca.server_cert.read_bytes()), "localhost")


def test_insecure_mode_trusts_the_claim_but_still_applies_the_deny_list() -> None:
    auth = Authenticator(insecure=True, deny=["agent-x"])
    assert auth.authorize({}, "agent-a") == "agent-a"
    with pytest.raises(AuthError):
        auth.authorize({}, "agent-x")
    with pytest.raises(AuthError) as err:
        auth.authorize({}, "")
    assert err.value.reason is DenyReason.MISSING_AGENT_ID
