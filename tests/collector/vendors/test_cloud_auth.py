"""Alibaba Cloud RPC and Tencent Cloud TC3 request signing (collector/vendors/cloud_auth.py)
and the example vendor tables that use them.

The algorithms are pinned by the vendors' own published examples. No Alibaba or Tencent
endpoint runs here, so the wire tests use stand-in servers (named as such) that re-derive
the signature from the request exactly as it arrived over a real socket: host header with
port, form encoding of Chinese and reserved characters, JSON bytes.
"""

from __future__ import annotations

import json
import tomllib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from collector.vendors.base import (
    AuthFailedError,
    ContentProfile,
    DlrStatus,
    OutgoingSms,
    SmsVendor,
)
from collector.vendors.cloud_auth import (
    aliyun_percent,
    aliyun_rpc_params,
    aliyun_rpc_signature,
    tc3_authorization,
    tc3_signature,
)
from collector.vendors.registry import build_vendors
from collector.vendors.webhooks import DlrWebhookServer
from tests.collector.vendors.helpers import MSISDN_CMCC, ListDlrSink, run

EXAMPLE = Path(__file__).resolve().parents[3] / "collector" / "vendors" / "example_vendors.toml"
ALIYUN_ID, ALIYUN_SECRET = "LTAI-your-access-key-id", "your-access-key-secret"
TENCENT_ID, TENCENT_SECRET = "AKID-your-secret-id", "your-secret-key"


def test_aliyun_signature_matches_the_published_example() -> None:
    # Alibaba's signature documentation: DescribeRegions, AccessKeySecret "testsecret".
    params = {
        "TimeStamp": "2016-02-23T12:46:24Z",
        "Format": "XML",
        "AccessKeyId": "testid",
        "Action": "DescribeRegions",
        "SignatureMethod": "HMAC-SHA1",
        "SignatureNonce": "3ee8c1b8-83d3-44af-a94f-4e0ad82fd6cf",
        "Version": "2014-05-26",
        "SignatureVersion": "1.0",
    }
    assert aliyun_rpc_signature("GET", params, "testsecret") == "CT9X0VtwR86fNWSnsc6v8YGOjuE="
    assert aliyun_percent("a b*c~/【探】") == "a%20b%2Ac~%2F%E3%80%90%E6%8E%A2%E3%80%91"


def test_aliyun_common_parameters() -> None:
    signed = aliyun_rpc_params(
        "POST", {"Action": "SendSms"}, key_id="id", secret="s", now_s=1_700_000_000, nonce="n1"
    )
    assert signed["Timestamp"] == "2023-11-14T22:13:20Z"
    assert (signed["AccessKeyId"], signed["SignatureNonce"], signed["Format"]) == (
        "id",
        "n1",
        "JSON",
    )
    unsigned = {k: v for k, v in signed.items() if k != "Signature"}
    assert signed["Signature"] == aliyun_rpc_signature("POST", unsigned, "s")
    assert signed["Signature"] != aliyun_rpc_signature("GET", unsigned, "s")


def test_tc3_signature_matches_the_published_example() -> None:
    # Tencent Cloud API 3.0 signature documentation (cvm DescribeInstances, 2019-02-25).
    payload = (
        b'{"Limit": 1, "Filters": [{"Values": ["\\u672a\\u547d\\u540d"], "Name": "instance-name"}]}'
    )
    signature = tc3_signature(
        "Gu5t9xGARNpq86cd98joQYCN3*******",
        service="cvm",
        host="cvm.tencentcloudapi.com",
        method="POST",
        path="/",
        query="",
        content_type="application/json; charset=utf-8",
        payload=payload,
        timestamp=1551113065,
    )
    assert signature == "2230eefd229f582d8b1b891af7107b91597240707d778ab3738f756258d7652c"
    assert tc3_authorization(
        "AKIDz8krbsJ5yKBZQpn74WFkmLPx3*******", signature, service="cvm", timestamp=1551113065
    ) == (
        "TC3-HMAC-SHA256 Credential=AKIDz8krbsJ5yKBZQpn74WFkmLPx3*******/2019-02-25/cvm/"
        "tc3_request, SignedHeaders=content-type;host, Signature=" + signature
    )


# --------------------------------------------------------------------- over the wire


