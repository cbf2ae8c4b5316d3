"""HttpVendor against the simulated aggregator API and the DLR webhook, over real sockets."""

from __future__ import annotations

import asyncio
import json
from datetime import datetime, timedelta
from typing import Any

import aiohttp
import pytest

from collector.vendors.base import (
    AmbiguousSubmitError,
    AuthFailedError,
    ContentProfile,
    DlrSource,
    DlrStatus,
    OutgoingSms,
    RejectedError,
    RejectReason,
    ThrottledError,
    TransientError,
)
from collector.vendors.config import parse_http_vendor
from collector.vendors.http import HttpVendor
from collector.vendors.webhooks import DlrWebhookServer
from tests.collector.vendors.helpers import (
    MSISDN_CMCC,
    PUSH_SECRET,
    ListDlrSink,
    SimHarness,
    http_vendor_config,
    http_vendor_table,
    run,
    scenario_doc,
    vendor_scenario,
)

SIG = "探针科技"


def sms(text: str = "您的工单A7K3Q9已受理。", **kw: Any) -> OutgoingSms:
    fields: dict[str, Any] = {
        "probe_id": "p-1",
        "to_msisdn": MSISDN_CMCC,
        "text": text,
        "signature": SIG,
    }
    fields.update(kw)
    return OutgoingSms(**fields)


def test_submit_extracts_message_id_and_parts_and_keeps_redacted_evidence() -> None:
    async def scenario() -> None:
        async with SimHarness(scenario_doc({"sim106": vendor_scenario()})) as sim:
            vendor = HttpVendor(http_vendor_config("sim106", sim.url("sim106")))
            await vendor.start(ListDlrSink())
            try:
                short = await vendor.submit(sms())
                long = await vendor.submit(sms("长" * 80))
            finally:
                await vendor.close()
            await sim.network.wait_idle()
        assert short.vendor == "sim106"
        assert len(short.message_ids) == 1 and short.message_ids[0].isdigit()
        assert short.parts == 1
        assert long.parts == 2  # 【探针科技】 + 80 chars = 86 > 70 -> 67 per part
        assert short.http_status == 200
        assert json.loads(short.raw_response)["data"]["msgid"] == short.message_ids[0]
        assert b"secret" not in short.raw_request and b"***" in short.raw_request
        truth = {r.vendor_message_id: r for r in sim.truth.records}
        assert truth[short.message_ids[0]].fate == "delivered"
        assert truth[short.message_ids[0]].text_delivered == f"【{SIG}】您的工单A7K3Q9已受理。"
        assert sim.modems.delivered[0].sms.sender == "10690123"

    run(scenario())


@pytest.mark.parametrize(
    ("overrides", "sms_kw", "expected", "reason"),
    [
        ({}, {"template_id": "SMS_BAD", "params": {"code": "482913"}}, RejectedError, "template"),
        ({}, {"template_id": "SMS_NOPE"}, RejectedError, "template"),
        ({}, {"signature": "别人的签名"}, RejectedError, "signature"),
        ({}, {"signature": ""}, RejectedError, "signature"),
        ({}, {"to_msisdn": "12345"}, RejectedError, "number"),
        (
            {"start_at": "2026-11-24T22:30:00+08:00"},
            {"profile": ContentProfile.MARKETING, "text": "双十一特惠。拒收请回复R"},
            RejectedError,
            "content",
        ),
        ({}, {"profile": ContentProfile.MARKETING, "text": "双十一特惠"}, RejectedError, "content"),
    ],
)
def test_submit_refusals_map_to_the_taxonomy(
    overrides: dict[str, Any], sms_kw: dict[str, Any], expected: type, reason: str
) -> None:
    async def scenario() -> BaseException:
        doc = scenario_doc({"sim106": vendor_scenario()}, **overrides)
        async with SimHarness(doc) as sim:
            vendor = HttpVendor(http_vendor_config("sim106", sim.url("sim106")))
            await vendor.start(ListDlrSink())
            try:
                with pytest.raises(expected) as info:
                    await vendor.submit(sms(**sms_kw))
            finally:
                await vendor.close()
        assert sim.truth.records[-1].fate == "rejected"
        return info.value

    error = run(scenario())
    assert isinstance(error, RejectedError)
    assert error.reason is RejectReason(reason)
    assert error.raw_response and error.raw_request
    assert error.vendor == "sim106"


