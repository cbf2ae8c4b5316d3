"""A real `smsprobe-collector serve` reloading its config on SIGHUP: each reload is in the
audit log, a deny-list change also as a revocation naming what was revoked, and a reload
refused for a broken file as failed; `audit` lists and filters them."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from click.testing import CliRunner

from collector.audit.cli import audit_command
from collector.ledger import open_ledger
from collector.ledger.audit import AuditEntry

CONFIG = """
[server]
listen = "127.0.0.1:0"
[tls]
deny_agents = [{deny}]
[ledger]
url = "{url}"
"""


def wait_for(what: str, check: Callable[[], bool], proc: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 60  # a stuck collector fails the test instead of hanging it
    while not check():
        assert proc.poll() is None, f"serve exited with {proc.returncode} waiting for {what}"
        assert time.monotonic() < deadline, f"no {what} within 60 s"
        time.sleep(0.05)


def entries(url: str) -> list[AuditEntry]:
    ledger = open_ledger(url)
    try:
        return ledger.audit_entries()
    finally:
        ledger.close()


def test_sighup_reloads_and_revocations_are_audited(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/l.db"
    config, port_file = tmp_path / "collector.toml", tmp_path / "port"
    config.write_text(CONFIG.format(deny='"agent-3"', url=url))
    proc = subprocess.Popen(
        [sys.executable, "-m", "collector.cli", "serve", "--config", str(config), "--insecure",
         "--port-file", str(port_file)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        env={**os.environ, "SMSPROBE_LOG_FORMAT": "json"},
    )  # fmt: skip
    try:
        wait_for("port file", port_file.exists, proc)
        config.write_text(CONFIG.format(deny='"agent-9", "agent-7"', url=url))
        proc.send_signal(signal.SIGHUP)
        wait_for("revocation entry", lambda: len(entries(url)) >= 2, proc)
        config.write_text("[server\nbroken")
        proc.send_signal(signal.SIGHUP)
        wait_for("failed reload entry", lambda: len(entries(url)) >= 3, proc)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=30)
    reload_ok, revocation, refused = entries(url)
    assert (reload_ok.kind, reload_ok.outcome) == ("config_reload", "ok")
    assert "SIGHUP; sender unknown" in reload_ok.actor
    assert reload_ok.arguments["path"] == str(config)
    assert revocation.kind == "revocation"
    assert dict(revocation.arguments)["revoked"] == ["agent-7", "agent-9"]
    assert dict(revocation.arguments)["reinstated"] == ["agent-3"]
    assert revocation.summary == "deny list: 2 revoked, 1 reinstated"
    assert refused.kind == "config_reload" and refused.outcome.startswith("failed: ")

    # Listed and filtered by the CLI (the config is readable again).
    config.write_text(CONFIG.format(deny="", url=url))
    listed = CliRunner().invoke(audit_command, ["--config", str(config), "--kind", "revocation",
                                                "--json"])  # fmt: skip
    assert listed.exit_code == 0, listed.output
    (line,) = listed.stdout.splitlines()
    assert json.loads(line)["arguments"]["revoked"] == ["agent-7", "agent-9"]


def test_serve_runs_retention_on_schedule_as_a_unit(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/l.db"
    config, port_file = tmp_path / "collector.toml", tmp_path / "port"
    config.write_text(
        CONFIG.format(deny="", url=url)
        + '[retention]\nrun_every_s = 0.2\ntexts = { action = "purge", after_days = 30 }\n'
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "collector.cli", "serve", "--config", str(config), "--insecure",
         "--port-file", str(port_file)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    try:
        wait_for("two scheduled runs", lambda: len(entries(url)) >= 2, proc)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=30)
    runs = entries(url)
    assert {e.kind for e in runs} == {"retention_run"}
    assert all("(scheduled, collector " in e.actor for e in runs)
    assert runs[0].arguments["policy"] == "text purge after 30 d, agent_samples purge after 7 d"
    ledger = open_ledger(url)
    try:
        units = {u.unit: u for u in ledger.collector_units()}
    finally:
        ledger.close()
    assert "service:retention" in units and units["service:retention"].failures == 0
