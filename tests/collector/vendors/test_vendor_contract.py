"""One contract every `SmsVendor` passes, run against the vendor simulator: HttpVendor (HTTP +
DLR push to the webhook) as a 253-style aggregator and, from the shipped example tables, as
Alibaba Cloud and Tencent Cloud SMS (signed requests, template codes, their receipt pushes);
SmppVendor (SMPP), all built from TOML by the registry; and the socket-less
InProcessVendorSimulator."""

from __future__ import annotations

import json
import ssl
import time
import tomllib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from collector.vendors.base import (
    AuthFailedError,
    ContentProfile,
    DlrStatus,
    OutgoingSms,
    RawDlr,
    RejectedError,
    RejectReason,
    SmsVendor,
    ThrottledError,
)
from collector.vendors.http import HttpVendor, build_request
from collector.vendors.registry import build_vendors
from collector.vendors.simulator.fronts import http_front
from collector.vendors.simulator.http_api import HttpVendorSimulator
from collector.vendors.simulator.inprocess import InProcessVendorSimulator
from collector.vendors.simulator.network import CarrierNetwork, RecordingModemSink
from collector.vendors.simulator.scenario import parse_scenario
from collector.vendors.simulator.smpp_api import SmppVendorSimulator
from collector.vendors.simulator.truth import TruthLog
from collector.vendors.webhooks import DlrWebhookServer
from tests.collector.vendors.helpers import (
    ACCOUNT,
    MSISDN_CMCC,
    PASSWORD,
    PUSH_SECRET,
    ListDlrSink,
    http_vendor_table,
    run,
    scenario_doc,
    vendor_scenario,
)

SIG = "探针科技"
NOTE = "您的工单A7K3Q9已受理。"
NOTE_TEMPLATE = "SMS_NOTE_1"  # the approved template whose text is NOTE
# each cloud's template syntax: Alibaba names its variables, Tencent numbers them
CODE_TEMPLATES: dict[str, dict[str, str]] = {
    "aliyun": {"SMS_CODE_1": "您的验证码为${token}，5分钟内有效。"},
    "tencent": {"SMS_CODE_1": "您的验证码为{1}，5分钟内有效。"},
}
CODE_TEMPLATES.update({k: {} for k in ("http", "smpp", "inprocess")})
CODE_TEMPLATES["aliyun_v3"] = CODE_TEMPLATES["aliyun"]
# example table -> the simulated API that speaks its wire
SIM_PROTOCOL = {"inprocess": "http", "aliyun_v3": "aliyun"}
EXAMPLE = Path(__file__).resolve().parents[3] / "collector" / "vendors" / "example_vendors.toml"


@dataclass
class Rig:
    vendor: SmsVendor
    sink: ListDlrSink
    network: CarrierNetwork
    modems: RecordingModemSink


@asynccontextmanager
async def rig(
    kind: str,
    *,
    sink: Any = None,
    secret: str = PASSWORD,
    modems: RecordingModemSink | None = None,
    pull: bool = False,
    tls: ssl.SSLContext | None = None,
    ca_file: Path | None = None,
    **sim: Any,
) -> AsyncIterator[Rig]:
    """Simulator + webhook server + the vendor built from its TOML table by the registry.
    `sim` overrides the simulated vendor's scenario table; `secret` is what a cloud
    vendor's table signs with; `modems` stands for the handsets; `pull`: the account has
    no push URL and its table no [dlr_push] (receipts by the table's [dlr_pull]); `tls`:
    a cloud front serves HTTPS with this context, and its table trusts `ca_file`."""
    sink = sink if sink is not None else ListDlrSink()
    hook = DlrWebhookServer([], sink)
    await hook.start()
    pull = pull or kind == "aliyun_v3"  # that example table pulls with QuerySendDetails
    sim_table = vendor_scenario(
        **{
            "protocol": SIM_PROTOCOL.get(kind, kind),
            "dlr_push_url": None if pull else hook.url_for("acct"),
            "dlr_push_secret": PUSH_SECRET,
            "templates": {NOTE_TEMPLATE: NOTE, **CODE_TEMPLATES[kind]},
            **sim,
        }
    )
    sim_table = {k: v for k, v in sim_table.items() if v is not None}  # None: key absent
    modems = modems if modems is not None else RecordingModemSink()
    network = CarrierNetwork(parse_scenario(scenario_doc({"acct": sim_table})), modems, TruthLog())
    front: HttpVendorSimulator | SmppVendorSimulator | None = None
    vendor: SmsVendor
    if kind == "inprocess":
        vendor = InProcessVendorSimulator(network, "acct")
    else:
        if kind == "http":
            front = HttpVendorSimulator(network, "acct")
            await front.start()
            table: dict[str, Any] = http_vendor_table(front.base_url, push=True)
        elif kind in CLOUDS:
            front = http_front(network, "acct", tls=tls)
            await front.start()
            # the shipped example table, pointed at the simulator
            table = tomllib.loads(EXAMPLE.read_text())["vendors"][kind]
            table["base_url"] = front.base_url
            if ca_file is not None:
                table["ca_file"] = str(ca_file)
            table["auth"].update(key_id=ACCOUNT, secret=secret)
            table["templates"] = {"notification": NOTE_TEMPLATE, "verification_code": "SMS_CODE_1"}
            if pull:
                table.pop("dlr_push", None)
            else:
                table["dlr_push"]["allow_from"] = ["127.0.0.1/32"]  # the simulator's source
        else:
            front = SmppVendorSimulator(network, "acct")
            await front.start()
            table = {"kind": "smpp", "host": "127.0.0.1", "port": front.port,
                     "system_id": ACCOUNT, "password": PASSWORD}  # fmt: skip
        built = build_vendors({"acct": table})
        for endpoint in built.push_endpoints:
            hook.add_endpoint(endpoint)
        vendor = built.vendors["acct"]
    try:
        await vendor.start(sink)
        yield Rig(vendor, sink, network, modems)
    finally:
        await vendor.close()
        await vendor.close()  # idempotent
        await network.close()
        if front is not None:
            await front.close()
        await hook.close()


