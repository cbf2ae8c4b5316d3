"""The simulator's peak follows the scenario's zone (the collector's), and its throughput
model: throttled submits and a FIFO queue at `capacity_tps`, both in the ground truth."""

from __future__ import annotations

import asyncio
from datetime import datetime

from collector.vendors.base import ContentProfile
from collector.vendors.simulator.network import Accepted, CarrierNetwork, RecordingModemSink
from collector.vendors.simulator.scenario import parse_scenario
from collector.vendors.simulator.truth import TruthLog

MSISDN = "13800000001"


def scenario(zone: str, *, capacity: float = 0.0, throttle: float = 0.0) -> dict[str, object]:
    return {
        "seed": 1,
        "speedup": 1000.0,
        "timezone": zone,
        "start_at": "2026-11-24T19:30:00",  # zone-less: in `zone`
        "vendors": {
            "bolt": {
                "protocol": "http", "signature_required": False, "capacity_tps": capacity,
                "throttle_tps": throttle, "throttle_burst": 5,
                "knobs": {"p_arrive": 1.0, "latency": {"dist": "fixed", "median_s": 2.0},
                          "peak_bands": [{"start_h": 18, "end_h": 22, "multiplier": 3.0}]},
            }
        },
        "subscribers": [{"msisdn": MSISDN, "modem": "m1"}],
    }  # fmt: skip


async def _send(net: CarrierNetwork, n: int) -> list[object]:
    out = [net.submit("bolt", msisdn=MSISDN, content=f"码{i}", profile=ContentProfile.NOTIFICATION)
           for i in range(n)]  # fmt: skip
    await net.wait_idle(30)
    return out


def test_peak_is_local_to_the_scenario_zone() -> None:
    async def latencies(zone: str) -> list[float]:
        net = CarrierNetwork(parse_scenario(scenario(zone)), RecordingModemSink(), TruthLog())
        await _send(net, 3)
        assert net.clock.now().hour == 19 and str(net.clock.now().tzinfo) == zone
        out = []
        for t in net.truth.records:
            assert t.accepted_at and t.delivered_at
            delta = datetime.fromisoformat(t.delivered_at) - datetime.fromisoformat(t.accepted_at)
            out.append(round(delta.total_seconds(), 3))
        await net.close()
        return out

    # 19:30 local in either zone: inside the 18–22 peak, 2 s × 3.
    assert asyncio.run(latencies("Asia/Shanghai")) == [6.0] * 3
    assert asyncio.run(latencies("Europe/Berlin")) == [6.0] * 3


def test_queueing_delay_grows_with_load_and_throttling_is_in_the_truth() -> None:
    async def run() -> tuple[list[float], int, int]:
        net = CarrierNetwork(
            parse_scenario(
                scenario("Asia/Shanghai", capacity=2.0)
                | {"start_at": "2026-11-24T12:00:00", "speedup": 10.0}
            ),
            RecordingModemSink(), TruthLog(),
        )  # fmt: skip
        results = await _send(net, 10)
        delays = [t.queue_delay_s for t in net.truth.records]
        iso = datetime.fromisoformat
        latency = [
            (iso(t.delivered_at or "") - iso(t.accepted_at or "")).total_seconds()
            for t in net.truth.records
        ]
        assert all(abs(lat - 2.0 - d) < 0.01 for lat, d in zip(latency, delays, strict=True))
        await net.close()
        throttled_net = CarrierNetwork(
            parse_scenario(
                scenario("Asia/Shanghai", throttle=1.0)
                | {"start_at": "2026-11-24T12:00:00", "speedup": 5.0}
            ),
            RecordingModemSink(),
            TruthLog(),
        )
        answers = await _send(throttled_net, 12)
        accepted = sum(isinstance(a, Accepted) for a in answers)
        in_truth = sum(t.fate == "throttled" for t in throttled_net.truth.records)
        await throttled_net.close()
        assert all(isinstance(a, Accepted) for a in results)
        return delays, accepted, in_truth

    delays, accepted, throttled = asyncio.run(run())
    # Ten at once through 2 SMS/s: the i-th waits i/2 s (up to submit-time jitter).
    assert [round(d * 2) for d in delays] == list(range(10))
    assert accepted == 5 and throttled == 7  # a burst of 5 tokens, then refusals, all recorded
