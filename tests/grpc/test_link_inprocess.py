"""Uploader ↔ servicer over real mTLS on loopback, collector in-process (fast checks)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from agent.outbox import Outbox
from agent.uplink.backoff import FixedBackoff
from agent.uplink.client import UplinkError, Uploader, UploadSettings, make_channel
from agent.uplink.model import AgentIdentity
from collector.ledger import open_ledger
from tests.grpc.conftest import Pki
from tests.grpc.harness import fill, in_process_collector, modems_of, uploader, wait_until


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
