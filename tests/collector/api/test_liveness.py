"""The liveness lane (collector/api/liveness.py) on a real SQLite ledger: writes land in
the order they were queued, a waiting touch is replaced by the agent's newer one, and a
failing write does not stop the lane."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

from agent.wire.records import AgentRegistration
from collector.api.liveness import LivenessLane, Touch
from collector.ledger import open_ledger
from collector.ledger.model import LedgerEventKind


def _view(depth: int) -> Touch:
    return Touch(outbox_depth=depth, oldest_pending_ns=0, clock_offset_ms=1.5,
                 clock_uncertainty_ms=2.0)  # fmt: skip


def test_writes_land_in_queue_order_and_a_waiting_touch_takes_the_newer_state(
    tmp_path: Path,
) -> None:
    ledger = open_ledger(str(tmp_path / "ledger.db"))
    ledger.register_agent(AgentRegistration(agent_id="a"), at_ns=1)
    samples_before = len(ledger.agent_samples_after(0, 1000))

    async def main() -> int:
        lane = LivenessLane(ledger)
        # Queued in one go (no await in between): none is written yet.
        lane.connected("a", True, at_ns=10, peer="p1", via="c1")
        lane.touch("a", _view(5), at_ns=11)
        lane.connected("a", False, at_ns=12, peer="p1", via="c1")
        lane.connected("a", True, at_ns=13, peer="p2", via="c1")
        lane.touch("a", _view(7), at_ns=14)  # replaces the touch still waiting
        waiting = lane.waiting
        await lane.close()
        return waiting

    assert asyncio.run(main()) == 4
    kinds = [
        e.kind
        for e in ledger.events("a")
        if e.kind in (LedgerEventKind.AGENT_CONNECTED, LedgerEventKind.AGENT_DISCONNECTED)
    ]
    assert kinds == [
        LedgerEventKind.AGENT_CONNECTED,
        LedgerEventKind.AGENT_DISCONNECTED,
        LedgerEventKind.AGENT_CONNECTED,
    ]
    [agent] = ledger.agents()
    assert agent.connected and agent.peer == "p2"
    assert (agent.outbox_depth, agent.last_seen_ns) == (7, 14)
    # One sample per write made: three connects/disconnects and the one touch.
    assert len(ledger.agent_samples_after(0, 1000)) - samples_before == 4
    ledger.close()


def test_a_failing_write_is_logged_and_the_lane_goes_on(tmp_path: Path) -> None:
    ledger = open_ledger(str(tmp_path / "ledger.db"))
    ledger.register_agent(AgentRegistration(agent_id="a"), at_ns=1)
    db = tmp_path / "ledger.db"

    async def main() -> None:
        lane = LivenessLane(ledger)
        lane.connected("a", True, at_ns=10, peer="p", via="c1")
        await lane.flush()
        # The table the touch writes its sample into is gone: that write fails.
        other = sqlite3.connect(str(db), isolation_level=None)
        other.execute("ALTER TABLE agent_samples RENAME TO agent_samples_away")
        lane.touch("a", _view(3), at_ns=11)
        await lane.flush()
        other.execute("ALTER TABLE agent_samples_away RENAME TO agent_samples")
        other.close()
        lane.connected("a", False, at_ns=12, peer="p", via="c1")
        await lane.close()
        assert lane.written == 3

    asyncio.run(main())
    [agent] = ledger.agents()
    assert not agent.connected and agent.outbox_depth == 0  # the failed touch left nothing
    ledger.close()
