"""The DLR webhook server: limits, malformed bodies, signatures, persist-before-ack."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import aiohttp
import pytest
import structlog

from collector.vendors.base import DlrStatus, RawDlr
from collector.vendors.http import HttpVendor, hmac_sha256_hex
from collector.vendors.webhooks import DlrWebhookServer
from tests.collector.vendors.helpers import PUSH_SECRET, ListDlrSink, http_vendor_config, run

REPORT = [{"msgid": "1001", "status": "DELIVRD", "err": "000", "mobile": "13800138000",
           "reportTime": "261124100003"}]  # fmt: skip


def signed_headers(
    body: bytes, secret: str = PUSH_SECRET, ts: float | None = None
) -> dict[str, str]:
    stamp = str(int(ts if ts is not None else time.time()))
    return {
        "Content-Type": "application/json",
        "X-Timestamp": stamp,
        "X-Signature": hmac_sha256_hex(secret, stamp, body),
    }


class GatedSink(ListDlrSink):
    """Holds every store until released, to prove the answer waits for durability."""

    def __init__(self) -> None:
        super().__init__()
        self.release = asyncio.Event()
        self.entered = asyncio.Event()

    async def store(self, dlr: RawDlr) -> None:
        self.entered.set()
        await self.release.wait()
        await super().store(dlr)


class BrokenSink:
    async def store(self, dlr: RawDlr) -> None:
        raise OSError("disk full")


async def post(url: str, body: bytes, headers: dict[str, str]) -> tuple[int, str]:
    async with (
        aiohttp.ClientSession() as session,
        session.post(url, data=body, headers=headers) as r,
    ):
        return r.status, await r.text()


def server_for(sink: object, *, max_body_bytes: int = 4096) -> tuple[DlrWebhookServer, HttpVendor]:
    vendor = HttpVendor(http_vendor_config("v1", "http://127.0.0.1:1", push=True))
    return DlrWebhookServer([vendor], sink, max_body_bytes=max_body_bytes), vendor  # type: ignore[arg-type]


def test_valid_push_is_stored_with_parsed_fields_and_acked() -> None:
    async def scenario() -> None:
        sink = ListDlrSink()
        hook, _ = server_for(sink)
        await hook.start()
        try:
            body = json.dumps(REPORT).encode()
            status, text = await post(hook.url_for("v1"), body, signed_headers(body))
        finally:
            await hook.close()
        assert (status, text) == (200, "OK")
        dlr = sink.dlrs[0]
        assert dlr.message_id == "1001" and dlr.status is DlrStatus.DELIVRD and dlr.err == "000"
        # 2026-11-24 10:00:03 at UTC+8 is 02:00:03 UTC.
        assert dlr.done_at_ns == 1795485603 * 1_000_000_000
        # The raw evidence re-verifies offline: signature headers, blank line, signed body.
        head, _, signed_body = dlr.raw.partition(b"\r\n\r\n")
        fields = dict(line.split(": ", 1) for line in head.decode().split("\r\n"))
        assert signed_body == body
        expected = hmac_sha256_hex(PUSH_SECRET, fields["X-Timestamp"], signed_body)
        assert fields["X-Signature"] == expected

    run(scenario())


def test_bad_signature_stale_timestamp_and_missing_header_are_401_and_logged() -> None:
    async def scenario() -> list[int]:
        sink = ListDlrSink()
        hook, _ = server_for(sink)
        await hook.start()
        body = json.dumps(REPORT).encode()
        try:
            with structlog.testing.capture_logs() as logs:
                statuses = [
                    (await post(hook.url_for("v1"), body, signed_headers(body, "wrong")))[0],
                    (
                        await post(
                            hook.url_for("v1"), body, signed_headers(body, ts=time.time() - 3600)
                        )
                    )[0],
                    (await post(hook.url_for("v1"), body, {"Content-Type": "application/json"}))[0],
                ]
        finally:
            await hook.close()
        assert sink.dlrs == []
        events = [e["event"] for e in logs]
        assert events.count("dlr_push_unauthenticated") == 3
        return statuses

    assert run(scenario()) == [401, 401, 401]


def test_malformed_bodies_are_400_nothing_stored_and_the_raw_body_quarantined() -> None:
    bodies = [
        b"{not json",
        json.dumps("a string, not a report").encode(),
        json.dumps([*REPORT, "not an item"]).encode(),
        b"\xff\xfe",
    ]

    async def scenario() -> list[int]:
        sink = ListDlrSink()
        hook, _ = server_for(sink)
        await hook.start()
        try:
            statuses = [(await post(hook.url_for("v1"), b, signed_headers(b)))[0] for b in bodies]
        finally:
            await hook.close()
        assert sink.dlrs == []
        # authenticated, so each body is kept raw (behind its signature headers) with why
        assert [q.raw.partition(b"\r\n\r\n")[2] for q in sink.quarantined] == bodies
        assert all(q.reason.startswith("malformed DLR push") for q in sink.quarantined)
        return statuses

    assert run(scenario()) == [400, 400, 400, 400]


def test_body_size_limit_and_unknown_vendor() -> None:
    async def scenario() -> tuple[int, int]:
        sink = ListDlrSink()
        hook, _ = server_for(sink, max_body_bytes=512)
        await hook.start()
        big = json.dumps(REPORT * 20).encode()
        assert len(big) > 512
        try:
            too_big = (await post(hook.url_for("v1"), big, signed_headers(big)))[0]
            unknown = (await post(hook.url_for("nobody"), b"[]", {}))[0]
        finally:
            await hook.close()
        assert sink.dlrs == []
        return too_big, unknown

    assert run(scenario()) == (413, 404)


def test_answer_waits_until_the_dlr_is_stored() -> None:
    async def scenario() -> None:
        sink = GatedSink()
        hook, _ = server_for(sink)
        await hook.start()
        body = json.dumps(REPORT).encode()
        try:
            request = asyncio.create_task(post(hook.url_for("v1"), body, signed_headers(body)))
            await asyncio.wait_for(sink.entered.wait(), 5)
            assert not request.done()  # still storing: no ack yet
            assert sink.dlrs == []
            sink.release.set()
            assert await request == (200, "OK")
            assert len(sink.dlrs) == 1
        finally:
            await hook.close()

    run(scenario())


def test_sink_failure_answers_500_so_the_vendor_retries() -> None:
    async def scenario() -> int:
        hook, _ = server_for(BrokenSink())
        await hook.start()
        body = json.dumps(REPORT).encode()
        try:
            with structlog.testing.capture_logs() as logs:
                status = (await post(hook.url_for("v1"), body, signed_headers(body)))[0]
        finally:
            await hook.close()
        assert any(e["event"] == "dlr_store_failed" for e in logs)
        return status

    assert run(scenario()) == 500


def test_body_only_signature_with_custom_header_name() -> None:
    """Vendors that sign the body alone (no timestamp) under their own header name."""
    from collector.vendors.config import parse_http_vendor
    from tests.collector.vendors.helpers import http_vendor_table

    table = http_vendor_table("http://127.0.0.1:1", push=True)
    table["dlr_push"]["signature"] = {"secret": "s3", "header": "X-Vendor-Sign",
                                      "timestamp_header": ""}  # fmt: skip
    vendor = HttpVendor(parse_http_vendor("v2", table))
    body = json.dumps(REPORT).encode()
    good = {"X-Vendor-Sign": hmac_sha256_hex("s3", None, body)}
    bad = {"X-Vendor-Sign": hmac_sha256_hex("s3", "1", body)}

    async def scenario() -> tuple[int, int]:
        sink = ListDlrSink()
        hook = DlrWebhookServer([vendor], sink)
        await hook.start()
        try:
            ok = (await post(hook.url_for("v2"), body, good))[0]
            refused = (await post(hook.url_for("v2"), body, bad))[0]
        finally:
            await hook.close()
        assert len(sink.dlrs) == 1
        return ok, refused

    assert run(scenario()) == (200, 401)


# ------------------------------------------------------------------ hostile input


def test_non_finite_timestamps_never_pass_the_freshness_check() -> None:
    """`nan` compares false with every bound and `inf - inf` is nan: each correctly signed
    push with such a stamp is refused and nothing of it is kept."""
    stamps = ["nan", "NaN", "inf", "-inf", "Infinity", "1e999", "-1e999"]
    body = json.dumps(REPORT).encode()

    async def scenario() -> list[int]:
        sink = ListDlrSink()
        hook, _ = server_for(sink)
        await hook.start()
        statuses = []
        try:
            for stamp in stamps:
                headers = {
                    "Content-Type": "application/json",
                    "X-Timestamp": stamp,
                    "X-Signature": hmac_sha256_hex(PUSH_SECRET, stamp, body),
                }
                statuses.append((await post(hook.url_for("v1"), body, headers))[0])
            # the same body with a finite, fresh stamp is taken: the refusals were the stamp
            statuses.append((await post(hook.url_for("v1"), body, signed_headers(body)))[0])
        finally:
            await hook.close()
        assert len(sink.dlrs) == 1 and sink.quarantined == []
        return statuses

    assert run(scenario()) == [401] * len(stamps) + [200]


def test_deeply_nested_json_is_400_not_500() -> None:
    depth = 100_000  # far beyond the interpreter's recursion limit
    bodies = [b"[" * depth + b"]" * depth, b'{"a":' * depth + b"1" + b"}" * depth]

    async def scenario() -> list[tuple[int, str]]:
        sink = ListDlrSink()
        hook, _ = server_for(sink, max_body_bytes=1 << 20)
        await hook.start()
        try:
            with structlog.testing.capture_logs() as logs:
                answers = [await post(hook.url_for("v1"), b, signed_headers(b)) for b in bodies]
        finally:
            await hook.close()
        assert sink.dlrs == []
        assert [q.reason for q in sink.quarantined] == [
            "malformed DLR push: JSON nested too deeply"
        ] * 2
        assert not any(e["log_level"] == "error" for e in logs)
        return answers

    answers = run(scenario())
    assert [a[0] for a in answers] == [400, 400]
    assert all("Traceback" not in a[1] and "nested too deeply" in a[1] for a in answers)


def test_items_of_the_wrong_type_are_quarantined_with_the_reason_and_the_rest_stored() -> None:
    good = REPORT[0]
    bad = [
        ({**good, "msgid": {"$gt": ""}}, "msgid is an object, expected a string"),
        ({**good, "msgid": ["1001"]}, "msgid is an array, expected a string"),
        ({**good, "msgid": True}, "msgid is a boolean, expected a string"),
        ({**good, "msgid": 1.5e21}, "msgid is a number, expected a string"),
        ({**good, "status": 0}, "status is a number, expected a string"),
        ({**good, "status": {"DELIVRD": 1}}, "status is an object, expected a string"),
        ({**good, "err": ["000"]}, "err is an array, expected a string"),
        ({**good, "msgid": "1002", "reportTime": {"t": 1}}, "reportTime is an object"),
    ]
    items = [good, *(item for item, _ in bad), {**good, "msgid": 1003}]
    body = json.dumps(items).encode()

    async def scenario() -> tuple[int, str]:
        sink = ListDlrSink()
        hook, _ = server_for(sink, max_body_bytes=1 << 16)
        await hook.start()
        try:
            answer = await post(hook.url_for("v1"), body, signed_headers(body))
        finally:
            await hook.close()
        # the good items (a string id and an integer id) are stored, every bad one kept
        assert [d.message_id for d in sink.dlrs] == ["1001", "1003"]
        assert len(sink.quarantined) == len(bad)
        for q, (index, (item, why)) in zip(sink.quarantined, enumerate(bad, start=1), strict=True):
            assert q.reason.startswith(f"item {index}: {why}"), q.reason
            assert json.loads(q.raw) == item
            assert q.vendor == "v1" and q.source.value == "push"
        return answer

    # nothing to resend: the vendor is told the push was taken
    assert run(scenario()) == (200, "OK")


def _vendor_with(push: dict[str, object]) -> HttpVendor:
    from collector.vendors.config import parse_http_vendor
    from tests.collector.vendors.helpers import http_vendor_table

    table = http_vendor_table("http://127.0.0.1:1", push=True)
    table["dlr_push"] = {"format": "json", **push}
    return HttpVendor(parse_http_vendor("v3", table))


def test_unsigned_vendor_is_believed_only_from_its_allowlisted_sources() -> None:
    body = json.dumps(REPORT).encode()
    headers = {"Content-Type": "application/json"}

    async def one(vendor: HttpVendor) -> tuple[int, int, int]:
        sink = ListDlrSink()
        hook = DlrWebhookServer([vendor], sink)
        await hook.start()
        try:
            with structlog.testing.capture_logs() as logs:
                status = (await post(hook.url_for("v3"), body, headers))[0]
        finally:
            await hook.close()
        refused = sum(e["event"] == "dlr_push_unauthenticated" for e in logs)
        return status, len(sink.dlrs) + len(sink.quarantined), refused

    loopback = _vendor_with({"allow_from": ["127.0.0.0/8"]})
    elsewhere = _vendor_with({"allow_from": ["203.0.113.0/24", "2001:db8::/32"]})
    # both: the source must be listed and the signature good
    both = _vendor_with({"allow_from": ["127.0.0.1/32"], "signature": {"secret": PUSH_SECRET}})
    assert run(one(loopback)) == (200, 1, 0)
    assert run(one(elsewhere)) == (401, 0, 1)
    assert run(one(both)) == (401, 0, 1)  # listed source, no signature


def test_a_push_that_nobody_authenticates_is_a_config_error() -> None:
    from agent.common.tomlconfig import ConfigError

    with pytest.raises(ConfigError) as info:
        _vendor_with({})
    assert "vendors.v3.dlr_push" in str(info.value)
    assert "allow_from" in str(info.value) and "signature" in str(info.value)
    with pytest.raises(ConfigError) as info:
        _vendor_with({"allow_from": ["the vendor"]})
    assert "vendors.v3.dlr_push.allow_from" in str(info.value)


def test_shipped_examples_and_the_demo_authenticate_every_push() -> None:
    """Every push table the project ships is authenticated; the unsigned cloud examples
    refuse a push from an address nobody listed, the demo takes its simulator's."""
    import tomllib

    from collector.demo.configs import aliyun_vendor_toml, http_vendor_toml
    from collector.vendors.registry import build_vendors

    example = Path(__file__).resolve().parents[3] / "collector/vendors/example_vendors.toml"
    section = tomllib.loads(example.read_text(encoding="utf-8"))["vendors"]
    demo = tomllib.loads(aliyun_vendor_toml("acme", 1) + http_vendor_toml("cheap", 2))["vendors"]
    tables = {**section, **demo}
    pushes = {n: t["dlr_push"] for n, t in tables.items() if "dlr_push" in t}
    assert set(pushes) == {"sim106", "aliyun", "tencent", "acme", "cheap"}
    for name, push in pushes.items():
        assert push.get("signature") or push.get("allow_from"), name
    built = build_vendors({n: tables[n] for n in ("aliyun", "acme")})
    aliyun_report = [{"biz_id": "1", "success": True, "phone_number": "13800138000",
                      "report_time": "2026-11-24 10:00:03", "err_code": "DELIVERED"}]  # fmt: skip
    body = json.dumps(aliyun_report).encode()

    async def scenario() -> dict[str, int]:
        sink = ListDlrSink()
        hook = DlrWebhookServer(built.push_endpoints, sink)
        await hook.start()
        try:
            out = {
                n: (await post(hook.url_for(n), body, {"Content-Type": "application/json"}))[0]
                for n in ("aliyun", "acme")
            }
        finally:
            await hook.close()
        assert [d.vendor for d in sink.dlrs] == ["acme"]
        return out

    assert run(scenario()) == {"aliyun": 401, "acme": 200}


