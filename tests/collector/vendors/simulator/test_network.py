"""The simulated carrier network: real SMS-DELIVER PDUs into modems, DLRs, ground truth."""

from __future__ import annotations

import asyncio
import time
from datetime import datetime
from io import StringIO
from pathlib import Path
from typing import Any

import serial
from smspdudecoder.fields import SMSDeliver

from agent.modem.simulator.control import ModemSimulatorControl
from agent.modem.simulator.fleet import FleetConfig, ModemSpec
from agent.modem.simulator.harness import FleetThread
from agent.sms import SmsDeliver, decode_pdu, join_parts
from collector.vendors.base import ContentProfile, DlrStatus
from collector.vendors.simulator.network import (
    Accepted,
    CarrierNetwork,
    ModemControlSink,
    RecordingModemSink,
    Refused,
    SimulatedDlr,
)
from collector.vendors.simulator.scenario import CHINA_TZ, parse_scenario
from collector.vendors.simulator.truth import TruthLog, read_truth
from tests.collector.vendors.helpers import (
    MSISDN_CMCC,
    MSISDN_CUCC,
    MSISDN_KNOWN,
    run,
    scenario_doc,
    vendor_scenario,
)

SIG = "探针科技"


class ListOutlet:
    """Collects the DLRs a simulated vendor would send."""

    def __init__(self) -> None:
        self.dlrs: list[SimulatedDlr] = []

    async def emit(self, dlr: SimulatedDlr) -> bool:
        self.dlrs.append(dlr)
        return True


def network(
    doc: dict[str, Any], modems: Any = None, truth_path: Path | None = None
) -> tuple[CarrierNetwork, RecordingModemSink, ListOutlet]:
    sink = modems if modems is not None else RecordingModemSink()
    net = CarrierNetwork(parse_scenario(doc), sink, TruthLog(truth_path))
    outlet = ListOutlet()
    for name in doc["vendors"]:
        net.set_outlet(name, outlet)
    return net, sink, outlet


def submit(net: CarrierNetwork, text: str, msisdn: str = MSISDN_CMCC, **kw: Any) -> Accepted:
    outcome = net.submit("v", msisdn=msisdn, content=text, signature=SIG, **kw)
    assert isinstance(outcome, Accepted), outcome
    return outcome


def deliver_pdu(pdu: bytes) -> SmsDeliver:
    decoded = decode_pdu(pdu)
    assert isinstance(decoded, SmsDeliver)
    return decoded


def test_short_sms_arrives_as_a_real_ucs2_deliver_from_a_106_number(tmp_path: Path) -> None:
    async def scenario() -> tuple[Any, ...]:
        net, sink, outlet = network(
            scenario_doc({"v": vendor_scenario()}), truth_path=tmp_path / "truth.jsonl"
        )
        try:
            accepted = submit(net, "您的工单A7K3Q9已受理。")
            await net.wait_idle()
        finally:
            await net.close()
        return accepted, sink, outlet

    accepted, sink, outlet = run(scenario())
    [delivered] = sink.delivered
    assert delivered.modem == "m1"
    [pdu] = delivered.sms.pdus
    decoded = deliver_pdu(pdu)
    assert decoded.sender.number == "10690123"
    # TOA 0xA1: national number, ISDN plan (TS 23.040 §9.1.2.5)
    assert (decoded.sender.ton, decoded.sender.npi) == (2, 1)
    assert decoded.text == f"【{SIG}】您的工单A7K3Q9已受理。"
    assert decoded.dcs == 0x08
    assert decoded.smsc == "+8613800100500"
    # An independent decoder agrees.
    independent = SMSDeliver.decode(StringIO(pdu.hex().upper()))
    assert independent["user_data"]["data"] == decoded.text
    # Simulated start 10:00 +08:00, fixed 2 s latency: the SCTS is the network clock.
    assert decoded.scts == datetime(2026, 11, 24, 10, 0, 2, tzinfo=CHINA_TZ)
    [truth] = read_truth(tmp_path / "truth.jsonl")
    assert truth.vendor_message_id == accepted.message_ids[0]
    assert truth.fate == "delivered" and truth.msisdn == MSISDN_CMCC
    assert truth.delivered_at is not None and truth.delivered_at.startswith("2026-11-24T10:00:02")
    assert truth.dlr_status == "DELIVRD" and truth.dlr_at is not None
    assert truth.dlr_at.startswith("2026-11-24T10:00:03")
    assert (truth.rewritten, truth.receiver_down, truth.carrier) == (False, False, "cmcc")
    [dlr] = outlet.dlrs
    assert (dlr.message_id, dlr.status) == (accepted.message_ids[0], DlrStatus.DELIVRD)


