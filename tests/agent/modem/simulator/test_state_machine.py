"""The AT state machine alone: bytes in, bytes out, a manual clock (no pty, no sleeps)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from gsmmodem.pdu import decodeSmsPdu
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from agent.modem.simulator import (
    Identity,
    ModemSimulator,
    ModemSimulatorConfig,
    Timing,
    get_personality,
)
from agent.modem.simulator.network import RetrySchedule
from agent.modem.simulator.pdu import (
    encode_deliver,
    parse_submit,
    summarize_deliver,
)
from agent.modem.simulator.transcript import Transcript


class ManualClock:
    def __init__(self) -> None:
        self.t = 1000.0

    def monotonic(self) -> float:
        return self.t

    def now(self) -> datetime:
        return datetime(2026, 5, 1, 2, 37, 38, tzinfo=UTC) + timedelta(seconds=self.t - 1000)


def make(profile: str = "generic", **kw: object) -> tuple[ModemSimulator, ManualClock]:
    clock = ManualClock()
    params: dict[str, object] = {
        "identity": Identity.derive(1),
        "personality": get_personality(profile),
        "timing": Timing(inter_part_s=0.0, noise_interval_s=0.0),
        **kw,
    }
    return ModemSimulator(ModemSimulatorConfig(**params), clock=clock), clock  # type: ignore[arg-type]


def run(sim: ModemSimulator, clock: ManualClock, seconds: float = 1.0) -> bytes:
    """Advance time in small steps, as the serving loop would, collecting output."""
    out = b""
    end = clock.t + seconds
    while clock.t < end:
        sim.tick()
        out += sim.read_output()
        clock.t += 0.01
    sim.tick()
    return out + sim.read_output()


def at(sim: ModemSimulator, clock: ManualClock, cmd: str) -> bytes:
    sim.receive(cmd.encode() + b"\r")
    return run(sim, clock, 0.1)


def test_cold_boot_sequence_and_deaf_until_rdy() -> None:
    sim, clock = make("quectel_ec25", cold_boot=True)
    sim.receive(b"AT\r")  # before RDY: not even an echo
    out = run(sim, clock, 0.2)
    assert out == b""
    out = run(sim, clock, 4.0)
    lines = [line for line in out.decode().split("\r\n") if line]
    assert lines == [
        "RDY",
        "+CFUN: 1",
        "+CPIN: READY",
        "+QUSIM: 1",
        "+QIND: SMS DONE",
        "+QIND: PB DONE",
    ]
    assert at(sim, clock, "AT") == b"AT\r\r\nOK\r\n"


def test_huawei_noise_urcs_and_curc_off() -> None:
    sim, clock = make("huawei_e3372", timing=Timing(noise_interval_s=1.0))
    out = run(sim, clock, 3.5)
    assert out.count(b"\r\n^RSSI: 21\r\n") + out.count(b"^MODE") + out.count(b"^HCSQ") == 3
    assert at(sim, clock, "AT^CURC=0").endswith(b"\r\nOK\r\n")
    assert run(sim, clock, 3.0) == b""


def test_cnmi_mode0_buffers_until_mode2_flush() -> None:
    sim, clock = make()
    at(sim, clock, "ATE0")
    at(sim, clock, "AT+CNMI=0,1,0,0,0")
    sim.deliver_text("+8613912345678", "buffered")
    assert b"+CMTI" not in run(sim, clock, 0.5)
    out = at(sim, clock, "AT+CNMI=2,1,0,0,0")
    assert out == b'\r\nOK\r\n\r\n+CMTI: "SM",1\r\n'  # TS 27.005 §3.4.1 <bfr>=0: flushed after OK


def test_cnmi_rejects_unsupported_values() -> None:
    sim, clock = make("huawei_e3372")
    at(sim, clock, "ATE0")
    at(sim, clock, "AT+CMEE=1")
    assert at(sim, clock, "AT+CNMI=?") == (
        b"\r\n+CNMI: (0,1,2),(0,1,2,3),(0,2),(0,1,2),(0,1)\r\n\r\nOK\r\n"
    )
    assert at(sim, clock, "AT+CNMI=2,1,1,0,0") == b"\r\n+CMS ERROR: 303\r\n"
    assert at(sim, clock, "AT+CNMI?") == b"\r\n+CNMI: 0,0,0,0,0\r\n\r\nOK\r\n"


def test_cmgd_delflags_apply_to_mem1() -> None:
    sim, clock = make()
    at(sim, clock, "ATE0")
    for n in range(3):
        sim.deliver_text("+8613912345678", f"m{n}")
    run(sim, clock, 0.5)
    at(sim, clock, "AT+CMGR=2")  # 2 becomes REC READ
    assert at(sim, clock, "AT+CMGD=1,1") == b"\r\nOK\r\n"  # delete all READ
    listed = at(sim, clock, "AT+CMGL=4").decode()
    assert "+CMGL: 1,0" in listed and "+CMGL: 3,0" in listed and "+CMGL: 2," not in listed
    at(sim, clock, "AT+CMGD=1,4")
    assert at(sim, clock, "AT+CMGL=4") == b"\r\nOK\r\n"
    assert sim.counters["deleted"] == 3


def test_wrong_storage_pitfall_and_mt_overflow_into_me() -> None:
    sim, clock = make(sm_capacity=1)
    at(sim, clock, "ATE0")
    at(sim, clock, 'AT+CPMS="ME","MT","MT"')
    at(sim, clock, "AT+CNMI=2,1,0,0,0")
    sim.deliver_text("+8613912345678", "first")
    sim.deliver_text("+8613912345678", "second")
    out = run(sim, clock, 0.5)
    assert out == b'\r\n+CMTI: "SM",1\r\n\r\n+CMTI: "ME",1\r\n'
    # mem1 is ME: reading the SM index gets the ME message (TS 27.005 §3.5.4: switch mem1 per URC).
    assert "second" in str(decodeSmsPdu(at(sim, clock, "AT+CMGR=1").split(b"\r\n")[2].decode()))
    assert at(sim, clock, "AT+CPMS?").startswith(b'\r\n+CPMS: "ME",1,100,"MT",2,101,"MT",2,101')


def test_status_report_text_mode_and_cds_direct() -> None:
    sim, clock = make(timing=Timing(report_delay_s=0.1, inter_part_s=0.0, noise_interval_s=0))
    at(sim, clock, "ATE0")
    at(sim, clock, "AT+CNMI=2,1,0,1,0")
    sim.receive(b"AT+CMGS=20\r")
    assert run(sim, clock, 0.1) == b"\r\n> "
    sim.receive(b"0031000D91683119325476F80000AA05E8329BFD06\x1a")
    out = run(sim, clock, 1.0).decode()
    assert out.startswith("\r\n+CMGS: ") and "\r\nOK\r\n" in out
    cds = out.split("+CDS: ")[1].split("\r\n")
    decoded = decodeSmsPdu(cds[1])
    assert decoded["type"] == "SMS-STATUS-REPORT" and int(cds[0]) == len(cds[1]) // 2 - 1


def test_transcript_keeps_both_directions(tmp_path: Path) -> None:
    clock = ManualClock()
    transcript = Transcript(tmp_path / "at.log")
    config = ModemSimulatorConfig(Identity.derive(2), get_personality("generic"), name="t1")
    sim = ModemSimulator(config, clock=clock, transcript=transcript)
    at(sim, clock, "AT+CSQ")
    transcript.close()
    text = (tmp_path / "at.log").read_text()
    assert " t1 < b'AT+CSQ\\r'" in text
    assert "+CSQ: 21,99" in text and " t1 > " in text


def test_smsc_retry_schedule_without_smma() -> None:
    retry = RetrySchedule(delays_s=(2.0,), smma_retry=False)
    sim, clock = make(sm_capacity=1, retry=retry)
    at(sim, clock, "ATE0")
    at(sim, clock, "AT+CNMI=2,1,0,0,0")
    sim.deliver_text("+8613912345678", "a")
    sim.deliver_text("+8613912345678", "b")
    assert run(sim, clock, 0.3).count(b"+CMTI") == 1
    at(sim, clock, "AT+CMGD=1")
    # No RP-SMMA retry: the SMSC waits for its own schedule ("freed storage does
    # not mean instant delivery").
    assert b"+CMTI" not in run(sim, clock, 1.0)
    assert b'+CMTI: "SM",1' in run(sim, clock, 1.5)


@pytest.mark.parametrize(
    ("text", "parts"),
    [
        ("plain ascii", 1),
        ("€uro [brackets] {braces}", 1),
        ("a" * 161, 2),
        ("验证码 123456 😁", 1),
        ("长" * 70, 1),
        ("长" * 71, 2),
        ("😁" * 40, 2),  # surrogate pairs never split across parts
    ],
)
def test_deliver_encoding_is_read_by_an_independent_decoder(text: str, parts: int) -> None:
    scts = datetime(2026, 5, 1, 10, 37, 38, tzinfo=timezone(timedelta(hours=8)))
    encoded = encode_deliver(
        "+8613912345678",
        text,
        scts,
        smsc="+8613800250500",
        message_class=None,
        encoding="auto",
        concat_ref=7,
    )
    assert len(encoded) == parts
    decoded = [decodeSmsPdu(p.pdu.hex()) for p in encoded]
    # python-gsmmodem decodes UCS2 unit by unit: re-join the surrogate pairs it leaves.
    joined = "".join(d["text"] for d in decoded)
    assert joined.encode("utf-16-le", "surrogatepass").decode("utf-16-le") == text
    assert all(len(p.pdu) == 1 + p.pdu[0] + p.tpdu_length for p in encoded)
    assert decoded[0]["time"].utcoffset() == timedelta(hours=8)
    summary = summarize_deliver(encoded[0].pdu)
    assert summary is not None and summary.sender == "+8613912345678"
    assert "".join(p.text for p in encoded) == text


def test_encode_deliver_adapter_agrees_with_its_summary() -> None:
    scts = datetime(2026, 5, 1, 10, 37, 38, tzinfo=timezone(timedelta(hours=8)))
    parts = encode_deliver("10086", "【中国移动】" + "话费" * 40, scts, concat_ref=3)
    assert len(parts) == 2
    assert "".join(p.text for p in parts) == "【中国移动】" + "话费" * 40
    assert {p.sender for p in parts} == {"10086"}


def test_parse_submit() -> None:
    submit = parse_submit(bytes.fromhex("0031000D91683119325476F80000AA05E8329BFD06"))
    assert (submit.mr, submit.destination, submit.srr) == (0, "+8613912345678", True)


def test_huawei_reports_storage_full_once_and_cms_500_catch_all() -> None:
    sim, clock = make("huawei_e3372", sm_capacity=1)
    at(sim, clock, "ATE0")
    at(sim, clock, "AT+CNMI=2,1,0,0,0")
    for n in range(3):
        sim.deliver_text("10086", f"m{n}")
    out = run(sim, clock, 0.5)
    assert out == b'\r\n+CMTI: "SM",0\r\n\r\n^SMMEMFULL: "SM"\r\n'  # vendor URC, once
    assert sim.status()["queued"] == 2


def test_text_mode_ucs2_content_comes_out_as_hex() -> None:
    sim, clock = make()
    at(sim, clock, "ATE0")
    at(sim, clock, "AT+CMGF=1")
    sim.deliver_text("10086", "【中国移动】")
    run(sim, clock, 0.2)
    lines = at(sim, clock, "AT+CMGR=1").decode().split("\r\n")
    assert lines[1] == '+CMGR: "REC UNREAD","10086",,"26/05/01,10:37:38+32"'
    assert lines[2] == "【中国移动】".encode("utf-16-be").hex().upper()


def test_malformed_pdus_are_delivered_verbatim() -> None:
    sim, clock = make()
    at(sim, clock, "ATE0")
    # A truncated UCS2 deliver (UDL says 0x20 octets, 4 present) and SIM filler padding.
    truncated = "0891683108200505F0040D91683119325476F800086250107301632320" + "4F60597D"
    assert sim.deliver_pdus([truncated]) == 1
    run(sim, clock, 0.2)
    lines = at(sim, clock, "AT+CMGL=4").decode().split("\r\n")
    assert lines[2] == truncated and lines[1] == f"+CMGL: 1,0,,{len(truncated) // 2 - 9}"
    assert sim.truth_records()[0]["pdu"] == truncated
    with pytest.raises(ValueError):
        sim.deliver_pdus(["zz"])


def test_status_report_text_mode_line() -> None:
    sim, clock = make(timing=Timing(report_delay_s=0.1, inter_part_s=0.0, noise_interval_s=0))
    at(sim, clock, "ATE0")
    at(sim, clock, "AT+CNMI=2,1,0,2,0")
    sim.receive(b"AT+CMGS=20\r")
    run(sim, clock, 0.1)
    sim.receive(b"0031000D91683119325476F80000AA05E8329BFD06\x1a")
    assert b'+CDSI: "SR",1' in run(sim, clock, 1.0)
    at(sim, clock, "AT+CMGF=1")
    at(sim, clock, 'AT+CPMS="SR"')
    line = at(sim, clock, "AT+CMGR=1").decode().split("\r\n")[1]
    # python-gsmmodem's text-mode report pattern: stat,fo,mr,"ra",toa,"scts","dt",st
    assert line.startswith('+CMGR: "REC UNREAD",6,') and line.endswith(",0")
    assert ',"+8613912345678",145,"' in line


def test_class2_goes_to_sim_even_with_direct_routing() -> None:
    sim, clock = make()
    at(sim, clock, "ATE0")
    at(sim, clock, 'AT+CPMS="ME","ME","ME"')
    at(sim, clock, "AT+CNMI=2,2,0,0,0")
    sim.deliver_text("+8613912345678", "sim data", message_class=2)
    sim.deliver_text("+8613912345678", "normal")
    out = run(sim, clock, 0.3).decode()
    assert out.startswith('\r\n+CMTI: "SM",1\r\n\r\n+CMT: ,')  # 27.005 §3.4.1 mt=2: class 2 stored


def test_me909_rejects_stored_status_reports_so_agents_fall_back() -> None:
    sim, clock = make("huawei_me909")
    at(sim, clock, "ATE0")
    at(sim, clock, "AT+CMEE=1")
    assert at(sim, clock, "AT+CNMI=2,1,0,2,0") == b"\r\n+CMS ERROR: 303\r\n"
    assert at(sim, clock, "AT+CNMI=2,1,0,1,0") == b"\r\nOK\r\n"


_COMMANDS = [
    "AT",
    "ATE0",
    "ATE1",
    "ATI",
    "ATZ",
    "AT+CMEE=2",
    "AT+CMGF=1",
    "AT+CMGF=0",
    "AT+CMGL=4",
    'AT+CMGL="ALL"',
    "AT+CMGR=1",
    "AT+CMGD=1,4",
    "AT+CPMS?",
    'AT+CPMS="MT","MT","MT"',
    "AT+CNMI=2,2,0,1,0",
    "AT+CSMS=1",
    "AT+CNMA",
    "AT+CMGS=20",
    "AT+CMGW=5",
    "AT+CFUN=1,1",
    "AT+CREG=2;+CREG?",
    'AT+CSCS="UCS2"',
    "AT+COPS=3,2;+COPS?",
    "AT+CSQ",
    "AT^CURC=0",
]


@example(profile="quectel_ec25", steps=[b"AT+CFUN=1,1\r", b"AT\r"], deliveries=1)
@example(profile="generic", steps=[b"AT+CMGS=20\r", b"00\xff\r\n"], deliveries=0)
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    profile=st.sampled_from(["generic", "quectel_ec25", "huawei_e3372", "ublox_lara_r2"]),
    steps=st.lists(
        st.one_of(
            st.sampled_from(_COMMANDS).map(lambda c: c.encode() + b"\r"),
            st.binary(max_size=24),
            st.just(b"\x1a"),
            st.just(b"\x1b"),
        ),
        max_size=25,
    ),
    deliveries=st.integers(min_value=0, max_value=4),
)
def test_any_input_never_breaks_the_modem(
    profile: str, steps: list[bytes], deliveries: int
) -> None:
    """Garbage, half commands, prompts cancelled or not: the modem answers or ignores,
    and afterwards still answers AT (after at most a reboot)."""
    sim, clock = make(profile, sm_capacity=3)
    for n in range(deliveries):
        sim.deliver_text("+8613912345678", f"fuzz {n} " + "长" * (n * 30))
    for data in steps:
        sim.receive(data)
        run(sim, clock, 0.05)
    sim.receive(b"\x1b\r")  # leave any > prompt, finish any partial line
    run(sim, clock, 30.0)  # boot / re-enumeration (no server here: replug by hand)
    if sim.take_unplug_request() is not None:  # what ModemServer does on re-enumeration
        sim.unplugged()
        sim.replugged()
        run(sim, clock, 10.0)
    sim.receive(b"AT\r")
    assert run(sim, clock, 0.5).endswith(b"\r\nOK\r\n")


def test_signal_set_walks_and_shows_in_csq_cesq_and_noise() -> None:
    sim, clock = make("huawei_e3372", timing=Timing(noise_interval_s=1.0), rssi_walk_s=5.0)
    at(sim, clock, "ATE0")
    sim.set_signal(10)
    assert at(sim, clock, "AT+CSQ") == b"\r\n+CSQ: 10,99\r\n\r\nOK\r\n"
    assert at(sim, clock, "AT+CESQ") == b"\r\n+CESQ: 99,99,255,255,20,58\r\n\r\nOK\r\n"
    assert b"^RSSI: 10" in run(sim, clock, 1.0)
    seen = set()
    for _ in range(20):
        run(sim, clock, 5.0)
        seen.add(sim.rssi)
    assert len(seen) > 1 and all(2 <= r <= 31 for r in seen)
    with pytest.raises(ValueError):
        sim.set_signal(40)
