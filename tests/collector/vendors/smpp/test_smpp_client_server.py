"""Our ESME client against our SMSC server over real loopback sockets."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import datetime

import pytest

from collector.correlation.match import IdRule, id_rule
from collector.vendors.smpp.client import (
    BindMode,
    ExponentialBackoff,
    SmppClient,
    SmppClientConfig,
)
from collector.vendors.smpp.errors import (
    SmppAmbiguousSubmitError,
    SmppBindRefusedError,
    SmppNotBoundError,
    SmppProtocolError,
    SmppRejectedError,
    SmppThrottledError,
)
from collector.vendors.smpp.pdu import (
    Bind,
    CommandId,
    CommandStatus,
    DataSm,
    Empty,
    MessageIdResp,
    Pdu,
    ShortMessage,
    command_length,
    decode,
    encode,
)
from collector.vendors.smpp.receipt import (
    IdStyle,
    delivered_message,
    receipt_from_deliver_sm,
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
from tests.collector.vendors.smpp.aio import eventually, run

ACCOUNTS = {"probe": "secret"}
T0 = datetime(2026, 11, 24, 22, 0)
T1 = datetime(2026, 11, 24, 22, 1, 5)


def _sm(text: str = "hello") -> ShortMessage:
    return ShortMessage(
        source_addr="PROBE",
        source_addr_ton=5,
        destination_addr="8613800138000",
        dest_addr_ton=1,
        dest_addr_npi=1,
        registered_delivery=1,
        short_message=text.encode("latin-1"),
    )


@asynccontextmanager
async def smsc(on_submit: OnSubmit = accept_all, **config: object) -> AsyncIterator[SmppServer]:
    server = SmppServer(SmppServerConfig(accounts=ACCOUNTS, **config), on_submit=on_submit)  # type: ignore[arg-type]
    async with server:
        yield server


@asynccontextmanager
async def esme(
    server: SmppServer,
    on_deliver: Callable[[Pdu, bytes], Awaitable[None]] | None = None,
    *,
    bind: bool = True,
    password: str = "secret",
    **config: object,
) -> AsyncIterator[SmppClient]:
    async def ignore(pdu: Pdu, raw: bytes) -> None:
        return None

    cfg = SmppClientConfig(
        host="127.0.0.1",
        port=server.port,
        system_id="probe",
        password=password,
        **{"response_timeout_s": 10.0, "bind_wait_s": 10.0, **config},  # type: ignore[arg-type]
    )
    client = SmppClient(
        cfg, on_deliver=on_deliver or ignore, backoff=ExponentialBackoff(base_s=0.0)
    )
    await client.start()
    try:
        if bind:
            await client.wait_bound(5)
        yield client
    finally:
        await client.close()


def test_submit_then_receipt_with_hex_and_decimal_ids() -> None:
    async def scenario() -> None:
        events: list[SubmitEvent] = []
        receipts: list[Pdu] = []

        async def on_submit(event: SubmitEvent) -> int:
            events.append(event)
            return CommandStatus.ESME_ROK

        async def on_deliver(pdu: Pdu, raw: bytes) -> None:
            receipts.append(pdu)

        async with smsc(on_submit) as server, esme(server, on_deliver) as client:
            resp = await client.submit(_sm("probe 1"))
            assert resp.message_id == "ABC1"  # 43969 rendered in hex
            assert decode(resp.request).body == _sm("probe 1")
            assert decode(resp.response).body == MessageIdResp("ABC1")
            [event] = events
            assert event.sm.short_message == b"probe 1"
            assert event.receipt_id == "43969"
            status = await server.send_receipt(
                "probe", event.message_number, submit_time=T0, done_time=T1, text="probe 1"
            )
            assert status == CommandStatus.ESME_ROK
            [pdu] = receipts
            assert isinstance(pdu.body, ShortMessage)
            receipt = receipt_from_deliver_sm(pdu.body)
            assert receipt.text_message_id == "43969" and receipt.stat == "DELIVRD"
            assert id_rule(resp.message_id, receipt.message_id) is IdRule.HEX_SUBMIT_DEC_DLR

    run(scenario())


@pytest.mark.parametrize("form", list(ReceiptForm))
def test_receipt_forms_all_carry_the_id(form: ReceiptForm) -> None:
    async def scenario() -> None:
        got: list[Pdu] = []

        async def on_deliver(pdu: Pdu, raw: bytes) -> None:
            got.append(pdu)

        async with smsc(id_style=IdStyle.DECIMAL) as server, esme(server, on_deliver) as client:
            resp = await client.submit(_sm())
            assert resp.message_id == "43969"
            await server.send_receipt(
                "probe", 43969, "UNDELIV", submit_time=T0, done_time=T1, err="001", form=form
            )
            body = got[0].body
            assert isinstance(body, DataSm if form is ReceiptForm.DATA_SM else ShortMessage)
            receipt = receipt_from_deliver_sm(delivered_message(body))
            assert receipt.stat == "UNDELIV"
            assert receipt.message_id == "ABC1"
            assert (receipt.text is None) == (form is ReceiptForm.TLV)
            assert (receipt.tlv_message_id is None) == (form is ReceiptForm.TEXT)

    run(scenario())


def test_deliver_sm_is_acked_only_after_the_callback_returned() -> None:
    async def scenario() -> None:
        gate = asyncio.Event()
        entered = asyncio.Event()

        async def slow_store(pdu: Pdu, raw: bytes) -> None:
            entered.set()
            await gate.wait()

        async with smsc() as server, esme(server, slow_store) as client:
            push = asyncio.create_task(
                server.send_receipt("probe", 1, submit_time=T0, done_time=T1)
            )
            await entered.wait()
            # A round trip on the same TCP stream: a resp sent before it would be read first.
            await client.enquire_link()
            assert not push.done() and server.stats.receipts_sent == 0
            gate.set()
            assert await push == CommandStatus.ESME_ROK

    run(scenario())


def test_close_lets_a_dlr_being_stored_finish_and_be_acked() -> None:
    async def scenario() -> None:
        gate = asyncio.Event()
        entered = asyncio.Event()

        async def slow_store(pdu: Pdu, raw: bytes) -> None:
            entered.set()
            await gate.wait()

        async with smsc() as server, esme(server, slow_store) as client:
            push = asyncio.create_task(
                server.send_receipt("probe", 1, submit_time=T0, done_time=T1)
            )
            await entered.wait()
            closing = asyncio.create_task(client.close())
            for _ in range(5):
                await asyncio.sleep(0)
            assert not closing.done()  # waiting for the store, not cutting it off
            gate.set()
            await closing
            assert await push == CommandStatus.ESME_ROK
            assert server.stats.unbinds == 1

    run(scenario())


def test_failing_callback_answers_rx_t_appn() -> None:
    async def scenario() -> None:
        async def broken_store(pdu: Pdu, raw: bytes) -> None:
            raise OSError("disk full")

        async with smsc() as server, esme(server, broken_store):
            status = await server.send_receipt("probe", 1, submit_time=T0, done_time=T1)
            assert status == CommandStatus.ESME_RX_T_APPN

    run(scenario())


def test_receipts_queued_while_unbound_arrive_after_bind() -> None:
    async def scenario() -> None:
        got: list[Pdu] = []

        async def on_deliver(pdu: Pdu, raw: bytes) -> None:
            got.append(pdu)

        async with smsc() as server:
            assert await server.send_receipt("probe", 7, submit_time=T0, done_time=T1) is None
            async with esme(server, on_deliver):
                await eventually(lambda: len(got) == 1, what="queued receipt")
            assert isinstance(got[0].body, ShortMessage)
            assert receipt_from_deliver_sm(got[0].body).text_message_id == "7"

    run(scenario())


@pytest.mark.parametrize(
    ("password", "system_id", "status"),
    [
        ("wrong", "probe", CommandStatus.ESME_RINVPASWD),
        ("x", "nobody", CommandStatus.ESME_RINVSYSID),
    ],
)
def test_bind_refused(password: str, system_id: str, status: int) -> None:
    async def scenario() -> None:
        async with smsc() as server:
            cfg = SmppClientConfig("127.0.0.1", server.port, system_id, password, bind_wait_s=0.2)

            async def ignore(pdu: Pdu, raw: bytes) -> None:
                return None

            # A long backoff keeps the client idle after the refusal: a connect cancelled
            # mid-handshake by close() trips a CPython 3.11 accept-path socket leak
            # (selector_events._accept_connection2 does not close `conn` when
            # TCP_NODELAY fails), which `filterwarnings = error` would report.
            client = SmppClient(
                cfg, on_deliver=ignore, backoff=ExponentialBackoff(base_s=30, max_s=30, min_s=15)
            )
            await client.start()
            try:
                with pytest.raises(SmppBindRefusedError) as info:
                    await client.wait_bound(5)
                assert info.value.status == status and info.value.is_auth
                with pytest.raises(SmppNotBoundError, match="bind refused"):
                    await client.submit(_sm())
            finally:
                await client.close()
            assert server.stats.binds == 0 and server.stats.bind_refusals >= 1

    run(scenario())


def test_throttled_and_rejected_are_typed() -> None:
    async def scenario() -> None:
        now = [0.0]

        async def on_submit(event: SubmitEvent) -> int:
            if event.sm.destination_addr.endswith("444"):
                return CommandStatus.ESME_RINVDSTADR
            return CommandStatus.ESME_ROK

        server = SmppServer(
            SmppServerConfig(accounts=ACCOUNTS, throttle_per_s=1.0, throttle_burst=1),
            on_submit=on_submit,
            clock=lambda: now[0],
        )
        async with server, esme(server) as client:
            await client.submit(_sm())
            with pytest.raises(SmppThrottledError) as throttled:
                await client.submit(_sm())
            assert throttled.value.status == CommandStatus.ESME_RTHROTTLED
            now[0] += 1.0  # one token back
            bad = ShortMessage(destination_addr="8613800000444", short_message=b"x")
            with pytest.raises(SmppRejectedError) as rejected:
                await client.submit(bad)
            assert rejected.value.status == CommandStatus.ESME_RINVDSTADR
            assert server.stats.throttled == 1

    run(scenario())


def test_enquire_link_keepalive_when_idle() -> None:
    async def scenario() -> None:
        async with smsc() as server, esme(server, enquire_link_interval_s=0.05) as client:
            await eventually(lambda: server.stats.enquire_links >= 2, what="keepalives")
            await client.enquire_link()
            assert client.binds == 1

    run(scenario())


def test_reconnect_after_the_smsc_drops_the_connection() -> None:
    async def scenario() -> None:
        async with smsc() as server, esme(server) as client:
            await client.submit(_sm())
            assert server.drop_sessions() == 1
            await eventually(lambda: client.binds == 2, what="rebind")
            resp = await client.submit(_sm())
            assert resp.message_id == "ABC2"
            assert server.stats.binds == 2

    run(scenario())


def test_client_answers_an_smsc_unbind_and_rebinds() -> None:
    async def scenario() -> None:
        async with smsc() as server, esme(server) as client:
            assert await server.unbind_sessions("probe") == 1
            await eventually(lambda: client.binds == 2, what="rebind after unbind")
            assert (await client.submit(_sm())).message_id == "ABC1"

    run(scenario())


@pytest.mark.parametrize("mode", [Misbehaviour.DROP_CONNECTION, Misbehaviour.NO_RESP])
def test_submit_without_response_is_ambiguous(mode: Misbehaviour) -> None:
    async def scenario() -> None:
        accepted: list[SubmitEvent] = []

        async def on_submit(event: SubmitEvent) -> int:
            accepted.append(event)
            return CommandStatus.ESME_ROK

        # no_resp can only end by the response timeout; keep it short but not tight.
        timeout_s = 1.0 if mode is Misbehaviour.NO_RESP else 10.0
        async with smsc(on_submit) as server, esme(server, response_timeout_s=timeout_s) as client:
            server.misbehaviour = mode
            with pytest.raises(SmppAmbiguousSubmitError):
                await client.submit(_sm())
            assert len(accepted) == 1  # the SMSC did take it: a blind retry would duplicate
            server.misbehaviour = Misbehaviour.NONE
            if mode is Misbehaviour.DROP_CONNECTION:
                await eventually(lambda: client.binds == 2, what="rebind")
            resp = await client.submit(_sm())
            assert resp.message_id == "ABC2"

    run(scenario())


def test_generic_nack_is_a_protocol_error() -> None:
    async def scenario() -> None:
        async with smsc() as server, esme(server) as client:
            server.misbehaviour = Misbehaviour.GENERIC_NACK
            with pytest.raises(SmppProtocolError, match="ESME_RINVCMDLEN"):
                await client.submit(_sm())
            assert server.stats.generic_nacks_sent == 1
            await client.enquire_link()  # the session survives a nack

    run(scenario())


def test_slow_resp_within_timeout_succeeds() -> None:
    async def scenario() -> None:
        async with smsc(slow_resp_s=0.1) as server, esme(server) as client:
            server.misbehaviour = Misbehaviour.SLOW_RESP
            assert (await client.submit(_sm())).message_id == "ABC1"

    run(scenario())


def test_client_window_bounds_outstanding_submits() -> None:
    async def scenario() -> None:
        gate = asyncio.Event()
        inflight = [0]
        peak = [0]

        async def on_submit(event: SubmitEvent) -> int:
            inflight[0] += 1
            peak[0] = max(peak[0], inflight[0])
            await gate.wait()
            inflight[0] -= 1
            return CommandStatus.ESME_ROK

        async with smsc(on_submit) as server, esme(server, window=2) as client:
            tasks = [asyncio.create_task(client.submit(_sm(f"m{i}"))) for i in range(5)]
            await eventually(lambda: inflight[0] == 2, what="two in flight")
            await client.enquire_link()  # anything sent before it has reached the server
            assert server.stats.submits == 2
            gate.set()
            ids = [r.message_id for r in await asyncio.gather(*tasks)]
            assert sorted(ids) == ["ABC1", "ABC2", "ABC3", "ABC4", "ABC5"]
            assert peak[0] == 2

    run(scenario())


def test_server_window_overflow_is_throttling() -> None:
    async def scenario() -> None:
        gate = asyncio.Event()

        async def on_submit(event: SubmitEvent) -> int:
            await gate.wait()
            return CommandStatus.ESME_ROK

        async with smsc(on_submit, window=1) as server, esme(server, window=5) as client:
            first = asyncio.create_task(client.submit(_sm()))
            await eventually(lambda: server.stats.submits == 1, what="first submit")
            with pytest.raises(SmppThrottledError) as info:
                await client.submit(_sm())
            assert info.value.status == CommandStatus.ESME_RMSGQFUL
            gate.set()
            assert (await first).message_id == "ABC1"

    run(scenario())


def test_close_unbinds() -> None:
    async def scenario() -> None:
        async with smsc() as server:
            async with esme(server):
                pass
            await eventually(lambda: server.stats.unbinds == 1, what="unbind")

    run(scenario())


# --- the server against raw PDUs ----------------------------------------------------------


async def _exchange(writer: asyncio.StreamWriter, reader: asyncio.StreamReader, raw: bytes) -> Pdu:
    writer.write(raw)
    header = await reader.readexactly(4)
    return decode(header + await reader.readexactly(command_length(header) - 4))


def test_server_protocol_errors() -> None:
    async def scenario() -> None:
        async with smsc() as server:
            reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
            try:
                # submit before bind: RINVBNDSTS (SMPP 3.4 §4.4.2 via §2.4 session states)
                resp = await _exchange(
                    writer, reader, encode(Pdu(CommandId.SUBMIT_SM, 1, 0, _sm()))
                )
                assert (resp.command_id, resp.command_status) == (
                    CommandId.SUBMIT_SM_RESP,
                    CommandStatus.ESME_RINVBNDSTS,
                )
                # unknown command id: generic_nack with the same sequence number
                unknown = bytes.fromhex("0000001000000110000000000a342ee7")
                nack = await _exchange(writer, reader, unknown)
                assert nack == Pdu(CommandId.GENERIC_NACK, 0x0A342EE7, CommandStatus.ESME_RINVCMDID)
                # bind as a receiver, then submit: still the wrong bind state
                bind = Pdu(CommandId.BIND_RECEIVER, 2, 0, Bind("probe", "secret"))
                assert (await _exchange(writer, reader, encode(bind))).command_status == 0
                again = Pdu(CommandId.BIND_TRANSCEIVER, 3, 0, Bind("probe", "secret"))
                assert (await _exchange(writer, reader, encode(again))).command_status == (
                    CommandStatus.ESME_RALYBND
                )
                resp = await _exchange(
                    writer, reader, encode(Pdu(CommandId.SUBMIT_SM, 4, 0, _sm()))
                )
                assert resp.command_status == CommandStatus.ESME_RINVBNDSTS
                link = await _exchange(
                    writer, reader, encode(Pdu(CommandId.ENQUIRE_LINK, 5, 0, Empty()))
                )
                assert link == Pdu(CommandId.ENQUIRE_LINK_RESP, 5)
            finally:
                writer.close()
                await writer.wait_closed()

    run(scenario())


def test_bind_mode_transmitter_gets_no_receipts() -> None:
    async def scenario() -> None:
        got: list[Pdu] = []

        async def on_deliver(pdu: Pdu, raw: bytes) -> None:
            got.append(pdu)

        async with (
            smsc() as server,
            esme(server, on_deliver, bind_mode=BindMode.TRANSMITTER) as client,
        ):
            await client.submit(_sm())
            assert await server.send_receipt("probe", 43969, submit_time=T0, done_time=T1) is None
            assert got == []

    run(scenario())
