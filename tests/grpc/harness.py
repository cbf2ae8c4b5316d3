"""Helpers for the agent-link tests: outboxes filled directly, an in-process collector,
uploaders with real mTLS, and a deadline poller (no fixed sleeps)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc.aio
from smsprobe.v1 import agent_pb2, agent_pb2_grpc

from agent.common.backoff import FixedBackoff
from agent.metrics import AgentMetrics
from agent.outbox.store import ModemRef, Outbox
from agent.uplink.client import Uploader, UploadSettings, make_channel
from agent.uplink.model import AgentIdentity
from agent.wire.records import (
    ModemHealth,
    ModemInfo,
    ReceivedSms,
    Record,
    Registration,
    RemoteConfig,
    SimInfo,
    SmsPart,
)
from collector.api.auth import Authenticator
from collector.api.server import RunningServer, ServerSettings, TlsMaterial, start_server
from collector.api.servicer import AgentConfigSource, AgentServicer, ConfigStore
from collector.ledger import Ledger
from collector.metrics import CollectorMetrics
from tests.grpc.conftest import Pki

# A real SMS-DELIVER PDU ("hellohello", GSM 7-bit) with SMSC address prefix.
PDU = bytes.fromhex("07911326040000F0040B911346610089F60000208062917314480CC8F71D14969741F977FD07")


def imei_of(agent: str, i: int) -> str:
    return f"86{abs(hash(agent)) % 10**6:06d}{i:07d}"[:15]


def modems_of(agent: str, n: int) -> list[ModemInfo]:
    return [
        ModemInfo(
            imei=imei_of(agent, i),
            model="SIM7600",
            sim=SimInfo(iccid=f"8986{i:016d}", imsi=f"46000{i:010d}", carrier="china_mobile"),
        )
        for i in range(n)
    ]


def sms(i: int, now_ns: int) -> ReceivedSms:
    return ReceivedSms(
        parts=(
            SmsPart(
                uuid=f"part-{i}-{now_ns}",
                raw_pdu=PDU,
                storage="SM",
                index=i % 50,
                received_at_ns=now_ns,
                scts_ns=now_ns - 10**9,
            ),
        ),
        smsc="+31624000000",
        sender="+31641600986",
        text=f"hello {i}",
        encoding="gsm7",
    )


def fill(outbox: Outbox, n: int, modems: list[ModemInfo]) -> list[Record]:
    out = []
    for i in range(n):
        m = modems[i % len(modems)]
        ref = ModemRef(key=m.imei, imei=m.imei, iccid=m.sim.iccid if m.sim else "")
        now = time.time_ns()
        if i % 10 == 9:
            body: ReceivedSms | ModemHealth = ModemHealth(
                at_ns=now,
                responding=True,
                rssi_dbm=-71.0,
                registration=Registration.HOME,
                healthy=True,
                iccid=ref.iccid,
            )
        else:
            body = sms(i, now)
        out.append(outbox.append(body, ref))
    return out


def default_agent_config(_agent_id: str) -> agent_pb2.AgentConfig:
    return agent_pb2.AgentConfig(health_interval_s=30.0, clock_sync_interval_s=60.0)


@dataclass
class InProcessCollector:
    running: RunningServer
    servicer: AgentServicer
    auth: Authenticator
    configs: ConfigStore

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.running.port}"


@asynccontextmanager
async def in_process_collector(
    ledger: Ledger,
    pki: Pki | None,
    *,
    deny: Iterable[str] = (),
    max_message_bytes: int = 4 * 1024 * 1024,
    config_source: AgentConfigSource = default_agent_config,
    metrics: CollectorMetrics | None = None,
) -> AsyncIterator[InProcessCollector]:
    auth = Authenticator(insecure=pki is None, deny=deny)
    configs = ConfigStore(config_source)
    servicer = AgentServicer(ledger, auth, configs, metrics=metrics)
    tls = (
        None if pki is None else TlsMaterial(pki.ca.ca_cert, pki.ca.server_cert, pki.ca.server_key)
    )
    running = await start_server(
        servicer,
        ServerSettings(
            listen="127.0.0.1:0",
            max_message_bytes=max_message_bytes,
            tls=tls,
            insecure=pki is None,
        ),
    )
    try:
        yield InProcessCollector(running, servicer, auth, configs)
    finally:
        await running.stop(grace_s=0.5)


def uploader(
    pki: Pki,
    agent: str,
    address: str,
    source: Outbox,
    modems: list[ModemInfo],
    *,
    cert_of: str | None = None,
    settings: UploadSettings | None = None,
    on_config: Callable[[RemoteConfig], None] | None = None,
    metrics: AgentMetrics | None = None,
) -> Uploader:
    paths = pki.agents[cert_of or agent]

    def channel() -> grpc.aio.Channel:
        return make_channel(address, ca_cert=paths.ca_cert, cert=paths.cert, key=paths.key)

    return Uploader(
        source,
        channel,
        AgentIdentity(agent_id=agent, site="test", region="lab"),
        modems_provider=lambda: modems,
        backoff=FixedBackoff(0.05),
        settings=settings or UploadSettings(clock_samples_on_connect=2),
        on_config=on_config,
        metrics=metrics,
    )


def make_stub(channel: grpc.aio.Channel) -> Any:
    """AgentServiceStub (the generated gRPC module is untyped)."""
    return agent_pb2_grpc.AgentServiceStub(channel)  # type: ignore[no-untyped-call]


async def wait_until(pred: Callable[[], bool], *, timeout_s: float = 20.0, what: str = "") -> None:
    deadline = time.monotonic() + timeout_s
    while not pred():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s}s waiting for {what or pred}")
        await asyncio.sleep(0.02)


def open_outbox(path: Path) -> Outbox:
    return Outbox(path)
