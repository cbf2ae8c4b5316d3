"""The vendors' official SDKs, unchanged, as peers of the simulator and of the adapter.

Alibaba: `alibabacloud_dysmsapi20170525` (V3 ACS3-HMAC-SHA256 by default, V2 RPC with
signature_algorithm "v2") and the classic `aliyun-python-sdk-core` + `-dysmsapi` (V1,
POST and GET). Tencent: `tencentcloud-sdk-python-sms` (TC3, POST and GET). Each is pointed
at the simulator on loopback with its documented endpoint and plain-http options; right
keys are answered, wrong keys get the documented error codes as the SDK reports them.
Then each SDK's signing is compared with the adapter's on the same request.
"""

from __future__ import annotations

import asyncio
import json
import time
import tomllib
from collections.abc import Callable
from datetime import datetime
from types import SimpleNamespace
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest
from aiohttp import web
from alibabacloud_dysmsapi20170525 import models as v3_models
from alibabacloud_dysmsapi20170525.client import Client as DysmsClient
from alibabacloud_tea_openapi import models as openapi_models
from alibabacloud_tea_openapi.exceptions import ClientException
from alibabacloud_tea_openapi.utils import Utils as OpenApiUtils
from aliyunsdkcore.acs_exception.exceptions import ServerException
from aliyunsdkcore.auth.composer import rpc_signature_composer
from aliyunsdkcore.client import AcsClient
from aliyunsdkdysmsapi.request.v20170525.QuerySendDetailsRequest import QuerySendDetailsRequest
from aliyunsdkdysmsapi.request.v20170525.SendSmsRequest import SendSmsRequest
from tencentcloud.common import credential
from tencentcloud.common.exception.tencent_cloud_sdk_exception import TencentCloudSDKException
from tencentcloud.common.profile.client_profile import ClientProfile
from tencentcloud.common.profile.http_profile import HttpProfile
from tencentcloud.sms.v20210111 import models as tc_models
from tencentcloud.sms.v20210111.sms_client import SmsClient

from collector.vendors.base import DlrStatus, TransientError
from collector.vendors.cloud_auth import (
    acs3_canonical_request,
    acs3_signature,
    acs3_string_to_sign,
    aliyun_rpc_signature,
    tc3_signature,
)
from collector.vendors.http import HttpVendor, build_request
from collector.vendors.registry import build_vendors
from tests.collector.vendors.helpers import ACCOUNT, MSISDN_CMCC, PASSWORD, ListDlrSink, run
from tests.collector.vendors.test_vendor_contract import EXAMPLE, SIG, Rig, _code, rig

CODE = "您的验证码为{}，5分钟内有效。"


def _hostport(r: Rig) -> str:
    assert isinstance(r.vendor, HttpVendor)
    return r.vendor.config.base_url.removeprefix("http://")


# --------------------------------------------------------------------------- Alibaba


def _v3_client(hostport: str, key_id: str, secret: str, algorithm: str | None) -> DysmsClient:
    config = openapi_models.Config(
        access_key_id=key_id, access_key_secret=secret, endpoint=hostport, protocol="HTTP"
    )
    if algorithm is not None:
        config.signature_algorithm = algorithm  # "v2": the RPC (HMAC-SHA1) signature
    return DysmsClient(config)


def _v3_send(hostport: str, key_id: str, secret: str, algorithm: str | None, token: str) -> Any:
    client = _v3_client(hostport, key_id, secret, algorithm)
    request = v3_models.SendSmsRequest(
        phone_numbers=MSISDN_CMCC,
        sign_name=SIG,
        template_code="SMS_CODE_1",
        template_param=json.dumps({"token": token}),
        out_id="probe-" + token,
    )
    try:
        return client.send_sms(request).body.to_map()
    except ClientException as exc:
        return exc


def _classic(hostport: str, key_id: str, secret: str, method: str, request: Any) -> Any:
    client = AcsClient(key_id, secret, "cn-hangzhou")
    request.set_protocol_type("http")
    request.set_method(method)
    request.set_endpoint(hostport)
    try:
        return json.loads(client.do_action_with_exception(request))
    except ServerException as exc:
        return exc