def _example(name: str, base_url: str, **auth: str) -> dict[str, Any]:
    table: dict[str, Any] = tomllib.loads(EXAMPLE.read_text())["vendors"][name]
    table["base_url"] = base_url
    table["auth"].update(auth)
    # The stand-ins push from loopback: the operator lists the vendor's callback sources.
    table["dlr_push"]["allow_from"] = ["127.0.0.1/32"]
    return table


@asynccontextmanager
async def stand_in(handler: Any) -> AsyncIterator[str]:
    """A stand-in cloud endpoint on a free loopback port (no real one runs here)."""
    app = web.Application()
    app.router.add_route("*", "/", handler)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        yield f"http://127.0.0.1:{runner.addresses[0][1]}"
    finally:
        await runner.cleanup()


@asynccontextmanager
async def good_and_bad(name: str, url: str) -> AsyncIterator[tuple[SmsVendor, SmsVendor]]:
    """The example vendor `name` at `url`, once with the right secret and once not."""
    vendors = [
        build_vendors({name: _example(name, url, **auth)}).vendors[name]
        for auth in ({}, {"secret": "wrong"})
    ]
    for v in vendors:
        await v.start(ListDlrSink())
    try:
        yield vendors[0], vendors[1]
    finally:
        for v in vendors:
            await v.close()


def _probe() -> OutgoingSms:
    return OutgoingSms(
        "p-42", MSISDN_CMCC, "您的验证码123456，5分钟内有效。", signature="探针 科技*",
        params={"token": "123456"}, profile=ContentProfile.VERIFICATION_CODE,
    )  # fmt: skip


