"""A real PKI (`certs init`) plus the broken files the TLS checks must refuse."""

from __future__ import annotations

from pathlib import Path

from cryptography.hazmat.primitives import serialization

from collector.certs import create_ca


def make_pki(directory: Path) -> Path:
    """`directory`/ca.pem, collector.pem, collector.key, ca.key (a key of another
    certificate), not-pem.txt and encrypted.key (the collector key under a passphrase)."""
    paths = create_ca(directory, hostnames=("localhost",))
    (directory / "not-pem.txt").write_text("this is not a certificate\n")
    key = serialization.load_pem_private_key(paths.server_key.read_bytes(), password=None)
    (directory / "encrypted.key").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(b"passphrase"),
        )
    )
    return directory
