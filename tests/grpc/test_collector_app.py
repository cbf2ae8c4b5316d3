"""`smsprobe-collector serve` as an operator meets it: refuses plaintext by default,
serves health and reflection, reloads deny list and pushed config on SIGHUP."""

from __future__ import annotations

import asyncio
from pathlib import Path

import grpc
import grpc.aio
import pytest
from click.testing import CliRunner
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc
from smsprobe.v1 import agent_pb2

from agent.uplink.client import make_channel
from collector.app_cli import serve_command
from collector.ledger import open_ledger
from tests.grpc.conftest import Pki
from tests.grpc.harness import in_process_collector, make_stub
from tests.grpc.procs import CollectorProcess


def test_serve_refuses_plaintext_unless_asked(tmp_path: Path) -> None:
    cfg = tmp_path / "c.toml"
    cfg.write_text(f'[server]\nlisten = "127.0.0.1:0"\n[ledger]\nurl = "{tmp_path / "l.db"}"\n')
    res = CliRunner().invoke(serve_command, ["--config", str(cfg)])
    assert res.exit_code != 0
    assert "certs init" in res.output and "--insecure" in res.output
    cfg.write_text(
        f'[server]\nlisten = "127.0.0.1:0"\n[tls]\ninsecure = true\n'
        f'[ledger]\nurl = "{tmp_path / "l.db"}"\n'
    )
    res = CliRunner().invoke(serve_command, ["--config", str(cfg)])
    assert res.exit_code != 0 and "--insecure flag" in res.output


def test_health_and_reflection(pki: Pki, tmp_path: Path) -> None:
    async def main() -> None:
        ledger = open_ledger(str(tmp_path / "l.db"))
        p = pki.agents["agent-a"]
        async with (
            in_process_collector(ledger, pki) as col,
            make_channel(col.address, ca_cert=p.ca_cert, cert=p.cert, key=p.key) as ch,
        ):
            health = health_pb2_grpc.HealthStub(ch)
            reply = await health.Check(
                health_pb2.HealthCheckRequest(service="smsprobe.v1.AgentService"), timeout=5
            )
            assert reply.status == health_pb2.HealthCheckResponse.SERVING
            refl = reflection_pb2_grpc.ServerReflectionStub(ch)
            call = refl.ServerReflectionInfo()
            await call.write(reflection_pb2.ServerReflectionRequest(list_services=""))
            answer = await call.read()
            await call.done_writing()
            names = {s.name for s in answer.list_services_response.service}
            assert {"smsprobe.v1.AgentService", "grpc.health.v1.Health"} <= names
        ledger.close()

    asyncio.run(main())


def _agents_toml(health_s: float) -> str:
    return f"""
[agents]
health_interval_s = 60

[agents.agent-a]
site = "lab"
health_interval_s = {health_s}
expected_modems = [{{imei = "861234567890123", iccid = "8986001", msisdn = "+8613800000000"}}]
"""


def test_sighup_reloads_pushed_config_and_revocations(pki: Pki, tmp_path: Path) -> None:
    col = CollectorProcess(tmp_path, pki, str(tmp_path / "l.db"))
    col.write_config(_agents_toml(30))
    col.start()

    async def main() -> None:
        p = pki.agents["agent-a"]
        async with make_channel(col.address, ca_cert=p.ca_cert, cert=p.cert, key=p.key) as ch:
            stub = make_stub(ch)
            await stub.Register(agent_pb2.RegisterRequest(agent_id="agent-a"), timeout=10)
            watch = stub.WatchConfig(agent_pb2.ConfigRequest(agent_id="agent-a"))
            first = await asyncio.wait_for(watch.read(), 10)
            assert first.health_interval_s == 30
            assert [m.imei for m in first.expected_modems] == ["861234567890123"]
            col.write_config(_agents_toml(15))
            col.hup()
            second = await asyncio.wait_for(watch.read(), 10)
            assert second.health_interval_s == 15 and second.version != first.version
            # Revoke agent-a by editing the file: its open watch ends, new calls fail.
            col.deny = ("agent-a",)
            col.write_config(_agents_toml(15))
            col.hup()
            with pytest.raises(grpc.aio.AioRpcError) as err:
                await asyncio.wait_for(watch.read(), 10)
            assert err.value.code() == grpc.StatusCode.UNAUTHENTICATED
            with pytest.raises(grpc.aio.AioRpcError) as err:
                await stub.Register(agent_pb2.RegisterRequest(agent_id="agent-a"), timeout=10)
            assert err.value.code() == grpc.StatusCode.UNAUTHENTICATED

    try:
        asyncio.run(main())  # each step has its own timeout
        assert col.terminate() == 0  # SIGTERM: graceful stop
    finally:
        col.kill()
    assert "config_reloaded" in col.log_text()
