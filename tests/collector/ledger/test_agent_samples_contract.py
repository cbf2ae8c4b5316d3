"""The Ledger contract for what the time series are derived from (migration 0014), on
SQLite and a real PostgreSQL: every change of an agent's row is kept as a sample (the
`agent` series), and channel observations carry a write sequence (the `channel` series'
cursor), also for rows kept before the migration."""

from __future__ import annotations

import math
from typing import Any

from collector.ledger.base import Ledger
from collector.ledger.health import UnitRow
from tests.collector.ledger.builders import registration
from tests.collector.ledger.test_channel_contract import obs

NS = 1_000_000_000
T = 1_800_000_000 * NS


def _touch(ledger: Ledger, at_ns: int, depth: int, offset: float, unc: float) -> None:
    ledger.touch_agent("agent-1", at_ns=at_ns, outbox_depth=depth, oldest_pending_ns=at_ns - NS,
                       clock_offset_ms=offset, clock_uncertainty_ms=unc)  # fmt: skip


def test_every_change_of_an_agent_is_a_sample(ledger: Ledger) -> None:
    ledger.set_connected("agent-1", True, at_ns=T, peer="p", via="c1")
    ledger.register_agent(registration("agent-1"), at_ns=T + 1 * NS)
    _touch(ledger, T + 2 * NS, 7, 1.5, math.inf)
    _touch(ledger, T + 3 * NS, 9, -2.0, 0.5)
    ledger.set_connected("agent-1", False, at_ns=T + 4 * NS, via="c1")
    ledger.set_connected("agent-2", True, at_ns=T + 5 * NS, via="c1")
    assert ledger.release_connections("c1", at_ns=T + 6 * NS) == ["agent-2"]

    samples = ledger.agent_samples_after(0, 100)
    got = [(s.agent_id, s.at_ns - T, s.connected, s.outbox_depth, s.clock_offset_ms,
            s.clock_uncertainty_ms, s.prev_at_ns and s.prev_at_ns - T, s.prev_connected)
           for s in samples]  # fmt: skip
    assert got == [
        ("agent-1", 0, True, 0, 0.0, math.inf, 0, False),
        ("agent-1", 1 * NS, True, 0, 0.0, math.inf, 0, True),
        ("agent-1", 2 * NS, True, 7, 1.5, math.inf, 1 * NS, True),
        ("agent-1", 3 * NS, True, 9, -2.0, 0.5, 2 * NS, True),
        ("agent-1", 4 * NS, False, 9, -2.0, 0.5, 3 * NS, True),
        ("agent-2", 5 * NS, True, 0, 0.0, math.inf, 0, False),
        ("agent-2", 6 * NS, False, 0, 0.0, math.inf, 5 * NS, True),
    ]
    assert [s.prev_site for s in samples[:3]] == ["", "", "bj-1"]
    # The site as registered at each moment: none before the registration.
    assert [s.site for s in samples if s.agent_id == "agent-1"] == [
        "",
        "bj-1",
        "bj-1",
        "bj-1",
        "bj-1",
    ]
    assert samples[2].oldest_pending_ns == T + NS
    ids = [s.sample_id for s in samples]
    assert ids == sorted(ids) and len(set(ids)) == len(ids)
    # The cursor pages through them in order.
    assert ledger.agent_samples_after(ids[1], 2) == samples[2:4]
    assert ledger.agent_samples_after(ids[-1], 10) == []
    assert ledger.last_agent_samples() == [samples[4], samples[6]]


def test_every_change_of_a_collector_unit_is_kept(ledger: Ledger) -> None:
    def save(state: str, since_s: int, beat_s: int, failures: int = 0, restarts: int = 0) -> None:
        ledger.save_health("c1", [UnitRow("c1", "vendor:bolt", state, T + since_s * NS,
                                          T + beat_s * NS, failures, restarts)], [])  # fmt: skip

    save("starting", 0, 0)
    save("starting", 0, 1)  # a heartbeat only: no change
    save("backoff", 2, 2, failures=1)
    save("backoff", 2, 3, failures=2)  # another failure in the same state: at its write
    save("running", 4, 5, restarts=1)
    save("running", 4, 9, restarts=1)
    changes = ledger.unit_changes_after(0, 100)
    got = [(c.instance, c.unit, c.state, c.failures, c.restarts, (c.at_ns - T) // NS)
           for c in changes]  # fmt: skip
    assert got == [
        ("c1", "vendor:bolt", "starting", 0, 0, 0),
        ("c1", "vendor:bolt", "backoff", 1, 0, 2),
        ("c1", "vendor:bolt", "backoff", 2, 0, 3),
        ("c1", "vendor:bolt", "running", 0, 1, 4),
    ]
    assert ledger.unit_changes_after(changes[1].change_id, 1) == [changes[2]]


def test_channel_observations_carry_a_growing_write_sequence(ledger: Ledger) -> None:
    ledger.save_channel_observations([obs("p1", 0), obs("p2", 10)])
    ledger.save_channel_observations([obs("p3", 20)])
    first = ledger.channel_observations_after(0, 10)
    assert [(seq, o.probe_id) for seq, o in first] == [(1, "p1"), (2, "p2"), (3, "p3")]
    # A replaced observation is written again: a new seq, the old one gone.
    ledger.save_channel_observations([obs("p1", 0, sender="106903039")])
    after = ledger.channel_observations_after(3, 10)
    assert [(seq, o.probe_id, o.sender) for seq, o in after] == [(4, "p1", "106903039")]
    assert [o.probe_id for _, o in ledger.channel_observations_after(0, 10)] == ["p2", "p3", "p1"]
    assert ledger.channel_observations_after(1, 1) == [first[1]]
    # Replacing the row with the top seq: the next seq, never the one it held again.
    ledger.save_channel_observations([obs("p1", 0, sender="106903038")])
    assert [seq for seq, _ in ledger.channel_observations_after(4, 10)] == [5]


def test_the_migration_numbers_observations_kept_before_it(ledger: Any) -> None:
    # p2 arrived first; rows kept before migration 0014 are numbered in arrival order.
    ledger.save_channel_observations([obs("p1", 10), obs("p2", 0), obs("p3", 30)])
    with ledger._transaction() as tx:  # back to the schema of migration 0013
        tx.run("DROP INDEX channel_observations_by_seq")
        tx.run("ALTER TABLE channel_observations DROP COLUMN seq")
        tx.run("DROP TABLE agent_samples")
        tx.run("DROP TABLE unit_changes")
        tx.run("DELETE FROM schema_migrations WHERE version = 14")
    ledger.migrate()
    got = [(seq, o.probe_id) for seq, o in ledger.channel_observations_after(0, 10)]
    assert got == [(1, "p2"), (2, "p1"), (3, "p3")]
    ledger.save_channel_observations([obs("p4", 40)])
    assert ledger.channel_observations_after(3, 10)[0][0] == 4
