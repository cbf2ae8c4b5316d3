"""A simulated "106" aggregator HTTP API, shaped like the 253/Chuanglan-style JSON platforms
(docs/vendors.md), backed by the simulated carrier network.

    POST /sms/send     form or JSON: account, password, mobile, content, sign, template_id,
                       params (object or JSON string), category, extno
                       -> {"code":"0","msgid":"…","error":"","data":{"msgid":"…","fee":N}}
    GET|POST /sms/report   DLR pull, read-once queue like Tencent's pull: account, password
                       -> {"code":"0","result":[{msgid,mobile,status,err,reportTime}, …]}
    GET /sim/truth     ground truth so far (JSON list), for tests and the demo

Vendor codes: 0 ok, 101 bad account/password, 102 bad request signature, 103 submitting too
fast, 104 template not approved, 105 signature missing/not approved, 106 bad number,
107 content refused (marketing hours, missing 拒收请回复R), 108 per-number daily cap (HD:29),
109 malformed request. Outages answer HTTP 503.
DLR push: one JSON array POST per report to `dlr_push_url`, HMAC-signed (X-Timestamp,
X-Signature = hex HMAC-SHA256(secret, ts + "." + body)), retried on the configured schedule
(Alibaba 1/5/10 min, 2.1) until answered 200.
"""

from __future__ import annotations

import hmac
import json
import ssl
import time
from collections import deque
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import parse_qsl, urlencode

import aiohttp
import structlog
from aiohttp import web

from collector.vendors.base import ContentProfile
from collector.vendors.http import hmac_sha256_hex
from collector.vendors.simulator.network import Accepted, CarrierNetwork, SimulatedDlr
from collector.vendors.simulator.scenario import CHINA_TZ, PushFormat, VendorScenario

__all__ = ["HttpVendorSimulator", "dlr_report_json"]

log = structlog.get_logger(__name__)

_SIGNATURE_PREFIX = "【"
_MAX_PULL = 100
_SIGNATURE_TOLERANCE_S = 300.0


def dlr_report_json(dlr: SimulatedDlr) -> dict[str, str]:
    """One report as the aggregator writes it: yymmddHHMMSS in UTC+8 (2.3, 253-style)."""
    return {
        "msgid": dlr.message_id,
        "mobile": dlr.msisdn,
        "status": dlr.status.value,
        "err": dlr.err,
        "reportTime": dlr.done_at.astimezone(CHINA_TZ).strftime("%y%m%d%H%M%S"),
        "submitTime": dlr.submitted_at.astimezone(CHINA_TZ).strftime("%y%m%d%H%M%S"),
    }


def _answer(code: str, error: str = "", msgid: str = "", fee: int = 0) -> web.Response:
    body = {"code": code, "msgid": msgid, "error": error, "data": {"msgid": msgid, "fee": fee}}
    return web.json_response(body, dumps=lambda o: json.dumps(o, ensure_ascii=False))


