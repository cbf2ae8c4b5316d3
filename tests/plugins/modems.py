"""Modem fixtures shared by the agent tests (registered in tests/conftest.py): simulated
modem fleets on real ptys opened with pyserial, real sockets, and the helpers around them."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import serial

from agent.modem.simulator import FleetConfig, FleetThread, ModemSpec

FINALS = ("OK", "ERROR", "+CME ERROR", "+CMS ERROR")


def fast_spec(name: str, tmp_path: Path, **kwargs: Any) -> ModemSpec:
    """Fast but realistic-shaped timing: boot in tens of ms, SMSC retry after 0.3 s."""
    params: dict[str, Any] = {
        "timing_scale": 0.01,
        "inter_part_s": 0.02,
        "noise_interval_s": 0.0,
        "retry_s": (0.3,),
        "report_delay_s": 0.05,
        "link": tmp_path / name,
        **kwargs,
    }
    return ModemSpec(name=name, **params)


class AtPort:
    """A blocking AT client over pyserial, as a naive agent would be, with a deadline."""

    def __init__(self, path: Path | str, url: bool = False) -> None:
        if url:
            self.ser = serial.serial_for_url(str(path), timeout=0.05)
        else:
            self.ser = serial.Serial(str(path), 115200, timeout=0.05)
        self.buf = b""

    def close(self) -> None:
        self.ser.close()

    def write(self, data: bytes) -> None:
        self.ser.write(data)

    def _fill(self) -> None:
        # Return as soon as anything is there (read(n) would wait for n bytes or timeout).
        try:
            self.buf += self.ser.read(self.ser.in_waiting or 1)
        except OSError as exc:  # in_waiting's ioctl fails with EIO on a vanished pty
            raise serial.SerialException(str(exc)) from exc

    def read_for(self, seconds: float) -> bytes:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            self._fill()
        out, self.buf = self.buf, b""
        return out

    def read_until(self, marker: bytes, timeout: float = 3.0) -> bytes:
        """Bytes up to and including `marker`; raises TimeoutError with what was seen."""
        deadline = time.monotonic() + timeout
        while marker not in self.buf:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{marker!r} not seen; got {self.buf!r}")
            self._fill()
        end = self.buf.index(marker) + len(marker)
        out, self.buf = self.buf[:end], self.buf[end:]
        return out

    def wait_line(self, prefix: str, timeout: float = 3.0) -> str:
        """The next complete line starting with `prefix` (other lines are skipped)."""
        deadline = time.monotonic() + timeout
        while True:
            while b"\r\n" in self.buf:
                raw, self.buf = self.buf.split(b"\r\n", 1)
                line = raw.decode("latin-1")
                if line.startswith(prefix):
                    return line
            if time.monotonic() > deadline:
                raise TimeoutError(f"no line starting {prefix!r}; left {self.buf!r}")
            self._fill()

    def sync(self, attempts: int = 10) -> None:
        """Port sync as an agent does it (docs/modems.md): repeat `AT` until an OK comes back.

        Right after a (re-)boot the modem ignores input for a moment, as real ones do.
        """
        for _ in range(attempts):
            self.ser.write(b"AT\r")
            try:
                self.read_until(b"OK\r\n", timeout=0.5)
                return
            except TimeoutError:
                continue
        raise TimeoutError("modem never answered AT")

    def command(self, cmd: str, timeout: float = 3.0) -> list[str]:
        """Send `cmd`, return the non-empty lines up to and including the final result."""
        self.ser.write(cmd.encode("latin-1") + b"\r")
        lines: list[str] = []
        deadline = time.monotonic() + timeout
        while True:
            while b"\r\n" in self.buf:
                raw, self.buf = self.buf.split(b"\r\n", 1)
                line = raw.decode("latin-1")
                if line.upper().startswith(cmd.upper()):
                    line = line[len(cmd) :].lstrip("\r")  # echo shares the line with \r
                if line:
                    lines.append(line)
                if line.startswith(FINALS):
                    return lines
            if time.monotonic() > deadline:
                raise TimeoutError(f"{cmd!r}: no final result; got {lines!r} {self.buf!r}")
            self._fill()


def wait_for(predicate: Callable[[], bool], timeout: float = 3.0, what: str = "") -> None:
    """Poll with a deadline (only where no event can be awaited)."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(f"condition not met: {what}")
        time.sleep(0.01)


@pytest.fixture
def start_fleet() -> Iterator[Callable[..., FleetThread]]:
    with contextlib.ExitStack() as stack:

        def start(*specs: ModemSpec, control: bool = True) -> FleetThread:
            config = FleetConfig(modems=specs, control=("127.0.0.1", 0) if control else None)
            return stack.enter_context(FleetThread(config))

        yield start


@pytest.fixture
def open_port() -> Iterator[Callable[..., AtPort]]:
    ports: list[AtPort] = []

    def opener(path: Path | str, url: bool = False) -> AtPort:
        port = AtPort(path, url=url)
        ports.append(port)
        return port

    yield opener
    for port in ports:
        port.close()
