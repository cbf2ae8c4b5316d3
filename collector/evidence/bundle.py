"""Evidence bundles: every probe behind a report, hash-chained and signed.

A bundle is a zip file:

    records.jsonl   one line per probe: {"seq", "prev", "hash", "record"}; hash =
                    SHA-256(prev hash bytes || canonical JSON of record); the first prev is
                    32 zero bytes
    report.json     the figures (collector.reports.figures.aggregate) for the same probes
    manifest.json   period, vendor, counts, chain head, SHA-256 of records.jsonl and
                    report.json, software version, thresholds and prices, and the
                    judging settings (policy, health silence, canary deadline and
                    look-back) with which verify re-judges every probe
    manifest.sig    Ed25519 signature of manifest.json's bytes by the collector's key
    signing.pub     the collector's public key (PEM), for convenience only: verify against a
                    key obtained out of band (verify refuses it without --trust-bundle-key)
    README.txt      how to verify
                    (every file but manifest.json and manifest.sig has its SHA-256 in the
                    manifest's files_sha256)
    agent_keys/     certificates of the agent keys that signed the quoted records, and
    agents_ca.pem   the CA that issued them (evidence/signatures.py)

Each record's "judged" object holds exactly the fields of `JudgedProbe`, so `verify`
recomputes every figure from the records alone; and each verdict is re-judged from the
facts the record quotes (evidence/recompute.py).
"""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass
from typing import IO, Any, BinaryIO, NamedTuple

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from collector.evidence.kept import KeptProbes
from collector.evidence.pages import counted
from collector.evidence.recompute import judging_json
from collector.judging import JudgingConfig
from collector.reports.build import BREAKDOWNS
from collector.reports.figures import Cell, JudgedProbe, Thresholds, aggregate

FORMAT = "smsprobe-evidence/2"
# Made before verdicts were re-judged by verify: no judging settings in the manifest.
LEGACY_FORMATS = ("smsprobe-evidence/1",)
GENESIS = bytes(32)
GROUP_BY = ("vendor", "carrier", "region", "profile", "band")
# records.jsonl is compressed in blocks of about this size (one deflate call each, not
# one a record), on a thread of its own (_BlockWriter), at level 3: still ZIP_DEFLATED,
# read by any unzip; 2.7 times as fast as the default 6 for 16 % more bytes (docs/scale.md).
BLOCK = 1 << 20
COMPRESSLEVEL = 3

README = """smsprobe evidence bundle
========================

What is inside: one record per probe sent through the vendor in the period (records.jsonl),
with the submit request and the vendor's response, every raw delivery report, the raw PDUs
as received by the SIM with the SMSC time stamp, the receiving modem's identity (IMEI,
ICCID) and health around the probe's window, the agent's clock offset and its uncertainty,
and the verdict with its reasons. report.json holds the figures computed from them.

How to verify (offline; needs only this file and the collector's public key):

    smsprobe-collector evidence verify BUNDLE.zip --public-key signing.pub

It checks the Ed25519 signature of manifest.json, the hash chain of every record (none
changed, dropped, added or reordered, no tail cut off: the chain head and the count are in
the signed manifest), the SHA-256 of every other file (this README included), and
re-judges every probe from the facts its record quotes with the collector's own rules and
the judging settings in the signed manifest (a verdict that does not follow from its facts
is refused), and recomputes every figure of report.json from the records. It exits 0 only
when all agree and otherwise says exactly what does not. Without --public-key it refuses
the bundle's own copy of the key unless told --trust-bundle-key.

Agent signatures: every arrival and health sample quotes, in record_b64, the record as
the agent persisted it, signed with the key of the agent's certificate (agent_keys/ holds
those certificates, agents_ca.pem the CA that issued them). verify checks each signature,
that every fact shown (times, sender, text, PDUs, health fields) is the signed one, and that
each certificate comes from the agents' CA; pass --agents-ca with the CA obtained out of band
to make that last check mean something. A fact without its signed record is refused unless
--allow-unsigned is given.

What it cannot detect: an arrival left out of the bundle. The agents sign each record, not
the list of what they received, so a dropped arrival (delivered shown as lost) leaves
nothing to check; only the agents' own records can show it. Nor the collector-side inputs
of a verdict that no agent signs: receipts, sequence gaps and canary outcomes are the
collector's word (a receipt's raw bytes are as the vendor sent them).

Without smsprobe: each line of records.jsonl is {"seq", "prev", "hash", "record"} with
hash = SHA-256(bytes.fromhex(prev) + canonical JSON of record), canonical JSON being
json.dumps(record, sort_keys=True, separators=(",", ":"), ensure_ascii=False) in UTF-8;
the first prev is 64 zeros. The figures are defined in collector/reports/figures.py.
"""


