"""Serve a ModemSimulator on a pseudo-terminal (and/or a TCP port for pyserial `socket://`).

PTY notes: raw pty pair, the agent opens the slave with pyserial like
a real tty; unplug = close the master (the agent's reads fail with EIO/SerialException),
re-plug = a new pty whose name is published at the same `--link` path (a by-id-like
symlink, replaced atomically).

While no process holds the slave open, output is dropped, as a USB ACM port drops what
arrives while it is closed; the master returning EIO on read tells us nobody holds it.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import os
import random
import time
import tty
from collections.abc import Callable
from pathlib import Path

import structlog

from agent.modem.simulator.modem import ModemSimulator

log = structlog.get_logger(__name__)

_POLL_S = 0.05  # how often an unopened pty is checked for a reader
_MAX_PENDING = 256 * 1024  # bytes kept for a slow reader before output is dropped
AUX_KINDS = ("nmea", "diag")


class _PtyPort:
    def __init__(self, link: Path | None) -> None:
        self.link = link
        master, slave = os.openpty()
        tty.setraw(slave)  # no echo, no CR/NL translation on the tty itself
        self.slave_path = os.ttyname(slave)
        os.close(slave)  # the agent opens it by path; until then reads give EIO
        os.set_blocking(master, False)
        self.master = master
        self.connected = False
        self.hung_up = asyncio.Event()  # the process holding the slave closed it
        if link is not None:
            link.parent.mkdir(parents=True, exist_ok=True)
            tmp = link.with_name(f".{link.name}.{os.getpid()}.tmp")
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
            tmp.symlink_to(self.slave_path)
            os.replace(tmp, link)

    def close(self) -> None:
        if self.link is not None:
            with contextlib.suppress(FileNotFoundError):
                if self.link.is_symlink() and os.readlink(self.link) == self.slave_path:
                    self.link.unlink()
        os.close(self.master)
        self.master = -1

    def read(self) -> bytes | None:
        """What the master holds (b"" when nothing); None when no process holds the slave
        (the master reads EIO)."""
        try:
            return os.read(self.master, 4096)
        except BlockingIOError:
            return b""
        except OSError as exc:
            if exc.errno == errno.EIO:
                return None
            raise

    async def serve(
        self, on_data: Callable[[bytes], None], on_hangup: Callable[[], None] = lambda: None
    ) -> None:
        """Poll until a process opens the slave, then read on readiness until it closes it;
        again for the next opener, until the port is closed."""
        loop = asyncio.get_running_loop()

        def readable() -> None:
            if self.master < 0:
                return
            data = self.read()
            if data is None:
                loop.remove_reader(self.master)
                self.connected = False
                self.hung_up.set()
                on_hangup()
            elif data:
                on_data(data)

        while self.master >= 0:
            data = self.read()
            if data is None:
                await asyncio.sleep(_POLL_S)
                continue
            self.connected = True
            self.hung_up.clear()
            if data:
                on_data(data)
            loop.add_reader(self.master, readable)
            await self.hung_up.wait()


class AuxPort:
    """A non-AT interface of the same USB device (docs/modems.md, "USB ports"), for port discovery.

    `nmea` streams GPS sentences and ignores input (a GNSS port); `diag` answers anything
    with binary QCDM/HDLC-looking frames and never says OK (sending AT there is a mistake).
    """

    def __init__(self, kind: str, link: Path | None, seed: int) -> None:
        if kind not in AUX_KINDS:
            raise ValueError(f"unknown port kind {kind!r} (known: {', '.join(AUX_KINDS)})")
        self.kind = kind
        self.link = link
        self._rng = random.Random(seed)
        self._port: _PtyPort | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self.slave_path: str | None = None

    async def start(self) -> None:
        self._port = _PtyPort(self.link)
        self.slave_path = self._port.slave_path
        port = self._port
        self._tasks.append(asyncio.create_task(port.serve(lambda _data: self._answer(port))))
        if self.kind == "nmea":
            self._tasks.append(asyncio.create_task(self._stream(self._port)))

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()
        port, self._port = self._port, None
        if port is not None:
            with contextlib.suppress(ValueError, OSError):
                asyncio.get_running_loop().remove_reader(port.master)
            port.close()

    def _write(self, port: _PtyPort, data: bytes) -> None:
        if port.connected:
            with contextlib.suppress(BlockingIOError, OSError):
                os.write(port.master, data)

    def _answer(self, port: _PtyPort) -> None:
        if self.kind == "diag":
            # HDLC-framed binary (0x7E flags), like a QCDM port answering garbage to AT.
            body = bytes(self._rng.randrange(256) for _ in range(12))
            self._write(port, b"\x7e" + body.replace(b"\x7e", b"\x7d\x5e") + b"\x7e")

    async def _stream(self, port: _PtyPort) -> None:
        while True:
            now = time.gmtime()
            stamp = time.strftime("%H%M%S.00", now)
            for body in (
                f"GPGGA,{stamp},3114.4000,N,12128.6000,E,1,08,0.9,12.0,M,8.0,M,,",
                f"GPRMC,{stamp},A,3114.4000,N,12128.6000,E,0.0,0.0,"
                + time.strftime("%d%m%y", now)
                + ",,,A",
            ):
                checksum = 0
                for ch in body.encode():
                    checksum ^= ch
                self._write(port, f"${body}*{checksum:02X}\r\n".encode())
            await asyncio.sleep(1.0)


def aux_link(link: Path | None, kind: str) -> Path | None:
    """`<link>-nmea`, `<link>-diag`: siblings of the AT port's link, like by-id ifNN."""
    return None if link is None else link.with_name(f"{link.name}-{kind}")


