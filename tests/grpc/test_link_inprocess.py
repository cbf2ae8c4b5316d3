"""Uploader ↔ servicer over real mTLS on loopback, collector in-process (fast checks)."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

import grpc
import pytest
from smsprobe.v1 import agent_pb2

from agent.common.backoff import FixedBackoff
from agent.outbox.store import Outbox
from agent.uplink.client import UplinkError, Uploader, UploadSettings, make_channel
from agent.uplink.model import AgentIdentity
from agent.wire.records import AgentRegistration
from agent.wire.serde import (
    batch_to_proto,
    record_to_proto,
    registration_from_proto,
    registration_to_proto,
)
from collector.api.auth import Authenticator
from collector.api.servicer import AgentServicer, ConfigStore
from collector.ledger import open_ledger
from collector.ledger.model import BatchOutcome
from collector.ledger.sqlite import SqliteLedger
from tests.grpc.conftest import Pki
from tests.grpc.harness import (
    default_agent_config,
    fill,
    in_process_collector,
    modems_of,
    uploader,
    wait_until,
)


def test_records_uploaded_once_and_acked(pki: Pki, tmp_path: Path) -> None:
    async def main() -> None:
        ledger = open_ledger(str(tmp_path / "ledger.db"))
        outbox = Outbox(tmp_path / "outbox.db")
        modems = modems_of("agent-a", 4)
        fill(outbox, 700, modems)
        async with in_process_collector(ledger, pki) as col:
            up = uploader(pki, "agent-a", col.address, outbox, modems)
            stop = asyncio.Event()
            task = asyncio.create_task(up.run(stop))
            await wait_until(lambda: outbox.depth() == 0, what="outbox drained")
            fill(outbox, 30, modems)  # live traffic after the backlog
            up.notify()
            await wait_until(lambda: outbox.depth() == 0, what="live drained")
            stop.set()
            await asyncio.wait_for(task, 10)
        assert ledger.record_count() == 730
        assert ledger.quarantine() == []
        (status,) = ledger.agents()
        assert status.agent_id == "agent-a"
        assert status.committed_seq == 730
        # Caught up: the collector's view of the outbox says nothing waits (no stale lag).
        assert (status.outbox_depth, status.oldest_pending_ns) == (0, 0)
        assert up.clock_estimate().measured_at_ns > 0
        assert abs(up.clock_estimate().offset_ms) < 50
        ledger.close()

    asyncio.run(main())


def test_batch_budget_shrinks_below_collector_message_limit(pki: Pki, tmp_path: Path) -> None:
    async def main() -> None:
        ledger = open_ledger(str(tmp_path / "ledger.db"))
        outbox = Outbox(tmp_path / "outbox.db")
        modems = modems_of("agent-a", 2)
        fill(outbox, 600, modems)  # ~150 kB in one 500-record batch
        async with in_process_collector(ledger, pki, max_message_bytes=64 * 1024) as col:
            up = uploader(
                pki,
                "agent-a",
                col.address,
                outbox,
                modems,
                settings=UploadSettings(batch_max_bytes=1024 * 1024, clock_samples_on_connect=1),
            )
            stop = asyncio.Event()
            task = asyncio.create_task(up.run(stop))
            await wait_until(lambda: outbox.depth() == 0, what="drained despite the limit")
            stop.set()
            await asyncio.wait_for(task, 10)
        assert ledger.record_count() == 600
        assert up.sessions > 1  # it did hit RESOURCE_EXHAUSTED and reconnect
        ledger.close()

    asyncio.run(main())


def test_idle_agent_counts_as_connected_and_disconnects_on_stop(pki: Pki, tmp_path: Path) -> None:
    async def main() -> None:
        ledger = open_ledger(str(tmp_path / "ledger.db"))
        outbox = Outbox(tmp_path / "outbox.db")  # nothing to send
        async with in_process_collector(ledger, pki) as col:
            up = uploader(pki, "agent-a", col.address, outbox, modems_of("agent-a", 1))
            stop = asyncio.Event()
            task = asyncio.create_task(up.run(stop))
            await wait_until(
                lambda: any(a.connected for a in ledger.agents()), what="connected while idle"
            )
            stop.set()
            await asyncio.wait_for(task, 10)
            await wait_until(
                lambda: not any(a.connected for a in ledger.agents()), what="disconnected"
            )
        ledger.close()

    asyncio.run(main())


def test_insecure_mode_works_only_as_configured(tmp_path: Path) -> None:
    async def main() -> None:
        ledger = open_ledger(str(tmp_path / "ledger.db"))
        outbox = Outbox(tmp_path / "outbox.db")
        modems = modems_of("lab-1", 1)
        fill(outbox, 20, modems)
        async with in_process_collector(ledger, None) as col:  # plaintext, ids on trust
            up = Uploader(
                outbox,
                lambda: make_channel(col.address, ca_cert=None, cert=None, key=None, insecure=True),
                AgentIdentity(agent_id="lab-1"),
                modems_provider=lambda: modems,
                backoff=FixedBackoff(0.05),
            )
            stop = asyncio.Event()
            task = asyncio.create_task(up.run(stop))
            await wait_until(lambda: outbox.depth() == 0, what="uploaded in plaintext")
            stop.set()
            await asyncio.wait_for(task, 10)
        assert ledger.record_count() == 20
        ledger.close()
        # Without `insecure`, the agent refuses to dial without its certificate.
        with pytest.raises(UplinkError):
            make_channel("127.0.0.1:1", ca_cert=None, cert=None, key=None)

    asyncio.run(main())


class GatedLedger(SqliteLedger):
    """The real SQLite ledger whose first batch waits for a gate, so the next batches
    queue up behind it in the servicer; notes how the servicer then commits them."""

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.migrate()
        self.gate = threading.Event()
        self.first_waiting = threading.Event()
        self.group_sizes: list[int] = []

    def _hold(self) -> None:
        if not self.first_waiting.is_set():
            self.first_waiting.set()
            self.gate.wait(20)

    def ingest_wire(
        self,
        commits: Sequence[tuple[str, Sequence[agent_pb2.Batch]]],
        *,
        at_ns: int,
    ) -> list[list[BatchOutcome]]:
        """The ingest writer's one entry point: each commit's batch count noted."""
        self._hold()
        self.group_sizes.extend(len(batches) for _, batches in commits)
        return super().ingest_wire(commits, at_ns=at_ns)


class LoopbackContext:
    """Stand-in for grpc.aio.ServicerContext (named as such): an insecure peer; the
    servicer is called directly so the test sees exactly when it pulls each request."""

    def peer(self) -> str:
        return "ipv4:127.0.0.1:1"

    def auth_context(self) -> dict[str, list[bytes]]:
        return {}

    async def abort(self, code: grpc.StatusCode, message: str) -> None:
        raise AssertionError(f"aborted: {code} {message}")


def test_batches_queued_behind_a_slow_commit_share_one_transaction(tmp_path: Path) -> None:
    async def main() -> None:
        ledger = GatedLedger(tmp_path / "ledger.db")
        outbox = Outbox(tmp_path / "outbox.db")
        modems = modems_of("agent-a", 2)
        records = fill(outbox, 300, modems)
        identity = AgentIdentity("agent-a")
        ledger.register_agent(
            registration_from_proto(
                registration_to_proto(
                    AgentRegistration(
                        identity.agent_id, modems=tuple(modems), agent_time_ns=1, last_seq=300
                    )
                )
            ),
            at_ns=time.time_ns(),
        )
        servicer = AgentServicer(
            ledger, Authenticator(insecure=True), ConfigStore(default_agent_config)
        )
        pulled = 0

        async def requests() -> AsyncIterator[agent_pb2.UploadRequest]:
            nonlocal pulled
            for n in range(6):
                chunk = [record_to_proto(r) for r in records[n * 50 : (n + 1) * 50]]
                pulled += 1
                yield batch_to_proto("agent-a", n + 1, chunk, outbox_depth=0, oldest_pending_ns=0)

        acks: list[int] = []

        async def consume() -> None:
            async for response in servicer.Upload(requests(), LoopbackContext()):
                acks.append(response.ack.batch_id)

        task = asyncio.create_task(consume())
        await wait_until(
            lambda: ledger.first_waiting.is_set() or task.done(), what="first commit started"
        )
        if task.done():
            task.result()
        # Request 4 is pulled only after 2 and 3 were queued behind the held commit.
        await wait_until(lambda: pulled >= 4, what="batches queued")
        assert acks == []  # nothing is acked before its commit
        ledger.gate.set()
        await asyncio.wait_for(task, 20)
        assert acks == [1, 2, 3, 4, 5, 6]  # in order, each once
        assert sum(ledger.group_sizes) == 6 and max(ledger.group_sizes) > 1
        assert ledger.record_count() == 300
        assert ledger.agents()[0].committed_seq == 300
        ledger.close()
        outbox.close()

    asyncio.run(main())
