"""Test helpers: simulated modems (agent/modem/simulator) on real ptys, an agent config around
them, and polling with a deadline (no fixed sleeps)."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agent.app import run_agent
from agent.common.backoff import ExponentialBackoff
from agent.config import AgentConfig, ModemConfig, OutboxConfig, ReceiveConfig
from agent.modem.simulator.config import Identity, ModemSimulatorConfig, Timing
from agent.modem.simulator.modem import ModemSimulator
from agent.modem.simulator.network import RetrySchedule
from agent.modem.simulator.personalities import get_personality
from agent.modem.simulator.pty import ModemServer
from agent.outbox.store import Outbox
from agent.wire.records import AgentEvent, ReceivedSms

FAST_TIMING = Timing(
    scale=0.05,
    command_latency_s=0.001,
    per_entry_s=0.0005,
    reenumerate_s=0.5,
    noise_interval_s=0.0,
    inter_part_s=0.01,
)


def make_sim(n: int, profile: str = "quectel_ec25", seed: int = 1, **kw: Any) -> ModemSimulator:
    return ModemSimulator(
        ModemSimulatorConfig(
            identity=Identity.derive(n),
            personality=get_personality(profile),
            name=f"sim{n}",
            timing=kw.pop("timing", FAST_TIMING),
            retry=RetrySchedule(delays_s=(0.5, 1.0), unreachable_poll_s=0.1),
            seed=seed,
            **kw,
        )
    )


def agent_config(
    tmp_path: Path,
    links: list[Path],
    profile: str = "quectel_ec25",
    sweep_s: float = 0.5,
    health_s: float = 0.5,
    power_cycle: tuple[str, ...] = (),
    metrics_port: int = 0,
    **receive: float,
) -> AgentConfig:
    return AgentConfig(
        agent_id="test-agent",
        site="lab",
        region="test",
        outbox=OutboxConfig(
            path=tmp_path / "outbox.sqlite",
            max_age_s=receive.get("max_age_s", 86400.0),
            max_bytes=int(receive.get("max_bytes", 512 * 1024 * 1024)),
        ),
        modems=tuple(
            ModemConfig(port=str(link), profile=profile, power_cycle_command=power_cycle)
            for link in links
        ),
        receive=ReceiveConfig(
            sweep_interval_s=sweep_s,
            health_interval_s=health_s,
            reassembly_timeout_s=receive.get("reassembly_timeout_s", 600.0),
            command_timeout_s=receive.get("command_timeout_s", 2.0),
        ),
        metrics_port=metrics_port,
        source="test.toml",
    )


async def eventually(
    check: Callable[[], Any], timeout_s: float = 20.0, interval_s: float = 0.05
) -> Any:
    """Poll `check` until it returns a truthy value; fail after the deadline."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout_s} s")
        await asyncio.sleep(interval_s)


@dataclass
class Running:
    config: AgentConfig
    sims: list[ModemSimulator]
    servers: list[ModemServer]
    stop: asyncio.Event
    task: asyncio.Task[int]
    reader: Outbox

    def messages(self) -> list[ReceivedSms]:
        out = []
        for r in self.reader.records(kinds=("received_sms",)):
            assert isinstance(r.body, ReceivedSms)
            out.append(r.body)
        return out

    def events(self) -> list[str]:
        return [
            r.body.kind
            for r in self.reader.records(kinds=("agent_event",))
            if isinstance(r.body, AgentEvent)
        ]


@contextlib.asynccontextmanager
async def running_agent(
    tmp_path: Path, sims: list[ModemSimulator], **config_kw: Any
) -> AsyncIterator[Running]:
    servers = []
    links = []
    for i, sim in enumerate(sims):
        link = tmp_path / f"by-id-modem{i}"
        server = ModemServer(sim, link)
        await server.start()
        servers.append(server)
        links.append(link)
    config = agent_config(tmp_path, links, **config_kw)
    stop = asyncio.Event()
    task = asyncio.create_task(
        run_agent(
            config,
            stop=stop,
            install_signals=False,
            backoff=ExponentialBackoff(base_s=0.1, max_s=0.5),
        )
    )
    await eventually(config.outbox.path.exists)
    reader = Outbox(config.outbox.path)
    try:
        yield Running(config, sims, servers, stop, task, reader)
    finally:
        stop.set()
        code = await asyncio.wait_for(task, 30)
        reader.close()
        for server in servers:
            await server.close()
        assert code == 0
