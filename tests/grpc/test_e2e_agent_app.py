"""End to end with the real agent: `smsprobe-agent run` processes reading simulated modems
on real ptys (agent/modem/simulator, living in this test process like hardware would), the
collector as a process; SMS delivered into the modems arrive in the ledger exactly once,
across a collector SIGKILL mid-stream."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
from collections import Counter
from pathlib import Path
from typing import Any

from cryptography import x509

from agent.modem.simulator.pty import ModemServer
from agent.wire.signing import verify_record
from collector.ledger import AgentStatus, Ledger, open_ledger
from tests.agent.harness import eventually, make_sim
from tests.grpc.conftest import Pki
from tests.grpc.procs import ROOT, CollectorProcess

MODEMS = 8
AGENTS = ("agent-b", "agent-c")


def _agent_toml(tmp: Path, pki: Pki, agent: str, links: list[Path], address: str) -> Path:
    p = pki.agents[agent]
    modems = "".join(f'\n[[modems]]\nport = "{link}"\nprofile = "quectel_ec25"\n' for link in links)
    path = tmp / f"{agent}.toml"
    path.write_text(
        f"""
[agent]
id = "{agent}"
site = "lab"
region = "test"
[outbox]
path = "{tmp / f"{agent}.outbox.sqlite"}"
[receive]
sweep_interval_s = 0.5
health_interval_s = 1
command_timeout_s = 2
{modems}
[collector]
address = "{address}"
ca_cert = "{p.ca_cert}"
cert = "{p.cert}"
key = "{p.key}"
[log]
level = "info"
format = "json"
"""
    )
    return path


def _texts(ledger: Ledger) -> Counter[tuple[str, str]]:
    return Counter((s.agent_id, s.sms.text) for s in ledger.received_sms())


def test_agents_with_sim_modems_upload_exactly_once(pki: Pki, tmp_path: Path) -> None:
    col = CollectorProcess(tmp_path, pki, str(tmp_path / "ledger.db"))
    col.start()
    reader = open_ledger(str(tmp_path / "ledger.db"))
    expected: Counter[tuple[str, str]] = Counter()

    async def scenario() -> None:
        sims = {
            a: [make_sim(10 + i + 20 * k, seed=i) for i in range(MODEMS)]
            for k, a in enumerate(AGENTS)
        }

        def deliver(round_: int) -> None:
            for agent, modems in sims.items():
                for i, sim in enumerate(modems):
                    text = f"{agent} modem {i} round {round_}"
                    sim.deliver_text(f"10690{i:03d}", text)
                    expected[(agent, text)] += 1

        async with contextlib.AsyncExitStack() as stack:
            links: dict[str, list[Path]] = {}
            for agent, modems in sims.items():
                links[agent] = []
                for i, sim in enumerate(modems):
                    link = tmp_path / f"{agent}-m{i}"
                    await stack.enter_async_context(ModemServer(sim, link))
                    links[agent].append(link)
            env = {**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{ROOT / 'protos' / 'python'}"}
            procs = []
            for agent in AGENTS:
                log = (tmp_path / f"{agent}.log").open("ab")
                stack.callback(log.close)
                cfg = _agent_toml(tmp_path, pki, agent, links[agent], col.address)
                procs.append(
                    await asyncio.create_subprocess_exec(
                        sys.executable,
                        "-m",
                        "agent.cli",
                        "run",
                        "--config",
                        str(cfg),
                        cwd=ROOT,
                        env=env,
                        stdout=log,
                        stderr=log,
                    )
                )
            try:
                deliver(1)
                await eventually(lambda: sum(_texts(reader).values()) >= 8, 60)
                col.kill()  # mid-stream
                deliver(2)
                col.start()
                deliver(3)
                try:
                    await eventually(lambda: _texts(reader) == expected, 90)
                except AssertionError:
                    got = _texts(reader)
                    tail = (tmp_path / "agent-b.log").read_text(errors="replace")[-4000:]
                    raise AssertionError(
                        f"missing {expected - got}, extra {got - expected}, "
                        f"quarantined {[(q.reason, q.detail) for q in reader.quarantine()]}\n"
                        f"agent-b log tail:\n{tail}\ncollector log tail:\n"
                        f"{col.log_text()[-3000:]}"
                    ) from None
                status = {a.agent_id: a for a in reader.agents()}
                for agent in AGENTS:
                    assert len(status[agent].modems) == MODEMS

                def all_reported_health() -> bool:
                    return all(
                        m.last_health is not None
                        for agent in AGENTS
                        for m in _status(reader, agent).modems
                    )

                await eventually(all_reported_health, 30)
            finally:
                for p in procs:
                    if p.returncode is None:
                        p.send_signal(signal.SIGTERM)
                codes = [await asyncio.wait_for(p.wait(), 30) for p in procs]
            assert codes == [0, 0]

    try:
        asyncio.run(scenario())
    finally:
        col.kill()
    assert _texts(reader) == expected  # each SMS exactly once
    assert reader.quarantine() == []
    _assert_signed_by_their_agents(reader, pki)
    reader.close()


def _assert_signed_by_their_agents(ledger: Ledger, pki: Pki) -> None:
    """Every stored SMS is the agent's signed record, under the certificate it enrolled
    with (Register stores it) — the chain an evidence bundle's verify walks."""
    keys = ledger.agent_keys()
    assert {agent for agent, _ in keys.values()} == set(AGENTS)
    by_agent = {agent: x509.load_pem_x509_certificate(pem) for agent, pem in keys.values()}
    for agent in AGENTS:
        assert by_agent[agent] == x509.load_pem_x509_certificate(
            pki.agents[agent].cert.read_bytes()
        )
    stored = ledger.received_sms()
    raw = ledger.record_raw([s.uuid for s in stored])
    assert set(raw) == {s.uuid for s in stored}
    for s in stored:
        public_key: Any = by_agent[s.agent_id].public_key()
        assert verify_record(raw[s.uuid], public_key) is None, s.uuid


def _status(ledger: Ledger, agent: str) -> AgentStatus:
    return next(a for a in ledger.agents() if a.agent_id == agent)