def canonical(obj: Any) -> bytes:
    """json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False) in UTF-8.

    Encoded as ASCII first (the C encoder's faster path): the two differ only where the
    ASCII form escapes a character as \\uXXXX, so output without "\\u" is the same text;
    with one (non-ASCII, DEL, or a literal backslash-u) it is encoded the defined way."""
    text = json.dumps(obj, sort_keys=True, separators=(",", ":"))
    if "\\u" in text:
        text = json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return text.encode()


def chain_line(prev: bytes, seq: int, record_json: bytes) -> tuple[bytes, bytes]:
    """canonical(line) of `link` from the record's canonical JSON, which it then embeds
    as is (the line's keys in sorted order: hash, prev, record, seq), and its digest:
    each record is encoded once."""
    digest = hashlib.sha256(prev + record_json).digest()
    head = f'{{"hash":"{digest.hex()}","prev":"{prev.hex()}","record":'.encode()
    return b"".join((head, record_json, b',"seq":%d}' % seq)), digest


def link(prev: bytes, seq: int, record: Mapping[str, Any]) -> tuple[dict[str, Any], bytes]:
    """One line of the hash chain after `prev` (its digest), and its own digest."""
    digest = hashlib.sha256(prev + canonical(record)).digest()
    return {"seq": seq, "prev": prev.hex(), "hash": digest.hex(), "record": record}, digest


def chain(records: Iterable[Mapping[str, Any]]) -> tuple[list[dict[str, Any]], str]:
    """Link records into the hash chain; returns the lines and the chain head (hex)."""
    prev = GENESIS
    lines = []
    for seq, record in enumerate(records, start=1):
        line, prev = link(prev, seq, record)
        lines.append(line)
    return lines, prev.hex()


def report_for(
    judged: Iterable[JudgedProbe],
    thresholds: Thresholds,
    prices: Mapping[str, float],
    tables: Mapping[str, Sequence[Cell]] | None = None,
) -> dict[str, Any]:
    """report.json. `tables`: a report's "full" and "vendor" tables of these probes,
    thresholds and prices (evidence/pages.py says when), taken as the cells instead of
    aggregating them again."""
    if tables is not None and BREAKDOWNS["full"] == GROUP_BY:
        full, by_vendor = tables["full"], tables["vendor"]
    else:
        # kept probes: counted per key (aggregate reads no send time), not one by one
        probes = judged.tallies(None, counted) if isinstance(judged, KeptProbes) else list(judged)
        full = aggregate(probes, group_by=GROUP_BY, thresholds=thresholds, price_per_part=prices)
        by_vendor = aggregate(
            probes, group_by=("vendor",), thresholds=thresholds, price_per_part=prices
        )
    return {
        "group_by": list(GROUP_BY),
        "cells": [c.to_dict() for c in full],
        "by_vendor": [c.to_dict() for c in by_vendor],
    }


class Encoded(NamedTuple):
    """A record already in canonical JSON (made in a worker process: records.iter_encoded),
    with its "judged" object; write_bundle chains it as it would the record."""

    json: bytes
    judged: Mapping[str, Any]
    probe_id: str
    message_ids: Sequence[str]
    signers: frozenset[str]


@dataclass(frozen=True, slots=True)
class Written:
    """What `write_bundle` wrote: the record count and the judged probes (for the figures
    a caller renders beside the bundle)."""

    records: int
    judged: KeptProbes


Extras = Mapping[str, bytes] | Callable[[Sequence[JudgedProbe]], Mapping[str, bytes]]
# (judged, thresholds, flat prices) -> report_for's `tables`, or None (evidence/pages.py)
Tables = Callable[
    [Sequence[JudgedProbe], Thresholds, Mapping[str, float]], Mapping[str, Sequence[Cell]] | None
]


def build_bundle(
    records: Iterable[Mapping[str, Any]],
    *,
    signing_key: Ed25519PrivateKey,
    vendor: str,
    since: str,
    until: str,
    software_version: str,
    created_at: str,
    thresholds: Thresholds | None = None,
    prices: Mapping[str, float] | None = None,
    extra_files: Extras | None = None,
    judging: Mapping[str, Any] | None = None,
) -> bytes:
    """The bundle as zip bytes (`write_bundle` into memory)."""
    out = io.BytesIO()
    write_bundle(
        out, records, signing_key=signing_key, vendor=vendor, since=since, until=until,
        software_version=software_version, created_at=created_at, thresholds=thresholds,
        prices=prices, extra_files=extra_files, judging=judging,
    )  # fmt: skip
    return out.getvalue()


