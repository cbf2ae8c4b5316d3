"""`smsprobe-collector serve` refuses a bad config or a taken port before it opens the
ledger, in one line and exit 2; `config check` accepts what the demo runs."""

from __future__ import annotations

import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from collector.certs import create_ca
from collector.cli import main
from collector.demo.configs import collector_toml
from collector.ports import free_port

ROOT = Path(__file__).resolve().parents[3]


def serve(config: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "collector.cli", "serve", "--config", str(config), "--insecure"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_a_bad_config_stops_serve_before_the_ledger_opens(tmp_path: Path) -> None:
    config = tmp_path / "collector.toml"
    config.write_text('[ledger]\nurl = "ledger.db"\n[vendors.acme]\nkind = "smtp"\n')
    result = serve(config)
    assert result.returncode == 2
    assert result.stderr == (
        "error: collector.toml: vendors.acme.kind: expected"
        ' "http", "smpp", "cmpp", "sgip" or "smgp", got "smtp"\n'
    )
    assert not (tmp_path / "ledger.db").exists()


@pytest.fixture
def taken_port() -> Iterator[int]:
    """A port another process listens on."""
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        yield int(holder.getsockname()[1])


LISTEN_KEYS = ("server.listen", "metrics.listen", "probes.webhook_listen")


@pytest.mark.parametrize("key", LISTEN_KEYS)
def test_a_port_in_use_is_one_line_naming_its_key(
    key: str, taken_port: int, tmp_path: Path
) -> None:
    port = {k: free_port() for k in LISTEN_KEYS} | {key: taken_port}
    config = tmp_path / "collector.toml"
    config.write_text(
        f"""
[server]
listen = "127.0.0.1:{port["server.listen"]}"
[metrics]
listen = "127.0.0.1:{port["metrics.listen"]}"
[ledger]
url = "ledger.db"
[vendors.bolt]
kind = "smpp"
host = "127.0.0.1"
port = 9
system_id = "bolt"
password = "pw"
[probes]
secret = "s"
webhook_listen = "127.0.0.1:{port["probes.webhook_listen"]}"
[probes.vendors.bolt]
profiles = ["notification"]
interval_s = 60
"""
    )
    result = serve(config)
    assert result.returncode == 2, result.stderr
    assert result.stderr == (
        f"error: collector.toml: {key}: cannot listen on 127.0.0.1:{taken_port}: "
        "Address already in use\n"
    )
    assert not (tmp_path / "ledger.db").exists()


def test_config_check_accepts_the_demo_config(tmp_path: Path) -> None:
    create_ca(tmp_path / "pki")
    config = tmp_path / "collector.toml"
    ports = {"acme": 18001, "cheap": 18002, "bolt": 18003, "gate": 18004}
    config.write_text(collector_toml(tmp_path, 17443, 18480, ports, 60.0, 1))
    result = CliRunner().invoke(main, ["config", "check", "--config", str(config)])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0] == "collector.toml: valid"
    assert "  vendors    acme (http), cheap (http), bolt (smpp), gate (cmpp)" in lines
    assert "  probes     4 vendor plans, zone Asia/Shanghai, DLR webhooks 127.0.0.1:18480" in lines
    assert f"  tls        mTLS, certificate {tmp_path / 'pki' / 'collector.pem'}" in lines
    assert result.stderr == ""


def test_config_check_without_tls_needs_insecure(tmp_path: Path) -> None:
    config = tmp_path / "collector.toml"
    config.write_text('[server]\nlisten = "127.0.0.1:7443"\n')
    refused = CliRunner().invoke(main, ["config", "check", "--config", str(config)])
    assert refused.exit_code == 2
    assert refused.stderr.startswith("error: collector.toml: tls: ca_cert, cert and key")
    accepted = CliRunner().invoke(main, ["config", "check", "--config", str(config), "--insecure"])
    assert accepted.exit_code == 0, accepted.output
    assert "  tls        plaintext (--insecure)" in accepted.stdout.splitlines()


def test_config_check_of_a_missing_file_is_exit_2(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        main, ["config", "check", "--config", str(tmp_path / "collector.toml")]
    )
    assert result.exit_code == 2
    assert result.stderr == "error: collector.toml: cannot read: No such file or directory\n"
