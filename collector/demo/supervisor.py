"""The demo's child processes: each in its own session with its output in a log file,
stdout JSON lines awaitable (readiness), stopped as a whole process group."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any, NoReturn

import click


class ChildProcess:
    """A child process whose output goes to a log file; its stdout lines can be awaited."""

    def __init__(
        self, name: str, argv: list[str], log_dir: Path, *, env: dict[str, str] | None = None
    ) -> None:
        self.name = name
        self.log_path = log_dir / f"{name}.log"
        self._log: IO[str] = self.log_path.open("w")
        self.lines: list[str] = []
        self._cond = threading.Condition()
        self.proc = subprocess.Popen(
            argv,
            stdout=subprocess.PIPE,
            stderr=self._log,
            text=True,
            env={**os.environ, **(env or {})},
            start_new_session=True,
        )
        self._reader = threading.Thread(target=self._pump, daemon=True)
        self._reader.start()

    def _pump(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self._log.write(line)
            self._log.flush()
            with self._cond:
                self.lines.append(line.rstrip("\n"))
                self._cond.notify_all()

    def wait_json(
        self, predicate: Callable[[dict[str, Any]], bool], timeout_s: float
    ) -> dict[str, Any]:
        """The first JSON line on stdout that satisfies predicate."""
        deadline = time.monotonic() + timeout_s
        seen = 0
        with self._cond:
            while True:
                for line in self.lines[seen:]:
                    obj = json_object(line)
                    if obj is not None and predicate(obj):
                        return obj
                seen = len(self.lines)
                left = deadline - time.monotonic()
                if left <= 0 or self.proc.poll() is not None:
                    raise click.ClickException(
                        f"{self.name} did not become ready; see {self.log_path}"
                    )
                self._cond.wait(min(left, 0.5))

    def json_lines(self) -> list[dict[str, Any]]:
        """Every JSON object printed on stdout so far."""
        with self._cond:
            lines = list(self.lines)
        return [obj for line in lines if (obj := json_object(line)) is not None]

    def stop(self, timeout_s: float = 15.0) -> None:
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout_s)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self._reader.join(2)
        self._log.close()

    def kill(self) -> None:
        """SIGKILL the whole process group (the restart drill), then reap it."""
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.stop()


def json_object(line: str) -> dict[str, Any] | None:
    try:
        obj = json.loads(line)
    except json.JSONDecodeError:
        return None
    return obj if isinstance(obj, dict) else None


def stop_on_sigterm() -> None:
    """SIGTERM (timeout, CI, systemd) ends the run as Ctrl-C does: as SystemExit, through
    the caller's `finally`, which stops every process started. Each child runs in its own
    session, so neither signal reaches them unless passed on."""
    signal.signal(signal.SIGTERM, _terminated)


def _terminated(signum: int, _frame: object) -> NoReturn:
    signal.signal(signum, signal.SIG_IGN)  # a second SIGTERM must not cut the clean-up short
    raise SystemExit(128 + signum)
