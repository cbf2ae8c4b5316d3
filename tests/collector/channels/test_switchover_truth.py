"""Switch-over measurement held to the vendor simulator's truth: probes go through a real
simulated network (SMS-DELIVER PDUs decoded with the agent's codec), the channel of each
arrival is read from its PDU, and the measured episodes must contain what the simulator
says happened — when the channel failed and when the vendor switched (or the channel
came back, for the vendor that never switches)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from agent.sms import SmsDeliver, decode_pdu
from collector.channels.switchover import channel_events, episodes, summarise
from collector.ledger.channels import ChannelObservation
from collector.reports.figures import JudgedProbe
from collector.vendors.simulator.network import Accepted, CarrierNetwork, RecordingModemSink
from collector.vendors.simulator.scenario import parse_scenario
from collector.vendors.simulator.truth import TruthLog, read_channel_truth
from tests.collector.vendors.helpers import MSISDN_CMCC, run, scenario_doc, vendor_scenario

NS = 1_000_000_000
GAP_S = 3.0  # one probe per vendor every 3 simulated seconds
CHANNELS = [
    {"name": "a", "sender_ext": "303", "smsc": "+8613800100511"},
    {"name": "b", "sender_ext": "3039", "smsc": "+8613800100522"},
]


def ns(when: datetime) -> int:
    return round(when.timestamp() * NS)


def simulate(truth_path: Path) -> tuple[list[JudgedProbe], list[ChannelObservation]]:
    doc = scenario_doc(
        {
            "sw": vendor_scenario(
                channels=CHANNELS,
                channel_failures=[{"channel": "a", "start_s": 20, "switch_after_s": 9}],
            ),
            "never": vendor_scenario(
                channels=CHANNELS, channel_failures=[{"channel": "a", "start_s": 20, "end_s": 50}]
            ),
        },
        speedup=50.0,
    )

    async def go() -> tuple[list[tuple[str, str, int]], RecordingModemSink]:
        sink = RecordingModemSink()
        net = CarrierNetwork(parse_scenario(doc), sink, TruthLog(truth_path))
        net.clock.anchor()
        sent = []
        try:
            for i in range(27):
                await net.clock.sleep_until(i * GAP_S + 1.0)
                for vendor in ("sw", "never"):
                    text = f"{vendor}单号{10000 + i}"
                    at = ns(net.clock.now())
                    out = net.submit(vendor, msisdn=MSISDN_CMCC, content=text,
                                     signature="探针科技")  # fmt: skip
                    assert isinstance(out, Accepted)
                    sent.append((vendor, text, at))
            await net.wait_idle(timeout_s=20)
        finally:
            await net.close()
        return sent, sink

    sent, sink = run(go())
    arrived: dict[str, SmsDeliver] = {}
    for d in sink.delivered:
        pdu = decode_pdu(d.sms.pdus[0])
        assert isinstance(pdu, SmsDeliver)
        arrived[pdu.text.removeprefix("【探针科技】")] = pdu
    probes, observations = [], []
    for vendor, text, at in sent:
        pdu = arrived.get(text)
        latency = None if pdu is None else (ns(pdu.scts) - at) / NS
        probes.append(JudgedProbe(
            probe_id=text, vendor=vendor, carrier="china_mobile", region="", profile="notification",
            band="", submitted_at_ns=at, accepted=True,
            outcome="lost" if pdu is None else "delivered", dlr="consistent", dlr_claim="none",
            content="intact", latency_s=latency,
        ))  # fmt: skip
        if pdu is not None:
            observations.append(ChannelObservation(
                text, vendor, "china_mobile", "notification", at, ns(pdu.scts), latency,
                pdu.sender.number, pdu.smsc or "", pdu.pid, pdu.dcs,
            ))  # fmt: skip
    return probes, observations


def test_measured_switch_over_contains_the_simulators_truth(tmp_path: Path) -> None:
    truth_path = tmp_path / "truth.jsonl"
    probes, observations = simulate(truth_path)
    truth = {(e["vendor"], e["kind"]): ns(datetime.fromisoformat(e["at"]))
             for e in read_channel_truth(truth_path)}  # fmt: skip
    found = {e.vendor: e for e in episodes(probes, observations)}
    assert set(found) == {"sw", "never"}  # p_arrive 1: the channel failure is the only one

    sw = found["sw"]
    failed_at, switched_at = truth[("sw", "channel_failed")], truth[("sw", "channel_switched")]
    assert (sw.how, sw.channel_before, sw.channel_after) == (
        "switched", "10690303/0", "106903039/0"
    )  # fmt: skip
    assert failed_at <= sw.started_ns < failed_at + GAP_S * NS  # the first probe after it
    bounds = sw.bounds_s
    assert bounds is not None and bounds[1] is not None
    delay_s = (switched_at - failed_at) / NS  # 9 s in the scenario
    assert abs(delay_s - 9.0) < 0.01
    assert bounds[0] <= delay_s <= bounds[1]
    assert bounds[1] - bounds[0] <= 2 * GAP_S * 1.1  # resolution: two probe gaps (+ loop lag)
    assert sw.switch_over_s is not None and sw.switch_over_s >= bounds[0]

    never = found["never"]
    restored_at = truth[("never", "channel_restored")]
    assert ("never", "channel_switched") not in truth
    assert (never.how, never.channel_after) == ("same_channel", never.channel_before)
    nb = never.bounds_s
    assert nb is not None and nb[1] is not None
    assert nb[0] <= (restored_at - truth[("never", "channel_failed")]) / NS <= nb[1]

    # The change of channel is an event at the first arrival over the new one.
    changes = [e for e in channel_events(observations) if e.kind == "changed"]
    assert [(e.vendor, e.from_channel, e.to_channel) for e in changes] == [
        ("sw", "10690303/0", "106903039/0")
    ]
    assert switched_at <= changes[0].at_ns <= switched_at + int((GAP_S + 3) * NS)
    rows = {s.vendor: s for s in summarise(found.values())}
    assert (rows["sw"].switched, rows["never"].same_channel) == (1, 1)
    assert rows["never"].median_s is not None and rows["sw"].median_s is not None
    assert rows["never"].median_s > rows["sw"].median_s  # the one that never switches is slower
