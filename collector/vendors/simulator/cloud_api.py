"""Simulated Alibaba Cloud and Tencent Cloud SMS endpoints (docs/vendors.md),
backed by the simulated carrier network, so the generic HTTP adapter's `aliyun_rpc` and
`tencent_tc3` vendor tables are exercised end to end.

Alibaba (`protocol = "aliyun"`): `POST|GET /` with `Action=SendSms`, RPC-signed
(AccessKeyId = the scenario's `account`, AccessKeySecret = its `password`); answers
`{"Code":"OK","BizId":…}` or an `isv.*` code with HTTP 200, a signature problem with HTTP
400. Receipts: the SmsReport HTTP batch push (a JSON array, unsigned), taken when answered
`{"code":0}`. QuerySendDetails is not simulated.

Tencent (`protocol = "tencent"`): `POST /` JSON with `X-TC-Action: SendSms`, TC3-signed
(SecretId = `account`, SecretKey = `password`); per-number results in `SendStatusSet`,
request errors as `Response.Error`. Templates take positional `{1}` parameters from
`TemplateParamSet`. Receipts: the status callback (a JSON array), taken when answered
`{"result":0}`; without a push URL they wait for `PullSmsSendStatus` (read-once).

Both render the scenario's template for the code given; its kind (verification code,
marketing, notification) is read from the rendered text, as the vendor knows it from the
template's approval.
"""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import structlog
from aiohttp import web

from collector.vendors.base import ContentProfile, DlrStatus
from collector.vendors.cloud_auth import aliyun_rpc_signature, tc3_signature
from collector.vendors.simulator.http_api import HttpVendorSimulator
from collector.vendors.simulator.network import Accepted, CarrierNetwork, SimulatedDlr
from collector.vendors.simulator.scenario import CHINA_TZ, UNSUBSCRIBE_SUFFIX, render_template

__all__ = ["AliyunSmsApiSimulator", "TencentSmsApiSimulator"]

log = structlog.get_logger(__name__)

_FRESH_S = 900.0  # Alibaba accepts a Timestamp 15 min off; Tencent 5 min (below)
_TC3_FRESH_S = 300.0
_TIME = "%Y-%m-%d %H:%M:%S"

# the aggregator refusal codes of check_submit -> each cloud's own
_ALIYUN_CODES = {
    "103": "isv.BUSINESS_LIMIT_CONTROL",
    "104": "isv.SMS_TEMPLATE_ILLEGAL",
    "105": "isv.SMS_SIGNATURE_ILLEGAL",
    "106": "isv.MOBILE_NUMBER_ILLEGAL",
    "107": "isv.BLACK_KEY_CONTROL_LIMIT",
    "108": "isv.BUSINESS_LIMIT_CONTROL",
    "109": "isv.INVALID_PARAMETERS",
}
_TENCENT_CODES = {
    "103": "LimitExceeded.PhoneNumberThirtySecondLimit",
    "104": "FailedOperation.TemplateIncorrectOrUnapproved",
    "105": "FailedOperation.SignatureIncorrectOrUnapproved",
    "106": "InvalidParameterValue.IncorrectPhoneNumber",
    "107": "FailedOperation.ContainSensitiveWord",
    "108": "LimitExceeded.PhoneNumberDailyLimit",
    "109": "InvalidParameter",
}


def _profile_of(text: str) -> ContentProfile:
    if text.rstrip().endswith(UNSUBSCRIBE_SUFFIX):
        return ContentProfile.MARKETING
    if "验证码" in text:
        return ContentProfile.VERIFICATION_CODE
    return ContentProfile.NOTIFICATION


def _failure_code(dlr: SimulatedDlr) -> str:
    """What a cloud reports for an undelivered message: the carrier's code, else the state."""
    return dlr.err if dlr.err not in ("", "000") else dlr.status.value


def _json(doc: object, status: int = 200) -> web.Response:
    return web.json_response(doc, status=status, dumps=lambda o: json.dumps(o, ensure_ascii=False))


class _CloudApi(HttpVendorSimulator):
    """What both clouds share: one route at `/`, template rendering, the push loop."""

    def make_app(self) -> web.Application:
        app = web.Application(client_max_size=256 * 1024)
        app.router.add_route("*", "/", self._api)
        app.router.add_get("/sim/truth", self._truth)
        return app

    async def _api(self, request: web.Request) -> web.Response:
        raise NotImplementedError

    def _submit(
        self,
        msisdn: str,
        signature: str,
        template_id: str,
        text: str | None,
        params: Mapping[str, str],
    ) -> Accepted | str:
        """Accepted, or the aggregator refusal code ("500" for an outage)."""
        v = self._vendor
        if not template_id:
            return "104"  # both clouds send templates only
        rendered = (
            text if text is not None else render_template(v.templates.get(template_id, ""), params)
        )
        outcome = self._network.submit(
            v.name,
            msisdn=msisdn,
            content=rendered,
            signature=signature,
            template_id=template_id,
            params=params,
            profile=_profile_of(rendered),
        )
        if isinstance(outcome, Accepted):
            return outcome
        return "500" if outcome.check.outage is not None else outcome.check.code

    async def _push_report(self, report: dict[str, Any], ack_key: str, msgid: str) -> bool:
        if self._vendor.dlr_push_url is None:  # a pull is not simulated for this cloud
            log.warning("sim_dlr_report_dropped", vendor=self._vendor.name, msgid=msgid)
            return False

        def acked(status: int, text: str) -> bool:
            try:
                return status == 200 and json.loads(text).get(ack_key) == 0
            except (ValueError, AttributeError):
                return False

        await self._push_until_acked(
            "POST",
            params=None,
            body=json.dumps([report], ensure_ascii=False).encode(),
            headers=lambda: {"Content-Type": "application/json; charset=utf-8"},
            acked=acked,
            msgid=msgid,
        )
        return True


