"""A collector whose SMPP peer and alert webhook never answer stops within 5 s of SIGTERM
(the bound systemd and CI are given), gracefully: exit 0, "collector_stopped" logged, its
ports free again, and the alert page it could not finish noted on the alert.

The peers are real sockets that accept a connection and then say nothing: the SMPP bind
and the webhook POST hang as they do against a peer that is down behind a firewall."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from collector.ports import free_port

ROOT = Path(__file__).resolve().parents[3]
STOP_BOUND_S = 5.0  # the requirement itself (issue 11), not a tuning threshold


class SilentPeer:
    """Accepts TCP connections and never reads or writes; counts them."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = int(self.sock.getsockname()[1])
        self.held: list[socket.socket] = []
        self.connected = threading.Event()
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.held.append(conn)
            self.connected.set()

    def close(self) -> None:
        self.sock.shutdown(socket.SHUT_RDWR)  # wakes the blocked accept(); close alone does not
        self.sock.close()
        self._thread.join(5)
        for conn in self.held:
            conn.close()


@pytest.fixture
def smpp_peer() -> Iterator[SilentPeer]:
    peer = SilentPeer()
    yield peer
    peer.close()


@pytest.fixture
def webhook_peer() -> Iterator[SilentPeer]:
    peer = SilentPeer()
    yield peer
    peer.close()


def config_text(grpc_port: int, dlr_port: int, smpp_port: int, hook_port: int) -> str:
    return f"""
[server]
listen = "127.0.0.1:{grpc_port}"
[ledger]
url = "ledger.db"
[log]
format = "json"
[vendors.bolt]
kind = "smpp"
host = "127.0.0.1"
port = {smpp_port}
system_id = "bolt"
password = "pw"
[probes]
secret = "s"
webhook_listen = "127.0.0.1:{dlr_port}"
[probes.vendors.bolt]
profiles = ["notification"]
interval_s = 60
[alerts]
webhooks = ["http://127.0.0.1:{hook_port}/hook"]
evaluate_interval_s = 1
"""


def _bindable(port: int) -> bool:
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def test_collector_with_silent_peers_stops_within_5_s_of_sigterm(
    tmp_path: Path, smpp_peer: SilentPeer, webhook_peer: SilentPeer
) -> None:
    grpc_port, dlr_port = free_port(), free_port()
    config = tmp_path / "collector.toml"
    config.write_text(config_text(grpc_port, dlr_port, smpp_peer.port, webhook_peer.port))
    log_path = tmp_path / "collector.log"
    with log_path.open("w") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "collector.cli", "serve", "--config", str(config),
             "--insecure", "--port-file", str(tmp_path / "port")],
            cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    try:
        # Stuck in I/O against both peers: an SMPP bind sent and unanswered, an alert
        # (monitoring_degraded: the vendor cannot be probed) being posted and unanswered.
        assert smpp_peer.connected.wait(60), log_path.read_text()
        assert webhook_peer.connected.wait(90), log_path.read_text()
        assert proc.poll() is None, log_path.read_text()

        sent = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        try:
            code = proc.wait(60)
        finally:
            took = time.monotonic() - sent
        text = log_path.read_text()
        assert took < STOP_BOUND_S, f"stopped {took:.1f} s after SIGTERM\n{text[-3000:]}"
        assert code == 0, text[-3000:]
        assert "collector_stopped" in text
        assert _bindable(grpc_port) and _bindable(dlr_port)  # nothing left listening
        # The page it could not finish is on the alert, not silently dropped.
        with contextlib.closing(sqlite3.connect(tmp_path / "ledger.db")) as db:
            notes = [row[0] for row in db.execute("SELECT notified FROM alerts")]
        assert any(
            f"http://127.0.0.1:{webhook_peer.port}/hook abandoned at stop" in n for n in notes
        ), notes
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