class ModemServer:
    """Pumps bytes between one ModemSimulator and its pty / TCP clients; see `serve_pty`."""

    def __init__(
        self,
        simulator: ModemSimulator,
        link: Path | None = None,
        *,
        listen: tuple[str, int] | None = None,
        pty: bool = True,
        aux: tuple[str, ...] = (),
    ) -> None:
        for kind in aux:
            if kind not in AUX_KINDS:
                raise ValueError(f"unknown port kind {kind!r} (known: {', '.join(AUX_KINDS)})")
        self.aux_kinds = aux
        self.aux_ports: list[AuxPort] = []
        self.simulator = simulator
        self.link = link
        self.listen = listen
        self.use_pty = pty
        self.slave_path: str | None = None
        self.tcp_address: tuple[str, int] | None = None
        self._port: _PtyPort | None = None
        self._pending = bytearray()
        self._wake = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._tcp_server: asyncio.Server | None = None
        self._tcp_writers: set[asyncio.StreamWriter] = set()
        self._started = asyncio.Event()

    # --------------------------------------------------------------- lifecycle

    async def start(self) -> None:
        self.simulator.on_wakeup = self._wake.set
        await self._plug()
        self._tasks.append(
            asyncio.create_task(self._pump(), name=f"modem-simulator-pump-{self.simulator.name}")
        )
        self._started.set()

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()
        await self._unplug()
        self.simulator.on_wakeup = None

    async def __aenter__(self) -> ModemServer:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # --------------------------------------------------------------- plug / unplug

    async def _plug(self) -> None:
        loop = asyncio.get_running_loop()
        if self.use_pty:
            self._port = _PtyPort(self.link)
            self.slave_path = self._port.slave_path
            self._tasks.append(
                loop.create_task(self._port.serve(self._received, self._pending.clear))
            )
        if self.listen is not None:
            host, port = self.tcp_address or self.listen
            self._tcp_server = await asyncio.start_server(self._tcp_client, host, port)
            sock = self._tcp_server.sockets[0].getsockname()
            self.tcp_address = (str(sock[0]), int(sock[1]))
        for n, kind in enumerate(self.aux_kinds):
            aux = AuxPort(kind, aux_link(self.link, kind), seed=n)
            await aux.start()
            self.aux_ports.append(aux)
        log.info(
            "sim_modem_plugged",
            modem=self.simulator.name,
            link=str(self.link) if self.link else None,
            tty=self.slave_path,
            tcp=self.tcp_address,
        )

    async def _unplug(self) -> None:
        for aux in self.aux_ports:
            await aux.close()
        self.aux_ports.clear()
        port, self._port = self._port, None
        if port is not None:
            with contextlib.suppress(ValueError, OSError):
                asyncio.get_running_loop().remove_reader(port.master)
            port.close()
        self._pending.clear()
        if self._tcp_server is not None:
            self._tcp_server.close()
            for writer in list(self._tcp_writers):
                writer.close()
            await self._tcp_server.wait_closed()
            self._tcp_server = None
        self._tcp_writers.clear()

    async def _vanish(self, seconds: float) -> None:
        """USB re-enumeration: the port disappears, a new one appears at the same link."""
        log.info("sim_modem_port_vanished", modem=self.simulator.name, seconds=seconds)
        self.simulator.unplugged()
        # Keep the pty watcher tasks from the old port out of the new one.
        current = asyncio.current_task()
        for task in self._tasks:
            if task is not current:
                task.cancel()
        self._tasks = [t for t in self._tasks if t is current]
        await self._unplug()
        await asyncio.sleep(seconds)
        while True:
            try:
                await self._plug()
                break
            except OSError as exc:  # e.g. the TCP port was taken meanwhile: try again
                log.warning("sim_modem_replug_failed", modem=self.simulator.name, error=str(exc))
                await self._unplug()
                await asyncio.sleep(1.0)
        self.simulator.replugged()

    # --------------------------------------------------------------- pty I/O

    def _received(self, data: bytes) -> None:
        self.simulator.receive(data)
        self._wake.set()

    def _write_pty(self, data: bytes) -> None:
        port = self._port
        if port is None or not port.connected:
            return
        self._pending += data
        if len(self._pending) > _MAX_PENDING:
            log.warning(
                "sim_modem_output_dropped", modem=self.simulator.name, bytes=len(self._pending)
            )
            self._pending.clear()
            return
        self._flush_pty()

    def _flush_pty(self) -> None:
        port = self._port
        if port is None or port.master < 0:
            return
        loop = asyncio.get_running_loop()
        while self._pending:
            try:
                n = os.write(port.master, self._pending)
            except BlockingIOError:
                loop.add_writer(port.master, self._flush_pty)
                return
            except OSError:
                self._pending.clear()
                break
            del self._pending[:n]
        with contextlib.suppress(ValueError, OSError):
            loop.remove_writer(port.master)

    # --------------------------------------------------------------- TCP (socket://)

    async def _tcp_client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._tcp_writers.add(writer)
        try:
            while data := await reader.read(4096):
                self.simulator.receive(data)
                self._wake.set()
        except ConnectionError:
            pass
        finally:
            self._tcp_writers.discard(writer)
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()

    # --------------------------------------------------------------- pump

    async def _pump(self) -> None:
        try:
            await self._pump_forever()
        except asyncio.CancelledError:
            raise
        except Exception:
            # A simulator bug: the modem goes silent, so say why where ops will look.
            log.exception("sim_modem_pump_failed", modem=self.simulator.name)
            raise

    async def _pump_forever(self) -> None:
        clock = self.simulator.clock
        while True:
            self._wake.clear()
            self.simulator.tick()
            data = self.simulator.read_output()
            if data:
                self._write_pty(data)
                for writer in list(self._tcp_writers):
                    writer.write(data)
            seconds = self.simulator.take_unplug_request()
            if seconds is not None:
                await self._vanish(seconds)
                continue
            deadline = self.simulator.next_deadline()
            if deadline is None:
                await self._wake.wait()
                continue
            timeout = deadline - clock.monotonic()
            if timeout <= 0:
                await asyncio.sleep(0)
                continue
            # asyncio.timeout, not wait_for: on 3.11 wait_for swallows a cancel landing
            # with a wake, and this loop would outlive its cancel.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(timeout):
                    await self._wake.wait()


async def serve_pty(
    simulator: ModemSimulator,
    link_path: Path | str | None,
    *,
    listen: tuple[str, int] | None = None,
) -> None:
    """Serve `sim` on a new pty linked at `link_path` (and TCP `listen`) until cancelled."""
    server = ModemServer(simulator, Path(link_path) if link_path else None, listen=listen)
    async with server:
        await asyncio.Event().wait()
