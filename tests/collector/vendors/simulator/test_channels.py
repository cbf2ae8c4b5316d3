"""Multi-channel vendors in the simulator: each channel's sender code, SMSC and TP-PID in the
real PDUs, a channel outage that swallows messages, the vendor's switch after its delay (or
never), and the truth of which channel carried each message and when the switch happened."""

from __future__ import annotations

import math
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from agent.common.tomlconfig import ConfigError
from agent.sms import SmsDeliver, decode_pdu
from collector.vendors.simulator.channels import ChannelEvent
from collector.vendors.simulator.network import Accepted, CarrierNetwork, RecordingModemSink
from collector.vendors.simulator.scenario import parse_scenario
from collector.vendors.simulator.truth import TruthLog, read_channel_truth, read_truth
from tests.collector.vendors.helpers import MSISDN_CMCC, run, scenario_doc, vendor_scenario

CHANNELS = [
    {"name": "a", "sender_ext": "303", "smsc": "+8613800100511"},
    {"name": "b", "sender_ext": "3039", "smsc": "+8613800100522", "pid": 0},
    {"name": "c", "sender_ext": "3040"},
]


def doc(failures: list[dict[str, Any]], speedup: float = 1000.0) -> dict[str, Any]:
    v = vendor_scenario(channels=CHANNELS, channel_failures=failures)
    return scenario_doc({"v": v}, speedup=speedup)


def test_a_switch_goes_to_the_next_healthy_channel_after_the_delay() -> None:
    failures = [
        {"channel": "a", "start_s": 10, "switch_after_s": 5},
        {"channel": "b", "start_s": 0, "end_s": 20},
    ]
    plan = parse_scenario(doc(failures)).vendors["v"].channel_plan
    # b is itself failing at 15 s, so the vendor moves to c.
    assert ChannelEvent(15.0, "channel_switched", "a", "c") in plan.events()
    assert [(c.name if c else None, failing) for c, failing in map(plan.route_at, (9, 12, 16))] == [
        ("a", False), ("a", True), ("c", False)
    ]  # fmt: skip


def test_a_vendor_that_never_switches_stays_on_the_dead_channel_until_it_returns() -> None:
    plan = (
        parse_scenario(doc([{"channel": "a", "start_s": 10, "end_s": 40}]))
        .vendors["v"]
        .channel_plan
    )
    assert [e.kind for e in plan.events()] == ["channel_failed", "channel_restored"]
    route = [plan.route_at(t) for t in (11, 39, 40)]
    assert [(c.name if c else None, failing) for c, failing in route] == [
        ("a", True), ("a", True), ("a", False)
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("failure", "key"),
    [
        ({"channel": "z", "start_s": 1}, "channel_failures[0].channel"),
        ({"channel": "a", "start_s": 5, "end_s": 5}, "channel_failures[0].end_s"),
        (
            {"channel": "a", "start_s": 1, "switch_after_s": -1},
            "channel_failures[0].switch_after_s",
        ),
    ],
)
def test_bad_channel_knobs_name_the_key(failure: dict[str, Any], key: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse_scenario(doc([failure]))
    assert err.value.key_path == f"vendors.v.{key}"


def test_messages_carry_their_channel_and_the_truth_says_when_the_vendor_switched(
    tmp_path: Path,
) -> None:
    """Submits every 2 simulated seconds; channel a fails at 10 s, the vendor switches to
    b at 16 s. Messages accepted on a while it is dead never arrive; the PDUs of the others
    carry their channel's sender code, SMSC and PID."""
    truth_path = tmp_path / "truth.jsonl"

    async def scenario() -> tuple[list[tuple[float, Accepted]], RecordingModemSink]:
        sink = RecordingModemSink()
        net = CarrierNetwork(
            # 50x: half a simulated second between a submit and a boundary is 10 ms
            parse_scenario(doc([{"channel": "a", "start_s": 10, "switch_after_s": 6}], 50.0)),
            sink,
            TruthLog(truth_path),
        )
        net.clock.anchor()
        sent = []
        try:
            for i in range(12):
                await net.clock.sleep_until(i * 2.0 + 0.5)
                at = net.clock.elapsed_s()
                text = f"您的验证码{100000 + i}"
                out = net.submit("v", msisdn=MSISDN_CMCC, content=text, signature="探针科技")
                assert isinstance(out, Accepted)
                sent.append((at, out))
            await net.wait_idle()
        finally:
            await net.close()
        return sent, sink

    sent, sink = run(scenario())
    truth = {t.vendor_message_id: t for t in read_truth(truth_path)}
    by_channel = {
        at: (truth[a.message_ids[0]].channel, truth[a.message_ids[0]].fate) for at, a in sent
    }
    for at, (channel, fate) in by_channel.items():
        expected = (
            ("a", "delivered") if at < 10 else ("a", "lost") if at < 16 else ("b", "delivered")
        )
        assert (channel, fate) == expected, at
    senders = set()
    for d in sink.delivered:
        pdu = decode_pdu(d.sms.pdus[0])
        assert isinstance(pdu, SmsDeliver)
        senders.add((pdu.sender.number, pdu.smsc, pdu.pid))
    # sender_prefix 10690 + the channel's extension
    assert senders == {("10690303", "+8613800100511", 0), ("106903039", "+8613800100522", 0)}
    events = read_channel_truth(truth_path)
    assert [(e["kind"], e["channel"], e["to_channel"], e["at_s"]) for e in events] == [
        ("channel_failed", "a", "", 10.0),
        ("channel_switched", "a", "b", 16.0),
    ]
    start = datetime.fromisoformat(events[0]["at"])
    switched = datetime.fromisoformat(events[1]["at"])
    assert math.isclose((switched - start).total_seconds(), 6.0, abs_tol=0.002)
