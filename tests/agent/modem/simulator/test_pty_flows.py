"""The simulator driven like a modem: pyserial on its pty (or socket://), real bytes."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from gsmmodem.pdu import decodeSmsPdu

from agent.modem.simulator import FleetThread
from agent.modem.simulator.fleet import load_preload
from tests.plugins.modems import AtPort, fast_spec, wait_for

Start = Callable[..., FleetThread]
Open = Callable[..., AtPort]


def test_framing_bytes_echo_and_errors(tmp_path: Path, start_fleet: Start, open_port: Open) -> None:
    start_fleet(fast_spec("m1", tmp_path))
    port = open_port(tmp_path / "m1")
    # TS 27.007 §4.2: echo on at power-up, then \r\n-framed final result.
    port.write(b"AT\r")
    assert port.read_until(b"OK\r\n") == b"AT\r\r\nOK\r\n"
    port.write(b"ATE0\r")
    assert port.read_until(b"OK\r\n") == b"ATE0\r\r\nOK\r\n"  # the ATE0 itself still echoed
    port.write(b"AT+CSQ\r")
    assert port.read_until(b"OK\r\n") == b"\r\n+CSQ: 21,99\r\n\r\nOK\r\n"
    assert port.command("AT+NOSUCH") == ["ERROR"]
    assert port.command("AT+CMEE=1") == ["OK"]
    assert port.command("AT+CMGR=999") == ["+CMS ERROR: 321"]
    assert port.command("AT+CMEE=2") == ["OK"]
    assert port.command("AT+CMGR=999") == ["+CMS ERROR: invalid memory index"]
    # Whitespace and quote tolerance, concatenated commands.
    assert port.command('AT+CPMS = "SM" , "SM","SM" ;+CMGF=0') == ["+CPMS: 0,30,0,30,0,30", "OK"]


@pytest.mark.parametrize(
    ("profile", "iccid_cmd", "iccid_line"),
    [
        ("quectel_ec25", "AT+QCCID", "+QCCID: 8986000000000000001"),
        ("simcom_sim800", "AT+CCID", "8986000000000000001"),
        ("simcom_sim7600", "AT+CICCID", "+ICCID: 8986000000000000001"),
        ("huawei_e3372", "AT^ICCID?", "^ICCID: 986800000000000000F1"),  # nibble-swapped
        ("ublox_lara_r2", "AT+CCID", "+CCID: 8986000000000000001"),
    ],
)
def test_identity_per_profile(
    tmp_path: Path,
    start_fleet: Start,
    open_port: Open,
    profile: str,
    iccid_cmd: str,
    iccid_line: str,
) -> None:
    sims = start_fleet(fast_spec("m1", tmp_path, profile=profile, imei="861234567890125"))
    port = open_port(tmp_path / "m1")
    port.command("ATE0")
    manufacturer = sims.call(lambda f: f.find("m1").simulator.personality.manufacturer)
    assert port.command("AT+CGMI") == [manufacturer, "OK"]
    assert port.command("AT+CGSN") == ["861234567890125", "OK"]
    assert port.command("AT+GSN") == ["861234567890125", "OK"]
    assert port.command("AT+CIMI") == ["460000000000001", "OK"]
    assert port.command(iccid_cmd) == [iccid_line, "OK"]
    assert port.command("AT+CNUM") == ['+CNUM: "","+8613800000001",145', "OK"]
    assert port.command("AT+CPIN?") == ["+CPIN: READY", "OK"]
    assert port.command("AT+COPS=3,2") == ["OK"]
    assert port.command("AT+COPS?") == ['+COPS: 0,2,"46000",7', "OK"]
    ati = port.command("ATI")
    assert ati[-1] == "OK" and any("IMEI: 861234567890125" in line for line in ati)


def test_pdu_mode_read_list_delete(tmp_path: Path, start_fleet: Start, open_port: Open) -> None:
    sims = start_fleet(fast_spec("m1", tmp_path, profile="simcom_sim800"))
    port = open_port(tmp_path / "m1")
    port.command("ATE0")
    port.command("AT+CMEE=1")
    assert port.command("AT+CNMI=2,1,0,0,0") == ["OK"]
    sims.control.deliver("+8613800000001", "+8613912345678", "Your code is 123456")
    cmti = port.wait_line("+CMTI:")
    assert cmti == '+CMTI: "SM",1'  # SIM800: index base 1
    lines = port.command("AT+CMGR=1")
    assert lines[0].startswith('+CMGR: 0,"",') and lines[-1] == "OK"  # SIM800 variant
    decoded = decodeSmsPdu(lines[1])  # an independent decoder reads our PDU
    assert decoded["number"] == "+8613912345678"
    assert decoded["text"] == "Your code is 123456"
    pdu = bytes.fromhex(lines[1])
    tpdu_length = int(lines[0].rsplit(",", 1)[1])
    assert len(pdu) == 1 + pdu[0] + tpdu_length  # TS 27.005 §3.1: <length> excludes the SMSC field
    assert port.command("AT+CMGR=1")[0].startswith("+CMGR: 1,")  # now REC READ
    assert port.command("AT+CMGR=2") == ["OK"]  # empty slot: plain OK on SIMCom
    assert port.command("AT+CMGL=0") == ["OK"]  # nothing unread any more
    listed = port.command("AT+CMGL=4")
    assert listed[0] == f'+CMGL: 1,1,"",{tpdu_length}' and listed[1] == lines[1]
    assert port.command("AT+CPMS?") == ['+CPMS: "SM",1,30,"SM",1,30,"SM",1,30', "OK"]
    assert port.command("AT+CMGD=1") == ["OK"]
    assert port.command("AT+CMGL=4") == ["OK"]
    truth = sims.control.truth("m1")
    assert len(truth) == 1
    assert truth[0]["pdu"] == lines[1]
    assert truth[0]["read_at"] is not None and truth[0]["deleted_at"] is not None
    counters = sims.control.status()[0]["counters"]
    assert (counters["delivered"], counters["read"], counters["deleted"]) == (1, 1, 1)


def test_empty_slot_is_cms_321_on_huawei_and_index_zero(
    tmp_path: Path, start_fleet: Start, open_port: Open
) -> None:
    sims = start_fleet(fast_spec("m1", tmp_path, profile="huawei_e3372"))
    port = open_port(tmp_path / "m1")
    port.command("ATE0")
    port.command("AT+CMEE=1")
    port.command("AT+CNMI=2,1,0,0,0")
    sims.control.deliver("m1", "10086", "【中国移动】话费余额")
    assert port.wait_line("+CMTI:") == '+CMTI: "SM",0'
    assert port.command("AT+CMGR=1") == ["+CMS ERROR: 321"]
    assert port.command("AT+CMGR=0")[0].startswith("+CMGR: 0,,")


def test_text_mode_formats(tmp_path: Path, start_fleet: Start, open_port: Open) -> None:
    sims = start_fleet(fast_spec("m1", tmp_path, profile="quectel_ec25"))
    port = open_port(tmp_path / "m1")
    port.command("ATE0")
    sims.control.deliver("m1", "+8613912345678", "hello text mode")
    port.wait_line('+CMTI: "ME",0')
    assert port.command("AT+CMGF=1") == ["OK"]
    assert port.command("AT+CMGL=4") == ["+CMS ERROR: 305"]  # PDU-mode stat in text mode
    listed = port.command('AT+CMGL="ALL"')
    assert listed[0].startswith('+CMGL: 0,"REC UNREAD","+8613912345678",,"')
    assert listed[0].endswith('+32"')  # zone in quarter hours, +08:00
    assert listed[1:] == ["hello text mode", "OK"]
    read = port.command("AT+CMGR=0")
    assert read[0].startswith('+CMGR: "REC READ","+8613912345678",,"')
    assert port.command('AT+CSCS="UCS2"') == ["OK"]
    assert port.command("AT+CMGR=0")[1] == "hello text mode".encode("utf-16-be").hex().upper()


def test_preload_long_messages_arrive_in_parts(
    tmp_path: Path, start_fleet: Start, open_port: Open
) -> None:
    long_ucs2 = "【测试】" + "长消息内容" * 30  # 154 UCS2 units → 3 parts of ≤67
    long_gsm = "x" * 200  # 2 parts of ≤153 septets
    preload = [
        {"sender": "1069012345", "text": long_ucs2, "scts": "2026-05-01T10:37:38+08:00"},
        {"sender": "+8613912345678", "text": long_gsm, "scts": "2026-05-01T10:38:00+08:00"},
        {"sender": "+8613912345678", "text": "short", "scts": "2026-05-01T10:39:00+08:00"},
    ]
    path = tmp_path / "preload.jsonl"
    path.write_text("\n".join(json.dumps(p, ensure_ascii=False) for p in preload) + "\n")
    sims = start_fleet(fast_spec("m1", tmp_path, preload=load_preload(path)))
    wait_for(lambda: sims.control.status()[0]["queued"] == 0, what="preload delivered")
    port = open_port(tmp_path / "m1")
    port.command("ATE0")
    listed = port.command("AT+CMGL=4")
    pdus = [line for line in listed if not line.startswith(("+CMGL", "OK"))]
    assert len(pdus) == 6
    texts: dict[str, list[tuple[int, str]]] = {}
    for pdu in pdus:
        decoded = decodeSmsPdu(pdu)
        udh = decoded.get("udh") or []
        seq = udh[0].number if udh else 1
        texts.setdefault(decoded["number"] + str(udh[0].reference if udh else ""), []).append(
            (seq, decoded["text"])
        )
    joined = sorted("".join(t for _, t in sorted(parts)) for parts in texts.values())
    assert joined == sorted([long_ucs2, long_gsm, "short"])


def test_storage_full_then_smsc_retry(tmp_path: Path, start_fleet: Start, open_port: Open) -> None:
    sims = start_fleet(fast_spec("m1", tmp_path, sm_capacity=2, retry_s=(0.4,)))
    port = open_port(tmp_path / "m1")
    port.command("ATE0")
    port.command("AT+CNMI=2,1,0,0,0")
    for n in range(3):
        sims.control.deliver("m1", "+8613912345678", f"message {n}")
    assert port.wait_line("+CMTI:") == '+CMTI: "SM",1'
    assert port.wait_line("+CMTI:") == '+CMTI: "SM",2'
    # Storage full → no +CMTI, the SMSC keeps the message and retries.
    assert b"+CMTI" not in port.read_for(0.5)
    status = sims.control.status()[0]
    assert status["storage"]["SM"] == [2, 2] and status["queued"] == 1
    assert status["counters"]["rejected_full"] >= 1
    assert port.command("AT+CPMS?")[0] == '+CPMS: "SM",2,2,"SM",2,2,"SM",2,2'
    assert port.command("AT+CMGD=1") == ["OK"]
    assert port.wait_line("+CMTI:") == '+CMTI: "SM",1'  # lowest free index reused
    assert decodeSmsPdu(port.command("AT+CMGR=1")[1])["text"] == "message 2"
    assert sims.control.status()[0]["queued"] == 0


def test_direct_routing_cmt_and_cnma_redelivery(
    tmp_path: Path, start_fleet: Start, open_port: Open
) -> None:
    sims = start_fleet(fast_spec("m1", tmp_path, retry_s=(0.3,), cnma_timeout_s=0.3))
    port = open_port(tmp_path / "m1")
    port.command("ATE0")
    port.command("AT+CMEE=1")
    assert port.command("AT+CNMA") == ["+CMS ERROR: 340"]  # nothing to acknowledge
    port.command("AT+CNMI=2,2,0,0,0")
    sims.control.deliver("m1", "+8613912345678", "direct")
    port.read_until(b"+CMT: ,")
    header_rest = port.read_until(b"\r\n")
    pdu_line = port.read_until(b"\r\n").strip().decode()
    assert int(header_rest.strip()) == len(bytes.fromhex(pdu_line)) - 1 - bytes.fromhex(pdu_line)[0]
    assert decodeSmsPdu(pdu_line)["text"] == "direct"
    assert port.command("AT+CPMS?")[0].startswith('+CPMS: "SM",0,')  # not stored
    # Phase 2+ (CSMS=1): an unacknowledged +CMT is redelivered by the network (TS 27.005 §3.4.4).
    assert port.command("AT+CSMS=1") == ["+CSMS: 1,1,1", "OK"]
    sims.control.deliver("m1", "+8613912345678", "ack me")
    first = (port.wait_line("+CMT:"), port.wait_line(""))
    again = (port.wait_line("+CMT:"), port.wait_line(""))
    assert first == again  # the same PDU, delivered again
    assert port.command("AT+CNMA") == ["OK"]
    assert b"+CMT" not in port.read_for(0.6)


def test_cmgs_prompt_submit_status_report_and_escape(
    tmp_path: Path, start_fleet: Start, open_port: Open
) -> None:
    sims = start_fleet(fast_spec("m1", tmp_path))
    port = open_port(tmp_path / "m1")
    port.command("ATE0")
    port.command("AT+CMEE=1")
    port.command("AT+CNMI=2,1,0,2,0")  # ds=2: status reports stored, +CDSI
    # SMS-SUBMIT with TP-SRR (0x31), MR 0, DA +8613912345678, 7-bit "hello".
    submit = "0031000D91683119325476F80000AA05E8329BFD06"
    port.write(b"AT+CMGS=20\r")
    assert port.read_until(b"> ") == b"\r\n> "
    port.write(submit.encode() + b"\x1a")
    mr_line = port.wait_line("+CMGS:")
    port.wait_line("OK")
    mr = int(mr_line.split(":")[1])
    cdsi = port.wait_line("+CDSI:")
    assert cdsi == '+CDSI: "SR",1'
    port.command('AT+CPMS="SR"')
    report = port.command("AT+CMGR=1")
    decoded = decodeSmsPdu(report[1])
    assert decoded["type"] == "SMS-STATUS-REPORT"
    assert decoded["reference"] == mr and decoded["number"] == "+8613912345678"
    assert sims.control.sent("m1")[0]["destination"] == "+8613912345678"
    # Wrong <length> → +CMS ERROR: 304; ESC cancels without sending.
    port.write(b"AT+CMGS=5\r")
    port.read_until(b"> ")
    port.write(submit.encode() + b"\x1a")
    assert port.wait_line("+CMS ERROR") == "+CMS ERROR: 304"
    port.write(b"AT+CMGS=20\r")
    port.read_until(b"> ")
    port.write(b"0031\x1b")
    port.wait_line("OK")
    assert len(sims.control.sent("m1")) == 1


def test_socket_url_serves_the_same_modem(
    tmp_path: Path, start_fleet: Start, open_port: Open
) -> None:
    sims = start_fleet(fast_spec("m1", tmp_path, listen=("127.0.0.1", 0), pty=False))
    status = sims.call(lambda fleet: fleet.describe())[0]
    assert status["tty"] is None
    port = open_port(f"socket://{status['tcp']}", url=True)
    port.command("ATE0")
    assert port.command("AT+CIMI") == ["460000000000001", "OK"]
    port.command("AT+CNMI=2,1,0,0,0")
    sims.control.deliver("m1", "+8613912345678", "over tcp")
    assert port.wait_line("+CMTI:") == '+CMTI: "SM",1'
    assert decodeSmsPdu(port.command("AT+CMGR=1")[1])["text"] == "over tcp"
