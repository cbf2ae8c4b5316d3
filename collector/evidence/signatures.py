"""The agents' own signatures in an evidence bundle (agent/wire/signing.py).

Each arrival and health sample in a bundle carries `record_b64`: the record exactly as the
agent persisted and signed it. The bundle adds the certificate of every key that signed one
(`agent_keys/<key hex>.pem`) and, for convenience, the agents' CA (`agents_ca.pem`). The
verifier checks every signature, that the facts shown in the record JSON are the ones the
agent signed (uuid, raw PDUs, health verdict), and that each agent certificate was issued
by the agents' CA — one obtained out of band when given (`--agents-ca`).
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature

from agent.wire.records import ModemHealth, ReceivedSms, Record
from agent.wire.signing import PublicKey, key_id, split_signed, verify_signature
from collector.evidence.records import arrival_json, health_json
from collector.ledger.model import StoredHealth, StoredSms
from collector.quarantine import record_from_bytes

KEYS_DIR = "agent_keys/"
CA_FILE = "agents_ca.pem"


def key_file(signer: str) -> str:
    return f"{KEYS_DIR}{signer.removeprefix('sha256:')}.pem"


def signed_items(record: Mapping[str, Any]) -> Iterator[tuple[str, Mapping[str, Any]]]:
    """("arrival" | "health", item) for every agent record an evidence record quotes."""
    for arrival in record.get("arrivals") or ():
        yield "arrival", arrival
    for sample in (record.get("receiver") or {}).get("health") or ():
        yield "health", sample


def signers_of(records: Iterable[Mapping[str, Any]]) -> set[str]:
    return raw_signers(
        base64.b64decode(item["record_b64"])
        for record in records
        for _, item in signed_items(record)
        if item.get("record_b64")
    )


def raw_signers(raws: Iterable[bytes]) -> set[str]:
    """The keys that signed these records as received (the quoted `record_b64`s' bytes)."""
    out: set[str] = set()
    for raw in raws:
        if not raw:
            continue
        try:
            _, signature, signer = split_signed(raw)
        except ValueError:
            continue  # verify names it; the export still goes out
        if signature:
            out.add(signer)
    return out


def key_files(keys: Mapping[str, tuple[str, bytes]], ca_pem: bytes | None) -> dict[str, bytes]:
    """Bundle files for the signers' certificates (key id -> (agent, PEM)) and the CA."""
    files = {key_file(signer): pem for signer, (_, pem) in keys.items()}
    if ca_pem:
        files[CA_FILE] = ca_pem
    return files


@dataclass
class SignatureCheck:
    problems: list[str] = field(default_factory=list)
    signed: int = 0
    unsigned: int = 0
    not_quoted: int = 0  # items without record_b64 (ledger rows without raw bytes)
    purged: dict[str, int] = field(default_factory=dict)  # purge date -> facts

    def summary(self) -> str:
        text = (
            f"agent records: {self.signed} signed by the agent and verified, "
            f"{self.unsigned} unsigned, {self.not_quoted} without the raw record"
        )
        if self.purged:
            dates = ", ".join(f"{n} on {day}" for day, n in sorted(self.purged.items()))
            text += (
                f", {sum(self.purged.values())} purged by retention ({dates}): shown with "
                "the hash of the signed record only, their facts not checked against a "
                "signature (the collector's word)"
            )
        return text


# Shown beside an agent record but not part of it: the collector's own bookkeeping.
_COLLECTOR_SIDE = {
    "arrival": ("record_b64", "agent_id", "msisdn", "ingested_at_ns"),
    "health": ("record_b64",),
}


# Facts shown since smsprobe-evidence/2 (for re-judging), absent from older bundles.
_ADDED_LATER = {"arrival": ("concat_ref",), "health": ()}


def _first_difference(path: str, shown: Any, signed: Any) -> str | None:
    if isinstance(shown, Mapping) and isinstance(signed, Mapping):
        for key in sorted(set(shown) | set(signed)):
            found = _first_difference(
                f"{path}.{key}" if path else key, shown.get(key), signed.get(key)
            )
            if found:
                return found
        return None
    if isinstance(shown, list) and isinstance(signed, list):
        if len(shown) != len(signed):
            return f"{path}: {len(shown)} shown, {len(signed)} signed"
        for i, (a, b) in enumerate(zip(shown, signed, strict=True)):
            found = _first_difference(f"{path}[{i}]", a, b)
            if found:
                return found
        return None
    if shown != signed:
        return f"{path} is {shown!r} but the signed record says {signed!r}"
    return None


def _facts_differ(kind: str, item: Mapping[str, Any], signed: bytes) -> str | None:
    """What the JSON shows that the signed record does not say: the signed record is
    rendered by the exporter's own functions (evidence/records.py) and every field compared,
    the collector-side ones (who uploaded it, when it was ingested) taken as shown."""

    rec = record_from_bytes(signed)
    if not isinstance(rec, Record):
        return f"the signed record cannot be read ({rec.detail})"
    rendered: dict[str, Any]
    if kind == "arrival":
        if not isinstance(rec.body, ReceivedSms):
            return "the signed record is not a received SMS"
        rendered = arrival_json(
            StoredSms(
                agent_id=str(item.get("agent_id")),
                uuid=rec.uuid,
                seq=rec.seq,
                persisted_at_ns=rec.persisted_at_ns,
                clock=rec.clock,
                modem_imei=rec.modem_imei,
                iccid=rec.iccid,
                msisdn=str(item.get("msisdn")),
                sms=rec.body,
                ingested_at_ns=item.get("ingested_at_ns"),  # type: ignore[arg-type]
            ),
            {},
        )
    else:
        if not isinstance(rec.body, ModemHealth):
            return "the signed record is not a health sample"
        rendered = health_json(
            StoredHealth(
                agent_id="", uuid=rec.uuid, modem_imei=rec.modem_imei, clock=rec.clock,
                health=rec.body,
            ),
            {},
        )  # fmt: skip
    side = _COLLECTOR_SIDE[kind]
    if kind == "arrival":
        rendered.update({k: item.get(k) for k in side})
    rendered["record_b64"] = item.get("record_b64")
    for key in _ADDED_LATER[kind]:
        if key not in item:  # a bundle made before the field was shown
            rendered.pop(key, None)
    # JSON has no tuples; the bundle went through JSON.
    return _first_difference("", dict(item), json.loads(json.dumps(rendered)))


def check_signatures(
    records: Iterable[Mapping[str, Any]],
    files: Mapping[str, bytes],
    agents_ca: bytes | None,
    *,
    allow_unsigned: bool = False,
) -> SignatureCheck:
    """Every quoted agent record: signature, facts, certificate chain (see module doc).
    A fact without a signed record is a problem unless `allow_unsigned`: the collector's
    key alone could have written it."""
    out = SignatureCheck()
    ca = x509.load_pem_x509_certificate(agents_ca) if agents_ca else None
    keys: dict[str, PublicKey | str] = {}  # signer -> key, or why it is unusable

    def key_for(signer: str) -> PublicKey | str:
        if signer not in keys:
            pem = files.get(key_file(signer))
            if pem is None:
                keys[signer] = f"its certificate ({key_file(signer)}) is not in the bundle"
                return keys[signer]
            cert = x509.load_pem_x509_certificate(pem)
            public: Any = cert.public_key()
            if key_id(public) != signer:
                keys[signer] = f"{key_file(signer)} holds another key"
            elif ca is not None and not _issued_by(cert, ca):
                keys[signer] = f"{key_file(signer)} was not issued by the agents' CA"
            else:
                keys[signer] = public
        return keys[signer]

    for lineno, record in enumerate(records, start=1):
        for kind, item in signed_items(record):
            where = f"record {lineno} (probe {record.get('probe_id', '?')}) {kind} " + str(
                item.get("record_uuid", "?")
            )
            b64 = item.get("record_b64")
            purged = purged_on(item)
            if not b64 and purged:
                out.purged[purged] = out.purged.get(purged, 0) + 1
                continue
            if not b64:
                out.not_quoted += 1
                if not allow_unsigned:
                    out.problems.append(f"{where}: no signed record (record_b64) behind it")
                continue
            if not isinstance(b64, str):
                out.problems.append(f"{where}: record_b64 is not a string")
                continue
            try:
                signed, signature, signer = split_signed(base64.b64decode(b64, validate=True))
                differs = _facts_differ(kind, item, signed)
            except ValueError as exc:
                out.problems.append(f"{where}: record_b64 unreadable ({exc})")
                continue
            if differs:
                out.problems.append(f"{where}: {differs}")
            if not signature:
                out.unsigned += 1
                if not allow_unsigned:
                    out.problems.append(f"{where}: the quoted record carries no agent signature")
                continue
            key = key_for(signer)
            if isinstance(key, str):
                error: str | None = key
            else:
                error = verify_signature(signed, signature, signer, key)
            if error:
                out.problems.append(f"{where}: agent signature: {error}")
            else:
                out.signed += 1
    return out


def purged_on(item: Mapping[str, Any]) -> str | None:
    """The day retention purged a fact's signed record (its `retention` object names a raw
    purge and keeps the record's SHA-256), else None. Anything less is not a purge."""
    retention = item.get("retention")
    if not isinstance(retention, Mapping):
        return None
    done, digest, at = (
        retention.get("minimised"),
        retention.get("record_sha256"),
        retention.get("at"),
    )
    if not isinstance(done, list) or "raw:purge" not in done or not isinstance(at, str):
        return None
    if not isinstance(digest, str) or len(digest) != 64:
        return None
    return at[:10]


def _issued_by(cert: x509.Certificate, ca: x509.Certificate) -> bool:
    try:
        cert.verify_directly_issued_by(ca)
    except (ValueError, TypeError, InvalidSignature):  # wrong issuer, key type, signature
        return False
    return True
