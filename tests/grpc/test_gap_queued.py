"""A backlog drain with a live record committed ahead of it, on a real collector: the
seqs between are a gap while the backlog is queued, held as such (GapSpan.queued) without
a seq_gap_detected warning or event; seqs the agent's outbox really lost are still
reported, once the agent's own outbox view shows they are not pending there.

As in test_live_priority.py, the ledger's write lock is held from another connection so
that the live record's commit is queued while a backlog commit waits, which makes the
writer take it ahead of the rest of the backlog; record ids give the commit order.
"""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest
from structlog.testing import capture_logs

from agent.outbox.store import Outbox
from agent.wire.records import AgentRegistration
from collector.ledger import open_ledger
from collector.ledger.sqlite import SqliteLedger
from tests.grpc.conftest import Pki
from tests.grpc.harness import fill, modems_of, wait_until
from tests.grpc.test_live_priority import BATCH, serve_uploads

AGENT = "agent-a"  # the shared pki fixture has its certificate
BACKLOG = 3000


def _drain_with_live_ahead(pki: Pki, tmp_path: Path, lost: tuple[int, ...]) -> dict[str, object]:
    async def main() -> dict[str, object]:
        path = tmp_path / "ledger.db"
        open_ledger(str(path)).close()  # migrated
        ledger = SqliteLedger(path, busy_timeout_s=120.0)
        modems = {AGENT: modems_of(AGENT, 4)}
        ledger.register_agent(
            AgentRegistration(agent_id=AGENT, modems=tuple(modems[AGENT])), at_ns=1
        )
        outbox = Outbox(tmp_path / "outbox.db")
        fill(outbox, BACKLOG, modems[AGENT])  # the outage's backlog
        if lost:  # records the outbox lost (a damaged file): they never come
            with sqlite3.connect(str(tmp_path / "outbox.db")) as db:
                db.executemany("DELETE FROM records WHERE seq = ?", [(s,) for s in lost])
        with capture_logs() as logs:
            servicer, running, stop, tasks = await serve_uploads(
                pki,
                ledger,
                {AGENT: outbox},
                modems,
                merge_commits=1,
            )
            queue = servicer.writer.queue
            blocker = sqlite3.connect(str(path), isolation_level=None, timeout=10)
            try:
                await wait_until(lambda: ledger.record_count() >= BATCH, what="drain started")
                # The writer's next (backlog) commit waits for the lock; the stream has
                # more backlog than its window, so most of it is still to come.
                blocker.execute("BEGIN IMMEDIATE")
                taken = queue.live_taken
                (live,) = fill(outbox, 1, modems[AGENT])
                # The live commit reaches the writer: queued behind the held backlog commit, or
                # taken at once by an idle writer and waiting for the lock (no backlog commit of
                # the stream was with the writer just then); either way it commits first.
                await wait_until(
                    lambda: queue.live_waiting + queue.live_taken > taken,
                    what="live commit with the writer",
                )
            finally:
                if blocker.in_transaction:
                    blocker.execute("ROLLBACK")
                blocker.close()
            try:
                await wait_until(lambda: outbox.depth() == 0, timeout_s=60, what="drained")
                (after,) = fill(outbox, 1, modems[AGENT])  # caught up: a live batch
                await wait_until(lambda: outbox.depth() == 0, what="caught up")
            finally:
                stop.set()
                await asyncio.gather(*tasks)
                await running.stop(0.5)  # writes the streams' last touch
        db = sqlite3.connect(str(path))
        (live_id,) = db.execute("SELECT id FROM records WHERE uuid = ?", (live.uuid,)).fetchone()
        (behind,) = db.execute(
            "SELECT COUNT(*) FROM records WHERE id > ? AND seq < ?", (live_id, live.seq)
        ).fetchone()
        db.close()
        result: dict[str, object] = {
            "behind": behind,  # backlog records committed after the live one
            "warned": [
                (e["first_seq"], e["last_seq"])
                for e in logs
                if e["event"] == "seq_gap_detected" and e["log_level"] == "warning"
            ],
            "events": [
                (e.attributes["first_seq"], e.attributes["last_seq"])
                for e in ledger.events(AGENT)
                if e.kind == "seq_gap_detected"
            ],
            "gaps": [(g.first_seq, g.last_seq, g.queued) for g in ledger.gaps(AGENT)],
            "records": ledger.record_count(),
            "committed_seq": ledger.agents()[0].committed_seq,
            "last": after.seq,
        }
        ledger.close()
        return result

    return asyncio.run(main())


def test_a_backlog_drain_behind_a_live_record_warns_of_no_gap(
    pki: Pki,
    tmp_path: Path,
) -> None:
    out = _drain_with_live_ahead(pki, tmp_path, lost=())
    assert out["behind"] >= BATCH  # type: ignore[operator]  # the live record went first
    assert (out["warned"], out["events"], out["gaps"]) == ([], [], [])
    assert out["records"] == BACKLOG + 2
    assert out["committed_seq"] == out["last"] == BACKLOG + 2


@pytest.mark.parametrize("lost", [(500,), (500, 2999)])
def test_seqs_the_outbox_lost_are_still_reported(
    pki: Pki,
    tmp_path: Path,
    lost: tuple[int, ...],
) -> None:
    out = _drain_with_live_ahead(pki, tmp_path, lost=lost)
    assert out["behind"] >= BATCH  # type: ignore[operator]
    expected = [(s, s) for s in lost]
    assert out["warned"] == expected
    assert out["events"] == [(str(s), str(s)) for s in lost]
    assert out["gaps"] == [(s, s, False) for s in lost]
    assert out["records"] == BACKLOG + 2 - len(lost)
    assert out["committed_seq"] == lost[0] - 1