def test_approved_template_renders_and_is_delivered() -> None:
    async def scenario() -> None:
        async with SimHarness(scenario_doc({"sim106": vendor_scenario()})) as sim:
            vendor = HttpVendor(http_vendor_config("sim106", sim.url("sim106")))
            await vendor.start(ListDlrSink())
            try:
                await vendor.submit(
                    sms(
                        "",
                        template_id="SMS_OTP_1",
                        params={"code": "482913"},
                        profile=ContentProfile.VERIFICATION_CODE,
                    )
                )
            finally:
                await vendor.close()
            await sim.modems.wait_for(1)
        assert sim.modems.delivered[0].sms.text == f"【{SIG}】您的验证码为482913，5分钟内有效。"

    run(scenario())


def test_auth_failure_and_wrong_hmac_raise_auth_failed() -> None:
    async def scenario() -> None:
        vendors = {
            "plain": vendor_scenario(),
            "signed": vendor_scenario(request_secret="req-secret"),
        }
        async with SimHarness(scenario_doc(vendors)) as sim:
            bad_pw = HttpVendor(http_vendor_config("plain", sim.url("plain"), password="nope"))
            good_hmac = HttpVendor(
                http_vendor_config("signed", sim.url("signed"), hmac_secret="req-secret")
            )
            bad_hmac = HttpVendor(
                http_vendor_config("signed", sim.url("signed"), hmac_secret="wrong")
            )
            for v in (bad_pw, good_hmac, bad_hmac):
                await v.start(ListDlrSink())
            try:
                with pytest.raises(AuthFailedError) as info:
                    await bad_pw.submit(sms())
                assert info.value.code == "101"
                accepted = await good_hmac.submit(sms())
                assert accepted.message_ids
                assert b"X-Signature: " in accepted.raw_request
                with pytest.raises(AuthFailedError) as info:
                    await bad_hmac.submit(sms())
                assert info.value.code == "102"
            finally:
                for v in (bad_pw, good_hmac, bad_hmac):
                    await v.close()

    run(scenario())


def test_throttling_and_daily_cap_raise_throttled_with_retry_after() -> None:
    async def scenario() -> None:
        vendors = {
            "slow": vendor_scenario(throttle_tps=0.001, throttle_burst=1),
            "capped": vendor_scenario(code_daily_cap=2),
        }
        doc = scenario_doc(vendors, speedup=1.0)
        async with SimHarness(doc) as sim:
            slow = HttpVendor(http_vendor_config("slow", sim.url("slow")))
            capped = HttpVendor(http_vendor_config("capped", sim.url("capped")))
            await slow.start(ListDlrSink())
            await capped.start(ListDlrSink())
            try:
                await slow.submit(sms())
                with pytest.raises(ThrottledError) as throttled:
                    await slow.submit(sms())
                assert throttled.value.code == "103"
                otp = sms(
                    "",
                    template_id="SMS_OTP_1",
                    params={"code": "482913"},
                    profile=ContentProfile.VERIFICATION_CODE,
                )
                await capped.submit(otp)
                await capped.submit(otp)
                with pytest.raises(ThrottledError) as capped_info:
                    await capped.submit(otp)
                assert capped_info.value.code == "108"
            finally:
                await slow.close()
                await capped.close()

    run(scenario())


