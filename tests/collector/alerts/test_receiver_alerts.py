"""`modem_unhealthy` and `agent_silent` from the simulators, end to end: the real agent
(`run_agent`) on a simulated modem (real pty) uploads its health samples over gRPC into a
real ledger; the alert service evaluates that ledger on the real clock and pages a DingTalk
robot (robot_servers.py). The modem goes off the network (AT+CREG stat 0 from the
simulator) and comes back; then the agent stops and starts again. Each alert starts once
and ends once, and the robot gets exactly those four messages."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from pathlib import Path
from typing import Any

from smsprobe.v1 import agent_pb2

from agent.app import run_agent
from agent.common.backoff import ExponentialBackoff
from agent.config import CollectorConfig as AgentCollectorConfig
from agent.modem.simulator.pty import ModemServer
from collector.alerts.engine import AlertRules
from collector.alerts.notifiers.dingtalk import DingTalkRobot
from collector.alerts.notify import AlertNotifier
from collector.alerts.service import AlertService
from collector.ledger import open_ledger
from tests.agent.harness import agent_config, eventually, make_sim
from tests.collector.alerts.robot_servers import Robot, RobotServers, run_with_robots
from tests.grpc.harness import in_process_collector

# Several evaluations in a row must agree (raise_after 4 over 0.25 s passes: longer than
# one 0.5 s health interval), so a modem still initialising after a restart pages nobody.
RULES = AlertRules(silent_after_s=2.0, raise_after=4, clear_after=2)


def fast_health(_agent_id: str) -> agent_pb2.AgentConfig:
    return agent_pb2.AgentConfig(health_interval_s=0.5, clock_sync_interval_s=60.0)


def test_modem_unhealthy_and_agent_silent_start_and_end_once(tmp_path: Path) -> None:
    ledger = open_ledger(f"sqlite:///{tmp_path}/ledger.db")
    sim = make_sim(61)
    link = tmp_path / "modem0"

    def open_kinds() -> set[str]:
        return {a.kind for a in ledger.open_alerts()}

    def ended(kind: str) -> bool:
        return any(a.kind == kind and a.ended_at_ns for a in ledger.alerts())

    def sick() -> bool:
        return any(
            m.last_health is not None and not m.last_health.healthy
            for a in ledger.agents()
            for m in a.modems
        )

    async def scenario(srv: RobotServers) -> None:
        srv.dingtalk["tok"] = Robot("tok", "SECops")
        robot = DingTalkRobot(srv.dingtalk_url("tok"), "ops", "SECops")
        async with contextlib.AsyncExitStack() as stack:
            await stack.enter_async_context(ModemServer(sim, link))
            col = await stack.enter_async_context(
                in_process_collector(ledger, None, config_source=fast_health)
            )
            config = dataclasses.replace(
                agent_config(tmp_path, [link]),
                collector=AgentCollectorConfig(address=col.address, insecure=True),
            )

            def start_agent() -> tuple[asyncio.Event, asyncio.Task[int]]:
                stop = asyncio.Event()
                backoff = ExponentialBackoff(base_s=0.1, max_s=0.2)
                return stop, asyncio.create_task(
                    run_agent(config, stop=stop, install_signals=False, backoff=backoff)
                )

            notifier = await stack.enter_async_context(AlertNotifier([robot], ledger=ledger))
            service = AlertService(ledger, rules=RULES, notifier=notifier, interval_s=0.25)
            stop_alerts = asyncio.Event()
            alerts = asyncio.create_task(service.run(stop_alerts))
            stop_agent, agent = start_agent()
            try:
                healthy = lambda: any(  # noqa: E731
                    m.last_health is not None and m.last_health.healthy
                    for a in ledger.agents() for m in a.modems
                )  # fmt: skip
                await eventually(healthy, 30)
                sim.set_registration(0)  # off the network: the agent's +CREG says stat 0
                await eventually(sick, 30)
                await eventually(lambda: "modem_unhealthy" in open_kinds(), 30)
                sim.set_registration(1)
                await eventually(lambda: ended("modem_unhealthy"), 30)

                stop_agent.set()  # the agent goes away
                assert await asyncio.wait_for(agent, 30) == 0
                await eventually(lambda: "agent_silent" in open_kinds(), 30)
                stop_agent, agent = start_agent()  # and comes back
                await eventually(lambda: ended("agent_silent"), 30)
                await eventually(lambda: len(srv.dingtalk["tok"].accepted) >= 4, 30)
                await asyncio.sleep(1.0)  # more evaluations: nothing else may start
            finally:
                stop_agent.set()
                stop_alerts.set()
                await asyncio.wait_for(agent, 30)
                await asyncio.wait_for(alerts, 30)

    try:
        srv = run_with_robots(scenario)
        rows = ledger.alerts()
        deliveries = ledger.deliveries()
    finally:
        ledger.close()
    assert sorted((r.kind, bool(r.ended_at_ns)) for r in rows) == [
        ("agent_silent", True), ("modem_unhealthy", True),
    ]  # fmt: skip
    by_kind = {r.kind: r for r in rows}
    imei = sim.identity.imei
    assert by_kind["modem_unhealthy"].subject == {"agent": "test-agent", "imei": imei}
    assert "not_registered" in by_kind["modem_unhealthy"].figures["reasons"]
    assert by_kind["agent_silent"].figures["silent_s"] > RULES.silent_after_s
    # The robot got each start and each end once, signed, with the sentence.
    robot: Any = srv.dingtalk["tok"]
    titles = [m["markdown"]["title"] for m in robot.accepted]
    assert sorted(titles) == sorted([
        f"[ALERT] Modem unhealthy: test-agent / {imei}",
        f"[RESOLVED] Modem unhealthy: test-agent / {imei}",
        "[ALERT] Agent silent: test-agent",
        "[RESOLVED] Agent silent: test-agent",
    ])  # fmt: skip
    assert robot.refused == []
    assert any(f"Modem {imei} on agent test-agent cannot receive (" in m["markdown"]["text"]
               for m in robot.accepted)  # fmt: skip
    assert sorted((d.phase, d.url, d.state) for d in deliveries) == [
        ("end", "dingtalk:ops", "delivered"), ("end", "dingtalk:ops", "delivered"),
        ("start", "dingtalk:ops", "delivered"), ("start", "dingtalk:ops", "delivered"),
    ]  # fmt: skip
