"""Certificate tooling for the agent link: a private CA, the collector's server certificate,
one client certificate per agent, and the Ed25519 key pair that signs evidence bundles.

`smsprobe-collector certs init --dir DIR` and `certs issue-agent ID --dir DIR`. An agent
certificate carries its id twice — subject CN and a SAN URI `smsprobe://agent/ID` — and the
collector (collector/api/auth.py) requires both to agree with the id in every request.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

# Agent ids end up in URIs, file names and metric labels: the agent's config rule.
from agent.wire.records import AGENT_ID_FORM, AGENT_ID_RE

AGENT_URI_PREFIX = "smsprobe://agent/"

CA_CERT = "ca.pem"
CA_KEY = "ca.key"
SERVER_CERT = "collector.pem"
SERVER_KEY = "collector.key"
SIGNING_KEY = "signing.key"
SIGNING_PUB = "signing.pub"


class CertError(Exception):
    """Certificate tooling failed (bad id, missing CA, existing files)."""


@dataclass(frozen=True, slots=True)
class CaPaths:
    dir: Path

    @property
    def ca_cert(self) -> Path:
        return self.dir / CA_CERT

    @property
    def ca_key(self) -> Path:
        return self.dir / CA_KEY

    @property
    def server_cert(self) -> Path:
        return self.dir / SERVER_CERT

    @property
    def server_key(self) -> Path:
        return self.dir / SERVER_KEY

    @property
    def signing_key(self) -> Path:
        return self.dir / SIGNING_KEY

    @property
    def signing_pub(self) -> Path:
        return self.dir / SIGNING_PUB


@dataclass(frozen=True, slots=True)
class AgentCertPaths:
    cert: Path
    key: Path
    ca_cert: Path


def agent_uri(agent_id: str) -> str:
    return AGENT_URI_PREFIX + agent_id


def validate_agent_id(agent_id: str) -> str:
    if not AGENT_ID_RE.fullmatch(agent_id):
        raise CertError(f"invalid agent id {agent_id!r}: {AGENT_ID_FORM}")
    return agent_id


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _key_pem(key: ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _write(path: Path, data: bytes, *, private: bool) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC
    fd = os.open(path, flags, 0o600 if private else 0o644)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)


def _new_key() -> ec.EllipticCurvePrivateKey:
    # P-256: small, fast handshakes on Pi-class agents, supported by every gRPC TLS stack.
    return ec.generate_private_key(ec.SECP256R1())


def _builder(subject: x509.Name, issuer: x509.Name, days: int) -> x509.CertificateBuilder:
    now = _now()
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))  # tolerate small clock skew
        .not_valid_after(now + dt.timedelta(days=days))
    )


def _name(cn: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "smsprobe"),
            x509.NameAttribute(NameOID.COMMON_NAME, cn),
        ]
    )


def create_ca(
    directory: Path, *, hostnames: tuple[str, ...] = (), days: int = 3650, force: bool = False
) -> CaPaths:
    """Create the CA, the collector's server key/cert and the evidence signing key pair."""
    paths = CaPaths(directory)
    if paths.ca_key.exists() and not force:
        raise CertError(f"{paths.ca_key} exists; refusing to replace the CA (use --force)")
    ca_key = _new_key()
    ca_name = _name("smsprobe agent CA")
    ca_cert = (
        _builder(ca_name, ca_name, days)
        .public_key(ca_key.public_key())
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), False)
        .sign(ca_key, hashes.SHA256())
    )
    _write(paths.ca_key, _key_pem(ca_key), private=True)
    _write(paths.ca_cert, ca_cert.public_bytes(serialization.Encoding.PEM), private=False)

    names: list[x509.GeneralName] = []
    seen: set[str] = set()
    for host in ("localhost", "127.0.0.1", "::1", *hostnames):
        if host in seen:
            continue
        seen.add(host)
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            names.append(x509.DNSName(host))
    server_key = _new_key()
    server_cert = (
        _builder(_name(hostnames[0] if hostnames else "localhost"), ca_name, days)
        .public_key(server_key.public_key())
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    _write(paths.server_key, _key_pem(server_key), private=True)
    _write(paths.server_cert, server_cert.public_bytes(serialization.Encoding.PEM), private=False)

    signing = ed25519.Ed25519PrivateKey.generate()
    _write(paths.signing_key, _key_pem(signing), private=True)
    _write(
        paths.signing_pub,
        signing.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        ),
        private=False,
    )
    return paths


def _load_ca(directory: Path) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    paths = CaPaths(directory)
    try:
        cert = x509.load_pem_x509_certificate(paths.ca_cert.read_bytes())
        key = serialization.load_pem_private_key(paths.ca_key.read_bytes(), password=None)
    except FileNotFoundError as exc:
        raise CertError(f"no CA in {directory}: run `certs init --dir {directory}`") from exc
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise CertError(f"{paths.ca_key} is not an EC key")
    return cert, key


def issue_agent(
    directory: Path, agent_id: str, *, out: Path | None = None, days: int = 825
) -> AgentCertPaths:
    """Issue `<out>/<id>.pem` + `<out>/<id>.key` signed by the CA in `directory`."""
    validate_agent_id(agent_id)
    ca_cert, ca_key = _load_ca(directory)
    out_dir = out or directory / "agents"
    key = _new_key()
    cert = (
        _builder(_name(agent_id), ca_cert.subject, days)
        .public_key(key.public_key())
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.SubjectAlternativeName([x509.UniformResourceIdentifier(agent_uri(agent_id))]),
            critical=False,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    paths = AgentCertPaths(
        cert=out_dir / f"{agent_id}.pem",
        key=out_dir / f"{agent_id}.key",
        ca_cert=out_dir / CA_CERT,
    )
    _write(paths.key, _key_pem(key), private=True)
    _write(paths.cert, cert.public_bytes(serialization.Encoding.PEM), private=False)
    if paths.ca_cert != CaPaths(directory).ca_cert:
        _write(paths.ca_cert, CaPaths(directory).ca_cert.read_bytes(), private=False)
    return paths


def agent_ids_in_cert(cert: x509.Certificate) -> tuple[str, tuple[str, ...]]:
    """(subject CN, agent ids from `smsprobe://agent/ID` SAN URIs) of a certificate."""
    cns = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    cn = str(cns[0].value) if cns else ""
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return cn, ()
    uris = san.get_values_for_type(x509.UniformResourceIdentifier)
    ids = tuple(u[len(AGENT_URI_PREFIX) :] for u in uris if u.startswith(AGENT_URI_PREFIX))
    return cn, ids


def cert_fingerprint(cert: x509.Certificate) -> str:
    """`sha256:<hex>` of the DER certificate: how a single certificate is revoked."""
    return "sha256:" + cert.fingerprint(hashes.SHA256()).hex()


# ---------------------------------------------------------------- CLI
