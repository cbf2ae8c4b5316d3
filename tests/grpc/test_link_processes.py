"""The agent link as deployed: collector and agents as separate processes over real mTLS,
killed with SIGKILL mid-stream and restarted. Every record ends up in the ledger exactly
once — on SQLite and on a real PostgreSQL."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from agent.outbox.store import Outbox
from collector.ledger import Ledger, open_ledger
from tests.grpc.conftest import Pki
from tests.grpc.procs import ROOT, AgentProcess, CollectorProcess, _env, free_port


@pytest.fixture(params=["sqlite", "postgres"])
def ledger_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield str(tmp_path / "ledger.db")
    else:
        yield request.getfixturevalue("postgres_url")


def poll(pred: Callable[[], bool], what: str, timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not pred():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def committed(ledger: Ledger, agent_id: str) -> int:
    return next((a.committed_seq for a in ledger.agents() if a.agent_id == agent_id), 0)


def outbox_state(path: Path) -> tuple[int, int]:
    with Outbox(path) as o:
        return o.last_seq(), o.depth()


def test_exactly_once_across_collector_and_agent_kills(
    pki: Pki, tmp_path: Path, ledger_url: str
) -> None:
    total = 3000
    col = CollectorProcess(tmp_path, pki, ledger_url)
    col.start()
    reader = open_ledger(ledger_url)
    # The agent must still be producing when it is killed, however long the collector
    # restart takes on a loaded CI box: at most 1000 unacked records, so while fewer than
    # 2000 are committed it cannot have generated all 3000.
    agent = AgentProcess(
        tmp_path, pki, "agent-a", col.address, total=total, rate=500, max_pending=1000
    )
    try:
        agent.start()
        poll(lambda: committed(reader, "agent-a") >= 600, "first records committed")
        col.kill()  # mid-stream: the agent keeps persisting while the collector is gone
        col.start()
        poll(lambda: committed(reader, "agent-a") >= 1500, "progress after collector restart")
        # Kill while records are unacked: a caught-up uploader empties the outbox for
        # instants (acks are cheap), so watching for depth > 0 and then killing raced.
        # The collector is frozen instead (SIGSTOP): batches it was committing stay
        # unacked and the agent keeps persisting, so the outbox fills for certain.
        assert col.proc is not None
        col.proc.send_signal(signal.SIGSTOP)
        try:
            poll(lambda: outbox_state(agent.outbox_path)[1] > 0, "records in flight")
            agent.kill()  # mid-batch: batches in flight, some committed but not yet acked
        finally:
            col.proc.send_signal(signal.SIGCONT)
        last_seq, depth = outbox_state(agent.outbox_path)
        assert depth > 0 and last_seq < total  # really killed in the middle
        agent.rate, agent.max_pending = 0.0, 0  # the rest as fast as it goes
        agent.start()
        poll(lambda: committed(reader, "agent-a") == total, "all records committed")
        poll(lambda: outbox_state(agent.outbox_path) == (total, 0), "outbox fully acked")
        assert agent.terminate() == 0
        assert reader.record_count() == total  # idempotent: replays were not stored twice
        assert reader.quarantine() == []
        assert reader.gaps("agent-a") == []
    finally:
        agent.kill()
        col.kill()
        reader.close()  # also on failure: a leaked connection warns in a later test
    assert "agent_registered" in col.log_text()


def test_two_agents_eight_modems_each_and_agents_cli(
    pki: Pki, tmp_path: Path, ledger_url: str
) -> None:
    col = CollectorProcess(tmp_path, pki, ledger_url)
    col.start()
    reader = open_ledger(ledger_url)
    agents = [
        AgentProcess(
            tmp_path, pki, a, col.address, total=1200, rate=800, modems=8, metrics_port=free_port()
        )
        for a in ("agent-b", "agent-c")
    ]
    try:
        for a in agents:
            a.start()
        poll(
            lambda: all(committed(reader, a.agent_id) == 1200 for a in agents),
            "both agents committed",
        )
        status = {s.agent_id: s for s in reader.agents()}
        for a in agents:
            s = status[a.agent_id]
            assert s.connected
            assert len(s.modems) == 8
            assert all(m.last_health is not None for m in s.modems)
            assert s.clock_uncertainty_ms < 1000  # the clock exchange ran
        # Prometheus on both sides.
        agent_metrics = _scrape(agents[0].metrics_port)
        assert _value(agent_metrics, "smsprobe_agent_records_acked_total") >= 1200
        assert _value(agent_metrics, "smsprobe_agent_modems_up") == 8
        assert _value(agent_metrics, "smsprobe_agent_connected") == 1
        col_metrics = _scrape(col.metrics_port)
        assert (
            _value(col_metrics, 'smsprobe_collector_records_ingested_total{agent="agent-b"}')
            == 1200
        )
        assert _value(col_metrics, "smsprobe_collector_agents_connected") == 2
        # `smsprobe-collector agents --json`
        out = subprocess.run(
            [
                sys.executable,
                "-m",
                "collector.cli",
                "agents",
                "--json",
                "--config",
                str(col.config_path),
            ],
            cwd=ROOT,
            env=_env(),
            capture_output=True,
            timeout=60,
        )
        assert out.returncode == 0, out.stderr.decode()
        doc = json.loads(out.stdout)
        listed = {a["agent_id"]: a for a in doc["agents"]}
        assert set(listed) == {"agent-b", "agent-c"}
        assert len(listed["agent-b"]["modems"]) == 8
        assert listed["agent-b"]["connected"] is True
        assert listed["agent-b"]["last_seen_age_s"] < 60
        text = subprocess.run(
            [sys.executable, "-m", "collector.cli", "agents", "--config", str(col.config_path)],
            cwd=ROOT,
            env=_env(),
            capture_output=True,
            check=True,
            timeout=60,
            text=True,
        ).stdout
        assert "agent-c  connected" in text and "UNHEALTHY" in text
        for a in agents:
            assert a.terminate() == 0
        poll(lambda: not any(s.connected for s in reader.agents()), "agents disconnected")
        assert col.terminate() == 0
        assert reader.record_count() == 2400
    finally:
        for a in agents:
            a.kill()
        col.kill()
        reader.close()  # also on failure: a leaked connection warns in a later test


def _scrape(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as r:
        body: bytes = r.read()
    return body.decode()


def _value(text: str, sample: str) -> float:
    """Value of one sample line, e.g. `name` or `name{label="x"}`, in exposition format."""
    for line in text.splitlines():
        key, _, value = line.rpartition(" ")
        if key == sample:
            return float(value)
    raise AssertionError(f"{sample} not in metrics")
