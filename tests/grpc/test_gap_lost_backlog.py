"""A queued gap of an agent that dies mid-drain, on a real collector (SQLite and a real
PostgreSQL): reported once after `[agents] backlog_grace_s` (the lost_backlog unit), not
at all when the agent comes back within it and drains.

As in test_gap_queued.py, the agent's ledger rows are held from another connection (the
SQLite write lock; on PostgreSQL the agent's row, which every ingest locks first) so that
the live record's commit goes ahead of the queued backlog; then the agent's uploader is
stopped — its stream gone, as when its process is killed — with most of the backlog
still in its outbox."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from pathlib import Path
from typing import Any

import psycopg
import pytest
from structlog.testing import capture_logs

from agent.outbox.store import Outbox
from agent.uplink.client import UploadSettings
from agent.wire.records import AgentRegistration
from collector.config import AgentDefaults
from collector.health.board import HealthBoard, service_unit
from collector.health.supervise import Unit
from collector.ledger import Ledger, open_ledger
from collector.ledger.model import GapSpan
from collector.ledger.sqlite import SqliteLedger
from collector.lost_backlog import lost_backlog_unit
from tests.grpc.conftest import Pki
from tests.grpc.harness import fill, modems_of, uploader, wait_until
from tests.grpc.test_live_priority import BATCH, serve_uploads

AGENT = "agent-a"
BACKLOG = 3000


class _Holder:
    """Holds what the agent's next ingest needs from another connection (see above)."""

    def __init__(self, url: str, path: Path | None) -> None:
        self._sqlite = (
            sqlite3.connect(str(path), isolation_level=None, timeout=10) if path else None
        )
        self._pg = None if path else psycopg.connect(url)

    def hold(self) -> None:
        if self._sqlite is not None:
            self._sqlite.execute("BEGIN IMMEDIATE")
        elif self._pg is not None:
            self._pg.execute("SELECT 1 FROM agents WHERE agent_id = %s FOR UPDATE", (AGENT,))

    def release(self) -> None:
        if self._sqlite is not None:
            self._sqlite.execute("ROLLBACK")
            self._sqlite.close()
        elif self._pg is not None:
            self._pg.rollback()
            self._pg.close()


def _run_unit(ledger: Ledger, grace_s: float) -> tuple[asyncio.Event, asyncio.Task[None]]:
    stop = asyncio.Event()
    body = lost_backlog_unit(ledger, AgentDefaults(backlog_grace_s=grace_s), interval_s=0.05)
    unit = Unit(HealthBoard(time.time_ns), service_unit("lost_backlog"), stop)
    return stop, asyncio.ensure_future(body(unit))