@pytest.fixture(params=["sqlite", "postgresql"])
def ledger_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/ledger.db"
    url: str = request.getfixturevalue("postgres_url")
    return url


def test_quarantined_items_reach_the_ledger_once(ledger_url: str) -> None:
    """The real sink over SQLite and PostgreSQL (migration 0005): the good report becomes a
    DLR, the bad item a quarantine row with its reason; pushed again, each is kept once."""
    from collector.ledger import open_ledger
    from collector.probes.runner import LedgerDlrSink

    ledger = open_ledger(ledger_url)
    body = json.dumps([REPORT[0], {**REPORT[0], "msgid": {"x": 1}}]).encode()

    async def scenario() -> list[int]:
        hook, _ = server_for(LedgerDlrSink(ledger), max_body_bytes=1 << 16)
        await hook.start()
        try:
            return [(await post(hook.url_for("v1"), body, signed_headers(body)))[0] for _ in "ab"]
        finally:
            await hook.close()

    try:
        assert run(scenario()) == [200, 200]
        assert [(d.message_id, d.copies) for d in ledger.all_dlrs()] == [("1001", 2)]
        rows = ledger.dlr_quarantine("v1")
        assert [(r.source, r.reason) for r in rows] == [
            ("push", "item 1: msgid is an object, expected a string")
        ]
        assert json.loads(rows[0].raw)["msgid"] == {"x": 1}
    finally:
        ledger.close()