def test_long_sms_is_split_67_per_part_with_one_8bit_concat_reference() -> None:
    body = "这是一条用于测试长短信拆分的探针消息，" * 8  # 152 chars + signature
    text = f"【{SIG}】{body}"

    async def scenario() -> RecordingModemSink:
        net, sink, _ = network(scenario_doc({"v": vendor_scenario()}))
        try:
            accepted = submit(net, body)
            await net.wait_idle()
        finally:
            await net.close()
        assert accepted.parts == 3
        return sink

    sink = run(scenario())
    parts = [deliver_pdu(p) for p in sink.delivered[0].sms.pdus]
    assert len(parts) == 3 == -(-len(text) // 67)
    concats = [p.concat for p in parts]
    assert all(c is not None for c in concats)
    assert {c.ref for c in concats if c} == {concats[0].ref if concats[0] else -1}
    assert [c.seq for c in concats if c] == [1, 2, 3]
    assert all(c.total == 3 and c.ref_bits == 8 for c in concats if c)
    assert join_parts(parts) == text


def test_receiver_down_loses_the_message_honest_and_fake_dlrs() -> None:
    vendors = {"v": vendor_scenario()}
    vendors["v"]["carriers"] = {"cucc": {"p_fake_delivered": 1.0}}

    async def scenario() -> tuple[TruthLog, ListOutlet]:
        net, sink, outlet = network(scenario_doc(vendors))
        sink.down.update({"m1", "m2"})
        try:
            submit(net, "给移动用户", MSISDN_CMCC)
            submit(net, "给联通用户", MSISDN_CUCC)
            await net.wait_idle()
        finally:
            await net.close()
        assert sink.delivered == []
        return net.truth, outlet

    truth, outlet = run(scenario())
    by_number = {r.msisdn: r for r in truth.records}
    honest, faked = by_number[MSISDN_CMCC], by_number[MSISDN_CUCC]
    assert (honest.fate, honest.receiver_down, honest.dlr_status) == ("lost", True, "EXPIRED")
    # p_fake_delivered only applies to lost-by-network messages; receiver down is not that.
    assert (faked.fate, faked.receiver_down) == ("lost", True)
    statuses = {d.msisdn: d.status for d in outlet.dlrs}
    assert statuses[MSISDN_CMCC] is DlrStatus.EXPIRED


def test_fake_dlr_duplicate_dlr_and_unknown_subscriber() -> None:
    vendors = {
        "v": vendor_scenario(knobs={"p_arrive": 0.0, "p_fake_delivered": 1.0,
                                    "p_duplicate_dlr": 1.0,
                                    "latency": {"dist": "fixed", "median_s": 1.0},
                                    "dlr_latency": {"dist": "fixed", "median_s": 1.0}})
    }  # fmt: skip

    async def scenario() -> tuple[TruthLog, ListOutlet, RecordingModemSink]:
        net, sink, outlet = network(scenario_doc(vendors))
        try:
            submit(net, "会丢的消息")
            submit(net, "发给不存在的号码", "13712345678")
            await net.wait_idle()
        finally:
            await net.close()
        return net.truth, outlet, sink

    truth, outlet, sink = run(scenario())
    assert sink.delivered == []
    fake = truth.records[0]
    assert (fake.fate, fake.fake_dlr, fake.dlr_status, fake.dlr_count) == (
        "lost",
        True,
        "DELIVRD",
        2,
    )
    ids = [d.message_id for d in outlet.dlrs if d.msisdn == MSISDN_CMCC]
    assert len(ids) == 2 and len(set(ids)) == 1  # the same DLR twice


def test_blackhole_outage_accepts_and_loses_without_dlr() -> None:
    vendors = {"v": vendor_scenario(outages=[{"start_s": 0, "end_s": 3600, "mode": "blackhole"}])}

    async def scenario() -> tuple[TruthLog, ListOutlet, RecordingModemSink]:
        net, sink, outlet = network(scenario_doc(vendors))
        try:
            submit(net, "黑洞")
            await net.wait_idle()
        finally:
            await net.close()
        return net.truth, outlet, sink

    truth, outlet, sink = run(scenario())
    assert sink.delivered == [] and outlet.dlrs == []
    record = truth.records[0]
    assert (record.fate, record.blackhole, record.dlr_status) == ("lost", True, None)


def test_refused_submit_is_recorded_as_rejected_truth() -> None:
    async def scenario() -> tuple[Any, TruthLog]:
        net, _, _ = network(scenario_doc({"v": vendor_scenario()}))
        try:
            outcome = net.submit(
                "v",
                msisdn=MSISDN_CMCC,
                content="",
                signature=SIG,
                template_id="SMS_BAD",
                profile=ContentProfile.VERIFICATION_CODE,
            )
        finally:
            await net.close()
        return outcome, net.truth

    outcome, truth = run(scenario())
    assert isinstance(outcome, Refused) and outcome.reason is not None
    assert truth.records[0].fate == "rejected"
    assert truth.records[0].reject_reason == "template"
    assert truth.records[0].vendor_message_id is None


def test_known_test_number_favouritism_end_to_end() -> None:
    knobs = {"p_arrive": 0.3, "known_number_p_arrive": 1.0}
    vendors = {"v": vendor_scenario(knobs=knobs)}

    async def scenario() -> TruthLog:
        net, _, _ = network(scenario_doc(vendors))
        try:
            for i in range(200):
                submit(net, f"探针{i}", MSISDN_KNOWN)
                submit(net, f"探针{i}", MSISDN_CMCC)
            await net.wait_idle()
        finally:
            await net.close()
        return net.truth

    truth = run(scenario())
    known = [r.fate == "delivered" for r in truth.records if r.msisdn == MSISDN_KNOWN]
    normal = [r.fate == "delivered" for r in truth.records if r.msisdn == MSISDN_CMCC]
    assert sum(known) == 200
    assert 0.2 < sum(normal) / 200 < 0.4


def _cmgl(port: serial.Serial, deadline_s: float = 10.0) -> list[str]:
    """AT+CMGL=4 (all, PDU mode) until the expected parts are listed; returns PDU hex lines."""
    end = time.monotonic() + deadline_s
    while True:
        port.reset_input_buffer()
        port.write(b"AT+CMGL=4\r")
        lines: list[str] = []
        while True:
            raw = port.readline()
            if not raw:
                break
            line = raw.decode("ascii", "replace").strip()
            lines.append(line)
            if line in ("OK", "ERROR") or line.startswith("+CMS ERROR"):
                break
        pdus = [lines[i + 1] for i, line in enumerate(lines[:-1]) if line.startswith("+CMGL:")]
        if len(pdus) >= 2 or time.monotonic() > end:
            return pdus
        time.sleep(0.05)  # polling a real serial port with a deadline; no event to await


def test_delivers_into_a_real_simulated_modem_read_back_over_the_pty(tmp_path: Path) -> None:
    link = tmp_path / "ttyM1"
    config = FleetConfig(
        modems=(
            ModemSpec(
                "m1", link=link, msisdn="+86" + MSISDN_CMCC, timing_scale=0.01,
                inter_part_s=0.01, noise_interval_s=0.0,
            ),
            ModemSpec("m2", link=tmp_path / "ttyM2", msisdn="+86" + MSISDN_CUCC,
                      timing_scale=0.01, noise_interval_s=0.0),
        ),
        control=("127.0.0.1", 0),
    )  # fmt: skip
    body = "这是一条长探针消息，用于验证经过模拟运营商网络的真实PDU投递与拆分。" * 3
    with FleetThread(config) as fleet:
        assert fleet.fleet.control_address is not None
        ctl_host, ctl_port = fleet.fleet.control_address

        async def scenario() -> TruthLog:
            control = ModemSimulatorControl(ctl_host, ctl_port)
            doc = scenario_doc({"v": vendor_scenario()})
            doc["subscribers"][0]["modem"] = "+86" + MSISDN_CMCC  # by msisdn, not by name
            net, _, _ = network(doc, ModemControlSink(control))
            try:
                await control.set_registration("m2", 0)  # not registered: receiver down
                submit(net, body, MSISDN_CMCC)
                submit(net, "收不到", MSISDN_CUCC)
                await net.wait_idle()
            finally:
                await net.close()
                await control.close()
            return net.truth

        truth = run(scenario())
        with serial.Serial(str(link), timeout=0.5) as port:
            port.write(b"ATE0\r")
            port.readline()
            port.write(b"AT+CMGF=0\r")
            port.reset_input_buffer()
            pdus = _cmgl(port)
    parts = sorted(
        (deliver_pdu(bytes.fromhex(p)) for p in pdus),
        key=lambda d: d.concat.seq if d.concat else 0,
    )
    assert len(parts) == 2  # 【探针科技】 + 99 chars = 105 > 70: two UCS2 parts
    assert join_parts(parts) == f"【{SIG}】{body}"
    assert {p.sender.number for p in parts} == {"10690123"}
    by_number = {r.msisdn: r for r in truth.records}
    assert by_number[MSISDN_CMCC].fate == "delivered"
    assert by_number[MSISDN_CMCC].modem == "+86" + MSISDN_CMCC
    assert (by_number[MSISDN_CUCC].fate, by_number[MSISDN_CUCC].receiver_down) == ("lost", True)


def test_network_clock_runs_at_the_configured_speedup() -> None:
    async def scenario() -> float:
        net, _, _ = network(scenario_doc({"v": vendor_scenario()}, speedup=1000.0))
        try:
            start = asyncio.get_running_loop().time()
            await net.clock.sleep_until(500.0)  # 500 simulated s = 0.5 wall s
            return asyncio.get_running_loop().time() - start
        finally:
            await net.close()

    assert 0.45 < run(scenario()) < 2.0


def test_lost_part_leaves_the_modem_one_pdu_short_and_truth_says_so() -> None:
    body = "这是一条会丢失一段的长探针消息，" * 10  # 160 chars + signature: 3 parts
    knobs = {"p_arrive": 1.0, "p_part_lost": 1.0, "latency": {"dist": "fixed", "median_s": 1.0}}

    async def scenario() -> tuple[TruthLog, RecordingModemSink]:
        net, sink, _ = network(scenario_doc({"v": vendor_scenario(knobs=knobs)}))
        try:
            submit(net, body)
            await net.wait_idle()
        finally:
            await net.close()
        return net.truth, sink

    truth, sink = run(scenario())
    [record] = truth.records
    assert (record.fate, record.parts, record.parts_delivered) == ("delivered", 3, 2)
    delivered = [deliver_pdu(p) for p in sink.delivered[0].sms.pdus]
    assert len(delivered) == 2
    assert all(d.concat is not None and d.concat.total == 3 for d in delivered)
