"""The agent's periodic clock sync over real mTLS gRPC: at the interval the collector's
`[agents] clock_sync_interval_s` sends (AgentConfig.clock_sync_interval_s), at once when a
new config changes it mid-session, and at the agent's own UploadSettings interval when the
collector sends none. The collector counts the SyncClock calls it answers."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from smsprobe.v1 import agent_pb2

from agent.outbox.store import Outbox
from agent.uplink.client import UploadSettings
from collector.api.auth import Authenticator
from collector.api.server import ServerSettings, TlsMaterial, start_server
from collector.api.servicer import AgentConfigSource, AgentServicer, ConfigStore
from collector.ledger import open_ledger
from tests.grpc.conftest import Pki
from tests.grpc.harness import fill, modems_of, uploader, wait_until

SAMPLES = 5  # periodic syncs to see after the connect's


class CountingServicer(AgentServicer):
    """The real servicer; counts the SyncClock calls it answers."""

    syncs = 0

    async def SyncClock(self, request: Any, context: Any) -> agent_pb2.ClockResponse:
        self.syncs += 1
        return await super().SyncClock(request, context)


def _config(interval: float) -> AgentConfigSource:
    def source(_agent_id: str) -> agent_pb2.AgentConfig:
        return agent_pb2.AgentConfig(health_interval_s=30.0, clock_sync_interval_s=interval)

    return source


@asynccontextmanager
async def collector(
    pki: Pki, ledger: Any, source: AgentConfigSource
) -> AsyncIterator[tuple[CountingServicer, ConfigStore, str]]:
    configs = ConfigStore(source)
    servicer = CountingServicer(ledger, Authenticator(insecure=False), configs)
    tls = TlsMaterial(pki.ca.ca_cert, pki.ca.server_cert, pki.ca.server_key)
    running = await start_server(
        servicer, ServerSettings(listen="127.0.0.1:0", max_message_bytes=4 << 20, tls=tls)
    )
    try:
        yield servicer, configs, f"127.0.0.1:{running.port}"
    finally:
        await running.stop(grace_s=0.5)


def _run(pki: Pki, tmp_path: Path, collector_interval: float, agent_interval: float,
         then: float | None = None) -> tuple[int, int]:  # fmt: skip
    """(syncs answered once connected, syncs answered by the end); with `then`, the
    collector's config changes to that interval once the agent is connected."""

    async def main() -> tuple[int, int]:
        ledger = open_ledger(str(tmp_path / "l.db"))
        outbox = Outbox(tmp_path / "o.db")
        modems = modems_of("agent-a", 1)
        fill(outbox, 3, modems)
        settings = UploadSettings(clock_samples_on_connect=1, clock_sync_interval_s=agent_interval)
        async with collector(pki, ledger, _config(collector_interval)) as (svc, configs, addr):
            up = uploader(pki, "agent-a", addr, outbox, modems, settings=settings)
            stop = asyncio.Event()
            task = asyncio.create_task(up.run(stop))
            await wait_until(lambda: up.remote_config.version != 0, what="the pushed config")
            connected = svc.syncs
            if then is not None:
                await configs.replace(_config(then))
                await wait_until(lambda: up.remote_config.clock_sync_interval_s == then)
            await wait_until(lambda: svc.syncs >= connected + SAMPLES, what="periodic syncs")
            stop.set()
            await asyncio.wait_for(task, 10)
            ended = svc.syncs
        outbox.close()
        ledger.close()
        return connected, ended

    return asyncio.run(main())


def test_the_collectors_interval_is_the_one_in_force(pki: Pki, tmp_path: Path) -> None:
    connected, ended = _run(pki, tmp_path, collector_interval=0.05, agent_interval=3600.0)
    assert connected >= 1 and ended >= connected + SAMPLES  # not the agent's hour


def test_a_changed_interval_takes_effect_mid_session(pki: Pki, tmp_path: Path) -> None:
    # An hour first: without re-planning, the next sample would come an hour later.
    connected, ended = _run(pki, tmp_path, collector_interval=3600.0, agent_interval=3600.0,
                            then=0.05)  # fmt: skip
    assert ended >= connected + SAMPLES


def test_without_a_collector_interval_the_agents_own_applies(pki: Pki, tmp_path: Path) -> None:
    connected, ended = _run(pki, tmp_path, collector_interval=0.0, agent_interval=0.05)
    assert ended >= connected + SAMPLES