def test_aliyun_send_sms_is_signed_as_the_endpoint_verifies_it() -> None:
    seen: list[dict[str, str]] = []

    async def send_sms(request: web.Request) -> web.Response:
        # the signed parameters travel in the query string, as both official SDKs send them
        assert not await request.read()
        params = {k: str(v) for k, v in request.query.items()}
        given = params.pop("Signature", "")
        stamp = datetime.strptime(params["Timestamp"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
        if (
            params.get("AccessKeyId") != ALIYUN_ID
            or given != aliyun_rpc_signature(request.method, params, ALIYUN_SECRET)
            or abs((datetime.now(UTC) - stamp).total_seconds()) > 900
            or any(p["SignatureNonce"] == params["SignatureNonce"] for p in seen)
        ):
            return web.json_response(
                {"Code": "SignatureDoesNotMatch", "Message": "bad"}, status=400
            )
        seen.append(params)
        return web.json_response(
            {"Code": "OK", "Message": "OK", "BizId": f"90061974693649{len(seen)}^0"}
        )

    async def scenario() -> None:
        async with stand_in(send_sms) as url, good_and_bad("aliyun", url) as (good, bad):
            first = await good.submit(_probe())
            second = await good.submit(_probe())
            with pytest.raises(AuthFailedError):
                await bad.submit(_probe())
        assert first.message_ids == ("900619746936491^0",)
        assert second.message_ids == ("900619746936492^0",)
        assert seen[0]["SignatureNonce"] != seen[1]["SignatureNonce"]
        sent = seen[0]
        assert (sent["Action"], sent["PhoneNumbers"], sent["SignName"]) == (
            "SendSms",
            MSISDN_CMCC,
            "探针 科技*",
        )
        assert json.loads(sent["TemplateParam"]) == {"token": "123456"}
        assert sent["OutId"] == "p-42" and sent["TemplateCode"] == "SMS_000000001"
        assert ALIYUN_SECRET.encode() not in first.raw_request
        assert b"Signature=" in first.raw_request

    run(scenario())


def test_tencent_send_sms_is_signed_as_the_endpoint_verifies_it() -> None:
    seen: list[dict[str, Any]] = []

    async def send_sms(request: web.Request) -> web.Response:
        body = await request.read()
        credential, _, signature = request.headers.get("Authorization", "").rpartition("Signature=")
        timestamp = int(request.headers.get("X-TC-Timestamp", "0"))
        expected = tc3_signature(
            TENCENT_SECRET,
            service="sms",
            host=request.headers["Host"],
            method=request.method,
            path=request.path,
            query=request.query_string,
            content_type=request.headers["Content-Type"],
            payload=body,
            timestamp=timestamp,
        )
        if signature != expected or f"Credential={TENCENT_ID}/" not in credential:
            error = {"Code": "AuthFailure.SignatureFailure", "Message": "bad"}
            return web.json_response({"Response": {"Error": error, "RequestId": "r0"}})
        doc = json.loads(body)
        seen.append({"action": request.headers["X-TC-Action"], **doc})
        status = {
            "SerialNo": f"2028:f825e6b16e23f73f412{len(seen)}",
            "PhoneNumber": doc["PhoneNumberSet"][0],
            "Fee": 1,
            "SessionContext": doc["SessionContext"],
            "Code": "Ok",
            "Message": "send success",
            "IsoCode": "CN",
        }
        return web.json_response({"Response": {"SendStatusSet": [status], "RequestId": "r1"}})

    async def scenario() -> None:
        async with stand_in(send_sms) as url, good_and_bad("tencent", url) as (good, bad):
            result = await good.submit(_probe())
            with pytest.raises(AuthFailedError) as err:
                await bad.submit(_probe())
        assert result.message_ids == ("2028:f825e6b16e23f73f4121",) and result.parts == 1
        assert err.value.code == "AuthFailure.SignatureFailure"
        [sent] = seen
        assert sent["action"] == "SendSms"
        assert sent["PhoneNumberSet"] == [MSISDN_CMCC]
        assert sent["TemplateParamSet"] == ["123456"] and sent["TemplateId"] == "1000001"
        assert (sent["SignName"], sent["SessionContext"]) == ("探针 科技*", "p-42")
        assert TENCENT_SECRET.encode() not in result.raw_request

    run(scenario())


@pytest.mark.parametrize(
    ("vendor", "reports", "ack"),
    [
        (
            "aliyun",
            # SmsReport HTTP batch push (docs/vendors.md)
            [
                {"phone_number": MSISDN_CMCC, "send_time": "2026-11-24 10:00:00",
                 "report_time": "2026-11-24 10:00:03", "success": True, "err_code": "DELIVERED",
                 "err_msg": "用户接收成功", "sms_size": "1", "biz_id": "900619746936491^0",
                 "out_id": "p-42"},
                {"phone_number": MSISDN_CMCC, "send_time": "2026-11-24 10:00:00",
                 "report_time": "2026-11-24 10:00:03", "success": False, "err_code": "MK:0001",
                 "err_msg": "", "sms_size": "1", "biz_id": "900619746936492^0",
                 "out_id": "p-43"},
            ],
            {"code": 0, "msg": "接收成功"},
        ),
        (
            "tencent",
            # status callback (docs/vendors.md)
            [
                {"user_receive_time": "2026-11-24 10:00:03", "nationcode": "86",
                 "mobile": MSISDN_CMCC, "report_status": "SUCCESS", "errmsg": "DELIVRD",
                 "description": "用户短信送达成功", "sid": "2028:f825e6b16e23f73f4121"},
                {"user_receive_time": "2026-11-24 10:00:03", "nationcode": "86",
                 "mobile": MSISDN_CMCC, "report_status": "FAIL", "errmsg": "MK:0001",
                 "description": "", "sid": "2028:f825e6b16e23f73f4122"},
            ],
            {"result": 0, "errmsg": "OK"},
        ),
    ],
)  # fmt: skip
def test_example_push_receipts_are_stored_and_acked_as_the_vendor_expects(
    vendor: str, reports: list[dict[str, Any]], ack: dict[str, Any]
) -> None:
    async def scenario() -> None:
        sink = ListDlrSink()
        built = build_vendors({vendor: _example(vendor, "http://127.0.0.1:1")})
        hook = DlrWebhookServer(built.push_endpoints, sink)
        await hook.start()
        try:
            async with (
                aiohttp.ClientSession() as session,
                session.post(
                    hook.url_for(vendor),
                    data=json.dumps(reports, ensure_ascii=False).encode(),
                    headers={"Content-Type": "application/json"},
                ) as r,
            ):
                assert r.status == 200
                assert json.loads(await r.text()) == ack
        finally:
            await hook.close()
        ok, failed = sink.dlrs
        assert ok.status is DlrStatus.DELIVRD and failed.status is DlrStatus.UNDELIV
        assert failed.err == "MK:0001" and ok.msisdn == MSISDN_CMCC
        assert ok.message_id in ("900619746936491^0", "2028:f825e6b16e23f73f4121")
        # 2026-11-24 10:00:03 in UTC+8 is 02:00:03 UTC
        assert ok.done_at_ns == 1795485603 * 1_000_000_000

    run(scenario())
