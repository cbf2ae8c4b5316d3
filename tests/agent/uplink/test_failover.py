"""The uploader's failover order against real gRPC on loopback: an in-process collector
(insecure; mTLS is covered by tests/collector/coordination/test_agent_failover.py) and
addresses where nothing listens (connection refused, as from a dead collector host)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import partial
from pathlib import Path

import grpc.aio
import pytest

from agent.metrics import AgentMetrics
from agent.outbox.store import Outbox
from agent.uplink.client import Endpoint, Uploader, UploadSettings, make_channel
from agent.uplink.model import AgentIdentity
from collector.api.auth import Authenticator
from collector.api.server import RunningServer, ServerSettings, start_server
from collector.api.servicer import AgentServicer, ConfigStore
from collector.certs import create_ca, issue_agent
from collector.ledger import Ledger, open_ledger
from collector.ports import free_port
from tests.grpc.conftest import Pki
from tests.grpc.harness import (
    default_agent_config,
    fill,
    in_process_collector,
    modems_of,
    wait_until,
)

AGENT = "agent-a"
NS = 1_000_000_000


class RecordingBackoff:
    """A real Backoff (agent/common/backoff.py protocol) that notes when it was asked,
    as the number of connection attempts made so far; stops the uploader after `rounds`."""

    def __init__(self, attempts: list[str], stop: asyncio.Event, rounds: int = 0) -> None:
        self.at_attempt: list[int] = []
        self._attempts = attempts
        self._stop = stop
        self._rounds = rounds

    def next_delay(self) -> float:
        self.at_attempt.append(len(self._attempts))
        if self._rounds and len(self.at_attempt) >= self._rounds:
            self._stop.set()
        return 0.01

    def reset(self) -> None:
        return None


def _endpoints(addresses: list[str], attempts: list[str]) -> list[Endpoint]:
    def connect(address: str) -> grpc.aio.Channel:
        attempts.append(address)
        return make_channel(address, ca_cert=None, cert=None, key=None, insecure=True)

    return [Endpoint(a, partial(connect, a)) for a in addresses]


def _uploader(
    outbox: Outbox,
    endpoints: list[Endpoint],
    backoff: RecordingBackoff,
    metrics: AgentMetrics | None = None,
) -> Uploader:
    return Uploader(
        outbox,
        endpoints,
        AgentIdentity(agent_id=AGENT, site="test", region="lab"),
        modems_provider=lambda: modems_of(AGENT, 2),
        backoff=backoff,
        settings=UploadSettings(clock_samples_on_connect=1),
        metrics=metrics,
    )


def test_a_dead_address_is_passed_over_without_back_off(tmp_path: Path) -> None:
    async def main() -> None:
        ledger = open_ledger(str(tmp_path / "ledger.db"))
        outbox = Outbox(tmp_path / "outbox.db")
        fill(outbox, 300, modems_of(AGENT, 2))
        dead = f"127.0.0.1:{free_port()}"
        attempts: list[str] = []
        stop = asyncio.Event()
        backoff = RecordingBackoff(attempts, stop)
        async with in_process_collector(ledger, None) as col:
            metrics = AgentMetrics()
            up = _uploader(outbox, _endpoints([dead, col.address], attempts), backoff, metrics)
            task = asyncio.create_task(up.run(stop))
            await wait_until(lambda: outbox.depth() == 0, what="outbox drained")
            assert up.connected_to == col.address
            gauge = metrics.registry.get_sample_value
            name = "smsprobe_agent_collector_connected"
            assert gauge(name, {"address": col.address}) == 1.0
            assert gauge(name, {"address": dead}) == 0.0
            stop.set()
            await asyncio.wait_for(task, 10)
        assert attempts == [dead, col.address]
        assert backoff.at_attempt == []  # the refused connect cost no delay
        assert ledger.record_count() == 300
        ledger.close()
        outbox.close()

    asyncio.run(main())


def test_back_off_comes_between_full_rounds_not_between_addresses(tmp_path: Path) -> None:
    async def main() -> None:
        outbox = Outbox(tmp_path / "outbox.db")
        fill(outbox, 10, modems_of(AGENT, 2))
        dead = [f"127.0.0.1:{free_port()}" for _ in range(3)]
        attempts: list[str] = []
        stop = asyncio.Event()
        backoff = RecordingBackoff(attempts, stop, rounds=3)
        up = _uploader(outbox, _endpoints(dead, attempts), backoff)
        await asyncio.wait_for(up.run(stop), 30)
        assert attempts == dead * 3  # round-robin, in the configured order
        assert backoff.at_attempt == [3, 6, 9]  # once per full round
        assert up.connected_to == "" and outbox.depth() == 10
        outbox.close()

    asyncio.run(main())


@asynccontextmanager
async def _collector(ledger: Ledger, ahead_ns: int = 0) -> AsyncIterator[RunningServer]:
    """An in-process collector whose clock runs `ahead_ns` ahead of this host's."""
    servicer = AgentServicer(
        ledger,
        Authenticator(insecure=True),
        ConfigStore(default_agent_config),
        clock_ns=lambda: time.time_ns() + ahead_ns,
    )
    running = await start_server(
        servicer, ServerSettings(listen="127.0.0.1:0", tls=None, insecure=True)
    )
    try:
        yield running
    finally:
        await running.stop(grace_s=0.5)


