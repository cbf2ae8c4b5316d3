"""The SMPP face counts a receipt as sent (ground truth) only once the SMSC wrote it to a
bound receiver session and the ESME acknowledged it: PyPI smpplib as an independent ESME
that submits as a transmitter, leaves, and binds as a receiver later (SMPP 3.4 §4.1)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest
import smpplib.client

from collector.vendors.simulator.network import CarrierNetwork, RecordingModemSink
from collector.vendors.simulator.scenario import parse_scenario
from collector.vendors.simulator.smpp_api import SmppVendorSimulator
from collector.vendors.simulator.truth import TruthLog
from collector.vendors.smpp.pdu import CommandStatus
from tests.collector.vendors.helpers import (
    ACCOUNT,
    PASSWORD,
    run,
    scenario_doc,
    vendor_scenario,
)
from tests.collector.vendors.simulator.test_smpp_alphabet import _smpplib_submit


def _world() -> tuple[CarrierNetwork, SmppVendorSimulator, RecordingModemSink]:
    """Every message arrives after 0.05 s and its receipt is due 0.2 s after the submit
    (simulated seconds / speedup 1000)."""
    knobs = {
        "p_arrive": 1.0,
        "latency": {"dist": "fixed", "median_s": 50.0},
        "dlr_latency": {"dist": "fixed", "median_s": 200.0},
    }
    doc = scenario_doc(
        {"v": vendor_scenario(protocol="smpp", signature_required=False, knobs=knobs)}
    )
    modems = RecordingModemSink()
    net = CarrierNetwork(parse_scenario(doc), modems, TruthLog())
    return net, SmppVendorSimulator(net, "v"), modems


def _client(port: int) -> Any:
    return smpplib.client.Client("127.0.0.1", port, timeout=5, allow_unknown_opt_params=True)


def _submit_and_leave(port: int) -> bytes:
    """Bind as a transmitter (no receipts can come), submit one message, unbind."""
    message_id: bytes = _smpplib_submit(port, "Code 482913").message_id
    return message_id


def _bind_receiver_and_read(port: int, count: int, answers: list[int]) -> list[Any]:
    """Bind as a receiver and read `count` deliver_sm; the i-th is answered answers[i]
    (ESME_ROK once they run out)."""
    client = _client(port)
    got: list[Any] = []

    def on_deliver(pdu: Any) -> int:
        got.append(pdu)
        return answers[len(got) - 1] if len(got) <= len(answers) else 0

    client.set_message_received_handler(on_deliver)
    client.connect()
    try:
        client.bind_receiver(system_id=ACCOUNT, password=PASSWORD)
        while len(got) < count:
            client.read_once()
        client.unbind()
    finally:
        client.disconnect()
    return got


async def _eventually(check: Callable[[], bool], what: str) -> None:
    async with asyncio.timeout(10):
        while not check():
            await asyncio.sleep(0.02)


def test_receipt_due_while_unbound_is_sent_and_counted_on_the_late_bind() -> None:
    async def scenario() -> None:
        net, front, modems = _world()
        await front.start()
        try:
            message_id = await asyncio.to_thread(_submit_and_leave, front.port)
            await modems.wait_for(1)
            await _eventually(lambda: front.server.stats.receipts_queued == 1, "queued")
            # Due and queued, never written: the truth lists no receipt yet.
            [record] = net.truth.records
            assert record.fate == "delivered" and record.receipts == ()
            [receipt] = await asyncio.to_thread(_bind_receiver_and_read, front.port, 1, [])
            await net.wait_idle()
        finally:
            await front.close()
            await net.close()
        assert message_id == b"ABC1"
        assert receipt.receipted_message_id == b"43969"  # the same number, in decimal
        record = net.truth.records[-1]
        assert [r.status for r in record.receipts] == ["DELIVRD"]
        assert record.dlr_count == 1 and record.dlr_status == "DELIVRD"
        assert front.server.stats.receipts_sent == 1

    run(scenario(), 60.0)


@pytest.mark.parametrize(
    ("answers", "reads", "counted"),
    [
        # could not store it: the SMSC sends it again (after 1 s), counted once
        ([CommandStatus.ESME_RX_T_APPN], 2, 1),
        # refused for good (SMPP 3.4 §5.1.3): written once, never taken, not counted
        ([CommandStatus.ESME_RX_P_APPN], 1, 0),
    ],
)
def test_receipt_counts_only_when_the_esme_took_it(
    answers: list[int], reads: int, counted: int
) -> None:
    async def scenario() -> None:
        net, front, modems = _world()
        await front.start()
        try:
            await asyncio.to_thread(_submit_and_leave, front.port)
            await modems.wait_for(1)
            got = await asyncio.to_thread(_bind_receiver_and_read, front.port, reads, answers)
            if counted:
                await net.wait_idle()
            else:
                await _eventually(lambda: bool(front.server.stats.receipts_sent), "answered")
                await asyncio.sleep(0.1)  # give a wrong count the chance to appear
        finally:
            await front.close()
            await net.close()
        assert len(got) == reads
        assert len({p.receipted_message_id for p in got}) == 1  # the same receipt again
        statuses = front.server.stats.deliver_resp_statuses
        assert sum(statuses.values()) == reads and statuses[answers[0]] == 1
        assert len(net.truth.records[-1].receipts) == counted

    run(scenario(), 60.0)


def test_receipt_still_queued_at_the_end_is_not_in_the_truth() -> None:
    async def scenario() -> None:
        net, front, modems = _world()
        await front.start()
        try:
            await asyncio.to_thread(_submit_and_leave, front.port)
            await modems.wait_for(1)
            await _eventually(lambda: front.server.stats.receipts_queued == 1, "queued")
        finally:
            await front.close()  # the queued receipt's sent-hook learns it never went out
            await net.wait_idle()  # the network's receipt task ends: nothing hangs
            await net.close()
        assert front.server.stats.receipts_sent == 0
        [record] = net.truth.records
        assert record.fate == "delivered" and record.receipts == () and record.dlr_count == 0

    run(scenario(), 60.0)


def test_receipt_in_flight_when_the_smsc_closes_is_not_in_the_truth() -> None:
    """A receiver binds and never answers the deliver_sm: the SMSC closing with that
    receipt unacknowledged ends its wait (nothing hangs) and the truth has no receipt."""

    async def scenario() -> None:
        net, front, modems = _world()
        await front.start()
        silent = _client(front.port)
        try:
            await asyncio.to_thread(_submit_and_leave, front.port)
            await modems.wait_for(1)
            await _eventually(lambda: front.server.stats.receipts_queued == 1, "queued")
            await asyncio.to_thread(silent.connect)
            await asyncio.to_thread(silent.bind_receiver, system_id=ACCOUNT, password=PASSWORD)
            got = await asyncio.to_thread(silent.read_pdu)  # the receipt, left unanswered
        finally:
            await front.close()
            await net.wait_idle()
            await net.close()
            silent.disconnect()
        assert got.command == "deliver_sm"
        assert front.server.stats.receipts_sent == 0
        [record] = net.truth.records
        assert record.receipts == ()

    run(scenario(), 60.0)
