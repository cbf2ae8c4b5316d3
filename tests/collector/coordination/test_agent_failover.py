"""One real `smsprobe-agent run` listing two collectors (`[collector] addresses`), both
`smsprobe-collector serve` processes over real mTLS on one real PostgreSQL ledger, the
agent reading simulated modems on ptys. The collector the agent is connected to is
SIGKILLed mid-stream: the agent fails over to the other; that one dies while the first is
up again: the agent goes back. In the end the ledger holds every SMS the modem simulators
delivered (their ground truth) exactly once."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import signal
import sys
import urllib.request
from collections import Counter
from pathlib import Path

import pytest

from agent.modem.simulator.modem import ModemSimulator
from agent.modem.simulator.pty import ModemServer
from agent.sms.tpdu import decode_pdu
from collector.certs import create_ca, issue_agent
from collector.ledger import Ledger, open_ledger
from collector.ports import free_port
from tests.agent.harness import eventually, make_sim
from tests.grpc.conftest import Pki
from tests.grpc.procs import ROOT, CollectorProcess
from tests.grpc.test_e2e_agent_app import _agent_toml as e2e_agent_toml

AGENT = "agent-f"
MODEMS = 4
_CONNECTED = re.compile(r'^smsprobe_agent_collector_connected\{address="([^"]+)"\} 1\.0$', re.M)


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    root = tmp_path_factory.mktemp("pki")
    ca = create_ca(root / "ca")
    other = create_ca(root / "other")
    return Pki(
        ca=ca,
        agents={AGENT: issue_agent(root / "ca", AGENT)},
        other_ca=other,
        rogue=issue_agent(root / "other", AGENT),
    )


def _agent_toml(tmp: Path, pki: Pki, links: list[Path], addresses: list[str], port: int) -> Path:
    """The e2e test's agent config, with the collectors as a list and a metrics port."""
    path = e2e_agent_toml(tmp, pki, AGENT, links, addresses[0])
    listed = ", ".join(f'"{a}"' for a in addresses)
    text = path.read_text().replace(f'address = "{addresses[0]}"', f"addresses = [{listed}]")
    assert "addresses = [" in text
    path.write_text(f"{text}[metrics]\nport = {port}\n")
    return path


def _connected_to(metrics_port: int) -> str:
    """The collector the agent says it is registered with (its Prometheus gauge)."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics", timeout=2) as r:
            text = r.read().decode()
    except OSError:
        return ""
    found = _CONNECTED.findall(text)
    return found[0] if len(found) == 1 else ""


def _texts(ledger: Ledger) -> Counter[str]:
    return Counter(s.sms.text for s in ledger.received_sms() if s.agent_id == AGENT)


def _truth_texts(sims: list[ModemSimulator]) -> Counter[str]:
    """The SMS the simulated network really put on the SIMs (ground truth), one per
    message, decoded from the PDUs it delivered."""
    delivered = {
        (sim.config.name, t.message_id): decode_pdu(t.pdu_hex).text
        for sim in sims
        for t in sim.truth
        if t.routed != "discarded"
    }
    return Counter(delivered.values())


@pytest.mark.timeout(120)
def test_agent_fails_over_between_collectors_losing_and_doubling_nothing(
    pki: Pki, tmp_path: Path, postgres_url: str
) -> None:
    cols = []
    for name in ("c1", "c2"):
        (tmp_path / name).mkdir()
        cols.append(CollectorProcess(tmp_path / name, pki, postgres_url))
    c1, c2 = cols
    c1.start()  # migrates the ledger first; the second then finds it current
    c2.start()
    reader = open_ledger(postgres_url)
    metrics_port = free_port()
    sent: Counter[str] = Counter()  # what the test handed the simulated network
    truth: Counter[str] = Counter()  # what the network delivered to the SIMs

    async def scenario() -> None:
        sims = [make_sim(40 + i, seed=i) for i in range(MODEMS)]

        def deliver(round_: int, per_modem: int = 1) -> None:
            for i, sim in enumerate(sims):
                for k in range(per_modem):
                    text = f"modem {i} round {round_} #{k}"
                    sim.deliver_text(f"10690{i:03d}", text)
                    sent[text] += 1

        def stored(what: str) -> int:
            return sum(n for text, n in _texts(reader).items() if what in text)

        async with contextlib.AsyncExitStack() as stack:
            links = []
            for i, sim in enumerate(sims):
                link = tmp_path / f"m{i}"
                await stack.enter_async_context(ModemServer(sim, link))
                links.append(link)
            cfg = _agent_toml(tmp_path, pki, links, [c1.address, c2.address], metrics_port)
            log = (tmp_path / "agent.log").open("ab")
            stack.callback(log.close)
            env = {**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{ROOT / 'protos' / 'python'}"}
            agent = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "agent.cli", "run", "--config", str(cfg),
                cwd=ROOT, env=env, stdout=log, stderr=log,
            )  # fmt: skip

            def tail() -> str:
                return (tmp_path / "agent.log").read_text(errors="replace")[-3000:]

            try:
                # Both answer: the agent takes the first one listed.
                await eventually(lambda: _connected_to(metrics_port) == c1.address, 30)
                deliver(1)
                await eventually(lambda: stored("round 1") == MODEMS, 30)
                # Mid-stream: SMS arriving and records flowing when c1 dies.
                deliver(2, per_modem=5)
                await eventually(lambda: stored("round 2") >= 1, 30)
                c1.kill()
                deliver(3, per_modem=2)
                await eventually(lambda: _connected_to(metrics_port) == c2.address, 30)
                await eventually(lambda: _texts(reader) == sent, 30)
                # c1 back, c2 gone: the agent goes round to c1 again.
                c1.start()
                c2.kill()
                deliver(4, per_modem=2)
                await eventually(lambda: _connected_to(metrics_port) == c1.address, 30)
                await eventually(lambda: _texts(reader) == sent, 30)
                truth.update(_truth_texts(sims))
                assert truth == sent and sum(truth.values()) == MODEMS * 10
            except AssertionError:
                got = _texts(reader)
                raise AssertionError(
                    f"missing {sent - got}, extra {got - sent}, connected to "
                    f"{_connected_to(metrics_port)!r}\nagent log tail:\n{tail()}"
                ) from None
            finally:
                if agent.returncode is None:
                    agent.send_signal(signal.SIGTERM)
                code = await asyncio.wait_for(agent.wait(), 30)
            assert code == 0
            # Each move went straight to the other collector: the back-off is only for a
            # full round of addresses without progress.
            lines = (tmp_path / "agent.log").read_text().splitlines()
            events = [json.loads(line) for line in lines if line.startswith("{")]
            moves = [
                (e["collector"], e["next"], e["delay_s"])
                for e in events
                if e.get("event") == "uplink_failover"
            ]
            assert moves == [(c1.address, c2.address, 0.0), (c2.address, c1.address, 0.0)]

    try:
        asyncio.run(scenario())
    finally:
        c1.kill()
        c2.kill()
    # Each delivered SMS exactly once; ingest on either collector kept its replays out.
    got = _texts(reader)
    assert got == truth and max(got.values()) == 1
    assert len(reader.received_sms()) == MODEMS * 10
    assert reader.quarantine() == []
    reader.close()