class AliyunSmsApiSimulator(_CloudApi):
    """dysmsapi 2017-05-25 `SendSms` and the SmsReport push."""

    def __init__(
        self, network: CarrierNetwork, vendor: str, *, host: str = "127.0.0.1", port: int = 0
    ) -> None:
        super().__init__(network, vendor, host=host, port=port)
        self._out_ids: dict[str, str] = {}
        self._seen_nonces: dict[str, float] = {}

    def _fresh_nonce(self, nonce: str) -> bool:
        now = time.time()
        for old in [n for n, at in self._seen_nonces.items() if now - at > _FRESH_S]:
            del self._seen_nonces[old]
        if not nonce or nonce in self._seen_nonces:
            return False
        self._seen_nonces[nonce] = now
        return True

    async def _api(self, request: web.Request) -> web.Response:
        params = {
            k: str(v)
            for k, v in (request.query if request.method == "GET" else await request.post()).items()
        }
        signature = params.pop("Signature", "")
        v = self._vendor

        def refuse(code: str, message: str, status: int = 400) -> web.Response:
            return _json({"Code": code, "Message": message}, status)

        if params.get("AccessKeyId") != v.account:
            return refuse("InvalidAccessKeyId.NotFound", "Specified access key is not found.", 404)
        if signature != aliyun_rpc_signature(request.method, params, v.password):
            return refuse(
                "SignatureDoesNotMatch", "Specified signature is not matched with our calculation."
            )
        try:
            stamp = datetime.strptime(params.get("Timestamp", ""), "%Y-%m-%dT%H:%M:%SZ")
            age_s = abs(time.time() - stamp.replace(tzinfo=UTC).timestamp())
        except ValueError:
            age_s = float("inf")
        if age_s > _FRESH_S:
            return refuse("InvalidTimeStamp.Expired", "Specified time stamp is expired.")
        if not self._fresh_nonce(params.get("SignatureNonce", "")):
            return refuse("SignatureNonceUsed", "Specified signature nonce was used already.")
        if params.get("Action") != "SendSms" or params.get("Version") != "2017-05-25":
            return refuse("InvalidAction.NotFound", "Specified api is not found.", 404)
        try:
            template_params = json.loads(params.get("TemplateParam") or "{}")
            if not isinstance(template_params, dict):
                raise ValueError("TemplateParam")
        except ValueError:
            return refuse("isv.INVALID_JSON_PARAM", "JSON参数不合法", 200)
        outcome = self._submit(
            params.get("PhoneNumbers", ""),
            params.get("SignName", ""),
            params.get("TemplateCode", ""),
            None,
            {str(k): str(x) for k, x in template_params.items()},
        )
        request_id = str(uuid.uuid4()).upper()
        if isinstance(outcome, str):
            if outcome == "500":
                return web.Response(status=503, text="service unavailable")
            return _json(
                {
                    "Code": _ALIYUN_CODES.get(outcome, "isp.SYSTEM_ERROR"),
                    "Message": outcome,
                    "RequestId": request_id,
                }
            )
        biz_id = outcome.message_ids[0]
        self._out_ids[biz_id] = params.get("OutId", "")
        return _json({"Code": "OK", "Message": "OK", "BizId": biz_id, "RequestId": request_id})

    async def emit(self, dlr: SimulatedDlr) -> bool:
        if not dlr.status.is_final:
            return False  # SmsReport has success true/false only: no intermediate states
        delivered = dlr.status is DlrStatus.DELIVRD
        report = {
            "phone_number": dlr.msisdn,
            "send_time": dlr.submitted_at.astimezone(CHINA_TZ).strftime(_TIME),
            "report_time": dlr.done_at.astimezone(CHINA_TZ).strftime(_TIME),
            "success": delivered,
            "err_code": "DELIVERED" if delivered else _failure_code(dlr),
            "err_msg": "用户接收成功" if delivered else "",
            "sms_size": "1",
            "biz_id": dlr.message_id,
            "out_id": self._out_ids.get(dlr.message_id, ""),
        }
        return await self._push_report(report, "code", dlr.message_id)


_CREDENTIAL = re.compile(r"Credential=([^/]+)/(\d{4}-\d{2}-\d{2})/([^/]+)/tc3_request")


