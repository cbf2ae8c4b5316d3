"""Live before backlog (collector/api/writer.py): the commit order of a real collector
under a backlog storm, a stream opened while the writer is held up, and the pure queue
that decides the order.

The gRPC test runs real Uploaders over mTLS against an in-process collector on a SQLite
ledger. To make the order deterministic it holds the ledger's write lock from another
connection (what a second process on the file would do) while backlog streams queue their
next commits and the live agent's record arrives; releasing it lets the writer go on.
Commit order is read from the ledger itself: record ids are given in commit order.
"""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import grpc.aio
import pytest
from smsprobe.v1 import agent_pb2

from agent.outbox.store import Outbox
from agent.uplink.client import UploadSettings, make_channel
from agent.wire.records import AgentRegistration, ModemInfo
from agent.wire.serde import registration_to_proto, upload_request_bytes
from collector.api.auth import Authenticator
from collector.api.server import RunningServer, ServerSettings, TlsMaterial, start_server
from collector.api.servicer import AgentServicer, ConfigStore
from collector.api.writer import CommitQueue
from collector.certs import create_ca, issue_agent
from collector.ledger import Ledger, open_ledger
from collector.ledger.sqlite import SqliteLedger
from tests.grpc.conftest import Pki
from tests.grpc.harness import (
    default_agent_config,
    fill,
    make_stub,
    modems_of,
    uploader,
    wait_until,
)

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


async def serve_uploads(
    pki: Pki,
    ledger: Ledger,
    outboxes: dict[str, Outbox],
    modems: dict[str, list[ModemInfo]],
    *,
    merge_commits: int,
) -> tuple[AgentServicer, RunningServer, asyncio.Event, list[asyncio.Task[None]]]:
    """A real mTLS collector on `ledger` and a running Uploader per outbox (until `stop`)."""
    servicer = AgentServicer(
        ledger, Authenticator(), ConfigStore(default_agent_config), merge_commits=merge_commits
    )
    ca = pki.ca
    running = await start_server(
        servicer, ServerSettings(tls=TlsMaterial(ca.ca_cert, ca.server_cert, ca.server_key))
    )
    address = f"127.0.0.1:{running.port}"
    stop = asyncio.Event()
    settings = UploadSettings(batch_max_records=BATCH, clock_samples_on_connect=1)
    tasks = [
        asyncio.create_task(
            uploader(pki, a, address, outboxes[a], modems[a], settings=settings).run(stop)
        )
        for a in outboxes
    ]
    return servicer, running, stop, tasks


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
        # Two commits per shared transaction at most, so most streams' commits queue up
        # behind the one held below instead of joining it.
        servicer, running, stop, tasks = await serve_uploads(
            fleet_pki, ledger, outboxes, modems, merge_commits=2
        )
        queue = servicer.writer.queue
        blocker = sqlite3.connect(str(path), isolation_level=None, timeout=10)
        try:
            # The live agent's stream is up and idle: its first record went through.
            fill(outboxes[LIVE_AGENT], 1, modems[LIVE_AGENT])
            await wait_until(lambda: outboxes[LIVE_AGENT].depth() == 0, what="live stream up")
            await wait_until(lambda: ledger.record_count() >= 2 * BATCH, what="drain started")
            # Hold the write lock: the writer's next transaction waits in BEGIN IMMEDIATE
            # (busy timeout 10 s) while the other streams queue their commits.
            blocker.execute("BEGIN IMMEDIATE")
            (before,) = blocker.execute("SELECT MAX(id) FROM records").fetchone()
            await wait_until(lambda: len(queue.backlog_agents) >= 4, what="backlog commits queued")
            (live,) = fill(outboxes[LIVE_AGENT], 1, modems[LIVE_AGENT])
            await wait_until(lambda: queue.live_waiting == 1, what="live commit queued")
            queued = queue.backlog_agents  # each stream has one commit outstanding at most
        finally:
            if blocker.in_transaction:
                blocker.execute("ROLLBACK")
            blocker.close()
        try:
            await wait_until(
                lambda: all(o.depth() == 0 for o in outboxes.values()),
                timeout_s=120,
                what="every outbox drained",
            )
        finally:
            stop.set()
            await asyncio.gather(*tasks)
            await running.stop(0.5)

        db = sqlite3.connect(str(path))
        (live_id,) = db.execute("SELECT id FROM records WHERE uuid = ?", (live.uuid,)).fetchone()
        ahead = {
            agent
            for (agent,) in db.execute(
                "SELECT DISTINCT agent_id FROM records WHERE id > ? AND id < ?", (before, live_id)
            )
        }
        behind = {
            agent
            for (agent,) in db.execute(
                "SELECT DISTINCT agent_id FROM records WHERE id > ?", (live_id,)
            )
        }
        total, distinct = db.execute(
            "SELECT COUNT(*), COUNT(DISTINCT uuid) FROM records"
        ).fetchone()
        per_agent = dict(db.execute("SELECT agent_id, COUNT(*) FROM records GROUP BY agent_id"))
        db.close()
        # Between the lock and the live record only the transaction already under way
        # (at most two other agents' commits) was written; every backlog commit queued
        # when the live one arrived was written after it.
        assert len(ahead) <= 2 and not ahead & queued
        assert queued <= behind and len(queued) >= 4
        # Nothing lost, nothing doubled.
        expected = len(BACKLOG_AGENTS) * BACKLOG_PER_AGENT + 2
        assert (total, distinct) == (expected, expected)
        assert per_agent == {**{a: BACKLOG_PER_AGENT for a in BACKLOG_AGENTS}, LIVE_AGENT: 2}
        assert ledger.quarantine() == []
        ledger.close()

    asyncio.run(main())


