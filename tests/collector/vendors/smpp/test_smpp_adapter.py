"""`SmppVendor` (the collector's SmsVendor over SMPP) against our SMSC on loopback."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime

import pytest

from collector.correlation.match import IdRule, id_rule
from collector.vendors.base import (
    AmbiguousSubmitError,
    AuthFailedError,
    DlrSource,
    DlrStatus,
    OutgoingSms,
    RawDlr,
    RejectedError,
    RejectReason,
    SmsVendor,
    ThrottledError,
    TransientError,
)
from collector.vendors.smpp.adapter import PartialSubmitError, SmppVendor, SmppVendorConfig
from collector.vendors.smpp.client import ExponentialBackoff, SmppClientConfig
from collector.vendors.smpp.pdu import (
    CommandId,
    CommandStatus,
    ShortMessage,
    decode,
)
from collector.vendors.smpp.server import (
    Misbehaviour,
    OnSubmit,
    ReceiptForm,
    SmppServer,
    SmppServerConfig,
    SubmitEvent,
    accept_all,
)
from tests.collector.vendors.helpers import ListDlrSink
from tests.collector.vendors.smpp.aio import run

T0 = datetime(2026, 11, 25, 6, 0)  # vendor wall clock, UTC+8
T1 = datetime(2026, 11, 25, 6, 1)
LONG_ZH = (
    "您的工单号ABC123已受理，处理时间约为两个工作日，请留意短信通知。" * 4
)  # 144 UCS2 units: 3 parts


class RecordingSleep:
    """Injected sleep that records the delay and returns at once (no test sleeps)."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, delay: float) -> None:
        self.delays.append(delay)
        await asyncio.sleep(0)


@asynccontextmanager
async def vendor_and_smsc(
    on_submit: OnSubmit = accept_all,
    *,
    password: str = "secret",
    sleep: RecordingSleep | None = None,
    sink: ListDlrSink | None = None,
    response_timeout_s: float = 10.0,
) -> AsyncIterator[tuple[SmppVendor, SmppServer, ListDlrSink]]:
    server = SmppServer(SmppServerConfig(accounts={"probe": "secret"}), on_submit=on_submit)
    sink = sink or ListDlrSink()
    async with server:
        vendor = SmppVendor(
            SmppVendorConfig(
                name="smpp-sim",
                client=SmppClientConfig(
                    "127.0.0.1",
                    server.port,
                    "probe",
                    password,
                    response_timeout_s=response_timeout_s,
                ),
                source_addr="10690123",
                bind_timeout_s=10.0,
            ),
            clock=lambda: 1_700_000_000_000_000_000,
            backoff=ExponentialBackoff(base_s=0.0),
            sleep=sleep or RecordingSleep(),
        )
        try:
            await vendor.start(sink)
            yield vendor, server, sink
        finally:
            await vendor.close()


def _probe(text: str = "验证码 123456", to: str = "+8613800138000") -> OutgoingSms:
    return OutgoingSms(probe_id="p-1", to_msisdn=to, text=text, signature="探针")


def test_smpp_vendor_is_an_sms_vendor() -> None:
    vendor = SmppVendor(
        SmppVendorConfig(name="x", client=SmppClientConfig("127.0.0.1", 1, "a", "b"))
    )
    assert isinstance(vendor, SmsVendor)
    assert vendor.name == "x"


