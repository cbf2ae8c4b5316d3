"""Real InfluxDB 1.x (Debian `influxdb`) and VictoriaMetrics (Debian `victoria-metrics`,
which accepts the v2 write API) on free loopback ports in temporary directories.

`make test` installs both; a missing binary fails the test loudly, never skips it.
"""

from __future__ import annotations

import json
import os
import pathlib
import shutil
import signal
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from collector.ports import free_port


class _Startable(Protocol):
    def start(self) -> None: ...
    def stop(self) -> None: ...


_Server = TypeVar("_Server", bound=_Startable)


def _require(binary: str, package: str) -> str:
    path = shutil.which(binary) or (
        f"/usr/bin/{binary}" if os.path.exists(f"/usr/bin/{binary}") else None
    )
    if path is None:
        raise RuntimeError(f"{binary} not found: install Debian's {package} (make test does)")
    return path


def _wait_http(
    url: str, deadline_s: float, proc: subprocess.Popen[bytes], log: pathlib.Path
) -> None:
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}:\n{log.read_text()[-2000:]}")
        try:
            with urllib.request.urlopen(url, timeout=1):
                return
        except (urllib.error.URLError, ConnectionError, OSError):
            time.sleep(0.05)
    raise RuntimeError(f"{url} not up after {deadline_s}s:\n{log.read_text()[-2000:]}")


@dataclass
class InfluxServer:
    """A running influxd 1.x; stop() and start() again keep the data (same directories)."""

    root: pathlib.Path
    port: int
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        binary = _require("influxd", "influxdb")
        conf = self.root / "influxdb.conf"
        conf.write_text(
            f"""reporting-disabled = true
bind-address = "127.0.0.1:{free_port()}"
[meta]
  dir = "{self.root}/meta"
[data]
  dir = "{self.root}/data"
  wal-dir = "{self.root}/wal"
  query-log-enabled = false
[http]
  bind-address = "127.0.0.1:{self.port}"
  log-enabled = false
[continuous_queries]
  enabled = false
[monitor]
  store-enabled = false
"""
        )
        log = self.root / "influxd.log"
        with log.open("ab") as out:  # the child keeps its own descriptor
            self.proc = subprocess.Popen(
                [binary, "-config", str(conf)], stdout=out, stderr=subprocess.STDOUT
            )
        _wait_http(self.url + "/ping", 30, self.proc, log)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def query(self, q: str, db: str) -> list[dict[str, Any]]:
        """InfluxQL; returns the series of the first statement (empty list when none)."""
        data = urllib.parse.urlencode({"q": q, "db": db, "epoch": "ns"}).encode()
        with urllib.request.urlopen(self.url + "/query", data=data, timeout=10) as resp:
            body = json.load(resp)
        result = body["results"][0]
        if "error" in result:
            raise RuntimeError(f"InfluxQL error: {result['error']} in {q}")
        series: list[dict[str, Any]] = result.get("series", [])
        return series

    def create_database(self, db: str) -> None:
        data = urllib.parse.urlencode({"q": f'CREATE DATABASE "{db}"'}).encode()
        with urllib.request.urlopen(self.url + "/query", data=data, timeout=10):
            pass
        # A write right behind the CREATE was once answered 404 "database not found" on a
        # loaded machine: return only once the server lists the database.
        deadline = time.monotonic() + 10
        while not any([db] == row for row in self._databases()):
            if time.monotonic() > deadline:
                raise RuntimeError(f"InfluxDB did not list database {db} after CREATE")
            time.sleep(0.05)

    def _databases(self) -> list[list[Any]]:
        series = self.query("SHOW DATABASES", "")
        return [list(v) for s in series for v in s.get("values", [])]


_START_ATTEMPTS = 3


def _start_on_a_free_port(make: Callable[[int], _Server]) -> _Server:
    """A free port is only free until someone binds it: a server of a parallel test may take
    it between our probe and the server's own bind (it then exits), so try another port."""
    for attempt in range(_START_ATTEMPTS):
        server = make(free_port())
        try:
            server.start()
            return server
        except RuntimeError:
            server.stop()
            if attempt == _START_ATTEMPTS - 1:
                raise
    raise AssertionError("unreachable")


def influx_server(root: pathlib.Path) -> Generator[InfluxServer, None, None]:
    root.mkdir(parents=True, exist_ok=True)
    server = _start_on_a_free_port(lambda port: InfluxServer(root, port))
    try:
        yield server
    finally:
        server.stop()


@dataclass
class VictoriaMetricsServer:
    root: pathlib.Path
    port: int
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        binary = _require("victoria-metrics", "victoria-metrics")
        log = self.root / "vm.log"
        argv = [
            binary,
            f"-storageDataPath={self.root / 'data'}",
            f"-httpListenAddr=127.0.0.1:{self.port}",
            "-search.latencyOffset=0s",
            "-loggerLevel=ERROR",
        ]
        with log.open("ab") as out:
            self.proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT)
        _wait_http(self.url + "/health", 30, self.proc, log)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def export(self, match: str) -> list[dict[str, Any]]:
        """Raw samples of every series matching `match`; VictoriaMetrics flushes lazily."""
        url = self.url + "/api/v1/export?" + urllib.parse.urlencode({"match[]": match})
        with urllib.request.urlopen(url, timeout=10) as resp:
            return [json.loads(line) for line in resp.read().decode().splitlines() if line]

    def force_flush(self) -> None:
        with urllib.request.urlopen(self.url + "/internal/force_flush", timeout=10) as resp:
            resp.read()

    def wait_for_samples(
        self, match: str, count: int, deadline_s: float = 15
    ) -> list[dict[str, Any]]:
        """Poll until `count` samples match: its 204 comes before rows are searchable.

        Each poll first asks the server to flush its in-memory buffers (/internal/force_flush):
        left alone it makes fresh rows searchable only after ~10 s. The flush changes when
        stored rows become visible, not whether they were stored, so this still reads back.
        """
        end = time.monotonic() + deadline_s
        rows: list[dict[str, Any]] = []
        while time.monotonic() < end:
            self.force_flush()
            rows = self.export(match)
            if sum(len(r["values"]) for r in rows) >= count:
                return rows
            time.sleep(0.1)
        return rows


def victoria_metrics_server(root: pathlib.Path) -> Iterator[VictoriaMetricsServer]:
    root.mkdir(parents=True, exist_ok=True)
    server = _start_on_a_free_port(lambda port: VictoriaMetricsServer(root, port))
    try:
        yield server
    finally:
        server.stop()