def test_outage_window_gives_transient_then_recovers() -> None:
    async def scenario() -> None:
        # Refused for the first simulated second after the API starts listening.
        vendors = {"flaky": vendor_scenario(outages=[{"start_s": 0, "end_s": 1}])}
        async with SimHarness(scenario_doc(vendors, speedup=1.0)) as sim:
            vendor = HttpVendor(http_vendor_config("flaky", sim.url("flaky")))
            await vendor.start(ListDlrSink())
            try:
                with pytest.raises(TransientError) as info:
                    await vendor.submit(sms())
                assert info.value.http_status == 503
                await sim.network.clock.sleep_until(1.0)
                assert (await vendor.submit(sms())).message_ids
            finally:
                await vendor.close()

    run(scenario())


def test_connection_refused_is_transient_and_silence_is_ambiguous() -> None:
    async def scenario() -> None:
        held: list[asyncio.StreamWriter] = []

        async def hold(_r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
            held.append(w)  # accept the request, never answer

        server = await asyncio.start_server(hold, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        # A port that was free a moment ago: nothing listens there now.
        probe = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
        dead_port = probe.sockets[0].getsockname()[1]
        probe.close()
        await probe.wait_closed()
        silent = HttpVendor(http_vendor_config("silent", f"http://127.0.0.1:{port}", timeout_s=0.3))
        dead = HttpVendor(http_vendor_config("dead", f"http://127.0.0.1:{dead_port}"))
        await silent.start(ListDlrSink())
        await dead.start(ListDlrSink())
        try:
            with pytest.raises(AmbiguousSubmitError) as amb:
                await silent.submit(sms())
            assert b"/sms/send" in amb.value.raw_request
            with pytest.raises(TransientError):
                await dead.submit(sms())
        finally:
            await silent.close()
            await dead.close()
            for w in held:
                w.close()
            server.close()
            await server.wait_closed()

    run(scenario())


def test_dlr_push_with_valid_hmac_is_stored_and_bad_hmac_is_refused() -> None:
    async def scenario() -> None:
        good_sink, bad_sink = ListDlrSink(), ListDlrSink()
        good_hook = DlrWebhookServer([], good_sink)
        bad_hook = DlrWebhookServer([], bad_sink)
        await good_hook.start()
        await bad_hook.start()
        vendors = {
            "good": vendor_scenario(
                dlr_push_url=good_hook.url_for("good"), dlr_push_secret=PUSH_SECRET
            ),
            "forged": vendor_scenario(
                dlr_push_url=bad_hook.url_for("forged"),
                dlr_push_secret="not-the-secret",
                dlr_push_retry_s=[1.0],
            ),
        }
        try:
            async with SimHarness(scenario_doc(vendors)) as sim:
                good = HttpVendor(http_vendor_config("good", sim.url("good"), push=True))
                forged = HttpVendor(http_vendor_config("forged", sim.url("forged"), push=True))
                good_hook.add_endpoint(good)
                bad_hook.add_endpoint(forged)
                await good.start(good_sink)
                await forged.start(bad_sink)
                try:
                    accepted = await good.submit(sms())
                    await forged.submit(sms())
                    await good_sink.wait_for(1)
                    await sim.network.wait_idle()
                finally:
                    await good.close()
                    await forged.close()
                assert sim.apis["forged"].push_failures == 2  # first try + one retry
        finally:
            await good_hook.close()
            await bad_hook.close()
        dlr = good_sink.dlrs[0]
        assert dlr.message_id == accepted.message_ids[0]
        assert dlr.status is DlrStatus.DELIVRD
        assert dlr.source is DlrSource.PUSH
        assert dlr.msisdn == MSISDN_CMCC
        # Done time = accepted + 2 s latency + 1 s DLR delay (simulated), sent to the second.
        truth = sim.truth.records[0]
        assert truth.dlr_at is not None and truth.accepted_at is not None
        dlr_at = datetime.fromisoformat(truth.dlr_at)
        assert dlr_at - datetime.fromisoformat(truth.accepted_at) == timedelta(seconds=3)
        assert dlr.done_at_ns == int(dlr_at.replace(microsecond=0).timestamp()) * 1_000_000_000
        assert bad_sink.dlrs == []

    run(scenario())


def test_dlr_pull_drains_the_read_once_queue() -> None:
    async def scenario() -> None:
        vendors = {"pull": vendor_scenario(knobs={"p_arrive": 1.0, "p_duplicate_dlr": 1.0})}
        async with SimHarness(scenario_doc(vendors)) as sim:
            sink = ListDlrSink()
            vendor = HttpVendor(http_vendor_config("pull", sim.url("pull"), pull=True))
            await vendor.start(sink)
            try:
                accepted = await vendor.submit(sms())
                await sim.network.wait_idle()
                first = await vendor.poll_dlrs()
                second = await vendor.poll_dlrs()
            finally:
                await vendor.close()
        assert first == 2 and second == 0  # the duplicate DLR arrives twice, then nothing
        assert {d.message_id for d in sink.dlrs} == {accepted.message_ids[0]}
        assert all(d.source is DlrSource.PULL for d in sink.dlrs)
        assert sim.truth.records[0].dlr_count == 2

    run(scenario())


def test_push_only_vendor_polls_nothing_and_submit_before_start_fails() -> None:
    vendor = HttpVendor(http_vendor_config("x", "http://127.0.0.1:9"))

    async def scenario() -> None:
        with pytest.raises(RuntimeError):
            await vendor.submit(sms())
        await vendor.start(ListDlrSink())
        try:
            assert await vendor.poll_dlrs() == 0
        finally:
            await vendor.close()

    run(scenario())


def test_form_body_and_query_push_are_supported() -> None:
    """A 253-style vendor: form submit, DLR push as a GET query string answered `OK`."""
    table = http_vendor_table("http://127.0.0.1:1")
    table["submit"]["body"] = "form"
    table["dlr_push"] = {"format": "query", "ack_body": "OK", "allow_from": ["127.0.0.1/32"]}
    config = parse_http_vendor("cl253", table)

    async def scenario() -> None:
        sink = ListDlrSink()
        hook = DlrWebhookServer([HttpVendor(config)], sink)
        await hook.start()
        try:
            async with aiohttp.ClientSession() as session:
                url = hook.url_for("cl253")
                params = {"msgid": "42", "status": "DELIVRD", "mobile": MSISDN_CMCC}
                async with session.get(url, params=params) as resp:
                    assert resp.status == 200
                    assert await resp.text() == "OK"
        finally:
            await hook.close()
        assert sink.dlrs[0].message_id == "42"

    run(scenario())


def test_253_style_form_submit_and_signed_get_push_end_to_end() -> None:
    async def scenario() -> None:
        sink = ListDlrSink()
        hook = DlrWebhookServer([], sink)
        await hook.start()
        sim_table = vendor_scenario(
            dlr_push_url=hook.url_for("cl253"),
            dlr_push_secret=PUSH_SECRET,
            dlr_push_format="query",
        )
        try:
            async with SimHarness(scenario_doc({"cl253": sim_table})) as sim:
                table = http_vendor_table(sim.url("cl253"), push=True)
                table["submit"]["body"] = "form"
                table["dlr_push"]["format"] = "query"
                vendor = HttpVendor(parse_http_vendor("cl253", table))
                hook.add_endpoint(vendor)
                await vendor.start(sink)
                try:
                    accepted = await vendor.submit(sms())
                    await sink.wait_for(1)
                finally:
                    await vendor.close()
        finally:
            await hook.close()
        [dlr] = sink.dlrs
        assert dlr.message_id == accepted.message_ids[0]
        assert dlr.status is DlrStatus.DELIVRD and dlr.msisdn == MSISDN_CMCC
        assert b"X-Signature: " in dlr.raw and b"msgid=" in dlr.raw

    run(scenario())