CLOUDS = ("aliyun", "tencent", "aliyun_v3")
KINDS = ["http", "smpp", "inprocess", *CLOUDS]


@pytest.mark.parametrize("kind", KINDS)
def test_accepted_submit_reaches_the_modem_and_a_dlr_is_stored(kind: str) -> None:
    async def scenario() -> None:
        async with rig(kind) as r:
            assert r.vendor.name == "acct"
            result = await r.vendor.submit(OutgoingSms("p-1", MSISDN_CMCC, NOTE, signature=SIG))
            await _receipts(kind, r, 1)
        assert result.vendor == "acct" and result.parts == 1 and len(result.message_ids) == 1
        assert result.raw_request and result.raw_response and result.accepted_at_ns > 0
        wire_status = result.smpp_status if kind == "smpp" else result.http_status
        assert (wire_status is not None) == (kind != "inprocess")
        [dlr] = r.sink.dlrs
        assert dlr.vendor == "acct" and dlr.status is DlrStatus.DELIVRD and dlr.raw
        assert r.modems.delivered[0].sms.text == f"【{SIG}】{NOTE}"
        # The ground truth names the id the vendor returned at submit.
        assert r.network.truth.records[0].vendor_message_id == result.message_ids[0]

    run(scenario())


@pytest.mark.parametrize("kind", KINDS)
def test_bad_number_is_rejected_with_reason_number(kind: str) -> None:
    async def scenario() -> RejectedError:
        async with rig(kind) as r:
            with pytest.raises(RejectedError) as info:
                await r.vendor.submit(OutgoingSms("p-2", "12345", "短信", signature=SIG))
        assert r.modems.delivered == []
        return info.value

    error = run(scenario())
    assert error.reason is RejectReason.NUMBER and error.vendor == "acct"


@pytest.mark.parametrize("kind", KINDS)
def test_poll_dlrs_returns_a_count(kind: str) -> None:
    async def scenario() -> int:
        async with rig(kind) as r:
            return await r.vendor.poll_dlrs()

    assert run(scenario()) == 0  # both deliver DLRs by push/session here


async def _receipts(kind: str, r: Rig, count: int) -> None:
    """Wait for `count` receipts: pushed, or (aliyun_v3) pulled once the network is idle."""
    if kind == "aliyun_v3":
        await r.network.wait_idle()
        assert await r.vendor.poll_dlrs() == count
    await r.sink.wait_for(count)
    await r.network.wait_idle()


class FailOnceSink(ListDlrSink):
    def __init__(self) -> None:
        super().__init__()
        self.failures = 0

    async def store(self, dlr: RawDlr) -> None:
        if self.failures == 0:
            self.failures += 1
            raise OSError("ledger briefly unavailable")
        await super().store(dlr)