def _killed_mid_drain(
    pki: Pki, tmp_path: Path, ledger_url: str, *, grace_s: float, comes_back: bool
) -> dict[str, Any]:
    async def main() -> dict[str, Any]:
        path = None
        if ledger_url.startswith("sqlite"):
            path = tmp_path / "ledger.db"
            open_ledger(str(path)).close()
            ledger: Ledger = SqliteLedger(path, busy_timeout_s=120.0)
        else:
            ledger = open_ledger(ledger_url)
        modems = {AGENT: modems_of(AGENT, 4)}
        ledger.register_agent(
            AgentRegistration(agent_id=AGENT, modems=tuple(modems[AGENT])), at_ns=1
        )
        outbox = Outbox(tmp_path / "outbox.db")
        fill(outbox, BACKLOG, modems[AGENT])
        servicer, running, stop, tasks = await serve_uploads(
            pki, ledger, {AGENT: outbox}, modems, merge_commits=1
        )
        queue = servicer.writer.queue
        out: dict[str, Any] = {}
        with capture_logs() as logs:
            await wait_until(lambda: ledger.record_count() >= BATCH, what="drain started")
            holder = _Holder(ledger_url, path)
            try:
                holder.hold()
                taken = queue.live_taken
                (live,) = fill(outbox, 1, modems[AGENT])
                # The live commit reaches the writer: queued behind the held backlog commit, or
                # taken at once by an idle writer and waiting for the lock (no backlog commit of
                # the stream was with the writer just then); either way it commits first.
                await wait_until(
                    lambda: queue.live_waiting + queue.live_taken > taken,
                    what="live commit with the writer",
                )
                # The agent dies while its commits wait: its stream is gone, most of its
                # backlog never sent (it had a window of batches in flight at most).
                stop.set()
            finally:
                holder.release()
            await asyncio.gather(*tasks)
            await wait_until(lambda: len(queue) == 0, what="commits received written")
            await servicer.writer.call(AGENT, lambda: None)  # ... the one under way too
            await wait_until(lambda: not ledger.agents()[0].connected, what="disconnect")
            out["queued"] = [g for g in ledger.gaps(AGENT) if g.queued]
            unit_stop, unit_task = _run_unit(ledger, grace_s)
            if comes_back:
                again = asyncio.Event()
                settings = UploadSettings(batch_max_records=BATCH, clock_samples_on_connect=1)
                address = f"127.0.0.1:{running.port}"
                back = asyncio.create_task(
                    uploader(pki, AGENT, address, outbox, modems[AGENT], settings=settings).run(
                        again
                    )
                )
                await wait_until(lambda: outbox.depth() == 0, timeout_s=60, what="drained")
                (after,) = fill(outbox, 1, modems[AGENT])
                await wait_until(lambda: outbox.depth() == 0, what="caught up")
                out["last"] = after.seq
                again.set()
                await back
            else:
                await wait_until(
                    lambda: not any(g.queued for g in ledger.gaps(AGENT)),
                    timeout_s=60,
                    what="the queued gaps reported",
                )
            unit_stop.set()
            await unit_task
            # Whoever reports again later finds nothing left to report.
            out["again"] = ledger.report_lost_backlog(
                at_ns=time.time_ns() + 10**15, offline_after_s=0.0, grace_s=0.0
            )
            await running.stop(0.5)
        out["warned"] = [
            (e["first_seq"], e["last_seq"])
            for e in logs
            if e["event"] == "seq_gap_detected" and e["log_level"] == "warning"
        ]
        out["events"] = [
            (int(e.attributes["first_seq"]), int(e.attributes["last_seq"]), e.detail)
            for e in ledger.events(AGENT)
            if e.kind == "seq_gap_detected"
        ]
        out["gaps"] = ledger.gaps(AGENT)
        out["records"] = ledger.record_count()
        out["committed_seq"] = ledger.agents()[0].committed_seq
        out["live_seq"] = live.seq
        ledger.close()
        return out

    return asyncio.run(main())


def _spans(gaps: list[GapSpan]) -> list[tuple[int, int]]:
    return [(g.first_seq, g.last_seq) for g in gaps]


@pytest.mark.parametrize("ledger_url", ["sqlite", "postgresql"], indirect=True)
def test_the_backlog_of_an_agent_killed_mid_drain_is_reported_once_after_the_grace(
    pki: Pki, tmp_path: Path, ledger_url: str
) -> None:
    out = _killed_mid_drain(pki, tmp_path, ledger_url, grace_s=0.2, comes_back=False)
    queued = _spans(out["queued"])
    assert queued and queued[-1][1] == out["live_seq"] - 1  # the backlog behind the live
    assert [(a, b) for a, b, _ in out["events"]] == queued  # each once
    assert all("backlog_grace_s" in detail for _, _, detail in out["events"])
    assert out["warned"] == queued
    assert out["again"] == []
    # Still not-measured spans, the same ones, now reported.
    assert _spans(out["gaps"]) == queued and not any(g.queued for g in out["gaps"])
    assert out["records"] == out["live_seq"] - sum(b - a + 1 for a, b in queued)


@pytest.mark.parametrize("ledger_url", ["sqlite", "postgresql"], indirect=True)
def test_an_agent_back_within_the_grace_drains_without_a_report(
    pki: Pki, tmp_path: Path, ledger_url: str
) -> None:
    out = _killed_mid_drain(pki, tmp_path, ledger_url, grace_s=3600.0, comes_back=True)
    assert out["queued"]  # there was something to lose
    assert (out["events"], out["warned"], out["gaps"], out["again"]) == ([], [], [], [])
    assert out["records"] == BACKLOG + 2
    assert out["committed_seq"] == out["last"] == BACKLOG + 2