def test_a_stream_opened_behind_a_held_up_writer_gets_its_live_record_in_first(
    fleet_pki: Pki, tmp_path: Path
) -> None:
    """A fleet reconnecting at once: an agent's Upload stream opens while the writer's
    backlog transaction cannot go on. Its connect is a ledger write too; if the stream
    waited for it before reading its first batch (as it did), its live record could not
    even queue until the ledger was free again, behind every backlog commit queued by then.
    """

    async def main() -> None:
        path = tmp_path / "ledger.db"
        open_ledger(str(path)).close()  # migrated
        # A busy timeout longer than the test's waits: the held lock below never times out
        # while the test waits (released explicitly).
        ledger = SqliteLedger(path, busy_timeout_s=120.0)
        storm, late = BACKLOG_AGENTS[:2], LIVE_AGENT
        modems = {a: modems_of(a, 4) for a in [*storm, late]}
        for a, ms in modems.items():  # registered before the outage
            ledger.register_agent(AgentRegistration(agent_id=a, modems=tuple(ms)), at_ns=1)
        outboxes = {a: Outbox(tmp_path / f"{a}.db") for a in modems}
        for a in storm:
            fill(outboxes[a], BACKLOG_PER_AGENT, modems[a])
        (live,) = fill(outboxes[late], 1, modems[late])
        (wire,) = outboxes[late].pending_wire(0, 1)
        servicer, running, stop, tasks = await serve_uploads(
            fleet_pki, ledger, {a: outboxes[a] for a in storm}, modems, merge_commits=1
        )
        address = f"127.0.0.1:{running.port}"
        queue = servicer.writer.queue
        paths = fleet_pki.agents[late]
        channel = make_channel(address, ca_cert=paths.ca_cert, cert=paths.cert, key=paths.key)
        blocker = sqlite3.connect(str(path), isolation_level=None, timeout=10)
        try:
            await wait_until(lambda: ledger.record_count() >= 2 * BATCH, what="drain started")
            blocker.execute("BEGIN IMMEDIATE")  # the writer's next transaction waits for it
            (before,) = blocker.execute("SELECT MAX(id) FROM records").fetchone()
            await wait_until(lambda: queue.backlog_waiting >= 1, what="backlog commit queued")
            # The late agent's stream opens now and sends one live batch.
            upload: grpc.aio.StreamStreamMultiCallable[bytes, bytes]
            upload = channel.stream_stream("/smsprobe.v1.AgentService/Upload")
            call = upload()
            await call.write(
                upload_request_bytes(late, 1, [wire.wire], outbox_depth=0, oldest_pending_ns=0)
            )
            # Its connect cannot be written while the lock is held; its batch must not
            # wait for that: it queues as live ahead of the backlog.
            await wait_until(lambda: queue.live_waiting == 1, what="live commit queued")
            queued = queue.backlog_agents
            # Read through the lock holder: the ledger's own connection waits for it.
            connected_before = {
                agent for (agent,) in blocker.execute("SELECT agent_id FROM agents WHERE connected")
            }
        finally:
            if blocker.in_transaction:
                blocker.execute("ROLLBACK")
            blocker.close()
        try:
            response = await call.read()
            assert isinstance(response, bytes)
            ack = agent_pb2.UploadResponse.FromString(response).ack
            await servicer.liveness.flush()
            connected_after = {a.agent_id for a in ledger.agents() if a.connected}
            await call.done_writing()
            assert await call.read() == grpc.aio.EOF
            await wait_until(
                lambda: all(outboxes[a].depth() == 0 for a in storm),
                timeout_s=120,
                what="every outbox drained",
            )
        finally:
            stop.set()
            await asyncio.gather(*tasks)
            await channel.close()
            await running.stop(0.5)
        assert (ack.batch_id, ack.ingested) == (1, 1)
        # The connect was written once the ledger was free, and the disconnect after it.
        assert late not in connected_before and late in connected_after
        assert late not in {a.agent_id for a in ledger.agents() if a.connected}
        db = sqlite3.connect(str(path))
        (live_id,) = db.execute("SELECT id FROM records WHERE uuid = ?", (live.uuid,)).fetchone()
        behind = {
            agent
            for (agent,) in db.execute(
                "SELECT DISTINCT agent_id FROM records WHERE id > ?", (live_id,)
            )
        }
        ahead = {
            agent
            for (agent,) in db.execute(
                "SELECT DISTINCT agent_id FROM records WHERE id > ? AND id < ?", (before, live_id)
            )
        }
        per_agent = dict(db.execute("SELECT agent_id, COUNT(*) FROM records GROUP BY agent_id"))
        db.close()
        # Only the commit already under way (one agent's: merge_commits=1) went in between;
        # the backlog commit queued when the live batch arrived was written after it.
        assert len(ahead) <= 1 and not ahead & queued and queued and queued <= behind
        assert per_agent == {**{a: BACKLOG_PER_AGENT for a in storm}, late: 1}
        ledger.close()

    asyncio.run(main())