class TencentSmsApiSimulator(_CloudApi):
    """SMS API 2021-01-11 `SendSms` and the status callback."""

    async def _api(self, request: web.Request) -> web.Response:
        body = await request.read()
        request_id = str(uuid.uuid4())

        def error(code: str, message: str) -> web.Response:
            return _json(
                {"Response": {"Error": {"Code": code, "Message": message}, "RequestId": request_id}}
            )

        v = self._vendor
        auth = request.headers.get("Authorization", "")
        credential = _CREDENTIAL.search(auth)
        if credential is None or credential.group(1) != v.account:
            return error("AuthFailure.SecretIdNotFound", "The SecretId is not found.")
        try:
            timestamp = int(request.headers.get("X-TC-Timestamp", ""))
        except ValueError:
            return error("MissingParameter", "X-TC-Timestamp")
        expected = tc3_signature(
            v.password,
            service=credential.group(3),
            host=request.headers.get("Host", ""),
            method=request.method,
            path=request.path,
            query=request.query_string,
            content_type=request.headers.get("Content-Type", ""),
            payload=body,
            timestamp=timestamp,
        )
        if not auth.endswith(f"Signature={expected}"):
            return error(
                "AuthFailure.SignatureFailure", "The provided credentials could not be validated."
            )
        if abs(time.time() - timestamp) > _TC3_FRESH_S:
            return error("AuthFailure.SignatureExpire", "Signature expired.")
        action = request.headers.get("X-TC-Action")
        if request.headers.get("X-TC-Version") != "2021-01-11" or action not in (
            "SendSms",
            "PullSmsSendStatus",
        ):
            return error("InvalidAction", "The action is not supported.")
        if action == "PullSmsSendStatus":
            return self._pull(body, request_id)
        try:
            doc = json.loads(body)
            numbers = [str(n) for n in doc["PhoneNumberSet"]]
            values = [str(p) for p in doc.get("TemplateParamSet") or []]
        except (ValueError, KeyError, TypeError):
            return error("InvalidParameter", "PhoneNumberSet")
        template_id = str(doc.get("TemplateId", ""))
        template = v.templates.get(template_id, "")
        text = re.sub(
            r"\{(\d+)\}",
            lambda m: (
                values[int(m.group(1)) - 1] if 0 < int(m.group(1)) <= len(values) else m.group(0)
            ),
            template,
        )
        statuses = []
        for number in numbers:
            outcome = self._submit(number, str(doc.get("SignName", "")), template_id, text, {})
            if outcome == "500":
                return web.Response(status=503, text="service unavailable")
            status: dict[str, Any] = {
                "PhoneNumber": number,
                "SessionContext": doc.get("SessionContext", ""),
                "IsoCode": "CN",
            }
            if isinstance(outcome, Accepted):
                status.update(
                    SerialNo=outcome.message_ids[0],
                    Fee=outcome.parts,
                    Code="Ok",
                    Message="send success",
                )
            else:
                status.update(
                    SerialNo="",
                    Fee=0,
                    Code=_TENCENT_CODES.get(outcome, "InternalError"),
                    Message=outcome,
                )
            statuses.append(status)
        return _json({"Response": {"SendStatusSet": statuses, "RequestId": request_id}})

    def _pull(self, body: bytes, request_id: str) -> web.Response:
        """PullSmsSendStatus: read-once, like the real queue (items pulled are gone)."""
        try:
            limit = int(json.loads(body).get("Limit", 100))
        except (ValueError, AttributeError, TypeError):
            limit = 100
        batch = [
            self._pull_queue.popleft() for _ in range(min(max(limit, 0), len(self._pull_queue)))
        ]
        return _json({"Response": {"PullSmsSendStatusSet": batch, "RequestId": request_id}})

    async def emit(self, dlr: SimulatedDlr) -> bool:
        if not dlr.status.is_final:
            return False  # report_status is SUCCESS or FAIL only: no intermediate states
        delivered = dlr.status is DlrStatus.DELIVRD
        description = dlr.status.value if delivered else _failure_code(dlr)
        if self._vendor.dlr_push_url is None:  # the account pulls its reports
            self._pull_queue.append(
                {
                    "UserReceiveTime": dlr.done_at.astimezone(CHINA_TZ).strftime(_TIME),
                    "CountryCode": "86",
                    "SubscriberNumber": dlr.msisdn,
                    "PhoneNumber": f"+86{dlr.msisdn}",
                    "SerialNo": dlr.message_id,
                    "ReportStatus": "SUCCESS" if delivered else "FAIL",
                    "Description": description,
                    "SessionContext": "",
                }
            )
            return True
        report = {
            "user_receive_time": dlr.done_at.astimezone(CHINA_TZ).strftime(_TIME),
            "nationcode": "86",
            "mobile": dlr.msisdn,
            "report_status": "SUCCESS" if delivered else "FAIL",
            "errmsg": description,
            "description": "用户短信送达成功" if delivered else "",
            "sid": dlr.message_id,
        }
        return await self._push_report(report, "result", dlr.message_id)