def test_push_answered_500_is_retried_on_schedule_and_stored_exactly_once() -> None:
    """Alibaba-style push: the endpoint fails once, the vendor retries (after
    60 simulated seconds), exactly one report is stored."""

    async def scenario() -> tuple[FailOnceSink, int, int]:
        sink = FailOnceSink()
        async with rig("http", sink=sink) as r:
            await r.vendor.submit(OutgoingSms("p-3", MSISDN_CMCC, "重试测试", signature=SIG))
            await sink.wait_for(1)
            await r.network.wait_idle()
            async with aiohttp.ClientSession() as session:
                truth_url = f"{_base_url(r)}/sim/truth"
                async with session.get(truth_url) as resp:
                    truth = json.loads(await resp.text())
        return sink, sink.failures, len(truth)

    sink, failures, truth_lines = run(scenario())
    assert failures == 1 and len(sink.dlrs) == 1
    assert truth_lines == 1


def _base_url(r: Rig) -> str:
    assert isinstance(r.vendor, HttpVendor)
    return r.vendor.config.base_url


# --- the cloud APIs' own rules (Alibaba, Tencent) ------------------------------------------


def _code(probe_id: str = "p-c") -> OutgoingSms:
    return OutgoingSms(
        probe_id, MSISDN_CMCC, "您的验证码为654321，5分钟内有效。", signature=SIG,
        params={"token": "654321"}, profile=ContentProfile.VERIFICATION_CODE,
    )  # fmt: skip


@pytest.mark.parametrize("kind", CLOUDS)
def test_cloud_template_parameters_render_into_what_arrives(kind: str) -> None:
    async def scenario() -> None:
        async with rig(kind) as r:
            await r.vendor.submit(_code())
            await _receipts(kind, r, 1)
        assert r.modems.delivered[0].sms.text == f"【{SIG}】您的验证码为654321，5分钟内有效。"

    run(scenario())


@pytest.mark.parametrize("kind", CLOUDS)
def test_cloud_refusals_map_to_the_taxonomy(kind: str) -> None:
    async def scenario() -> None:
        async with rig(kind, secret="not-the-secret") as r:
            with pytest.raises(AuthFailedError):
                await r.vendor.submit(_code())
        async with rig(kind, throttle_tps=0.001, throttle_burst=1) as r:
            await r.vendor.submit(_code("p-1"))
            with pytest.raises(ThrottledError):
                await r.vendor.submit(_code("p-2"))
        async with rig(kind) as r:
            link = OutgoingSms("p-3", MSISDN_CMCC, "查看 https://x.cn", signature=SIG,
                               profile=ContentProfile.LINK)  # fmt: skip
            with pytest.raises(RejectedError) as info:
                await r.vendor.submit(link)  # no template for this profile
            assert info.value.reason is RejectReason.TEMPLATE
            assert r.modems.delivered == []

    run(scenario())


def test_aliyun_refuses_a_replayed_request() -> None:
    async def scenario() -> tuple[int, str]:
        async with rig("aliyun") as r:
            assert isinstance(r.vendor, HttpVendor)
            req = build_request(
                r.vendor.config.submit.request,
                base_url=r.vendor.config.base_url,
                auth=r.vendor.config.auth,
                ctx={"to": MSISDN_CMCC, "signature": SIG, "template_id": NOTE_TEMPLATE,
                     "probe_id": "p-r"},
                objects={"params": {}},
                redact=(),
                now_s=int(time.time()),
                nonce="same-nonce",
            )  # fmt: skip
            answers = []
            async with aiohttp.ClientSession() as session:
                for _ in range(2):
                    async with session.request(
                        req.method, req.url, data=req.body, headers=req.headers
                    ) as resp:
                        answers.append((resp.status, json.loads(await resp.text())["Code"]))
            assert answers[0] == (200, "OK")
            return answers[1]

    assert run(scenario()) == (400, "SignatureNonceUsed")


def test_tencent_reports_can_be_pulled_once() -> None:
    """Without a callback URL the account pulls (PullSmsSendStatus): each report once."""

    async def scenario() -> tuple[int, int, list[RawDlr]]:
        async with rig("tencent", dlr_push_url=None) as r:
            result = await r.vendor.submit(_code())
            await r.network.wait_idle()
            first = await r.vendor.poll_dlrs()
            second = await r.vendor.poll_dlrs()
        assert [d.message_id for d in r.sink.dlrs] == list(result.message_ids)
        return first, second, r.sink.dlrs

    first, second, dlrs = run(scenario())
    assert (first, second) == (1, 0)
    assert dlrs[0].status is DlrStatus.DELIVRD and dlrs[0].msisdn == MSISDN_CMCC


def test_a_tencent_pull_refused_for_its_signature_is_an_auth_failure() -> None:
    async def scenario() -> None:
        async with rig("tencent", dlr_push_url=None, secret="not-the-secret") as r:
            with pytest.raises(AuthFailedError) as info:
                await r.vendor.poll_dlrs()
            assert info.value.code == "AuthFailure.SignatureFailure"

    run(scenario())