def _classic_send(hostport: str, key_id: str, secret: str, method: str, token: str) -> Any:
    request = SendSmsRequest()
    request.set_PhoneNumbers(MSISDN_CMCC)
    request.set_SignName(SIG)
    request.set_TemplateCode("SMS_CODE_1")
    request.set_TemplateParam(json.dumps({"token": token}))
    return _classic(hostport, key_id, secret, method, request)


ALIYUN_PEERS: dict[str, Callable[[str, str, str, str], Any]] = {
    "v3-acs3": lambda h, k, s, t: _v3_send(h, k, s, None, t),
    "v3-sdk-v2-rpc": lambda h, k, s, t: _v3_send(h, k, s, "v2", t),
    "classic-v1-post": lambda h, k, s, t: _classic_send(h, k, s, "POST", t),
    "classic-v1-get": lambda h, k, s, t: _classic_send(h, k, s, "GET", t),
}


@pytest.mark.parametrize("peer", list(ALIYUN_PEERS))
def test_alibaba_sdks_send_and_are_refused_with_the_documented_codes(peer: str) -> None:
    send = ALIYUN_PEERS[peer]

    async def scenario() -> tuple[Any, Any, Any, Rig]:
        async with rig("aliyun") as r:
            host = _hostport(r)
            ok = await asyncio.to_thread(send, host, ACCOUNT, PASSWORD, "482913")
            bad_secret = await asyncio.to_thread(send, host, ACCOUNT, "wrong", "111111")
            bad_id = await asyncio.to_thread(send, host, "LTAI-nobody", PASSWORD, "222222")
            await r.sink.wait_for(1)
            await r.network.wait_idle()
        return ok, bad_secret, bad_id, r

    ok, bad_secret, bad_id, r = run(scenario())
    assert ok["Code"] == "OK" and ok["RequestId"]
    [truth] = r.network.truth.records  # only the signed request went out
    assert truth.vendor_message_id == ok["BizId"]
    assert r.modems.delivered[0].sms.text == f"【{SIG}】" + CODE.format("482913")
    if peer.startswith("classic"):
        # The classic SDK compares the server's string to sign with its own: equal means
        # the secret is wrong, and it says so (aliyunsdkcore client._get_server_exception).
        assert isinstance(bad_secret, ServerException)
        assert (bad_secret.get_error_code(), bad_secret.get_http_status()) == (
            "InvalidAccessKeySecret",
            400,
        )
        assert bad_secret.get_request_id()
        assert isinstance(bad_id, ServerException)
        assert (bad_id.get_error_code(), bad_id.get_http_status()) == (
            "InvalidAccessKeyId.NotFound",
            404,
        )
    else:
        assert isinstance(bad_secret, ClientException)
        assert (bad_secret.code, bad_secret.status_code) == ("SignatureDoesNotMatch", 400)
        assert "server string to sign is:" in bad_secret.data["Message"]
        assert bad_secret.data["RequestId"] == bad_secret.request_id
        assert bad_secret.data["HostId"] == _hostport(r)
        assert bad_secret.data["Recommend"].endswith(bad_secret.request_id)
        assert isinstance(bad_id, ClientException)
        assert (bad_id.code, bad_id.status_code) == ("InvalidAccessKeyId.NotFound", 404)
        assert bad_id.request_id


