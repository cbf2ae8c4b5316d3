"""A third-party modem library (python-gsmmodem-new) cannot tell the simulator from a modem."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from gsmmodem.modem import GsmModem
from gsmmodem.pdu import decodeSmsPdu

from agent.modem.simulator import FleetThread
from tests.plugins.modems import fast_spec, wait_for


def _join_notification_threads(before: set[threading.Thread], timeout: float = 15.0) -> None:
    """Wait for the library's URC handler threads before closing the port.

    gsmmodem handles every unsolicited line on a fresh non-daemon thread that keeps talking
    to the modem after our callback returned (+CMTI: callback, then AT+CMGD). Closing the port
    under it makes that thread raise TimeoutException 5 s later, inside whichever test runs
    next on this worker (PytestUnhandledThreadExceptionWarning, an error there).
    """
    deadline = time.monotonic() + timeout
    for thread in set(threading.enumerate()) - before:
        if "ModemNotification" in thread.name:
            thread.join(max(0.0, deadline - time.monotonic()))
            assert not thread.is_alive(), f"gsmmodem handler {thread.name} still running"


@pytest.mark.parametrize("profile", ["quectel_ec25", "simcom_sim800", "huawei_e3372"])
def test_gsmmodem_initialises_lists_and_receives(
    tmp_path: Path, start_fleet: Callable[..., FleetThread], profile: str
) -> None:
    sims = start_fleet(fast_spec("m1", tmp_path, profile=profile, imsi="460011234567890"))
    sims.control.deliver("m1", "+8613912345678", "stored before connect")
    sims.control.deliver("m1", "10010", "【中国联通】" + "流量提醒" * 20)  # 2 UCS2 parts
    # Stored while no one has the port open (their +CMTI are lost, as on a real modem).
    wait_for(lambda: sims.control.status()[0]["counters"]["delivered"] == 3)
    received: list[Any] = []
    arrived = threading.Event()

    def on_sms(sms: Any) -> None:
        received.append(sms)
        arrived.set()

    modem = GsmModem(str(tmp_path / "m1"), 115200, smsReceivedCallbackFunc=on_sms)
    before = set(threading.enumerate())
    try:
        modem.connect()
        assert modem.imsi == "460011234567890"
        assert modem.manufacturer == sims.call(
            lambda f: f.find("m1").simulator.personality.manufacturer
        )
        assert modem.networkName == "CHINA MOBILE"
        assert modem.signalStrength == 21
        # The library switches to "ME"; what arrived earlier sits in the modem's default
        # receive memory (SM on SIMCom/Huawei; TS 27.005 §3.2.2), so ask there.
        mem3 = sims.call(lambda f: f.find("m1").simulator.personality.default_mems[2])
        stored = modem.listStoredSms(memory=mem3)
        by_sender: dict[str, list[str]] = {}
        for sms in stored:
            by_sender.setdefault(sms.number, []).append(sms.text)
        assert by_sender["+8613912345678"] == ["stored before connect"]
        assert "".join(by_sender["10010"]).count("流量提醒") == 20
        assert len(by_sender["10010"]) == 2
        # Live path: +CMTI → AT+CMGR → callback → AT+CMGD, all driven by the library.
        sims.control.deliver("m1", "+8613900000000", "live one")
        assert arrived.wait(5.0)
        assert (received[0].number, received[0].text) == ("+8613900000000", "live one")
    finally:
        try:
            _join_notification_threads(before)
        finally:
            modem.close()
    truth = sims.control.truth("m1")
    live = [t for t in truth if t["message_id"] == 3]
    assert live[0]["read_at"] is not None and live[0]["deleted_at"] is not None


def test_gsmmodem_sends_sms_and_gets_the_status_report(
    tmp_path: Path, start_fleet: Callable[..., FleetThread]
) -> None:
    sims = start_fleet(
        fast_spec("a", tmp_path, profile="quectel_ec25", report_delay_s=0.2),
        fast_spec("b", tmp_path, profile="quectel_ec25", msisdn="+8613800000099"),
    )
    modem = GsmModem(str(tmp_path / "a"), 115200, smsReceivedCallbackFunc=lambda sms: None)
    before = set(threading.enumerate())
    try:
        modem.connect()
        sent = modem.sendSms("+8613800000099", "ping 你好", waitForDeliveryReport=True)
        assert sent.report is not None and sent.report.deliveryStatus == 0  # delivered
    finally:
        try:
            _join_notification_threads(before)
        finally:
            modem.close()
    (mo,) = sims.control.sent("a")
    assert mo["destination"] == "+8613800000099" and mo["mr"] == sent.reference
    # The simulated network carried it into modem b's storage as an SMS-DELIVER.
    wait_for(lambda: sims.control.status()[1]["counters"]["delivered"] == 1)
    (delivered,) = sims.control.truth("b")
    decoded = decodeSmsPdu(delivered["pdu"])
    assert decoded["text"] == "ping 你好" and decoded["number"] == "+8613800000001"
