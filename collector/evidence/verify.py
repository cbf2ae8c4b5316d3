"""Offline verification of an evidence bundle: signature, chain, completeness, agent
signatures, every verdict re-judged from its facts (evidence/recompute.py), figures."""

from __future__ import annotations

import hashlib
import io
import json
import re
import zipfile
from dataclasses import dataclass, field
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from collector.evidence.billing import FILE as BILLING_FILE
from collector.evidence.billing import check_billing
from collector.evidence.bundle import FORMAT, GENESIS, LEGACY_FORMATS, canonical, report_for
from collector.evidence.recompute import check_verdicts, judging_from_json, minimised
from collector.evidence.signatures import CA_FILE, KEYS_DIR, check_signatures
from collector.reports.figures import JudgedProbe, Thresholds

CANNOT_DETECT = (
    "cannot detect: an arrival the collector never put in the bundle (a dropped arrival "
    "turns delivered into lost): the agents signed each record, not the list of what they "
    "received, so the absence of a record proves nothing (docs/evidence.md)"
)


@dataclass
class VerifyResult:
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    record_count: int = 0
    verdicts_recomputed: bool = False
    not_rejudged: int = 0  # records whose facts retention masked (evidence/recompute.py)

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


_HEX64 = re.compile(r"^[0-9a-f]{64}$")
# Not covered by the manifest's digests because they are the manifest and its signature.
_SELF = {"manifest.json", "manifest.sig"}


class MalformedBundleError(ValueError):
    """The bundle's structure is not what this format says: one line, verification stops."""