def test_alibaba_sdks_query_send_details_after_the_receipt() -> None:
    async def scenario() -> tuple[Any, Any, Any, str]:
        async with rig("aliyun") as r:
            host = _hostport(r)
            sent = await asyncio.to_thread(_v3_send, host, ACCOUNT, PASSWORD, None, "482913")
            await r.sink.wait_for(1)
            await r.network.wait_idle()
            day = time.strftime("%Y%m%d", time.gmtime(time.time() + 8 * 3600))
            v3 = _v3_client(host, ACCOUNT, PASSWORD, None)
            query = v3_models.QuerySendDetailsRequest(
                phone_number=MSISDN_CMCC,
                biz_id=sent["BizId"],
                send_date=day,
                page_size=10,
                current_page=1,
            )
            by_v3 = (await asyncio.to_thread(v3.query_send_details, query)).body.to_map()
            classic = QuerySendDetailsRequest()
            classic.set_PhoneNumber(MSISDN_CMCC)
            classic.set_SendDate(day)
            classic.set_PageSize(10)
            classic.set_CurrentPage(1)
            by_classic = await asyncio.to_thread(_classic, host, ACCOUNT, PASSWORD, "POST", classic)
            classic.set_SendDate("19990101")
            none = await asyncio.to_thread(_classic, host, ACCOUNT, PASSWORD, "GET", classic)
        return by_v3, by_classic, none, "probe-482913"  # the OutId the probe sent

    by_v3, by_classic, none, out_id = run(scenario())
    for answer in (by_v3, by_classic):
        assert answer["Code"] == "OK" and answer["TotalCount"] == 1
        [dto] = answer["SmsSendDetailDTOs"]["SmsSendDetailDTO"]
        assert (dto["SendStatus"], dto["ErrCode"], dto["PhoneNum"]) == (3, "DELIVERED", MSISDN_CMCC)
        assert dto["OutId"] == out_id and dto["ReceiveDate"] >= dto["SendDate"]  # same clock
    assert none["TotalCount"] == 0


def test_the_adapter_signs_like_the_alibaba_sdks() -> None:
    """Same inputs, same signature: the classic SDK's V1 string to sign and signature over
    the adapter's parameters (nonce and time fixed), and the V3 SDK's signer over the
    adapter's V3 request; and the adapter's verifier over a request the V3 SDK sent."""

    async def scenario() -> tuple[Any, Any, dict[str, Any]]:
        async with rig("aliyun") as r1, rig("aliyun_v3") as r3:
            assert isinstance(r1.vendor, HttpVendor) and isinstance(r3.vendor, HttpVendor)
            ctx = {"to": MSISDN_CMCC, "signature": SIG, "template_id": "SMS_CODE_1",
                   "probe_id": "p-1"}  # fmt: skip
            common = {"ctx": ctx, "objects": {"params": {"token": "482913"}}, "redact": ()}
            v1 = build_request(
                r1.vendor.config.submit.request,
                base_url=r1.vendor.config.base_url,
                auth=r1.vendor.config.auth,
                now_s=1_700_000_000,
                nonce="fixed-nonce-1",
                **common,
            )
            v3 = build_request(
                r3.vendor.config.submit.request,
                base_url=r3.vendor.config.base_url,
                auth=r3.vendor.config.auth,
                now_s=1_700_000_000,
                nonce="fixed-nonce-3",
                **common,
            )
        captured: dict[str, Any] = {}

        async def capture(request: web.Request) -> web.Response:
            captured.update(
                method=request.method,
                path=request.path,
                query=dict(request.query),
                headers=dict(request.headers),
                body=await request.read(),
            )
            return web.json_response({"Code": "OK", "BizId": "1", "RequestId": "r"})

        app = web.Application()
        app.router.add_route("*", "/", capture)
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = runner.addresses[0][1]
        try:
            await asyncio.to_thread(_v3_send, f"127.0.0.1:{port}", ACCOUNT, PASSWORD, None, "1")
        finally:
            await runner.cleanup()
        return v1, v3, captured

    v1, v3, sdk = run(scenario())
    # V1: the classic SDK composes the same string to sign and signature from the same
    # parameters (its composer module functions, called as they are).
    params = dict(parse_qsl(urlsplit(v1.url).query, keep_blank_values=True))
    signature = params.pop("Signature")
    compose = getattr(rpc_signature_composer, "__compose_string_to_sign")
    sign = getattr(rpc_signature_composer, "__get_signature")
    assert sign(compose("POST", params), PASSWORD) == signature
    assert aliyun_rpc_signature("POST", params, PASSWORD) == signature
    # V3: the SDK's own authorization over the adapter's request is the adapter's.

    adapter_request = SimpleNamespace(
        method="POST",
        pathname="/",
        query=dict(parse_qsl(urlsplit(v3.url).query, keep_blank_values=True)),
        headers={k: v for k, v in v3.headers.items() if k != "Authorization"},
    )
    expected = OpenApiUtils.get_authorization(
        adapter_request, "ACS3-HMAC-SHA256", v3.headers["x-acs-content-sha256"], ACCOUNT, PASSWORD
    )
    assert v3.headers["Authorization"] == expected
    # And the adapter's functions re-derive the signature of what the SDK really sent.
    auth = sdk["headers"]["Authorization"]
    signed = auth.split("SignedHeaders=")[1].split(",")[0].split(";")
    canonical = acs3_canonical_request(
        sdk["method"],
        sdk["path"],
        sdk["query"],
        {k.lower(): v for k, v in sdk["headers"].items()},
        signed,
        sdk["headers"]["x-acs-content-sha256"],
    )
    assert auth.endswith("Signature=" + acs3_signature(acs3_string_to_sign(canonical), PASSWORD))
    assert sdk["method"] == "POST" and sdk["body"] == b"" and "PhoneNumbers" in sdk["query"]


