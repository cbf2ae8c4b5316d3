"""Evidence bundles verify offline, and every kind of tampering is named."""

from __future__ import annotations

import io
import json
import zipfile
from dataclasses import asdict
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from collector.evidence.bundle import build_bundle
from collector.evidence.recompute import probe_from_record, rejudge, verdict_json
from collector.evidence.verify import verify_bundle
from collector.judging import JudgingConfig
from collector.ledger.probes import StoredVerdict
from collector.reports.judged import judged_probe

KEY = Ed25519PrivateKey.generate()
PUB = KEY.public_key().public_bytes(
    serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
)


NS = 1_000_000_000
T0 = 1_800_000_000 * NS
JUDGING = JudgingConfig()


def record(i: int, outcome: str) -> dict[str, Any]:
    """An evidence record (unsigned facts) whose verdict is the real judge's over them:
    delivered in 3..9 s with a DELIVRD, or lost with a DELIVRD (fake success)."""
    at = T0 + i * 600 * NS
    arrived = outcome == "delivered"
    text = f"【S】code {100000 + i * 7919}"
    arrival_at = at + (3 + i % 7) * NS
    rec: dict[str, Any] = {
        "probe_id": f"p{i}",
        "plan": {
            "vendor": "acme", "msisdn": "+8613800000001", "profile": "notification",
            "token": text[-6:], "body": text[3:], "expected_text": text, "signature": "S",
            "parts": 1, "cost": 0.04, "band": "peak", "carrier": "china_mobile", "mvno": "",
            "region": "east", "site": "sh-1", "planned_at_ns": at,
        },
        "submit": {"status": "accepted", "submitted_at_ns": at, "message_ids": [f"A{i}"]},
        "dlrs": [
            {"message_id": f"A{i}", "status": "DELIVRD", "done_at_ns": 0,
             "received_at_ns": at + 20 * NS, "raw_b64": "aWQ6QTEgc3RhdDpERUxJVlJE"}
        ],
        "arrivals": [
            {"record_uuid": f"u{i}", "msisdn": "+8613800000001", "sender": "10086",
             "text": text, "concat_total": 1, "missing_parts": [],
             "clock": {"offset_ms": 0.0, "uncertainty_ms": 2.0, "measured_at_ns": at},
             "parts": [{"part_seq": 1, "received_at_ns": arrival_at, "scts_ns": at + NS}]}
        ]
        if arrived
        else [],
        "receiver": {
            "agent_id": "agent-1", "modem_imei": "86000000000001",
            "iccid": "89860000000000000001",
            "health": [
                {"at_ns": at + k * 60 * NS, "healthy": True, "reasons": []}
                for k in range(-10, 21)
            ],
        },
    }  # fmt: skip
    now = at + 3600 * NS
    verdict = rejudge(rec, JUDGING, now)
    rec["verdict"] = {**verdict_json(verdict), "revision": 1, "judged_at_ns": now}
    stored = StoredVerdict(verdict, 1, now, 0)
    rec["judged"] = asdict(judged_probe(probe_from_record(rec), stored))
    return rec


def bundle(n: int = 40) -> bytes:
    records = [record(i, "lost" if i % 10 == 3 else "delivered") for i in range(n)]
    return build_bundle(
        records,
        signing_key=KEY,
        vendor="acme",
        since="2026-11-24T00:00:00Z",
        until="2026-11-25T00:00:00Z",
        software_version="0.1.0",
        created_at="2026-11-25T01:00:00Z",
        prices={"acme": 0.04},
    )


def rewrite(data: bytes, name: str, change) -> bytes:  # type: ignore[no-untyped-def]
    src = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as dst:
        for item in src.namelist():
            content = src.read(item)
            dst.writestr(item, change(content) if item == name else content)
    return out.getvalue()


