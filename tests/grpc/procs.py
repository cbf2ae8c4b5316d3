"""Collector and stand-in agent as real processes, started and killed by PID."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from collector.ports import free_port
from tests.grpc.conftest import Pki

ROOT = Path(__file__).resolve().parents[2]


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), str(ROOT / "protos" / "python")])
    return env


@dataclass
class CollectorProcess:
    directory: Path
    pki: Pki
    ledger_url: str
    deny: tuple[str, ...] = ()
    max_message_bytes: int = 4 * 1024 * 1024
    port: int = field(default_factory=free_port)
    metrics_port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def config_path(self) -> Path:
        return self.directory / "collector.toml"

    def write_config(self, agents_toml: str = "") -> None:
        ca = self.pki.ca
        deny = ", ".join(json.dumps(d) for d in self.deny)
        self.config_path.write_text(
            f"""
[server]
listen = "127.0.0.1:{self.port}"
max_message_bytes = {self.max_message_bytes}

[tls]
ca_cert = "{ca.ca_cert}"
cert = "{ca.server_cert}"
key = "{ca.server_key}"
deny_agents = [{deny}]

[ledger]
url = "{self.ledger_url}"

[metrics]
listen = "127.0.0.1:{self.metrics_port}"

[log]
level = "info"
format = "json"
{agents_toml}
"""
        )

    def start(self, timeout_s: float = 30.0) -> None:
        if not self.config_path.exists():
            self.write_config()
        port_file = self.directory / "collector.port"
        port_file.unlink(missing_ok=True)
        log = open(self.directory / "collector.log", "ab")  # noqa: SIM115 - child owns it
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "collector.cli",
                "serve",
                "--config",
                str(self.config_path),
                "--port-file",
                str(port_file),
            ],
            cwd=ROOT,
            env=_env(),
            stdout=log,
            stderr=log,
        )
        log.close()
        deadline = time.monotonic() + timeout_s
        while not port_file.exists():
            if self.proc.poll() is not None:
                raise RuntimeError(f"collector exited: {self.log_text()[-3000:]}")
            if time.monotonic() > deadline:
                self.kill()
                raise RuntimeError(f"collector did not start: {self.log_text()[-3000:]}")
            time.sleep(0.02)
        assert int(port_file.read_text()) == self.port

    def log_text(self) -> str:
        p = self.directory / "collector.log"
        return p.read_text(errors="replace") if p.exists() else ""

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)
        self.proc = None

    def hup(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGHUP)

    def terminate(self) -> int:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        code = self.proc.wait(15)
        self.proc = None
        return code


@dataclass
class AgentProcess:
    directory: Path
    pki: Pki
    agent_id: str
    address: str
    total: int
    rate: float = 0.0
    modems: int = 8
    metrics_port: int = 0
    max_pending: int = 0
    proc: subprocess.Popen[bytes] | None = None

    @property
    def outbox_path(self) -> Path:
        return self.directory / f"{self.agent_id}.outbox.db"

    def start(self) -> None:
        certs = self.pki.agents[self.agent_id].cert.parent
        log = open(self.directory / f"{self.agent_id}.log", "ab")  # noqa: SIM115
        args = [
            sys.executable,
            "-m",
            "tests.grpc.agent_proc",
            "--outbox",
            str(self.outbox_path),
            "--address",
            self.address,
            "--agent-id",
            self.agent_id,
            "--certs",
            str(certs),
            "--modems",
            str(self.modems),
            "--total",
            str(self.total),
            "--rate",
            str(self.rate),
        ]
        if self.metrics_port:
            args += ["--metrics", f"127.0.0.1:{self.metrics_port}"]
        if self.max_pending:
            args += ["--max-pending", str(self.max_pending)]
        self.proc = subprocess.Popen(args, cwd=ROOT, env=_env(), stdout=subprocess.PIPE, stderr=log)
        log.close()
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if b"agent_proc_running" not in line:
            raise RuntimeError(f"agent did not start: {self.log_text()[-3000:]}")

    def log_text(self) -> str:
        p = self.directory / f"{self.agent_id}.log"
        return p.read_text(errors="replace") if p.exists() else ""

    def kill(self) -> None:
        if self.proc is not None:
            if self.proc.poll() is None:
                self.proc.send_signal(signal.SIGKILL)
                self.proc.wait(10)
            self._close()

    def _close(self) -> None:
        assert self.proc is not None
        if self.proc.stdout is not None:
            self.proc.stdout.close()
        self.proc = None

    def terminate(self) -> int:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        code = self.proc.wait(20)
        self._close()
        return code