def test_the_v3_adapter_pulls_query_send_details_and_quarantines_a_wrong_id() -> None:
    async def scenario() -> tuple[Rig, int, int]:
        async with rig("aliyun_v3") as r:
            result = await r.vendor.submit(_code())
            first = await r.vendor.poll_dlrs()  # maybe before the receipt: still waiting
            await r.network.wait_idle()
            second = await r.vendor.poll_dlrs()
            third = await r.vendor.poll_dlrs()  # final: no longer asked about
            assert [d.message_id for d in r.sink.dlrs] == list(result.message_ids)
        return r, first + second, third

    r, got, again = run(scenario())
    assert (got, again) == (1, 0)
    [dlr] = r.sink.dlrs
    assert dlr.status is DlrStatus.DELIVRD and dlr.msisdn == MSISDN_CMCC
    assert dlr.done_at_ns is not None and dlr.err == "DELIVERED"


# --------------------------------------------------------------------------- Tencent


def tc_send_request(token: str) -> Any:
    """The SDK's SendSms request for one code to MSISDN_CMCC (template SMS_CODE_1)."""
    request = tc_models.SendSmsRequest()
    request.PhoneNumberSet = ["+86" + MSISDN_CMCC]
    request.SmsSdkAppId = "1400000000"
    request.SignName = SIG
    request.TemplateId = "SMS_CODE_1"
    request.TemplateParamSet = [token]
    return request


def _tc_send(hostport: str, secret: str, method: str, token: str) -> Any:
    http = HttpProfile(endpoint=hostport, reqMethod=method)
    http.scheme = "http"
    client = SmsClient(
        credential.Credential(ACCOUNT, secret), "ap-guangzhou", ClientProfile(httpProfile=http)
    )
    try:
        return json.loads(client.SendSms(tc_send_request(token)).to_json_string())
    except TencentCloudSDKException as exc:
        return exc


def _tc_pull(hostport: str, method: str) -> Any:
    http = HttpProfile(endpoint=hostport, reqMethod=method)
    http.scheme = "http"
    client = SmsClient(
        credential.Credential(ACCOUNT, PASSWORD), "ap-guangzhou", ClientProfile(httpProfile=http)
    )
    request = tc_models.PullSmsSendStatusRequest()
    request.Limit = 10
    request.SmsSdkAppId = "1400000000"
    return json.loads(client.PullSmsSendStatus(request).to_json_string())