def _obj(value: object, what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise MalformedBundleError(f"{what} is {type(value).__name__}, expected a JSON object")
    return value


def _hex64(value: object, what: str) -> str:
    if not isinstance(value, str) or not _HEX64.match(value):
        raise MalformedBundleError(
            f"{what} is {value!r}, expected 64 lowercase hex digits (SHA-256)"
        )
    return value


def verify_bundle(
    data: bytes,
    public_key_pem: bytes | None = None,
    *,
    agents_ca: bytes | None = None,
    trust_bundle_key: bool = False,
    allow_unsigned: bool = False,
    allow_legacy: bool = False,
) -> VerifyResult:
    """Verify a bundle; a malformed one gives exactly one problem naming what is wrong.
    `allow_legacy`: accept a bundle without judging settings (made before verdicts were
    re-judged), its verdicts then taken as the collector states them."""
    result = VerifyResult()
    try:
        _verify(
            data, public_key_pem, agents_ca, trust_bundle_key, allow_unsigned, allow_legacy,
            result,
        )  # fmt: skip
    except MalformedBundleError as exc:
        result.problems.append(f"malformed bundle: {exc}")
    except (ValueError, TypeError, KeyError, AttributeError, zipfile.BadZipFile) as exc:
        # A shape no check above foresaw: still one line, never a traceback.
        result.problems.append(f"malformed bundle: {type(exc).__name__}: {exc}")
    return result


def _verify(
    data: bytes,
    public_key_pem: bytes | None,
    agents_ca: bytes | None,
    trust_bundle_key: bool,
    allow_unsigned: bool,
    allow_legacy: bool,
    result: VerifyResult,
) -> None:
    try:
        zf = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile as exc:
        result.problems.append(f"not a zip file: {exc}")
        return
    names = set(zf.namelist())
    missing = {"records.jsonl", "report.json", "manifest.json", "manifest.sig"} - names
    if missing:
        result.problems.append(f"missing files: {sorted(missing)}")
        return
    manifest_bytes = zf.read("manifest.json")
    records_bytes = zf.read("records.jsonl")
    report_bytes = zf.read("report.json")

    # 1. signature
    if public_key_pem is None:
        if "signing.pub" not in names:
            result.problems.append("no public key given and none in the bundle")
            return
        if not trust_bundle_key:
            # Whoever made the bundle chose that key: it proves nothing about who signed.
            result.problems.append(
                "no --public-key given: the bundle's own signing.pub proves nothing; pass the "
                "collector's key obtained out of band, or --trust-bundle-key to accept it"
            )
        else:
            result.notes.append(
                "verified against the key inside the bundle (--trust-bundle-key): obtain the "
                "collector's key out of band and pass --public-key to make the signature "
                "mean something"
            )
        public_key_pem = zf.read("signing.pub")
    try:
        key = _load_key(public_key_pem)
        key.verify(bytes.fromhex(zf.read("manifest.sig").decode().strip()), manifest_bytes)
    except InvalidSignature:
        result.problems.append("manifest.json: signature does not verify with this key")
    except (ValueError, UnicodeDecodeError) as exc:
        result.problems.append(f"signature/key unreadable: {exc}")

    try:
        manifest = _obj(json.loads(manifest_bytes), "manifest.json")
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise MalformedBundleError(f"manifest.json is not JSON: {exc}") from None
    legacy = manifest.get("format") in LEGACY_FORMATS
    if manifest.get("format") != FORMAT and not legacy:
        result.problems.append(f"unknown format {manifest.get('format')!r}, expected {FORMAT}")

    # 2. file digests: every file but the manifest and its signature is covered
    for name, content in (("records", records_bytes), ("report", report_bytes)):
        digest = _hex64(manifest.get(f"{name}_sha256"), f"manifest {name}_sha256")
        if hashlib.sha256(content).hexdigest() != digest:
            result.problems.append(f"{name} file: SHA-256 differs from the signed manifest")
    files = _obj(manifest.get("files_sha256", {}), "manifest files_sha256")
    for name, listed in sorted(files.items()):
        digest = _hex64(listed, f"manifest files_sha256[{name!r}]")
        if name not in names:
            result.problems.append(f"{name}: listed in the signed manifest but missing")
        elif hashlib.sha256(zf.read(name)).hexdigest() != digest:
            result.problems.append(f"{name}: SHA-256 differs from the signed manifest")
    covered = _SELF | {"records.jsonl", "report.json"} | set(files)
    for name in sorted(names - covered):
        result.problems.append(f"{name}: in the bundle but not covered by the signed manifest")

    # 3. the chain: no record changed, dropped, added or reordered; no tail cut off
    prev = GENESIS
    judged: list[JudgedProbe] = []
    records: list[dict[str, Any]] = []
    for lineno, raw in enumerate(records_bytes.splitlines(), start=1):
        try:
            line = _obj(json.loads(raw), f"records.jsonl line {lineno}")
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise MalformedBundleError(f"records.jsonl line {lineno} is not JSON: {exc}") from None
        record = _obj(line.get("record"), f"records.jsonl line {lineno} 'record'")
        if line.get("seq") != lineno:
            result.problems.append(
                f"records.jsonl line {lineno}: seq {line.get('seq')} out of order"
            )
        if line.get("prev") != prev.hex():
            result.problems.append(
                f"record {lineno}: prev hash does not link to record {lineno - 1}"
            )
        stated = _hex64(line.get("hash"), f"records.jsonl line {lineno} hash")
        link = hashlib.sha256(prev + canonical(record)).digest()
        if stated != link.hex():
            probe = record.get("probe_id", "?")
            result.problems.append(
                f"record {lineno} (probe {probe}): content does not match its hash"
            )
        prev = bytes.fromhex(stated)
        _shape(record, lineno)
        records.append(record)
        try:
            judged.append(JudgedProbe.from_dict(_obj(record.get("judged"), "judged")))
        except (MalformedBundleError, KeyError, TypeError) as exc:
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

    # 4. the agents' signatures on the records they persisted, and the facts shown
    if agents_ca is None and CA_FILE in names:
        agents_ca = zf.read(CA_FILE)
        result.notes.append(
            "agent certificates checked against the CA inside the bundle: obtain the agents' "
            "CA out of band and pass --agents-ca to make that check mean something"
        )
    try:
        keys = {n: zf.read(n) for n in names if n.startswith(KEYS_DIR)}
        signatures = check_signatures(records, keys, agents_ca, allow_unsigned=allow_unsigned)
        result.problems.extend(signatures.problems)
        result.notes.append(signatures.summary())
    except ValueError as exc:
        result.problems.append(f"agent certificates unreadable: {exc}")
    result.notes.append(CANNOT_DETECT)

    # 5. every verdict re-judged from the facts its record quotes, with the judge's code
    if "judging" in manifest:
        try:
            judging = judging_from_json(_obj(manifest["judging"], "manifest judging"))
        except ValueError as exc:
            raise MalformedBundleError(f"manifest {exc}") from None
        result.problems.extend(check_verdicts(records, judging))
        result.verdicts_recomputed = True
        result.not_rejudged = sum(1 for r in records if minimised(r))
        if result.not_rejudged:
            result.notes.append(
                f"{result.not_rejudged} verdicts NOT re-judged: retention masked the texts or "
                'numbers of their facts (each record\'s "retention" says what and when); '
                "their verdicts are the collector's word, checked only against their "
                "judged objects and the figures. A bundle exported before retention still "
                "proves them (its arrivals' record SHA-256 match these records')"
            )
    elif allow_legacy:
        result.notes.append(
            f"verdicts NOT re-judged: this bundle ({manifest.get('format')}) carries no judging "
            "settings, so each verdict is taken as the collector states it (--allow-legacy)"
        )
    else:
        result.problems.append(
            f"the signed manifest has no judging settings ({manifest.get('format')}, made "
            "before verify re-judged verdicts): no verdict can be checked against its facts; "
            "pass --allow-legacy to accept the verdicts as the collector states them"
        )

    # 6. recompute every figure
    try:
        thresholds = Thresholds(**_obj(manifest.get("thresholds", {}), "manifest thresholds"))
        expected = report_for(judged, thresholds, manifest.get("prices", {}))
        actual = json.loads(report_bytes)
        expected = json.loads(json.dumps(expected))  # tuples → lists, as stored
        mismatches: list[str] = []
        _diff("report", expected, actual, mismatches)
        result.problems.extend(mismatches)
    except (TypeError, ValueError) as exc:
        result.problems.append(f"report.json could not be recomputed: {exc}")

    # 7. the billing statement (billing.json: each model's charge, the probes behind the
    # over-charge) follows from the records with the terms it states
    if BILLING_FILE in names:
        vendor = str(manifest.get("vendor", ""))
        result.problems.extend(check_billing(zf.read(BILLING_FILE), vendor, judged))


def _shape(record: dict[str, Any], lineno: int) -> None:
    """The containers the checks below walk: a list where a list is documented, objects in
    it, so a forged shape is a one-line reason rather than an exception deep inside."""
    where = f"record {lineno}"
    receiver = _obj(record.get("receiver", {}), f"{where} receiver")
    for name, items in (
        ("arrivals", record.get("arrivals", [])),
        ("dlrs", record.get("dlrs", [])),
        *((f"receiver.{k}", receiver.get(k, [])) for k in ("health", "sequence_gaps", "canaries")),
    ):
        if not isinstance(items, list):
            raise MalformedBundleError(f"{where} {name} is {type(items).__name__}, expected a list")
        for i, item in enumerate(items):
            _obj(item, f"{where} {name}[{i}]")
