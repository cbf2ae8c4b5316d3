"""Shared test helpers for the vendor tests: real servers on ephemeral loopback ports."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, TypeVar

from collector.vendors.base import QuarantinedDlr, RawDlr
from collector.vendors.config import HttpVendorConfig, parse_http_vendor

T = TypeVar("T")

ACCOUNT = "probe"
PASSWORD = "secret"
PUSH_SECRET = "push-secret-1"
MSISDN_CMCC = "13800138000"
MSISDN_CUCC = "13000130000"
MSISDN_KNOWN = "13900139000"


def run(coro: Coroutine[Any, Any, T], timeout_s: float = 30.0) -> T:
    async def bounded() -> T:
        async with asyncio.timeout(timeout_s):
            return await coro

    return asyncio.run(bounded())


class ListDlrSink:
    """In-memory `DlrSink` fake: keeps what it stored, lets a test await a count."""

    def __init__(self) -> None:
        self.dlrs: list[RawDlr] = []
        self.quarantined: list[QuarantinedDlr] = []
        self._cond: asyncio.Condition | None = None

    def _condition(self) -> asyncio.Condition:
        if self._cond is None:
            self._cond = asyncio.Condition()
        return self._cond

    async def store(self, dlr: RawDlr) -> None:
        self.dlrs.append(dlr)
        async with self._condition():
            self._condition().notify_all()

    async def quarantine(self, item: QuarantinedDlr) -> None:
        self.quarantined.append(item)

    async def wait_for(self, count: int, timeout_s: float = 5.0) -> None:
        cond = self._condition()
        async with asyncio.timeout(timeout_s), cond:
            await cond.wait_for(lambda: len(self.dlrs) >= count)


def vendor_scenario(**overrides: Any) -> dict[str, Any]:
    """A simulated aggregator table with deterministic, fast knobs."""
    table: dict[str, Any] = {
        "account": ACCOUNT,
        "password": PASSWORD,
        "sender_prefix": "10690",
        "sender_ext": "123",
        "approved_signatures": ["探针科技"],
        "templates": {"SMS_OTP_1": "您的验证码为${code}，5分钟内有效。"},
        "rejected_templates": ["SMS_BAD"],
        "knobs": {
            "p_arrive": 1.0,
            "latency": {"dist": "fixed", "median_s": 2.0},
            "dlr_latency": {"dist": "fixed", "median_s": 1.0},
        },
    }
    table.update(overrides)
    return table


def scenario_doc(vendors: dict[str, dict[str, Any]], **top: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "seed": 7,
        "speedup": 1000.0,
        "start_at": "2026-11-24T10:00:00+08:00",
        "vendors": vendors,
        "subscribers": [
            {"msisdn": MSISDN_CMCC, "modem": "m1"},
            {"msisdn": MSISDN_CUCC, "modem": "m2"},
            {"msisdn": MSISDN_KNOWN, "modem": "m3", "known_test_number": True},
        ],
    }
    doc.update(top)
    return doc


def whitelisting_doc() -> dict[str, Any]:
    """ "white" delivers every message to the known test number and 70 % elsewhere,
    "honest" 70 % everywhere (fixed latencies): the whitelisting vendor of the tests."""
    knobs: dict[str, Any] = {
        "p_arrive": 0.7,
        "latency": {"dist": "fixed", "median_s": 2.0},
        "dlr_latency": {"dist": "fixed", "median_s": 1.0},
    }
    return scenario_doc(
        {
            "white": vendor_scenario(knobs={**knobs, "known_number_p_arrive": 1.0}),
            "honest": vendor_scenario(knobs=knobs),
        }
    )


def http_vendor_table(
    base_url: str,
    *,
    push: bool = False,
    push_secret: str | None = PUSH_SECRET,
    pull: bool = False,
    hmac_secret: str | None = None,
    password: str = PASSWORD,
    timeout_s: float = 5.0,
) -> dict[str, Any]:
    """The TOML table an operator would write for the simulated aggregator."""
    table: dict[str, Any] = {
        "kind": "http",
        "base_url": base_url,
        "timeout_s": timeout_s,
        "vars": {"account": ACCOUNT, "password": password},
        "submit": {
            "method": "POST",
            "url": "/sms/send",
            "body": "json",
            "fields": {
                "account": "{var.account}",
                "password": "{var.password}",
                "mobile": "{to}",
                "content": "{text}",
                "sign": "{signature}",
                "template_id": "{template_id}",
                "params": "{params}",
                "category": "{profile}",
            },
            "message_id_path": "data.msgid",
            "parts_path": "data.fee",
            "success_path": "code",
            "success_values": ["0"],
            "error_message_path": "error",
        },
        "errors": {
            "101": "auth",
            "102": "auth",
            "103": "throttled",
            "104": "rejected.template",
            "105": "rejected.signature",
            "106": "rejected.number",
            "107": "rejected.content",
            "108": "throttled",
            "109": "rejected.other",
        },
        "dlr": {
            "message_id": "msgid",
            "status": "status",
            "err": "err",
            "msisdn": "mobile",
            "done_at": "reportTime",
            "done_at_format": "yymmddhhmmss",
        },
    }
    if hmac_secret is not None:
        table["auth"] = {"kind": "hmac_sha256", "secret": hmac_secret}
    if push:
        push_table: dict[str, Any] = {"format": "json", "ack_body": "OK"}
        if push_secret is not None:
            push_table["signature"] = {"secret": push_secret, "tolerance_s": 300}
        table["dlr_push"] = push_table
    if pull:
        table["dlr_pull"] = {
            "method": "POST",
            "url": "/sms/report",
            "body": "json",
            "fields": {"account": "{var.account}", "password": "{var.password}"},
            "items_path": "result",
            "success_path": "code",
        }
    return table


def http_vendor_config(name: str, base_url: str, **kw: Any) -> HttpVendorConfig:
    return parse_http_vendor(name, http_vendor_table(base_url, **kw))


class SimHarness:
    """The vendor simulator in-process: network + one HTTP API per HTTP vendor."""

    def __init__(self, doc: dict[str, Any], modems: Any = None) -> None:
        from collector.vendors.simulator.network import CarrierNetwork, RecordingModemSink
        from collector.vendors.simulator.scenario import parse_scenario
        from collector.vendors.simulator.truth import TruthLog

        self.scenario = parse_scenario(doc)
        self.modems = modems if modems is not None else RecordingModemSink()
        self.truth = TruthLog()
        self.network = CarrierNetwork(self.scenario, self.modems, self.truth)
        self.apis: dict[str, Any] = {}

    async def __aenter__(self) -> SimHarness:
        from collector.vendors.simulator.http_api import HttpVendorSimulator

        for name in self.scenario.vendors:
            api = HttpVendorSimulator(self.network, name)
            await api.start()
            self.apis[name] = api
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.network.close()
        for api in self.apis.values():
            await api.close()

    def url(self, vendor: str) -> str:
        return str(self.apis[vendor].base_url)
