"""Offline verification of an evidence bundle: signature, chain, completeness, figures."""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from dataclasses import dataclass, field
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from collector.evidence.bundle import FORMAT, GENESIS, canonical, report_for
from collector.evidence.signatures import CA_FILE, KEYS_DIR, check_signatures
from collector.reports.figures import JudgedProbe, Thresholds


@dataclass
class VerifyResult:
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    record_count: int = 0

    @property
    def ok(self) -> bool:
        return not self.problems


def _load_key(pem: bytes) -> Ed25519PublicKey:
    key = serialization.load_pem_public_key(pem)
    if not isinstance(key, Ed25519PublicKey):
        raise ValueError("the public key is not an Ed25519 key")
    return key


def _diff(path: str, expected: Any, actual: Any, out: list[str]) -> None:
    """Every leaf where the bundled report differs from the recomputed one."""
    if isinstance(expected, dict) and isinstance(actual, dict):
        for k in sorted(set(expected) | set(actual)):
            _diff(f"{path}.{k}", expected.get(k), actual.get(k), out)
    elif isinstance(expected, list) and isinstance(actual, list):
        if len(expected) != len(actual):
            out.append(f"{path}: report has {len(actual)} entries, records give {len(expected)}")
        for i, (e, a) in enumerate(zip(expected, actual, strict=False)):
            _diff(f"{path}[{i}]", e, a, out)
    elif expected != actual:
        out.append(f"{path}: report says {actual!r}, records give {expected!r}")


def verify_bundle(
    data: bytes, public_key_pem: bytes | None = None, *, agents_ca: bytes | None = None
) -> VerifyResult:
    result = VerifyResult()
    try:
        zf = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile as exc:
        result.problems.append(f"not a zip file: {exc}")
        return result
    names = set(zf.namelist())
    missing = {"records.jsonl", "report.json", "manifest.json", "manifest.sig"} - names
    if missing:
        result.problems.append(f"missing files: {sorted(missing)}")
        return result
    manifest_bytes = zf.read("manifest.json")
    records_bytes = zf.read("records.jsonl")
    report_bytes = zf.read("report.json")

    # 1. signature
    if public_key_pem is None:
        if "signing.pub" not in names:
            result.problems.append("no public key given and none in the bundle")
            return result
        public_key_pem = zf.read("signing.pub")
        result.notes.append(
            "verified against the key inside the bundle: obtain the collector's key out of "
            "band and pass --public-key to make the signature mean something"
        )
    try:
        key = _load_key(public_key_pem)
        key.verify(bytes.fromhex(zf.read("manifest.sig").decode().strip()), manifest_bytes)
    except InvalidSignature:
        result.problems.append("manifest.json: signature does not verify with this key")
    except ValueError as exc:
        result.problems.append(f"signature/key unreadable: {exc}")

    try:
        manifest = json.loads(manifest_bytes)
    except json.JSONDecodeError as exc:
        result.problems.append(f"manifest.json is not JSON: {exc}")
        return result
    if manifest.get("format") != FORMAT:
        result.problems.append(f"unknown format {manifest.get('format')!r}, expected {FORMAT}")

    # 2. file digests
    for name, content in (("records", records_bytes), ("report", report_bytes)):
        if hashlib.sha256(content).hexdigest() != manifest.get(f"{name}_sha256"):
            result.problems.append(f"{name} file: SHA-256 differs from the signed manifest")

    files = manifest.get("files_sha256") or {}
    for name, digest in sorted(files.items() if isinstance(files, dict) else []):
        if name not in names:
            result.problems.append(f"{name}: listed in the signed manifest but missing")
        elif hashlib.sha256(zf.read(name)).hexdigest() != digest:
            result.problems.append(f"{name}: SHA-256 differs from the signed manifest")

    # 3. the chain: no record changed, dropped, added or reordered; no tail cut off
    prev = GENESIS
    judged: list[JudgedProbe] = []
    records: list[dict[str, Any]] = []
    for lineno, raw in enumerate(records_bytes.splitlines(), start=1):
        try:
            line = json.loads(raw)
            record = line["record"]
        except (json.JSONDecodeError, KeyError, TypeError) as exc:
            result.problems.append(f"records.jsonl line {lineno}: unreadable ({exc})")
            return result
        if line.get("seq") != lineno:
            result.problems.append(
                f"records.jsonl line {lineno}: seq {line.get('seq')} out of order"
            )
        if line.get("prev") != prev.hex():
            result.problems.append(
                f"record {lineno}: prev hash does not link to record {lineno - 1}"
            )
        digest = hashlib.sha256(prev + canonical(record)).digest()
        if line.get("hash") != digest.hex():
            probe = record.get("probe_id", "?")
            result.problems.append(
                f"record {lineno} (probe {probe}): content does not match its hash"
            )
        prev = bytes.fromhex(line["hash"]) if isinstance(line.get("hash"), str) else digest
        records.append(record)
        try:
            judged.append(JudgedProbe.from_dict(record["judged"]))
        except (KeyError, TypeError) as exc:
            result.problems.append(f"record {lineno}: no usable 'judged' object ({exc})")
        result.record_count = lineno
    if result.record_count != manifest.get("record_count"):
        result.problems.append(
            f"records.jsonl has {result.record_count} records, the signed manifest says "
            f"{manifest.get('record_count')} (records dropped, added or the tail cut off)"
        )
    if prev.hex() != manifest.get("chain_head"):
        result.problems.append(
            "chain head differs from the signed manifest (tail cut off or altered)"
        )

    # 4. the agents' signatures on the records they persisted
    if agents_ca is None and CA_FILE in names:
        agents_ca = zf.read(CA_FILE)
        result.notes.append(
            "agent certificates checked against the CA inside the bundle: obtain the agents' "
            "CA out of band and pass --agents-ca to make that check mean something"
        )
    try:
        keys = {n: zf.read(n) for n in names if n.startswith(KEYS_DIR)}
        signatures = check_signatures(records, keys, agents_ca)
        result.problems.extend(signatures.problems)
        result.notes.append(signatures.summary())
    except ValueError as exc:
        result.problems.append(f"agent certificates unreadable: {exc}")

    # 5. recompute every figure
    try:
        thresholds = Thresholds(**manifest.get("thresholds", {}))
        expected = report_for(judged, thresholds, manifest.get("prices", {}))
        actual = json.loads(report_bytes)
        expected = json.loads(json.dumps(expected))  # tuples → lists, as stored
        mismatches: list[str] = []
        _diff("report", expected, actual, mismatches)
        result.problems.extend(mismatches)
    except (TypeError, ValueError) as exc:
        result.problems.append(f"report.json could not be recomputed: {exc}")
    return result