def test_a_broken_stream_moves_to_the_next_collector_at_once(tmp_path: Path) -> None:
    """Two collectors on one ledger, the second's clock 5 s ahead; the one in use stops
    mid-stream: the uploader Registers with the other straight away (no back-off after a
    session that made progress), everything ends up in the ledger once, and the clock
    estimate is the new collector's, not a sample of the old one's."""

    async def main() -> None:
        ledger = open_ledger(str(tmp_path / "ledger.db"))
        outbox = Outbox(tmp_path / "outbox.db")
        fill(outbox, 5000, modems_of(AGENT, 2))
        attempts: list[str] = []
        stop = asyncio.Event()
        backoff = RecordingBackoff(attempts, stop)
        async with _collector(ledger) as first, _collector(ledger, ahead_ns=5 * NS) as second:
            addresses = [f"127.0.0.1:{first.port}", f"127.0.0.1:{second.port}"]
            up = Uploader(
                outbox,
                _endpoints(addresses, attempts),
                AgentIdentity(agent_id=AGENT, site="test", region="lab"),
                modems_provider=lambda: modems_of(AGENT, 2),
                backoff=backoff,
                settings=UploadSettings(
                    batch_max_records=20, window=1, clock_samples_on_connect=2, io_thread=False
                ),
            )
            task = asyncio.create_task(up.run(stop))
            await wait_until(lambda: ledger.record_count() >= 100, what="first batches")
            est = up.clock_estimate()
            assert abs(est.offset_ms) <= est.uncertainty_ms  # the first collector's clock
            await first.stop(grace_s=0)
            assert ledger.record_count() < 5000  # really mid-stream
            await wait_until(lambda: outbox.depth() == 0, what="outbox drained")
            assert up.connected_to == addresses[1]
            est = up.clock_estimate()
            assert abs(est.offset_ms - 5000) <= est.uncertainty_ms  # the second one's
            stop.set()
            await asyncio.wait_for(task, 10)
        assert attempts == addresses
        assert backoff.at_attempt == []
        assert ledger.record_count() == 5000  # replays of unacked batches not stored twice
        (status,) = ledger.agents()
        assert status.committed_seq == 5000
        ledger.close()
        outbox.close()

    asyncio.run(main())


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    root = tmp_path_factory.mktemp("pki")
    ca, other = create_ca(root / "ca"), create_ca(root / "other")
    agents = {AGENT: issue_agent(root / "ca", AGENT)}
    return Pki(ca=ca, agents=agents, other_ca=other, rogue=issue_agent(root / "other", AGENT))


def test_a_collector_refusing_the_agent_is_passed_over_at_once(tmp_path: Path, pki: Pki) -> None:
    """PERMISSION_DENIED (this collector's deny list) waits `fatal_retry_s` only after a
    round in which every collector refused; here the next one takes the agent at once."""

    async def main() -> None:
        ledger = open_ledger(str(tmp_path / "ledger.db"))
        outbox = Outbox(tmp_path / "outbox.db")
        fill(outbox, 50, modems_of(AGENT, 2))
        attempts: list[str] = []
        stop = asyncio.Event()
        backoff = RecordingBackoff(attempts, stop)
        certs = pki.agents[AGENT]
        async with (
            in_process_collector(ledger, pki, deny=[AGENT]) as refusing,
            in_process_collector(ledger, pki) as willing,
        ):

            def connect(address: str) -> grpc.aio.Channel:
                attempts.append(address)
                return make_channel(address, ca_cert=certs.ca_cert, cert=certs.cert, key=certs.key)

            addresses = [refusing.address, willing.address]
            up = Uploader(
                outbox,
                [Endpoint(a, partial(connect, a)) for a in addresses],
                AgentIdentity(agent_id=AGENT, site="test", region="lab"),
                modems_provider=lambda: modems_of(AGENT, 2),
                backoff=backoff,
                settings=UploadSettings(clock_samples_on_connect=1, fatal_retry_s=600.0),
            )
            task = asyncio.create_task(up.run(stop))
            await wait_until(lambda: outbox.depth() == 0, what="uploaded via the willing one")
            assert up.connected_to == willing.address
            stop.set()
            await asyncio.wait_for(task, 10)
        assert attempts == addresses and backoff.at_attempt == []
        assert ledger.record_count() == 50
        ledger.close()
        outbox.close()

    asyncio.run(main())