def write_bundle(
    out: BinaryIO,
    records: Iterable[Mapping[str, Any] | Encoded],
    *,
    signing_key: Ed25519PrivateKey,
    vendor: str,
    since: str,
    until: str,
    software_version: str,
    created_at: str,
    thresholds: Thresholds | None = None,
    prices: Mapping[str, float] | None = None,
    extra_files: Extras | None = None,
    judging: Mapping[str, Any] | None = None,
    report_tables: Tables | None = None,
) -> Written:
    """Write the bundle to `out` as the records come: each is chained, hashed and
    compressed into records.jsonl and dropped, so memory holds the judged probes (the
    figures need them all: kept.KeptProbes, ~100 bytes each), never the records. Each
    record must carry a "judged" object (JudgedProbe); a record may come encoded already
    (Encoded). `extra_files`, or a function of the judged probes called after the last
    record. `judging`: the judge's settings (recompute.judging_json); None:
    JudgingConfig()'s. `report_tables`: report.json's cells from a report built for the
    pages, where they are the same (evidence/pages.py)."""
    judged = KeptProbes()
    records_sha = hashlib.sha256()
    prev = GENESIS
    seq = 0
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED, compresslevel=COMPRESSLEVEL) as zf:
        with (
            zf.open("records.jsonl", "w", force_zip64=True) as sink,
            _BlockWriter(sink, records_sha) as writer,
        ):
            block: list[bytes] = []
            size = 0
            for seq, record in enumerate(records, start=1):
                if isinstance(record, Encoded):
                    judged.append_json(record.judged)
                    data, prev = chain_line(prev, seq, record.json)
                else:
                    judged.append_json(record["judged"])
                    data, prev = chain_line(prev, seq, canonical(record))
                block += (data, b"\n")
                size += len(data) + 1
                if size >= BLOCK:
                    writer.put(b"".join(block))
                    block.clear()
                    size = 0
            writer.put(b"".join(block))
        thresholds = thresholds or Thresholds()
        tables = report_tables(judged, thresholds, prices or {}) if report_tables else None
        report = report_for(judged, thresholds, prices or {}, tables)
        report_bytes = json.dumps(report, indent=1, sort_keys=True, ensure_ascii=False).encode()
        extras = extra_files(judged) if callable(extra_files) else (extra_files or {})
        manifest = {
            "format": FORMAT,
            "vendor": vendor,
            "since": since,
            "until": until,
            "created_at": created_at,
            "software_version": software_version,
            "record_count": seq,
            "chain_head": prev.hex(),
            "records_sha256": records_sha.hexdigest(),
            "report_sha256": hashlib.sha256(report_bytes).hexdigest(),
            "thresholds": asdict(thresholds),
            "prices": dict(prices or {}),
            "judging": dict(judging) if judging is not None else judging_json(JudgingConfig()),
        }
        public_pem = signing_key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        # Every file but the manifest and its signature is covered by the signed manifest,
        # the README and the convenience key included (nothing in the zip goes unchecked).
        files = {**extras, "README.txt": README.encode(), "signing.pub": public_pem}
        manifest["files_sha256"] = {
            name: hashlib.sha256(data).hexdigest() for name, data in sorted(files.items())
        }
        manifest_bytes = json.dumps(manifest, indent=1, sort_keys=True, ensure_ascii=False).encode()
        zf.writestr("report.json", report_bytes)
        zf.writestr("manifest.json", manifest_bytes)
        zf.writestr("manifest.sig", signing_key.sign(manifest_bytes).hex() + "\n")
        for name, data in files.items():
            zf.writestr(name, data)
    return Written(seq, judged)


class _BlockWriter:
    """Hashes and writes (compresses) records.jsonl's blocks on one thread, in order:
    hashlib and zlib release the GIL, so a block is compressed while the next one's
    records are made. At most one block waits; a failed write is raised by the next put
    or on leaving."""

    def __init__(self, sink: IO[bytes], digest: Any) -> None:
        self._sink, self._digest = sink, digest
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="evidence-zip")
        self._pending: Future[None] | None = None

    def _write(self, data: bytes) -> None:
        self._digest.update(data)
        self._sink.write(data)

    def put(self, data: bytes) -> None:
        self._wait()
        self._pending = self._pool.submit(self._write, data)

    def _wait(self) -> None:
        if self._pending is not None:
            pending, self._pending = self._pending, None
            pending.result()

    def __enter__(self) -> _BlockWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            self._wait()
        finally:
            self._pool.shutdown(wait=True)