@pytest.mark.parametrize("method", ["POST", "GET"])
def test_tencent_sdk_sends_pulls_and_is_refused(method: str) -> None:
    async def scenario() -> tuple[Any, Any, Any, Rig]:
        async with rig("tencent", dlr_push_url=None) as r:
            host = _hostport(r)
            ok = await asyncio.to_thread(_tc_send, host, PASSWORD, method, "482913")
            bad = await asyncio.to_thread(_tc_send, host, "wrong", method, "111111")
            await r.network.wait_idle()
            pulled = await asyncio.to_thread(_tc_pull, host, method)
        return ok, bad, pulled, r

    ok, bad, pulled, r = run(scenario())
    [status] = ok["SendStatusSet"]
    assert status["Code"] == "Ok" and status["Fee"] == 1
    assert r.modems.delivered[0].sms.text == f"【{SIG}】" + CODE.format("482913")
    assert isinstance(bad, TencentCloudSDKException)  # read only from exact application/json
    assert bad.get_code() == "AuthFailure.SignatureFailure" and bad.get_request_id()
    [report] = pulled["PullSmsSendStatusSet"]
    assert report["SerialNo"] == status["SerialNo"]
    assert report["PhoneNumber"] == "+86" + MSISDN_CMCC
    assert report["SubscriberNumber"] == MSISDN_CMCC
    [truth] = r.network.truth.records
    assert isinstance(report["UserReceiveTime"], int)  # UNIX seconds, simulated clock
    assert truth.dlr_at is not None
    done = datetime.fromisoformat(truth.dlr_at)
    assert report["UserReceiveTime"] == int(done.timestamp())


def test_the_adapter_signs_like_the_tencent_sdk() -> None:
    """The SDK's request (time as it sent it), re-signed by the adapter's function: equal."""
    captured: list[dict[str, Any]] = []

    async def capture(request: web.Request) -> web.Response:
        captured.append(
            {
                "method": request.method,
                "query": request.rel_url.raw_query_string,
                "headers": dict(request.headers),
                "body": await request.read(),
            }
        )
        return web.json_response({"Response": {"RequestId": "r", "SendStatusSet": []}})

    async def scenario() -> None:
        app = web.Application()
        app.router.add_route("*", "/", capture)
        runner = web.AppRunner(app)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        port = runner.addresses[0][1]
        try:
            for method in ("POST", "GET"):
                await asyncio.to_thread(_tc_send, f"127.0.0.1:{port}", PASSWORD, method, "1")
        finally:
            await runner.cleanup()

    run(scenario())
    assert [c["method"] for c in captured] == ["POST", "GET"]
    for sent in captured:
        h = sent["headers"]
        expected = tc3_signature(
            PASSWORD,
            service="sms",
            host=h["Host"],
            method=sent["method"],
            path="/",
            query=sent["query"],
            content_type=h["Content-Type"],
            payload=sent["body"],
            timestamp=int(h["X-TC-Timestamp"]),
        )
        assert h["Authorization"].endswith("Signature=" + expected)


def test_a_tencent_pull_keeps_the_receipt_time_and_bad_pull_bodies_are_quarantined() -> None:
    """The shipped [vendors.tencent.dlr_pull.dlr] reads UserReceiveTime as UNIX seconds;
    a pull answered with a body that is no JSON is kept raw in quarantine, not lost."""

    async def scenario() -> tuple[Rig, list[Any]]:
        async with rig("tencent", dlr_push_url=None) as r:
            await r.vendor.submit(_code())
            await r.network.wait_idle()
            assert await r.vendor.poll_dlrs() == 1
        return r, list(r.network.truth.records)

    r, [truth] = run(scenario())
    [dlr] = r.sink.dlrs
    assert truth.dlr_at is not None and dlr.done_at_ns is not None
    assert dlr.done_at_ns == int(datetime.fromisoformat(truth.dlr_at).timestamp()) * 10**9

    async def broken(request: web.Request) -> web.Response:
        return web.Response(text='{"Response": {"PullSmsSendStatusSet": [', status=200)

    async def bad_body() -> Any:
        app = web.Application()
        app.router.add_route("*", "/", broken)
        runner = web.AppRunner(app)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        port = runner.addresses[0][1]
        try:
            table = tomllib.loads(EXAMPLE.read_text())["vendors"]["tencent"]
            table["base_url"] = f"http://127.0.0.1:{port}"
            vendor = build_vendors({"t": table}).vendors["t"]
            sink = ListDlrSink()
            await vendor.start(sink)
            try:
                with pytest.raises(TransientError, match="unparseable"):
                    await vendor.poll_dlrs()
            finally:
                await vendor.close()
            return sink.quarantined
        finally:
            await runner.cleanup()

    [held] = run(bad_body())
    assert held.reason.startswith("DLR pull unparseable") and held.raw.startswith(b'{"Response"')