def test_an_untouched_bundle_verifies_and_its_report_is_right() -> None:
    data = bundle()
    result = verify_bundle(data, PUB, allow_unsigned=True)  # synthetic: no agent records
    assert result.ok, result.problems
    assert result.record_count == 40
    report = json.loads(zipfile.ZipFile(io.BytesIO(data)).read("report.json"))
    (acme,) = report["by_vendor"]
    assert acme["arrival_rate"] == pytest.approx(36 / 40)
    assert acme["dlr"]["fake_success"] == 4
    assert acme["overbilled_money"] == pytest.approx(0.16)


def edit_record(n: int, field: str, value: object):  # type: ignore[no-untyped-def]
    def change(content: bytes) -> bytes:
        lines = content.splitlines()
        line = json.loads(lines[n])
        line["record"]["judged"][field] = value
        lines[n] = json.dumps(line).encode()
        return b"\n".join(lines) + b"\n"

    return change


@pytest.mark.parametrize(
    ("name", "change", "expect"),
    [
        (
            "records.jsonl",
            edit_record(3, "outcome", "delivered"),
            "content does not match its hash",
        ),
        ("records.jsonl", lambda c: b"\n".join(c.splitlines()[:-2]) + b"\n", "tail cut off"),
        (
            "records.jsonl",
            lambda c: b"\n".join(c.splitlines()[:5] + c.splitlines()[6:]) + b"\n",
            "does not link",
        ),
        (
            "report.json",
            lambda c: c.replace(b'"arrival_rate": 0.9', b'"arrival_rate": 0.98'),
            "SHA-256",
        ),
        (
            "manifest.json",
            lambda c: c.replace(b'"record_count": 40', b'"record_count": 41'),
            "signature",
        ),
    ],
)
def test_tampering_is_detected_and_named(name: str, change, expect: str) -> None:  # type: ignore[no-untyped-def]
    result = verify_bundle(rewrite(bundle(), name, change), PUB, allow_unsigned=True)
    assert not result.ok
    assert any(expect in p for p in result.problems), result.problems


def test_a_report_with_a_wrong_figure_is_caught_by_recomputation() -> None:
    # Re-sign a manifest over a doctored report: only recomputation can catch it.
    data = bundle()
    zf = zipfile.ZipFile(io.BytesIO(data))
    report = json.loads(zf.read("report.json"))
    report["by_vendor"][0]["arrival_rate"] = 0.99
    import hashlib

    report_bytes = json.dumps(report, indent=1, sort_keys=True).encode()
    manifest = json.loads(zf.read("manifest.json"))
    manifest["report_sha256"] = hashlib.sha256(report_bytes).hexdigest()
    manifest_bytes = json.dumps(manifest, indent=1, sort_keys=True).encode()
    doctored = rewrite(
        rewrite(data, "report.json", lambda _: report_bytes),
        "manifest.json",
        lambda _: manifest_bytes,
    )
    doctored = rewrite(doctored, "manifest.sig", lambda _: KEY.sign(manifest_bytes).hex().encode())
    result = verify_bundle(doctored, PUB, allow_unsigned=True)
    assert result.problems == [
        "report.by_vendor[0].arrival_rate: report says 0.99, records give 0.9"
    ]


def test_wrong_key_fails_and_embedded_key_is_flagged() -> None:
    other = (
        Ed25519PrivateKey.generate()
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    assert any("signature" in p for p in verify_bundle(bundle(), other).problems)
    # The bundle's own key proves nothing about who made it: refused unless trusted.
    refused = verify_bundle(bundle(), allow_unsigned=True)
    assert [p for p in refused.problems if "public-key" in p] == [
        "no --public-key given: the bundle's own signing.pub proves nothing; pass the "
        "collector's key obtained out of band, or --trust-bundle-key to accept it"
    ]
    embedded = verify_bundle(bundle(), trust_bundle_key=True, allow_unsigned=True)
    assert embedded.ok and any("inside the bundle" in n for n in embedded.notes)


def test_garbage_is_a_clear_problem() -> None:
    assert verify_bundle(b"not a zip").problems[0].startswith("not a zip file")
