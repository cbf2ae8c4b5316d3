"""SIGTERM to `smsprobe-collector demo` (what timeout, CI and systemd send) stops every
process the demo started, as Ctrl-C does: none is left running, each found in /proc."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from tests.collector.cli.proctree import ProcessId, alive, descendants

ROOT = Path(__file__).resolve().parents[3]


def test_sigterm_to_the_demo_leaves_no_process_behind(tmp_path: Path) -> None:
    out = tmp_path / "demo-out"
    demo = subprocess.Popen(
        [sys.executable, "-m", "collector.cli", "demo", "--duration", "600", "--out", str(out)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # the test's own clean-up can reach the demo's group
        env={**os.environ, "PYTHONWARNINGS": "ignore"},
    )
    lines: list[str] = []
    started = threading.Event()

    def read() -> None:
        assert demo.stdout is not None
        for line in demo.stdout:
            lines.append(line)
            if line.strip().startswith("agents:"):  # the last process is started
                started.set()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    children: dict[ProcessId, str] = {}
    try:
        assert started.wait(180), "".join(lines)
        children = descendants(demo.pid)
        names = " | ".join(children.values())
        for part in ("sim-modem", "sim-vendor", "serve"):
            assert part in names, names
        assert sum(" run --config" in c for c in children.values()) == 2, names  # agents

        demo.send_signal(signal.SIGTERM)
        assert demo.wait(180) == 128 + signal.SIGTERM, "".join(lines)
        # A grandchild that got the SIGTERM with its process group may still be finishing
        # its own shutdown for a moment after the demo exited: bounded wait, then none.
        deadline = time.monotonic() + 15
        while (left := {p: cmd for p, cmd in children.items() if alive(p)}) and (
            time.monotonic() < deadline
        ):
            time.sleep(0.1)
        assert left == {}
        # The collector was stopped (SIGTERM, graceful), not killed after the grace time.
        assert "collector_stopped" in (out / "logs" / "collector.log").read_text()
    finally:
        if demo.poll() is None:
            os.killpg(demo.pid, signal.SIGKILL)
            demo.wait()
        for p in children | descendants(demo.pid):  # orphans no longer descend from it
            if alive(p):
                os.kill(p[0], signal.SIGKILL)
        reader.join(10)
        assert demo.stdout is not None
        demo.stdout.close()
