"""Records signed by the agent that persisted them (evidence: "receipts signed by the agent's
key"), and their verification by whoever holds the agent's certificate.

The agent signs each record once, when it persists it, with the private key of its client
certificate (the one enrolment made): over `DOMAIN` + the record serialised
deterministically without `signature` (20) and `signer` (21). Both fields are then appended
to the stored bytes, so the outbox, the upload and the collector's ledger all carry the
signed record as is. Verifying re-serialises the parsed record without the two fields;
that reproduces the signed bytes as long as both sides share the schema (a field unknown
to the verifier would be re-emitted out of place: it fails, loudly, never silently).

Keys: ECDSA P-256/P-384 (what `certs` issues), Ed25519, RSA (PKCS#1 v1.5) — SHA-256.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa

DOMAIN = b"smsprobe-record-v1\x00"
_SIGNATURE_TAG = b"\xa2\x01"  # field 20, wire type 2
_SIGNER_TAG = b"\xaa\x01"  # field 21, wire type 2

PrivateKey = ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey | rsa.RSAPrivateKey
PublicKey = ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey | rsa.RSAPublicKey


class SigningError(Exception):
    """The key cannot sign records (unreadable, encrypted, unsupported type)."""


def key_id(public_key: PublicKey) -> str:
    """ "sha256:" + hex SHA-256 of the SubjectPublicKeyInfo: what `Record.signer` holds."""
    spki = public_key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return "sha256:" + hashlib.sha256(spki).hexdigest()


def _scheme(key: PrivateKey | PublicKey) -> tuple[Any, ...]:
    """The arguments `sign` and `verify` take after the data, by key type (SHA-256)."""
    if isinstance(key, ec.EllipticCurvePrivateKey | ec.EllipticCurvePublicKey):
        return (ec.ECDSA(hashes.SHA256()),)
    if isinstance(key, ed25519.Ed25519PrivateKey | ed25519.Ed25519PublicKey):
        return ()
    return (padding.PKCS1v15(), hashes.SHA256())


def _field(tag: bytes, value: bytes) -> bytes:
    n, out = len(value), bytearray(tag)
    while n > 0x7F:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out) + value


class RecordSigner:
    """Signs serialised records (`Record.SerializeToString(deterministic=True)`)."""

    def __init__(self, key: PrivateKey) -> None:
        if not isinstance(key, PrivateKey):
            raise SigningError(f"cannot sign with a {type(key).__name__}")
        self._key = key
        self.signer = key_id(key.public_key())

    @classmethod
    def from_pem_file(cls, path: Path) -> RecordSigner:
        try:
            key: Any = serialization.load_pem_private_key(path.read_bytes(), password=None)
        except (OSError, ValueError, TypeError) as exc:
            raise SigningError(f"{path}: {exc}") from exc
        if not isinstance(key, PrivateKey):
            raise SigningError(f"{path}: a {type(key).__name__} cannot sign records")
        return cls(key)

    def sign(self, wire: bytes) -> bytes:
        """The record bytes with `signature` and `signer` appended."""
        signature = self._key.sign(DOMAIN + wire, *_scheme(self._key))
        return wire + _field(_SIGNATURE_TAG, signature) + _field(_SIGNER_TAG, self.signer.encode())


def split_signed(record: bytes) -> tuple[bytes, bytes, str]:
    """(signed bytes, signature, signer) of a serialised Record; signature b"" if none.
    Raises ValueError when the bytes are not a Record."""
    from smsprobe.v1 import agent_pb2

    pb = agent_pb2.Record()
    try:
        pb.ParseFromString(record)
    except Exception as exc:  # protobuf raises DecodeError, or others from upb
        raise ValueError(f"not a Record: {exc}") from exc
    signature, signer = pb.signature, pb.signer
    pb.ClearField("signature")
    pb.ClearField("signer")
    return pb.SerializeToString(deterministic=True), signature, signer


def verify_record(record: bytes, public_key: PublicKey) -> str | None:
    """None when `record` carries a valid signature by `public_key`, else what is wrong."""
    try:
        signed, signature, signer = split_signed(record)
    except ValueError as exc:
        return str(exc)
    return verify_signature(signed, signature, signer, public_key)


def verify_signature(
    signed: bytes, signature: bytes, signer: str, public_key: PublicKey
) -> str | None:
    """`verify_record` for a record already split by `split_signed`."""
    if not signature:
        return "not signed"
    if signer != key_id(public_key):
        return f"signed by {signer}, not by this key ({key_id(public_key)})"
    try:
        public_key.verify(signature, DOMAIN + signed, *_scheme(public_key))
    except InvalidSignature:
        return "signature does not verify (the record was altered after the agent signed it)"
    return None
