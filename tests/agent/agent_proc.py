"""The real `smsprobe-agent run` as a subprocess against simulated modems that live in the
test process on real ptys (they outlive every agent, as real modems do)."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import IO

from agent.modem.simulator.modem import ModemSimulator

ROOT = Path(__file__).resolve().parents[2]


def write_config(
    tmp_path: Path,
    links: list[Path],
    *,
    agent_id: str = "proc",
    sweep_s: float = 0.2,
    health_s: float = 5.0,
    command_timeout_s: float = 2.0,
) -> Path:
    modems = "".join(f'[[modems]]\nport = "{link}"\nprofile = "quectel_ec25"\n' for link in links)
    path = tmp_path / "agent.toml"
    path.write_text(
        f"""
[agent]
id = "{agent_id}"
[outbox]
path = "{tmp_path / "outbox.sqlite"}"
[receive]
sweep_interval_s = {sweep_s}
health_interval_s = {health_s}
command_timeout_s = {command_timeout_s}
{modems}
[log]
level = "info"
format = "json"
"""
    )
    return path


async def start_agent(
    config: Path, log: IO[bytes], env: dict[str, str] | None = None
) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "agent.cli",
        "run",
        "--config",
        str(config),
        "--no-upload",
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT), **(env or {})},
        stdout=log,
        stderr=log,
    )


def outbox_list(config: Path) -> list[dict[str, object]]:
    """`smsprobe-agent outbox list --json`, every record kind."""
    out = subprocess.run(
        [sys.executable, "-m", "agent.cli", "outbox", "list", "--config", str(config), "--json"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return [json.loads(line) for line in out.stdout.splitlines() if line.strip()]


def all_deleted(sims: list[ModemSimulator]) -> bool:
    """Every message the network delivered has been read and deleted off its SIM."""
    return all(
        sim.status()["queued"] == 0 and all(r["deleted_at"] for r in sim.truth_records())
        for sim in sims
    )
