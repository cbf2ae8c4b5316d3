"""WatchConfig: first message at once unless the agent has that version; later messages
only on change; content-derived versions; the uploader applies what it receives."""

from __future__ import annotations

import asyncio
from pathlib import Path

from smsprobe.v1 import agent_pb2

from agent.outbox.store import Outbox
from agent.uplink.client import make_channel
from agent.wire.records import RemoteConfig
from collector.api.servicer import config_version
from collector.ledger import open_ledger
from tests.grpc.conftest import Pki
from tests.grpc.harness import (
    fill,
    in_process_collector,
    make_stub,
    modems_of,
    uploader,
    wait_until,
)


def _source(interval: float) -> object:
    def source(agent_id: str) -> agent_pb2.AgentConfig:
        cfg = agent_pb2.AgentConfig(health_interval_s=interval, clock_sync_interval_s=60)
        if agent_id == "agent-a":
            cfg.expected_modems.add(imei="861", iccid="8986", msisdn="+86138")
        return cfg

    return source


def test_version_is_content_derived() -> None:
    a = agent_pb2.AgentConfig(health_interval_s=30)
    b = agent_pb2.AgentConfig(health_interval_s=30, version=77)
    c = agent_pb2.AgentConfig(health_interval_s=31)
    assert config_version(a) == config_version(b) != config_version(c)
    assert config_version(a) > 0


def test_watch_config_pushes_first_then_only_changes(pki: Pki, tmp_path: Path) -> None:
    async def main() -> None:
        ledger = open_ledger(str(tmp_path / "l.db"))
        async with in_process_collector(
            ledger,
            pki,
            config_source=_source(30.0),  # type: ignore[arg-type]
        ) as col:
            p = pki.agents["agent-a"]
            async with make_channel(col.address, ca_cert=p.ca_cert, cert=p.cert, key=p.key) as ch:
                stub = make_stub(ch)
                call = stub.WatchConfig(agent_pb2.ConfigRequest(agent_id="agent-a"))
                first = await call.read()
                assert first.health_interval_s == 30.0
                assert [m.imei for m in first.expected_modems] == ["861"]
                # Same content again (e.g. a SIGHUP with an unchanged file): nothing sent.
                await col.configs.replace(_source(30.0))  # type: ignore[arg-type]
                await col.configs.replace(_source(15.0))  # type: ignore[arg-type]
                second = await asyncio.wait_for(call.read(), 5)
                assert second.health_interval_s == 15.0
                assert second.version != first.version
                call.cancel()
                # An agent that already holds the current version gets nothing at first.
                held = stub.WatchConfig(
                    agent_pb2.ConfigRequest(agent_id="agent-a", have_version=second.version)
                )
                read = asyncio.ensure_future(held.read())
                done, _ = await asyncio.wait([read], timeout=0.3)
                assert not done
                await col.configs.replace(_source(20.0))  # type: ignore[arg-type]
                third = await asyncio.wait_for(read, 5)
                assert third.health_interval_s == 20.0
                held.cancel()
        ledger.close()

    asyncio.run(main())


def test_uploader_receives_and_applies_config(pki: Pki, tmp_path: Path) -> None:
    async def main() -> None:
        ledger = open_ledger(str(tmp_path / "l.db"))
        outbox = Outbox(tmp_path / "o.db")
        modems = modems_of("agent-a", 1)
        fill(outbox, 5, modems)
        got: list[RemoteConfig] = []
        async with in_process_collector(
            ledger,
            pki,
            config_source=_source(45.0),  # type: ignore[arg-type]
        ) as col:
            up = uploader(pki, "agent-a", col.address, outbox, modems, on_config=got.append)
            stop = asyncio.Event()
            task = asyncio.create_task(up.run(stop))
            await wait_until(lambda: len(got) == 1, what="first config")
            assert got[0].health_interval_s == 45.0
            assert got[0].expected_modems[0].imei == "861"
            await col.configs.replace(_source(50.0))  # type: ignore[arg-type]
            await wait_until(lambda: len(got) == 2, what="changed config")
            assert up.remote_config.health_interval_s == 50.0
            assert up.remote_config.version == got[1].version
            stop.set()
            await asyncio.wait_for(task, 10)
        ledger.close()

    asyncio.run(main())