@pytest.mark.parametrize("form", list(ReceiptForm))
def test_single_part_submit_and_receipt_stored_before_ack(form: ReceiptForm) -> None:
    async def scenario() -> None:
        events: list[SubmitEvent] = []

        async def on_submit(event: SubmitEvent) -> int:
            events.append(event)
            return CommandStatus.ESME_ROK

        async with vendor_and_smsc(on_submit) as (vendor, server, sink):
            result = await vendor.submit(_probe())
            assert result.message_ids == ("ABC1",) and result.parts == 1
            assert result.smpp_status == 0
            [event] = events
            assert event.sm.destination_addr == "8613800138000"
            assert event.sm.data_coding == 8 and event.sm.registered_delivery == 1
            assert event.sm.short_message.decode("utf-16-be") == "【探针】验证码 123456"
            sent = decode(result.raw_request).body
            assert isinstance(sent, ShortMessage) and sent == event.sm
            status = await server.send_receipt(
                "probe",
                event.message_number,
                submit_time=T0,
                done_time=T1,
                form=form,
                destination_addr="10690123",
                source_addr="8613800138000",
            )
            assert status == CommandStatus.ESME_ROK
            [dlr] = sink.dlrs  # stored before the deliver_sm_resp went out
            assert dlr.message_id == "43969" and dlr.status is DlrStatus.DELIVRD
            sent_as = CommandId.DATA_SM if form is ReceiptForm.DATA_SM else CommandId.DELIVER_SM
            assert decode(dlr.raw).command_id == sent_as
            assert id_rule(result.message_ids[0], dlr.message_id) is IdRule.HEX_SUBMIT_DEC_DLR
            assert dlr.source is DlrSource.SMPP and dlr.msisdn == "8613800138000"
            done_ns = int(datetime(2026, 11, 24, 22, 1, tzinfo=UTC).timestamp()) * 10**9
            # the done date travels in the text only
            assert dlr.done_at_ns == (None if form is ReceiptForm.TLV else done_ns)
            assert decode(dlr.raw).sequence_number >= 1
            assert await vendor.poll_dlrs() == 0

    run(scenario())


def test_long_message_one_submit_and_one_id_per_part() -> None:
    async def scenario() -> None:
        events: list[SubmitEvent] = []

        async def on_submit(event: SubmitEvent) -> int:
            events.append(event)
            return CommandStatus.ESME_ROK

        async with vendor_and_smsc(on_submit) as (vendor, server, sink):
            result = await vendor.submit(_probe(LONG_ZH))
            assert result.parts == 3 and result.message_ids == ("ABC1", "ABC2", "ABC3")
            udhs = [e.sm.short_message[:6] for e in events]
            assert {u[:4] for u in udhs} == {udhs[0][:4]}  # one reference for all parts
            assert [(u[4], u[5]) for u in udhs] == [(3, 1), (3, 2), (3, 3)]
            assert all(e.sm.esm_class == 0x40 for e in events)
            text = b"".join(e.sm.short_message[6:] for e in events).decode("utf-16-be")
            assert text == "【探针】" + LONG_ZH
            for event in events:  # each part gets its own receipt
                await server.send_receipt(
                    "probe", event.message_number, submit_time=T0, done_time=T1
                )
            # Receipts carry the decimal form (the SMSC mimics hex-resp/decimal-DLR vendors).
            assert [d.message_id for d in sink.dlrs] == ["43969", "43970", "43971"]

    run(scenario())


def test_throttled_second_part_is_resent_not_the_whole_message() -> None:
    async def scenario() -> None:
        calls = [0]

        async def on_submit(event: SubmitEvent) -> int:
            calls[0] += 1
            return CommandStatus.ESME_RTHROTTLED if calls[0] == 2 else CommandStatus.ESME_ROK

        sleep = RecordingSleep()
        async with vendor_and_smsc(on_submit, sleep=sleep) as (vendor, _server, _sink):
            result = await vendor.submit(_probe(LONG_ZH))
            # 43970 was consumed by the throttled attempt of part 2
            assert result.message_ids == ("ABC1", "ABC3", "ABC4")
            assert calls[0] == 4 and sleep.delays == [1.0]

    run(scenario())


def test_part_that_stays_throttled_gives_partial_submit() -> None:
    async def scenario() -> None:
        calls = [0]

        async def on_submit(event: SubmitEvent) -> int:
            calls[0] += 1
            return CommandStatus.ESME_ROK if calls[0] == 1 else CommandStatus.ESME_RTHROTTLED

        async with vendor_and_smsc(on_submit) as (vendor, _server, _sink):
            with pytest.raises(PartialSubmitError) as info:
                await vendor.submit(_probe(LONG_ZH))
            assert isinstance(info.value, AmbiguousSubmitError)
            assert info.value.message_ids == ("ABC1",) and info.value.parts == 3
            assert info.value.smpp_status == CommandStatus.ESME_RTHROTTLED
            assert calls[0] == 1 + 1 + 3  # part 1, part 2 + three bounded retries

    run(scenario())


