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

import hashlib
import hmac
import json
import re
import ssl
import time
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl

import structlog
from aiohttp import web

from collector.vendors.base import ContentProfile, DlrStatus
from collector.vendors.cloud_auth import (
    acs3_canonical_request,
    acs3_signature,
    acs3_string_to_sign,
    aliyun_rpc_signature,
    aliyun_rpc_string_to_sign,
    parse_acs3_authorization,
    tc3_signature,
)
from collector.vendors.simulator.http_api import HttpVendorSimulator
from collector.vendors.simulator.network import Accepted, CarrierNetwork, SimulatedDlr
from collector.vendors.simulator.scenario import CHINA_TZ, UNSUBSCRIBE_SUFFIX, render_template

__all__ = ["AliyunSmsApiSimulator", "TencentSmsApiSimulator"]

log = structlog.get_logger(__name__)

_FRESH_S = 900.0  # Alibaba accepts a Timestamp 15 min off; Tencent 5 min (below)
_TC3_FRESH_S = 300.0
_TIME = "%Y-%m-%d %H:%M:%S"
_KEY_NOT_FOUND = "Specified access key is not found."
# The real service's wording; the classic SDK reads what follows the first colon.
_MISMATCH = "Specified signature does not match our calculation. server string to sign is:"

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


def _json(doc: object, status: int = 200, content_type: str = "application/json") -> web.Response:
    # Set whole: aiohttp would add "; charset=utf-8", and Tencent's SDK reads Response.Error
    # only when the type is exactly application/json.
    return web.Response(
        status=status,
        body=json.dumps(doc, ensure_ascii=False).encode(),
        headers={"Content-Type": content_type},
    )


def _national(msisdn: str) -> str:
    """An E.164 Chinese number as the national 11 digits Tencent reports beside nationcode."""
    digits = msisdn.removeprefix("+")
    return digits[2:] if digits.startswith("86") and len(digits) == 13 else digits