# ---------------------------------------------------------------- the queue alone


def names(q: CommitQueue[str], n: int) -> list[str | None]:
    return [None if (item := q.pop()) is None else item[0] for _ in range(n)]


def test_live_commits_go_first_in_arrival_order() -> None:
    q: CommitQueue[str] = CommitQueue(live_burst=8)
    q.push("b1", agent_id="a", live=False)
    q.push("l1", agent_id="x", live=True)
    q.push("b2", agent_id="a", live=False)
    q.push("l2", agent_id="y", live=True)
    assert q.pop() == ("l1", True)
    assert names(q, 4) == ["l2", "b1", "b2", None]


def test_backlog_is_served_round_robin_over_agents() -> None:
    q: CommitQueue[str] = CommitQueue()
    for i in range(3):
        q.push(f"a{i}", agent_id="a", live=False)
    q.push("b0", agent_id="b", live=False)
    q.push("c0", agent_id="c", live=False)
    assert names(q, 5) == ["a0", "b0", "c0", "a1", "a2"]


def test_steady_live_load_bounds_but_never_stops_the_backlog() -> None:
    q: CommitQueue[str] = CommitQueue(live_burst=3)
    for i in range(4):
        q.push(f"b{i}", agent_id="storm", live=False)
    order = []
    for i in range(12):  # a live commit arrives before every pop: never an empty live queue
        q.push(f"l{i}", agent_id="live", live=True)
        order += names(q, 1)
    assert order == [
        "l0", "l1", "l2", "b0", "l3", "l4", "l5", "b1", "l6", "l7", "l8", "b2",
    ]  # fmt: skip
    assert (q.live_waiting, q.backlog_waiting) == (3, 1)


