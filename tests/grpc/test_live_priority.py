"""Live before backlog (collector/api/writer.py): the commit order of a real collector
under a backlog storm, and the pure queue that decides it.

The gRPC test runs real Uploaders over mTLS against an in-process collector on a SQLite
ledger. To make the order deterministic it holds the ledger's write lock from another
connection (what a second process on the file would do) while every backlog stream queues
its next commit and the live agent's record arrives; releasing it lets the writer go on.
Commit order is read from the ledger itself: record ids are given in commit order.
"""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest

from agent.outbox.store import Outbox
from agent.uplink.client import UploadSettings
from collector.api.writer import CommitQueue
from collector.certs import create_ca, issue_agent
from collector.ledger import open_ledger
from tests.grpc.conftest import Pki
from tests.grpc.harness import fill, in_process_collector, modems_of, uploader, wait_until

BACKLOG_AGENTS = [f"storm-{i}" for i in range(8)]
LIVE_AGENT = "live-1"
BACKLOG_PER_AGENT = 1500
BATCH = 100


@pytest.fixture(scope="module")
def fleet_pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    root = tmp_path_factory.mktemp("fleet-pki")
    ca = create_ca(root / "ca")
    agents = {a: issue_agent(root / "ca", a) for a in [*BACKLOG_AGENTS, LIVE_AGENT]}
    other = create_ca(root / "other")
    return Pki(ca=ca, agents=agents, other_ca=other, rogue=issue_agent(root / "other", "x"))


def test_live_record_is_committed_ahead_of_a_queued_backlog_storm(
    fleet_pki: Pki, tmp_path: Path
) -> None:
    async def main() -> None:
        path = tmp_path / "ledger.db"
        ledger = open_ledger(str(path))
        modems = {a: modems_of(a, 4) for a in [*BACKLOG_AGENTS, LIVE_AGENT]}
        outboxes = {a: Outbox(tmp_path / f"{a}.db") for a in modems}
        for a in BACKLOG_AGENTS:  # an outage's backlog, persisted before the session
            fill(outboxes[a], BACKLOG_PER_AGENT, modems[a])
        async with in_process_collector(ledger, fleet_pki) as col:
            stop = asyncio.Event()
            settings = UploadSettings(batch_max_records=BATCH, clock_samples_on_connect=1)
            tasks = [
                asyncio.create_task(
                    uploader(
                        fleet_pki, a, col.address, outboxes[a], modems[a], settings=settings
                    ).run(stop)
                )
                for a in modems
            ]
            # The live agent's stream is up and idle: its first record went through.
            fill(outboxes[LIVE_AGENT], 1, modems[LIVE_AGENT])
            await wait_until(lambda: outboxes[LIVE_AGENT].depth() == 0, what="live stream up")
            await wait_until(lambda: ledger.record_count() >= 2 * BATCH, what="drain started")
            # Hold the write lock: the writer's next commit waits in BEGIN IMMEDIATE
            # (busy timeout 10 s) while the streams queue theirs.
            blocker = sqlite3.connect(str(path), isolation_level=None, timeout=10)
            blocker.execute("BEGIN IMMEDIATE")
            queue = col.servicer.writer.queue
            await wait_until(
                lambda: queue.backlog_waiting >= len(BACKLOG_AGENTS) - 1,
                what="every other backlog stream queued a commit",
            )
            (before,) = blocker.execute("SELECT COUNT(*) FROM records").fetchone()
            queued_backlog = queue.backlog_waiting
            (live,) = fill(outboxes[LIVE_AGENT], 1, modems[LIVE_AGENT])
            await wait_until(lambda: queue.live_waiting == 1, what="live commit queued")
            blocker.execute("ROLLBACK")
            blocker.close()
            await wait_until(
                lambda: all(o.depth() == 0 for o in outboxes.values()),
                timeout_s=120,
                what="every outbox drained",
            )
            stop.set()
            await asyncio.gather(*tasks)

        db = sqlite3.connect(str(path))
        (live_id,) = db.execute("SELECT id FROM records WHERE uuid = ?", (live.uuid,)).fetchone()
        (ahead,) = db.execute(
            "SELECT COUNT(*) FROM records WHERE id < ? AND agent_id != ?", (live_id, LIVE_AGENT)
        ).fetchone()
        (behind,) = db.execute("SELECT COUNT(*) FROM records WHERE id > ?", (live_id,)).fetchone()
        total, distinct = db.execute(
            "SELECT COUNT(*), COUNT(DISTINCT uuid) FROM records"
        ).fetchone()
        per_agent = dict(db.execute("SELECT agent_id, COUNT(*) FROM records GROUP BY agent_id"))
        db.close()
        # Only the commit already under way when the lock was taken (one stream's group:
        # at most pipeline_depth + 1 batches) went in between; every queued backlog commit
        # went after the live one.
        assert ahead - before <= 5 * BATCH
        assert behind >= queued_backlog * BATCH
        # Nothing lost, nothing doubled.
        expected = len(BACKLOG_AGENTS) * BACKLOG_PER_AGENT + 2
        assert (total, distinct) == (expected, expected)
        assert per_agent == {**{a: BACKLOG_PER_AGENT for a in BACKLOG_AGENTS}, LIVE_AGENT: 2}
        assert ledger.quarantine() == []
        ledger.close()

    asyncio.run(main())


# ---------------------------------------------------------------- the queue alone


def test_live_commits_go_first_in_arrival_order() -> None:
    q: CommitQueue[str] = CommitQueue(live_burst=8)
    q.push("b1", agent_id="a", live=False)
    q.push("l1", agent_id="x", live=True)
    q.push("b2", agent_id="a", live=False)
    q.push("l2", agent_id="y", live=True)
    assert [q.pop() for _ in range(5)] == ["l1", "l2", "b1", "b2", None]


def test_backlog_is_served_round_robin_over_agents() -> None:
    q: CommitQueue[str] = CommitQueue()
    for i in range(3):
        q.push(f"a{i}", agent_id="a", live=False)
    q.push("b0", agent_id="b", live=False)
    q.push("c0", agent_id="c", live=False)
    assert [q.pop() for _ in range(5)] == ["a0", "b0", "c0", "a1", "a2"]


def test_steady_live_load_bounds_but_never_stops_the_backlog() -> None:
    q: CommitQueue[str] = CommitQueue(live_burst=3)
    for i in range(4):
        q.push(f"b{i}", agent_id="storm", live=False)
    order = []
    for i in range(12):  # a live commit arrives before every pop: never an empty live queue
        q.push(f"l{i}", agent_id="live", live=True)
        order.append(q.pop())
    assert order == [
        "l0", "l1", "l2", "b0", "l3", "l4", "l5", "b1", "l6", "l7", "l8", "b2",
    ]  # fmt: skip
    assert (q.live_waiting, q.backlog_waiting) == (3, 1)
