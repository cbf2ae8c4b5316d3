"""Cross-tests with independent SMPP implementations (docs/vendors.md, "SMPP 3.4"):
our client and adapter against npm `smpp` in server mode, our server against PyPI smpplib.
A bug shared by our codec on both sides cannot pass these."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from pathlib import Path

import pytest
import smpplib.client
import smpplib.consts
import smpplib.exceptions
import smpplib.gsm

from collector.correlation.match import IdRule, id_rule
from collector.vendors.base import DlrStatus, OutgoingSms
from collector.vendors.smpp.adapter import SmppVendor, SmppVendorConfig
from collector.vendors.smpp.client import ExponentialBackoff, SmppClient, SmppClientConfig
from collector.vendors.smpp.errors import SmppBindRefusedError
from collector.vendors.smpp.pdu import CommandStatus, Pdu, ShortMessage
from collector.vendors.smpp.receipt import receipt_from_deliver_sm
from collector.vendors.smpp.server import SmppServer, SmppServerConfig, SubmitEvent
from tests.collector.vendors.helpers import ListDlrSink
from tests.collector.vendors.smpp.aio import run

PEERS = Path(__file__).resolve().parents[3] / "peers"
NODE = shutil.which("node") or "node"


@asynccontextmanager
async def npm_smsc() -> AsyncIterator[int]:
    """`node tests/peers/smpp_server.js 0`; yields the port it printed."""
    if not (PEERS / "node_modules" / "smpp").is_dir():
        raise RuntimeError("run `cd tests/peers && npm install` first")
    proc = await asyncio.create_subprocess_exec(
        NODE,
        str(PEERS / "smpp_server.js"),
        "0",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        cwd=PEERS,
    )
    try:
        assert proc.stdout is not None
        async with asyncio.timeout(30):  # node start-up on a loaded CI host
            line = (await proc.stdout.readline()).decode()
        assert line.startswith("LISTENING "), line
        yield int(line.split()[1])
    finally:
        if proc.returncode is None:
            proc.kill()
        await proc.wait()


def _client(
    port: int, on_deliver: object, password: str = "secret", backoff_s: float = 0.05
) -> SmppClient:
    return SmppClient(
        SmppClientConfig("127.0.0.1", port, "probe", password, bind_wait_s=2.0),
        on_deliver=on_deliver,  # type: ignore[arg-type]
        backoff=ExponentialBackoff(base_s=backoff_s, max_s=backoff_s, min_s=backoff_s / 2),
    )


def test_our_client_against_npm_smpp_hex_resp_decimal_receipt() -> None:
    async def scenario() -> None:
        got: asyncio.Queue[Pdu] = asyncio.Queue()

        async def on_deliver(pdu: Pdu, raw: bytes) -> None:
            await got.put(pdu)

        async with npm_smsc() as port:
            client = _client(port, on_deliver)
            await client.start()
            try:
                await client.wait_bound(5)
                sm = ShortMessage(
                    source_addr="PROBE",
                    destination_addr="8613800138000",
                    registered_delivery=1,
                    short_message=b"probe 42",
                )
                resp = await client.submit(sm)
                assert resp.message_id == "ABC1"
                await client.enquire_link()
                pdu = await got.get()
                assert isinstance(pdu.body, ShortMessage)
                receipt = receipt_from_deliver_sm(pdu.body)
                assert receipt.message_id == "43969" and receipt.stat == "DELIVRD"
                assert receipt.text is not None and receipt.text.done_time is not None
                assert id_rule(resp.message_id, receipt.message_id) is IdRule.HEX_SUBMIT_DEC_DLR
            finally:
                await client.close()

    run(scenario(), timeout_s=60)


def test_npm_smpp_refuses_a_wrong_password() -> None:
    async def scenario() -> None:
        async def ignore(pdu: Pdu, raw: bytes) -> None:
            return None

        async with npm_smsc() as port:
            client = _client(port, ignore, password="nope", backoff_s=30)  # no rebind storm
            await client.start()
            try:
                with pytest.raises(SmppBindRefusedError) as info:
                    await client.wait_bound(5)
                assert info.value.status == CommandStatus.ESME_RINVPASWD
            finally:
                await client.close()

    run(scenario(), timeout_s=60)


def test_our_adapter_against_npm_smpp_long_message() -> None:
    async def scenario() -> None:
        sink = ListDlrSink()
        async with npm_smsc() as port:
            vendor = SmppVendor(
                SmppVendorConfig(
                    name="npm",
                    client=SmppClientConfig("127.0.0.1", port, "probe", "secret"),
                    source_addr="10690123",
                ),
                backoff=ExponentialBackoff(base_s=0.05, max_s=0.05, min_s=0.025),
            )
            await vendor.start(sink)
            try:
                text = "您的验证码为123456，五分钟内有效。" * 5  # 2 UCS2 parts with signature
                result = await vendor.submit(
                    OutgoingSms(
                        probe_id="p", to_msisdn="+8613800138000", text=text, signature="探针"
                    )
                )
                assert result.message_ids == ("ABC1", "ABC2")
                await sink.wait_for(2, timeout_s=20)
                assert sorted(d.message_id for d in sink.dlrs) == ["43969", "43970"]
                assert all(d.status is DlrStatus.DELIVRD for d in sink.dlrs)
                for sent, dlr in zip(
                    result.message_ids, sorted(sink.dlrs, key=lambda d: d.message_id), strict=True
                ):
                    assert id_rule(sent, dlr.message_id) is IdRule.HEX_SUBMIT_DEC_DLR
            finally:
                await vendor.close()

    run(scenario(), timeout_s=60)


# --- smpplib (blocking, in a thread) against our server ----------------------------------


def _smpplib_dialogue(
    port: int, parts: list[bytes], esm_class: int, data_coding: int
) -> dict[str, list[object]]:
    """Bind, submit `parts`, wait for every resp and one receipt per part, unbind."""
    client = smpplib.client.Client("127.0.0.1", port, timeout=5, allow_unknown_opt_params=True)
    sent: list[object] = []
    received: list[object] = []
    client.set_message_sent_handler(lambda pdu: sent.append(pdu.message_id))
    client.set_message_received_handler(lambda pdu: received.append(pdu))
    client.connect()
    try:
        client.bind_transceiver(system_id="probe", password="secret")
        for part in parts:
            client.send_message(
                source_addr_ton=5,
                source_addr="PROBE",
                dest_addr_ton=1,
                dest_addr_npi=1,
                destination_addr="8613800138000",
                short_message=part,
                esm_class=esm_class,
                data_coding=data_coding,
                registered_delivery=1,
            )
        while len(sent) < len(parts) or len(received) < len(parts):
            client.read_once()
        client.unbind()
    finally:
        client.disconnect()
    return {"sent": sent, "received": received}


@asynccontextmanager
async def our_smsc_sending_receipts() -> AsyncIterator[tuple[SmppServer, list[SubmitEvent]]]:
    events: list[SubmitEvent] = []
    tasks: set[asyncio.Task[int | None]] = set()

    async def on_submit(event: SubmitEvent) -> int:
        events.append(event)
        # Scheduled now, runs after the submit_sm_resp has been written.
        task = asyncio.create_task(
            server.send_receipt(
                event.system_id,
                event.message_number,
                submit_time=datetime(2026, 11, 24, 22, 0),
                done_time=datetime(2026, 11, 24, 22, 0, 30),
                seconds=True,
            )
        )
        tasks.add(task)
        return CommandStatus.ESME_ROK

    server = SmppServer(SmppServerConfig(accounts={"probe": "secret"}), on_submit=on_submit)
    async with server:
        yield server, events
        await asyncio.gather(*tasks)


def test_smpplib_client_against_our_server() -> None:
    async def scenario() -> None:
        async with our_smsc_sending_receipts() as (server, events):
            out = await asyncio.to_thread(_smpplib_dialogue, server.port, [b"hello"], 0, 0)
            assert out["sent"] == [b"ABC1"]
            [receipt] = out["received"]
            assert receipt.receipted_message_id == b"43969"  # type: ignore[attr-defined]
            assert receipt.message_state == smpplib.consts.SMPP_MESSAGE_STATE_DELIVERED  # type: ignore[attr-defined]
            assert receipt.short_message.startswith(b"id:43969 sub:001 dlvrd:001")  # type: ignore[attr-defined]
            assert b"done date:261124220030" in receipt.short_message  # type: ignore[attr-defined]
            assert events[0].sm.short_message == b"hello"
            assert server.stats.unbinds == 1 and server.stats.deliver_resp_statuses == {0: 1}

    run(scenario(), timeout_s=60)


def test_smpplib_long_ucs2_parts_reach_our_server() -> None:
    async def scenario() -> None:
        text = "您的验证码为123456，五分钟内有效，请勿泄露给他人。" * 3
        parts, encoding, esm_class = smpplib.gsm.make_parts(text)
        async with our_smsc_sending_receipts() as (server, events):
            out = await asyncio.to_thread(
                _smpplib_dialogue, server.port, list(parts), esm_class, encoding
            )
            assert len(out["sent"]) == len(parts) == len(events) == 2
            assert all(e.sm.esm_class == 0x40 and e.sm.data_coding == 8 for e in events)
            joined = b"".join(e.sm.short_message[6:] for e in events).decode("utf-16-be")
            assert joined == text

    run(scenario(), timeout_s=60)


def test_smpplib_sees_throttling_and_bad_password_from_our_server() -> None:
    def dialogue(port: int) -> tuple[int, list[int]]:
        bad = smpplib.client.Client("127.0.0.1", port, timeout=5, allow_unknown_opt_params=True)
        bad.connect()
        try:
            with pytest.raises(smpplib.exceptions.PDUError) as refused:
                bad.bind_transceiver(system_id="probe", password="nope")
        finally:
            bad.disconnect()
        client = smpplib.client.Client("127.0.0.1", port, timeout=5, allow_unknown_opt_params=True)
        client.connect()
        statuses: list[int] = []
        try:
            client.bind_transmitter(system_id="probe", password="secret")
            client.set_message_sent_handler(lambda pdu: statuses.append(int(pdu.status)))
            # smpplib's default error handler raises on RTHROTTLED; silence
            # it (the sent handler still sees every resp), since responses may come back in
            # either order.
            client.set_error_pdu_handler(lambda pdu: None)
            for _ in range(2):
                client.send_message(destination_addr="8613800138000", short_message=b"x")
            while len(statuses) < 2:
                client.read_once()
            client.unbind()
        finally:
            client.disconnect()
        return int(refused.value.args[1]), statuses

    async def scenario() -> None:
        now = [0.0]
        server = SmppServer(
            SmppServerConfig(accounts={"probe": "secret"}, throttle_per_s=0.001),
            clock=lambda: now[0],
        )
        async with server:
            refused, throttled = await asyncio.to_thread(dialogue, server.port)
        assert refused == CommandStatus.ESME_RINVPASWD
        assert sorted(throttled) == [CommandStatus.ESME_ROK, CommandStatus.ESME_RTHROTTLED]

    run(scenario(), timeout_s=60)
