"""The Ledger contract, channel-facing side (migration 0009), on SQLite and a real
PostgreSQL: channel observations kept per probe (replaced, never doubled) and failover
sends kept once."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from collector.ledger.channels import ChannelObservation, FailoverSend

NS = 1_000_000_000
T = 1_800_000_000 * NS


def obs(probe_id: str, at_s: float, sender: str = "10690303", **kw: Any) -> ChannelObservation:
    values: dict[str, Any] = dict(
        probe_id=probe_id, vendor="bolt", carrier="china_mobile", profile="notification",
        submitted_at_ns=T + int(at_s * NS), arrived_at_ns=T + int((at_s + 4.5) * NS),
        latency_s=4.5, sender=sender, smsc="+8613800100511", pid=0, dcs=8,
        record_uuid=f"u-{probe_id}",
    )  # fmt: skip
    values.update(kw)
    return ChannelObservation(**values)


def test_observations_are_kept_by_probe_and_replaced_not_doubled(ledger: Any) -> None:
    assert ledger.save_channel_observations([obs("p1", 0), obs("p2", 10), obs("p3", 20)]) == 3
    moved = replace(obs("p2", 10), sender="106903039", smsc="+8613800100522", latency_s=None)
    ledger.save_channel_observations([moved])
    got = ledger.channel_observations(since_ns=T, vendor="bolt")
    assert [o.probe_id for o in got] == ["p1", "p2", "p3"]  # by arrival time
    assert got[1] == moved  # every field round-trips, a missing latency as None
    assert got[0] == obs("p1", 0)
    window = ledger.channel_observations(since_ns=T + 5 * NS, until_ns=T + 20 * NS)
    assert [o.probe_id for o in window] == ["p2"]
    assert ledger.channel_observations(vendor="acme") == []


def test_failover_sends_are_kept_once(ledger: Any) -> None:
    send = FailoverSend("p9", "otp", "cheap", "acme", "china_unicom", "verification_code", T)
    ledger.record_failover_send(send)
    ledger.record_failover_send(send)  # a retried write
    later = replace(send, probe_id="p10", at_ns=T + 5 * NS)
    ledger.record_failover_send(later)
    assert ledger.failover_sends(since_ns=T) == [send, later]
    assert ledger.failover_sends(since_ns=T + NS) == [later]
    assert ledger.failover_sends(until_ns=T + NS) == [send]
