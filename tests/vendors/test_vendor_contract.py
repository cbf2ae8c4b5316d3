"""One contract every `SmsVendor` passes, run against the vendor simulator: HttpVendor (HTTP +
DLR push to the webhook) and SmppVendor (SMPP), both built from TOML by the registry, and
the socket-less SimInProcessVendor."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import aiohttp
import pytest

from collector.vendors.base import (
    DlrStatus,
    OutgoingSms,
    RawDlr,
    Rejected,
    RejectReason,
    SmsVendor,
)
from collector.vendors.registry import build_vendors
from collector.vendors.sim.http_api import SimVendorHttpApi
from collector.vendors.sim.inprocess import SimInProcessVendor
from collector.vendors.sim.network import CarrierNetwork, RecordingModemSink
from collector.vendors.sim.scenario import parse_scenario
from collector.vendors.sim.smpp_api import SimVendorSmpp
from collector.vendors.sim.truth import TruthLog
from collector.vendors.webhooks import DlrWebhookServer
from tests.vendors.helpers import (
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


@dataclass
class Rig:
    vendor: SmsVendor
    sink: ListDlrSink
    network: CarrierNetwork
    modems: RecordingModemSink


@asynccontextmanager
async def rig(kind: str, *, sink: Any = None) -> AsyncIterator[Rig]:
    """Simulator + webhook server + the vendor built from its TOML table by the registry."""
    sink = sink if sink is not None else ListDlrSink()
    hook = DlrWebhookServer([], sink)
    await hook.start()
    sim_table = vendor_scenario(
        protocol="smpp" if kind == "smpp" else "http",
        dlr_push_url=hook.url_for("acct"),
        dlr_push_secret=PUSH_SECRET,
    )
    modems = RecordingModemSink()
    network = CarrierNetwork(parse_scenario(scenario_doc({"acct": sim_table})), modems, TruthLog())
    front: SimVendorHttpApi | SimVendorSmpp | None = None
    vendor: SmsVendor
    if kind == "inprocess":
        vendor = SimInProcessVendor(network, "acct")
    else:
        if kind == "http":
            front = SimVendorHttpApi(network, "acct")
            await front.start()
            table: dict[str, Any] = http_vendor_table(front.base_url, push=True)
        else:
            front = SimVendorSmpp(network, "acct")
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


KINDS = ["http", "smpp", "inprocess"]


@pytest.mark.parametrize("kind", KINDS)
def test_accepted_submit_reaches_the_modem_and_a_dlr_is_stored(kind: str) -> None:
    async def scenario() -> None:
        async with rig(kind) as r:
            assert r.vendor.name == "acct"
            result = await r.vendor.submit(
                OutgoingSms("p-1", MSISDN_CMCC, "您的工单A7K3Q9已受理。", signature=SIG)
            )
            await r.sink.wait_for(1)
            await r.network.wait_idle()
        assert result.vendor == "acct" and result.parts == 1 and len(result.message_ids) == 1
        assert result.raw_request and result.raw_response and result.accepted_at_ns > 0
        wire_status = result.http_status if kind == "http" else result.smpp_status
        assert (wire_status is not None) == (kind != "inprocess")
        [dlr] = r.sink.dlrs
        assert dlr.vendor == "acct" and dlr.status is DlrStatus.DELIVRD and dlr.raw
        assert r.modems.delivered[0].sms.text == f"【{SIG}】您的工单A7K3Q9已受理。"
        # The ground truth names the id the vendor returned at submit.
        assert r.network.truth.records[0].vendor_message_id == result.message_ids[0]

    run(scenario())


@pytest.mark.parametrize("kind", KINDS)
def test_bad_number_is_rejected_with_reason_number(kind: str) -> None:
    async def scenario() -> Rejected:
        async with rig(kind) as r:
            with pytest.raises(Rejected) as info:
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
    """vendors-smpp-china.md 4.6 item 3: the endpoint fails once, the vendor retries (after
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
    from collector.vendors.http import HttpVendor

    assert isinstance(r.vendor, HttpVendor)
    return r.vendor.config.base_url