@pytest.mark.parametrize(
    ("status", "error", "reason"),
    [
        (CommandStatus.ESME_RTHROTTLED, ThrottledError, None),
        (CommandStatus.ESME_RMSGQFUL, ThrottledError, None),
        (CommandStatus.ESME_RX_T_APPN, TransientError, None),
        (CommandStatus.ESME_RSYSERR, AmbiguousSubmitError, None),
        (CommandStatus.ESME_RINVDSTADR, RejectedError, RejectReason.NUMBER),
        (CommandStatus.ESME_RSUBMITFAIL, RejectedError, RejectReason.OTHER),
    ],
)
def test_first_part_errors_map_to_the_vendor_error_tree(
    status: int, error: type[Exception], reason: RejectReason | None
) -> None:
    async def scenario() -> None:
        async def on_submit(event: SubmitEvent) -> int:
            return status

        async with vendor_and_smsc(on_submit) as (vendor, _server, _sink):
            with pytest.raises(error) as info:
                await vendor.submit(_probe())
            assert not isinstance(info.value, PartialSubmitError)
            if reason is not None:
                assert isinstance(info.value, RejectedError) and info.value.reason is reason
            if isinstance(info.value, ThrottledError):
                assert info.value.retry_after_s == 15.0

    run(scenario())


def test_no_response_is_ambiguous() -> None:
    async def scenario() -> None:
        async with vendor_and_smsc(response_timeout_s=1.0) as (vendor, server, _sink):
            server.misbehaviour = Misbehaviour.NO_RESP
            with pytest.raises(AmbiguousSubmitError):
                await vendor.submit(_probe())

    run(scenario())


def test_generic_nack_is_rejected_not_retried() -> None:
    async def scenario() -> None:
        async with vendor_and_smsc() as (vendor, server, _sink):
            server.misbehaviour = Misbehaviour.GENERIC_NACK
            with pytest.raises(RejectedError) as info:
                await vendor.submit(_probe())
            assert info.value.reason is RejectReason.OTHER

    run(scenario())


def test_wrong_password_is_auth_failed() -> None:
    async def scenario() -> None:
        with pytest.raises(AuthFailedError) as info:
            async with vendor_and_smsc(password="nope"):
                pass
        assert info.value.smpp_status == CommandStatus.ESME_RINVPASWD

    run(scenario())


def test_submit_before_start_is_transient() -> None:
    async def scenario() -> None:
        vendor = SmppVendor(
            SmppVendorConfig(name="x", client=SmppClientConfig("127.0.0.1", 1, "a", "b"))
        )
        with pytest.raises(TransientError):
            await vendor.submit(_probe())

    run(scenario())


def test_unparseable_receipt_is_still_stored_and_mo_is_not() -> None:
    async def scenario() -> None:
        async with vendor_and_smsc() as (_vendor, server, sink):
            garbage = ShortMessage(esm_class=0x04, short_message=b"00,0210021543,,447887")
            assert await server.deliver("probe", garbage) == CommandStatus.ESME_ROK
            mo = ShortMessage(source_addr="8613800138000", short_message=b"TD")
            assert await server.deliver("probe", mo) == CommandStatus.ESME_ROK
            [dlr] = sink.dlrs
            assert dlr.message_id == "" and dlr.status is DlrStatus.UNKNOWN
            assert decode(dlr.raw).body == garbage

    run(scenario())


def test_sink_failure_makes_the_smsc_redeliver() -> None:
    class FailingOnceSink(ListDlrSink):
        def __init__(self) -> None:
            super().__init__()
            self.failures = 0

        async def store(self, dlr: RawDlr) -> None:
            if self.failures == 0:
                self.failures += 1
                raise OSError("database locked")
            await super().store(dlr)

    async def scenario() -> None:
        sink = FailingOnceSink()
        async with vendor_and_smsc(sink=sink) as (_vendor, server, _sink):
            first = await server.send_receipt("probe", 1, submit_time=T0, done_time=T1)
            assert first == CommandStatus.ESME_RX_T_APPN and sink.dlrs == []
            second = await server.send_receipt("probe", 1, submit_time=T0, done_time=T1)
            assert second == CommandStatus.ESME_ROK and len(sink.dlrs) == 1

    run(scenario())