class HttpVendorSimulator:
    """One simulated HTTP vendor; also the network's `DlrOutlet` for that vendor."""

    def __init__(
        self,
        network: CarrierNetwork,
        vendor: str,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        tls: ssl.SSLContext | None = None,
    ) -> None:
        """`tls`: serve HTTPS with this server context (its certificate and key)."""
        self._network = network
        self._vendor: VendorScenario = network.vendor(vendor)
        self._host = host
        self._port = port
        self._tls = tls
        self._runner: web.AppRunner | None = None
        self._bound_port: int | None = None
        self._pull_queue: deque[dict[str, Any]] = deque()
        self._session: aiohttp.ClientSession | None = None
        self.pushes_sent = 0
        self.push_failures = 0
        network.set_outlet(vendor, self)

    @property
    def port(self) -> int:
        if self._bound_port is None:
            raise RuntimeError("simulated vendor API not started")
        return self._bound_port

    @property
    def base_url(self) -> str:
        scheme = "https" if self._tls is not None else "http"
        return f"{scheme}://{self._host}:{self.port}"

    def make_app(self) -> web.Application:
        app = web.Application(client_max_size=256 * 1024)
        app.router.add_post("/sms/send", self._send)
        app.router.add_route("*", "/sms/report", self._report)
        app.router.add_get("/sim/truth", self._truth)
        return app

    async def start(self) -> None:
        runner = web.AppRunner(self.make_app(), access_log=None)
        await runner.setup()
        await web.TCPSite(runner, self._host, self._port, ssl_context=self._tls).start()
        self._runner = runner
        self._bound_port = int(runner.addresses[0][1])
        self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5.0))
        self._network.clock.anchor()
        log.info("sim_vendor_http_listening", vendor=self._vendor.name, port=self._bound_port)

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        if self._session is not None:
            await self._session.close()
            self._session = None

    # ---- requests

    async def _fields(self, request: web.Request, body: bytes) -> dict[str, object]:
        if request.content_type == "application/json":
            doc = json.loads(body or b"{}")
            if not isinstance(doc, dict):
                raise ValueError("expected a JSON object")
            return doc
        if request.method == "GET":
            return dict(request.query)
        return dict(parse_qsl(body.decode("utf-8"), keep_blank_values=True))

    def _authorised(
        self, request: web.Request, fields: Mapping[str, object], signed: bytes
    ) -> str | None:
        """None when the caller may proceed, else the vendor error code."""
        v = self._vendor
        if v.request_secret is not None:
            ts = request.headers.get("X-Timestamp", "")
            given = request.headers.get("X-Signature", "")
            try:
                fresh = abs(time.time() - float(ts)) <= _SIGNATURE_TOLERANCE_S
            except ValueError:
                fresh = False
            expected = hmac_sha256_hex(v.request_secret, ts, signed)
            if not fresh or not hmac.compare_digest(expected, given.lower()):
                return "102"
            return None
        if fields.get("account") != v.account or fields.get("password") != v.password:
            return "101"
        return None

    async def _send(self, request: web.Request) -> web.Response:
        body = await request.read()
        try:
            fields = await self._fields(request, body)
        except (ValueError, UnicodeDecodeError):
            return _answer("109", "bad request body")
        denied = self._authorised(request, fields, body)
        if denied is not None:
            return _answer(denied, "鉴权失败")
        mobile = str(fields.get("mobile", fields.get("phone", "")))
        content = str(fields.get("content", fields.get("msg", "")))
        signature = str(fields.get("sign", ""))
        if not signature and content.startswith(_SIGNATURE_PREFIX) and "】" in content:
            signature, content = content[1:].split("】", 1)
        template_id = fields.get("template_id") or None
        params_raw = fields.get("params", {})
        try:
            params = json.loads(params_raw) if isinstance(params_raw, str) else params_raw
            if not isinstance(params, dict):
                raise ValueError("params")
            profile = ContentProfile(str(fields.get("category", "notification")))
        except ValueError:
            return _answer("109", "bad params or category")
        outcome = self._network.submit(
            self._vendor.name,
            msisdn=mobile,
            content=content,
            signature=signature,
            template_id=str(template_id) if template_id is not None else None,
            params={str(k): str(v) for k, v in params.items()},
            profile=profile,
        )
        if isinstance(outcome, Accepted):
            return _answer("0", msgid=outcome.message_ids[0], fee=outcome.billed_parts)
        check = outcome.check
        if check.outage is not None:
            return web.Response(status=503, text="service unavailable")
        return _answer(check.code, check.message)

    async def _report(self, request: web.Request) -> web.Response:
        body = await request.read()
        try:
            fields = await self._fields(request, body)
        except (ValueError, UnicodeDecodeError):
            return _answer("109", "bad request body")
        signed = request.query_string.encode() if request.method == "GET" else body
        denied = self._authorised(request, fields, signed)
        if denied is not None:
            return web.json_response({"code": denied, "result": []})
        batch = [self._pull_queue.popleft() for _ in range(min(_MAX_PULL, len(self._pull_queue)))]
        return web.json_response(
            {"code": "0", "result": batch}, dumps=lambda o: json.dumps(o, ensure_ascii=False)
        )

    async def _truth(self, request: web.Request) -> web.Response:
        lines = [json.loads(r.to_json()) for r in self._network.truth.records]
        return web.json_response(lines, dumps=lambda o: json.dumps(o, ensure_ascii=False))

    # ---- DLR outlet

    async def emit(self, dlr: SimulatedDlr) -> bool:
        report = dlr_report_json(dlr)
        if self._vendor.dlr_push_url is None:
            self._pull_queue.append(report)
            return True
        await self._push(report)
        return True

    async def _push(self, report: dict[str, str]) -> None:
        v = self._vendor
        assert v.dlr_push_url is not None
        query = v.dlr_push_format is PushFormat.QUERY
        # JSON: a one-report array in the body; query: the report as GET parameters, signed
        # over the sorted, encoded query string.
        body = b"" if query else json.dumps([report], ensure_ascii=False).encode()
        signed = urlencode(sorted(report.items())).encode() if query else body

        def headers() -> dict[str, str]:
            out = {} if query else {"Content-Type": "application/json; charset=utf-8"}
            if v.dlr_push_secret is not None:
                ts = str(int(time.time()))
                out["X-Timestamp"] = ts
                out["X-Signature"] = hmac_sha256_hex(v.dlr_push_secret, ts, signed)
            return out

        await self._push_until_acked(
            "GET" if query else "POST",
            params=report if query else None,
            body=body,
            headers=headers,
            acked=lambda status, _text: status == 200,
            msgid=report["msgid"],
        )

    async def _push_until_acked(
        self,
        method: str,
        *,
        params: Mapping[str, str] | None,
        body: bytes,
        headers: Callable[[], dict[str, str]],
        acked: Callable[[int, str], bool],
        msgid: str,
    ) -> None:
        """Send one push, retried on the vendor's schedule until `acked` says it was taken."""
        v = self._vendor
        assert v.dlr_push_url is not None and self._session is not None
        for attempt, delay_s in enumerate((0.0, *v.dlr_push_retry_s)):
            if delay_s:
                await self._network.clock.sleep_until(self._network.clock.elapsed_s() + delay_s)
            try:
                async with self._session.request(
                    method, v.dlr_push_url, params=params, data=body or None, headers=headers()
                ) as r:
                    status = r.status
                    if acked(status, await r.text()):
                        self.pushes_sent += 1
                        return
            except (aiohttp.ClientError, TimeoutError) as exc:
                status = 0
                log.info("sim_dlr_push_failed", vendor=v.name, error=repr(exc))
            self.push_failures += 1
            log.info("sim_dlr_push_refused", vendor=v.name, status=status, attempt=attempt)
        log.warning("sim_dlr_push_abandoned", vendor=v.name, msgid=msgid)
