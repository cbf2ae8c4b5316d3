"""Every named misbehaviour, observed on the wire through pyserial (docs/modems.md)."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import serial
from gsmmodem.pdu import decodeSmsPdu

from agent.modem.simulator import FleetThread, parse_fault
from tests.plugins.modems import AtPort, fast_spec, wait_for

Start = Callable[..., FleetThread]
Open = Callable[..., AtPort]
SENDER = "+8613912345678"


def _ready(
    tmp_path: Path, start_fleet: Start, open_port: Open, **kw: object
) -> tuple[FleetThread, AtPort]:
    sims = start_fleet(fast_spec("m1", tmp_path, **kw))
    port = open_port(tmp_path / "m1")
    port.command("ATE0")
    port.command("AT+CMEE=1")
    port.command("AT+CNMI=2,1,0,0,0")
    return sims, port


def test_fault_specs_parse_and_reject_unknown_names() -> None:
    fault, params = parse_fault("slow_final:delay_s=3")
    assert (fault.value, params) == ("slow_final", {"delay_s": 3.0})
    with pytest.raises(ValueError, match="unknown fault"):
        parse_fault("melted")
    with pytest.raises(ValueError, match="unknown parameter"):
        parse_fault("lost_urc:delay_s=1")


def test_urc_mid_response(tmp_path: Path, start_fleet: Start, open_port: Open) -> None:
    sims, port = _ready(tmp_path, start_fleet, open_port)
    for n in range(2):
        sims.control.deliver("m1", SENDER, f"m{n}")
        port.wait_line("+CMTI:")
    sims.control.set_fault("m1", "urc_mid_response", probability=1)
    lines = port.command("AT+CMGL=4")
    assert "+CREG: 1" in lines[:-1]  # a URC before the final result, inside the response
    assert sum(line.startswith("+CMGL:") for line in lines) == 2 and lines[-1] == "OK"


def test_lost_urc(tmp_path: Path, start_fleet: Start, open_port: Open) -> None:
    sims, port = _ready(tmp_path, start_fleet, open_port)
    sims.control.set_fault("m1", "lost_urc", probability=1)
    sims.control.deliver("m1", SENDER, "silent arrival")
    wait_for(lambda: sims.control.status()[0]["counters"]["delivered"] == 1)
    assert b"+CMTI" not in port.read_for(0.2)
    assert decodeSmsPdu(port.command("AT+CMGL=4")[1])["text"] == "silent arrival"
    truth = sims.control.truth("m1")
    assert truth[0]["urc_sent"] is False
    assert sims.control.status()[0]["counters"]["urc_lost"] == 1


def test_garbage_bytes(tmp_path: Path, start_fleet: Start, open_port: Open) -> None:
    sims, port = _ready(tmp_path, start_fleet, open_port)
    sims.control.set_fault("m1", "garbage_bytes", probability=1, max_bytes=4)
    port.write(b"AT+CSQ\r")
    raw = port.read_until(b"OK\r\n")
    assert any(b >= 0x80 or b in (0x00, 0x1A) for b in raw)
    assert b"\r\n+CSQ: 21,99\r\n" in raw


def test_slow_final(tmp_path: Path, start_fleet: Start, open_port: Open) -> None:
    sims, port = _ready(tmp_path, start_fleet, open_port)
    sims.control.set_fault("m1", "slow_final", delay_s=0.4)
    port.write(b"AT+CSQ\r")
    port.wait_line("+CSQ:")
    t0 = time.monotonic()
    port.wait_line("OK")
    assert time.monotonic() - t0 >= 0.3


def test_missing_final(tmp_path: Path, start_fleet: Start, open_port: Open) -> None:
    sims, port = _ready(tmp_path, start_fleet, open_port)
    sims.control.set_fault("m1", "missing_final", probability=1)
    port.write(b"AT+CSQ\r")
    assert port.wait_line("+CSQ:") == "+CSQ: 21,99"
    assert b"OK" not in port.read_for(0.3)
    sims.control.set_fault("m1", "missing_final", on=False)
    assert port.command("AT") == ["OK"]


def test_hang_until_reset(tmp_path: Path, start_fleet: Start, open_port: Open) -> None:
    sims, port = _ready(tmp_path, start_fleet, open_port)
    sims.control.set_fault("m1", "hang")
    port.write(b"AT\r")
    assert port.read_for(0.3) == b""  # not even an echo
    port.write(b"AT+CFUN=1,1\r")  # the escalation ladder's reset still works
    port.wait_line("SMS DONE")
    assert port.command("AT") == ["OK"]  # echo is back on after the reboot
    assert sims.control.status()[0]["hung"] is None


def test_hard_hang_needs_power_cycle(tmp_path: Path, start_fleet: Start, open_port: Open) -> None:
    sims, port = _ready(tmp_path, start_fleet, open_port)
    sims.control.set_fault("m1", "hard_hang")
    port.write(b"AT+CFUN=1,1\r")
    assert port.read_for(0.3) == b""
    sims.control.power_cycle("m1")
    port.wait_line("RDY")
    port.wait_line("SMS DONE")
    assert port.command("AT") == ["OK"]


def test_storage_full_fault(tmp_path: Path, start_fleet: Start, open_port: Open) -> None:
    sims, port = _ready(tmp_path, start_fleet, open_port)
    sims.control.set_fault("m1", "storage_full")
    sims.control.deliver("m1", SENDER, "held at the SMSC")
    wait_for(lambda: sims.control.status()[0]["counters"]["rejected_full"] >= 1)
    assert b"+CMTI" not in port.read_for(0.2)
    assert sims.control.status()[0]["queued"] == 1
    sims.control.set_fault("m1", "storage_full", on=False)
    assert port.wait_line("+CMTI:") == '+CMTI: "SM",1'  # the SMSC retry delivers it


def test_parts_out_of_order(tmp_path: Path, start_fleet: Start, open_port: Open) -> None:
    sims, port = _ready(tmp_path, start_fleet, open_port, seed=3)
    sims.control.set_fault("m1", "parts_out_of_order")
    assert sims.control.deliver("m1", SENDER, "y" * 400)["parts"] == 3
    for _ in range(3):
        port.wait_line("+CMTI:")
    order = [r["part_no"] for r in sims.control.truth("m1")]
    assert sorted(order) == [1, 2, 3] and order != [1, 2, 3]
    listed = port.command("AT+CMGL=4")
    seqs = [decodeSmsPdu(line)["udh"][0].number for line in listed[1:-1:2]]
    assert seqs == order  # storage order follows arrival order


def test_duplicate_delivery(tmp_path: Path, start_fleet: Start, open_port: Open) -> None:
    sims, port = _ready(tmp_path, start_fleet, open_port)
    sims.control.set_fault("m1", "duplicate_delivery")
    sims.control.deliver("m1", SENDER, "twice")
    assert [port.wait_line("+CMTI:"), port.wait_line("+CMTI:")] == [
        '+CMTI: "SM",1',
        '+CMTI: "SM",2',
    ]
    assert port.command("AT+CMGR=1")[1] == port.command("AT+CMGR=2")[1]
    truth = sims.control.truth("m1")
    assert truth[1]["duplicate_of"] == truth[0]["truth_id"]


def test_not_registered(tmp_path: Path, start_fleet: Start, open_port: Open) -> None:
    sims, port = _ready(tmp_path, start_fleet, open_port)
    port.command("AT+CREG=1")
    sims.control.set_fault("m1", "not_registered")
    assert port.wait_line("+CREG:") == "+CREG: 0"  # URC form, no <n>
    assert port.command("AT+CREG?") == ["+CREG: 1,0", "OK"]
    assert port.command("AT+COPS?") == ["+COPS: 0", "OK"]
    assert port.command("AT+CSQ") == ["+CSQ: 99,99", "OK"]
    sims.control.deliver("m1", SENDER, "waits for attach")
    assert b"+CMTI" not in port.read_for(0.3)
    sims.control.set_fault("m1", "not_registered", on=False)
    assert port.wait_line("+CREG:") == "+CREG: 1"
    assert port.wait_line("+CMTI:") == '+CMTI: "SM",1'


def test_sim_missing(tmp_path: Path, start_fleet: Start, open_port: Open) -> None:
    sims, port = _ready(tmp_path, start_fleet, open_port)
    sims.control.set_fault("m1", "sim_missing")
    assert port.wait_line("+CPIN:") == "+CPIN: NOT INSERTED"
    assert port.command("AT+CPIN?") == ["+CME ERROR: 10"]
    assert port.command("AT+CIMI") == ["+CME ERROR: 10"]
    assert port.command("AT+CMGL=4") == ["+CMS ERROR: 310"]


def test_port_vanish_reappears_at_link_with_settings_lost(
    tmp_path: Path, start_fleet: Start, open_port: Open
) -> None:
    sims, port = _ready(tmp_path, start_fleet, open_port)
    link = tmp_path / "m1"
    assert port.command("AT+CNMI?") == ["+CNMI: 2,1,0,0,0", "OK"]
    sims.control.set_fault("m1", "port_vanish", seconds=0.3)
    with pytest.raises(serial.SerialException):
        port.read_for(2.0)  # the agent's read fails like a USB disconnect
    port.close()
    wait_for(link.exists, what="link recreated")
    again = open_port(link)
    again.sync()
    # USB re-enumeration = a reboot: echo back on, CNMI at its default.
    again.write(b"AT\r")
    assert again.read_until(b"OK\r\n").endswith(b"AT\r\r\nOK\r\n")
    assert again.command("AT+CNMI?") == ["+CNMI: 0,0,0,0,0", "OK"]
    status = sims.control.status()[0]
    assert status["counters"]["unplugs"] == 1 and status["faults"] == {}
    assert os.readlink(link) == status["tty"]


def test_unplug_via_control(tmp_path: Path, start_fleet: Start, open_port: Open) -> None:
    sims, port = _ready(tmp_path, start_fleet, open_port)
    sims.control.unplug("m1", 0.2)
    with pytest.raises(serial.SerialException):
        port.read_for(2.0)
    wait_for((tmp_path / "m1").exists, what="link recreated")
    again = open_port(tmp_path / "m1")
    again.sync()
    assert again.command("AT+CIMI")[-2:] == ["460000000000001", "OK"]  # boot URCs may lead


def test_split_writes(tmp_path: Path, start_fleet: Start, open_port: Open) -> None:
    sims, port = _ready(tmp_path, start_fleet, open_port)
    sims.control.set_fault("m1", "split_writes", max_delay_s=0.12)  # pieces ≥30 ms apart
    port.write(b"AT+CGMI\r")
    chunks: list[bytes] = []
    deadline = time.monotonic() + 3
    while b"OK\r\n" not in b"".join(chunks):
        assert time.monotonic() < deadline
        data = port.ser.read(port.ser.in_waiting or 1)
        if data:
            chunks.append(data)
    assert len(chunks) >= 2  # the reader saw partial lines
    assert b"".join(chunks) == b"\r\nSMSPROBE\r\n\r\nOK\r\n"  # same bytes, only split


def test_duplicate_urc(tmp_path: Path, start_fleet: Start, open_port: Open) -> None:
    sims, port = _ready(tmp_path, start_fleet, open_port)
    sims.control.set_fault("m1", "duplicate_urc", probability=1)
    sims.control.deliver("m1", SENDER, "once")
    assert [port.wait_line("+CMTI:"), port.wait_line("+CMTI:")] == ['+CMTI: "SM",1'] * 2
    assert sims.control.status()[0]["storage"]["SM"][0] == 1  # one message, two URCs


def test_reboot_mid_response(tmp_path: Path, start_fleet: Start, open_port: Open) -> None:
    sims, port = _ready(tmp_path, start_fleet, open_port)
    for n in range(4):
        sims.control.deliver("m1", SENDER, f"m{n}")
        port.wait_line("+CMTI:")
    sims.control.set_fault("m1", "reboot_mid_response")
    port.write(b"AT+CMGL=4\r")
    seen = port.read_until(b"SMS DONE\r\n").decode()
    assert seen.count("+CMGL:") == 2 and "OK" not in seen and "RDY" in seen
    assert port.command("AT+CMGL=4")[-1] == "OK"  # fault fired once; echo back after reset
    assert sims.control.status()[0]["counters"]["reboots"] == 1