def _flattened(query: Mapping[str, str]) -> dict[str, Any]:
    """API 3.0 GET parameters (`PhoneNumberSet.0=…&Limit=10`) -> the JSON body's shape."""
    doc: dict[str, Any] = {}
    lists: dict[str, dict[int, str]] = {}
    for key, value in query.items():
        name, dot, index = key.rpartition(".")
        if dot and index.isdigit():
            lists.setdefault(name, {})[int(index)] = value
        else:
            doc[key] = value
    for name, items in lists.items():
        doc[name] = [items[i] for i in sorted(items)]
    return doc


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
    """dysmsapi 2017-05-25 `SendSms`, `QuerySendDetails` and the SmsReport push.

    Signed parameters are read from the query string and, for a form POST, the body too
    (both official SDKs POST with everything in the query). V1 (`Signature` parameter,
    HMAC-SHA1) and V3 (`Authorization: ACS3-HMAC-SHA256`, x-acs-* headers) are verified;
    refusals carry RequestId, HostId, Recommend and, for a signature mismatch, the
    server's string to sign behind `server string to sign is:` (the classic SDK compares
    it with its own to tell a wrong AccessKeySecret)."""

    def __init__(
        self,
        network: CarrierNetwork,
        vendor: str,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        tls: ssl.SSLContext | None = None,
    ) -> None:
        super().__init__(network, vendor, host=host, port=port, tls=tls)
        self._sent: dict[str, dict[str, Any]] = {}  # BizId -> its QuerySendDetails record
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
        request_id = str(uuid.uuid4()).upper()
        host = request.headers.get("Host", "")

        def refuse(code: str, message: str, status: int = 400) -> web.Response:
            return _json(
                {
                    "RequestId": request_id,
                    "HostId": host,
                    "Code": code,
                    "Message": message,
                    "Recommend": (
                        f"https://api.aliyun.com/troubleshoot?q={code}"
                        f"&product=Dysmsapi&requestId={request_id}"
                    ),
                },
                status,
            )

        body = await request.read()
        query = {k: str(x) for k, x in request.query.items()}
        form: dict[str, str] = {}
        if body and request.content_type == "application/x-www-form-urlencoded":
            try:
                form = dict(parse_qsl(body.decode("utf-8"), keep_blank_values=True))
            except UnicodeDecodeError:
                return refuse("InvalidParameter", "The request body is not UTF-8.")
        params = {**query, **form}
        authorization = request.headers.get("Authorization", "")
        if authorization:
            denied, stamp, nonce = self._check_v3(request, query, body, authorization)
            action = request.headers.get("x-acs-action", "")
            version = request.headers.get("x-acs-version", "")
        else:
            denied, stamp, nonce = self._check_v1(request.method, params)
            action, version = params.get("Action", ""), params.get("Version", "")
        if denied is not None:
            return refuse(*denied)
        try:
            at = datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
            age_s = abs(time.time() - at.timestamp())
        except ValueError:
            age_s = float("inf")
        if age_s > _FRESH_S:
            return refuse("InvalidTimeStamp.Expired", "Specified time stamp is expired.")
        if not self._fresh_nonce(nonce):
            return refuse("SignatureNonceUsed", "Specified signature nonce was used already.")
        if version != "2017-05-25" or action not in ("SendSms", "QuerySendDetails"):
            return refuse("InvalidAction.NotFound", "Specified api is not found.", 404)
        if action == "QuerySendDetails":
            return self._query_details(params, request_id)
        return self._send_sms(params, request_id)

    def _check_v1(
        self, method: str, params: Mapping[str, str]
    ) -> tuple[tuple[str, str, int] | None, str, str]:
        v = self._vendor
        stamp, nonce = params.get("Timestamp", ""), params.get("SignatureNonce", "")
        if params.get("AccessKeyId") != v.account:
            return ("InvalidAccessKeyId.NotFound", _KEY_NOT_FOUND, 404), stamp, nonce
        if params.get("SignatureMethod", "HMAC-SHA1") != "HMAC-SHA1":
            return (
                ("InvalidSignatureMethod", "Specified signature method is not supported.", 400),
                stamp,
                nonce,
            )
        to_sign = aliyun_rpc_string_to_sign(method, params)
        if not hmac.compare_digest(
            params.get("Signature", ""), aliyun_rpc_signature(method, params, v.password)
        ):
            return ("SignatureDoesNotMatch", _MISMATCH + to_sign, 400), stamp, nonce
        return None, stamp, nonce

    def _check_v3(
        self, request: web.Request, query: Mapping[str, str], body: bytes, authorization: str
    ) -> tuple[tuple[str, str, int] | None, str, str]:
        v = self._vendor
        stamp = request.headers.get("x-acs-date", "")
        nonce = request.headers.get("x-acs-signature-nonce", "")
        fields = parse_acs3_authorization(authorization)
        if fields is None:
            return ("IncompleteSignature", "The request signature is malformed.", 400), stamp, nonce
        if fields["Credential"] != v.account:
            return ("InvalidAccessKeyId.NotFound", _KEY_NOT_FOUND, 404), stamp, nonce
        signed = [n.strip().lower() for n in fields["SignedHeaders"].split(";") if n.strip()]
        payload_hash = hashlib.sha256(body).hexdigest()
        if request.headers.get("x-acs-content-sha256", payload_hash) != payload_hash:
            return (
                ("ContentSHA256NotMatch", "The x-acs-content-sha256 is wrong.", 400),
                stamp,
                nonce,
            )
        if "host" not in signed or not any(n.startswith("x-acs-") for n in signed):
            return (
                ("IncompleteSignature", "host and x-acs-* headers must be signed.", 400),
                stamp,
                nonce,
            )
        headers = {n: ",".join(request.headers.getall(n, [])) for n in signed}
        canonical = acs3_canonical_request(
            request.method, request.path, query, headers, signed, payload_hash
        )
        to_sign = acs3_string_to_sign(canonical)
        if not hmac.compare_digest(fields["Signature"], acs3_signature(to_sign, v.password)):
            return ("SignatureDoesNotMatch", _MISMATCH + to_sign, 400), stamp, nonce
        return None, stamp, nonce

    def _send_sms(self, params: Mapping[str, str], request_id: str) -> web.Response:
        try:
            template_params = json.loads(params.get("TemplateParam") or "{}")
            if not isinstance(template_params, dict):
                raise ValueError("TemplateParam")
        except ValueError:
            return _json(
                {
                    "Code": "isv.INVALID_JSON_PARAM",
                    "Message": "JSON参数不合法",
                    "RequestId": request_id,
                }
            )
        rendered_params = {str(k): str(x) for k, x in template_params.items()}
        template_code = params.get("TemplateCode", "")
        outcome = self._submit(
            params.get("PhoneNumbers", ""),
            params.get("SignName", ""),
            template_code,
            None,
            rendered_params,
        )
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
        now = self._network.clock.now().astimezone(CHINA_TZ)
        self._sent[biz_id] = {
            "PhoneNum": params.get("PhoneNumbers", ""),
            "SendStatus": 1,  # waiting for the receipt
            "ErrCode": "",
            "TemplateCode": template_code,
            "Content": outcome.text,
            "SendDate": now.strftime(_TIME),
            "ReceiveDate": "",
            "OutId": params.get("OutId", ""),
            # SendDate as the client's calendar has it: simulated time may run fast or
            # start elsewhere, and the client asks by the day it sent on.
            "_day": datetime.now(CHINA_TZ).strftime("%Y%m%d"),
            "_billed": outcome.billed_parts,  # what its SmsReport says was billed
        }
        return _json({"Code": "OK", "Message": "OK", "BizId": biz_id, "RequestId": request_id})

    def _query_details(self, params: Mapping[str, str], request_id: str) -> web.Response:
        """QuerySendDetails: PhoneNumber and SendDate (yyyyMMdd) required, BizId narrows,
        PageSize 1-50 and CurrentPage page the result."""
        phone, day = params.get("PhoneNumber", ""), params.get("SendDate", "")
        try:
            size, page = int(params.get("PageSize", "")), int(params.get("CurrentPage", ""))
            if not (1 <= size <= 50 and page >= 1 and phone and re.fullmatch(r"\d{8}", day)):
                raise ValueError(params)
        except ValueError:
            return _json(
                {"Code": "isv.INVALID_PARAMETERS", "Message": "参数异常", "RequestId": request_id}
            )
        biz = params.get("BizId", "")
        found = [
            {k: x for k, x in record.items() if not k.startswith("_")}
            for biz_id, record in self._sent.items()
            if record["PhoneNum"] == phone and record["_day"] == day and biz in ("", biz_id)
        ]
        return _json(
            {
                "Code": "OK",
                "Message": "OK",
                "RequestId": request_id,
                "TotalCount": len(found),
                "SmsSendDetailDTOs": {"SmsSendDetailDTO": found[(page - 1) * size : page * size]},
            }
        )

    async def emit(self, dlr: SimulatedDlr) -> bool:
        if not dlr.status.is_final:
            return False  # SmsReport has success true/false only: no intermediate states
        delivered = dlr.status is DlrStatus.DELIVRD
        err_code = "DELIVERED" if delivered else _failure_code(dlr)
        record = self._sent.get(dlr.message_id)
        if record is not None:  # what QuerySendDetails answers from now on
            record.update(
                SendStatus=3 if delivered else 2,
                ErrCode=err_code,
                ReceiveDate=dlr.done_at.astimezone(CHINA_TZ).strftime(_TIME),
            )
        if self._vendor.dlr_push_url is None:
            return record is not None  # the account queries its reports
        report = {
            "phone_number": dlr.msisdn,
            "send_time": dlr.submitted_at.astimezone(CHINA_TZ).strftime(_TIME),
            "report_time": dlr.done_at.astimezone(CHINA_TZ).strftime(_TIME),
            "success": delivered,
            "err_code": err_code,
            "err_msg": "用户接收成功" if delivered else "",
            "sms_size": str(record["_billed"] if record is not None else 1),
            "biz_id": dlr.message_id,
            "out_id": record["OutId"] if record is not None else "",
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
            query=request.rel_url.raw_query_string,  # signed as sent, still encoded
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
        try:
            doc = _flattened(request.query) if request.method == "GET" else json.loads(body)
            if not isinstance(doc, dict):
                raise TypeError("not an object")
        except (ValueError, TypeError):
            return error("InvalidParameter", "The request body is not a JSON object.")
        if action == "PullSmsSendStatus":
            return self._pull(doc, request_id)
        try:
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
                    Fee=outcome.billed_parts,
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

    def _pull(self, doc: Mapping[str, Any], request_id: str) -> web.Response:
        """PullSmsSendStatus: read-once, like the real queue (items pulled are gone)."""
        try:
            limit = int(doc.get("Limit", 100))
        except (ValueError, TypeError):
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
                    "UserReceiveTime": int(dlr.done_at.timestamp()),  # UNIX seconds
                    "CountryCode": "86",
                    "SubscriberNumber": _national(dlr.msisdn),
                    "PhoneNumber": f"+86{_national(dlr.msisdn)}",
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
            "mobile": _national(dlr.msisdn),
            "report_status": "SUCCESS" if delivered else "FAIL",
            "errmsg": description,
            "description": "用户短信送达成功" if delivered else "",
            "sid": dlr.message_id,
        }
        return await self._push_report(report, "result", dlr.message_id)
