"""The DLR webhook server: limits, malformed bodies, signatures, persist-before-ack."""

from __future__ import annotations

import asyncio
import json
import time

import aiohttp
import structlog

from collector.vendors.base import DlrStatus, RawDlr
from collector.vendors.http import HttpVendor, hmac_sha256_hex
from collector.vendors.webhooks import DlrWebhookServer
from tests.vendors.helpers import PUSH_SECRET, ListDlrSink, http_vendor_config, run

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
        assert events.count("dlr_push_signature_rejected") == 3
        return statuses

    assert run(scenario()) == [401, 401, 401]


def test_malformed_bodies_are_400_and_nothing_of_the_batch_is_stored() -> None:
    bodies = [
        b"{not json",
        json.dumps({"unexpected": "object"}).encode(),
        json.dumps([*REPORT, {"status": "DELIVRD"}]).encode(),  # second item has no msgid
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
    from tests.vendors.helpers import http_vendor_table

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