def test_a_register_made_behind_a_held_up_writer_goes_ahead_of_the_queued_backlog(
    fleet_pki: Pki, tmp_path: Path
) -> None:
    """A fleet reconnecting at once registers while the writer drains backlog, and each
    agent's live records wait for its Register. Run in the default thread pool, the
    registration waited for the ledger's lock against every backlog transaction (and behind
    the other registrations); through the writer at live priority it is written right after
    the transaction under way. Commit order is read from a log the ledger file's own
    triggers keep (records and registration events, in the order they were written)."""

    async def main() -> None:
        path = tmp_path / "ledger.db"
        open_ledger(str(path)).close()  # migrated
        with sqlite3.connect(str(path)) as db:
            db.executescript(
                "CREATE TABLE commit_log (n INTEGER PRIMARY KEY AUTOINCREMENT, what TEXT);"
                "CREATE TRIGGER log_records AFTER INSERT ON records BEGIN"
                " INSERT INTO commit_log (what) VALUES ('rec ' || NEW.agent_id); END;"
                "CREATE TRIGGER log_registers AFTER INSERT ON events"
                " WHEN NEW.kind = 'agent_registered' BEGIN"
                " INSERT INTO commit_log (what) VALUES ('reg ' || NEW.agent_id); END;"
            )
        ledger = SqliteLedger(path, busy_timeout_s=120.0)
        storm, late = BACKLOG_AGENTS[:2], LIVE_AGENT
        modems = {a: modems_of(a, 4) for a in [*storm, late]}
        outboxes = {a: Outbox(tmp_path / f"{a}.db") for a in storm}
        for a in storm:
            fill(outboxes[a], BACKLOG_PER_AGENT, modems[a])
        servicer, running, stop, tasks = await serve_uploads(
            fleet_pki, ledger, outboxes, modems, merge_commits=1
        )
        queue = servicer.writer.queue
        paths = fleet_pki.agents[late]
        address = f"127.0.0.1:{running.port}"
        channel = make_channel(address, ca_cert=paths.ca_cert, cert=paths.cert, key=paths.key)
        stub = make_stub(channel)
        request = registration_to_proto(
            AgentRegistration(agent_id=late, modems=tuple(modems[late]))
        )
        blocker = sqlite3.connect(str(path), isolation_level=None, timeout=10)
        try:
            await wait_until(lambda: ledger.record_count() >= 2 * BATCH, what="drain started")
            blocker.execute("BEGIN IMMEDIATE")  # the writer's next transaction waits for it
            (mark,) = blocker.execute("SELECT COALESCE(MAX(n), 0) FROM commit_log").fetchone()
            await wait_until(lambda: queue.backlog_waiting >= 1, what="backlog commit queued")
            reply_task = asyncio.ensure_future(stub.Register(request, timeout=60))
            # Queued at live priority, not waiting for the lock in a thread of its own.
            await wait_until(lambda: queue.live_waiting == 1, what="registration queued")
            queued = queue.backlog_agents
        finally:
            if blocker.in_transaction:
                blocker.execute("ROLLBACK")
            blocker.close()
        try:
            reply = await reply_task
            await wait_until(
                lambda: all(o.depth() == 0 for o in outboxes.values()),
                timeout_s=120,
                what="every outbox drained",
            )
        finally:
            stop.set()
            await asyncio.gather(*tasks)
            await channel.close()
            await running.stop(0.5)
        assert reply.session_id
        db = sqlite3.connect(str(path))
        log = [what for (what,) in db.execute("SELECT what FROM commit_log WHERE n > ?", (mark,))]
        db.close()
        at = log.index(f"reg {late}")
        ahead = {w.split()[1] for w in log[:at]}
        behind = {w.split()[1] for w in log[at + 1 :]}
        # Only the transaction under way (one agent's commit: merge_commits=1) went first;
        # the backlog commits queued when the registration arrived were written after it.
        assert len(ahead) <= 1 and not ahead & queued and queued and queued <= behind
        ledger.close()

    asyncio.run(main())
