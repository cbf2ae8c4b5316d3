"""Byte streams under the AT engine.

`SerialByteStream` owns one pyserial port through one reader thread and exposes an
async API; the asyncio side never blocks on the port. `serial.serial_for_url` means
device paths, pty slaves, `socket://host:port` and `spy://` all work.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import threading
from typing import Any, Protocol

import serial

from agent.modem.errors import PortGone

try:  # pyserial's posix flush() calls tcdrain, which raises termios.error (not OSError)
    import termios

    _LINK_ERRORS: tuple[type[BaseException], ...] = (
        serial.SerialException,
        OSError,
        termios.error,
    )
except ImportError:  # pragma: no cover - non-posix hosts
    _LINK_ERRORS = (serial.SerialException, OSError)
# TypeError/AttributeError: pyserial internals after a concurrent close.
_READER_ERRORS: tuple[type[BaseException], ...] = (*_LINK_ERRORS, TypeError, AttributeError)
_OPEN_ERRORS: tuple[type[BaseException], ...] = (*_LINK_ERRORS, ValueError)  # bad URL


class ByteStream(Protocol):
    """The seam between the AT engine and a device (STYLE.md: one Protocol per seam)."""

    async def open(self) -> None: ...

    async def close(self) -> None: ...

    async def write(self, data: bytes) -> None:
        """Raises PortGone when the device is gone."""

    async def read(self) -> bytes:
        """Next chunk (never empty). Raises PortGone when the device vanished or was closed."""
        ...


_EOF = object()


class SerialByteStream:
    """A serial port (or any pyserial URL) read by one dedicated thread.

    The thread blocks in `read`, hands chunks to the event loop through a bounded queue
    (back-pressure instead of unbounded memory) and turns SerialException/OSError (EIO when a
    pty master closes, USB unplug, socket EOF) into a `PortGone` for `read()`.
    """

    def __init__(
        self,
        url: str,
        *,
        baudrate: int = 115200,
        exclusive: bool | None = None,
        poll_s: float = 0.1,
        queue_chunks: int = 256,
    ) -> None:
        self.url = url
        self._baudrate = baudrate
        # flock the device so a second process (or ModemManager honouring locks) cannot share it.
        self._exclusive = exclusive if exclusive is not None else "://" not in url
        self._poll_s = poll_s
        self._queue_chunks = queue_chunks
        self._port: Any = None
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._queue: asyncio.Queue[object] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._error: PortGone | None = None
        self._write_lock = asyncio.Lock()

    async def open(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._queue = asyncio.Queue(maxsize=self._queue_chunks)
        try:
            self._port = await asyncio.to_thread(
                serial.serial_for_url,
                self.url,
                baudrate=self._baudrate,
                timeout=self._poll_s,
                write_timeout=10.0,
                exclusive=self._exclusive,
            )
        except _OPEN_ERRORS as exc:
            raise PortGone(f"cannot open {self.url}: {exc}") from exc
        self._stop.clear()
        self._error = None
        self._thread = threading.Thread(
            target=self._reader_thread, name=f"serial-reader {self.url}", daemon=True
        )
        self._thread.start()

    async def close(self) -> None:
        self._stop.set()
        port = self._port
        if port is not None:
            with contextlib.suppress(Exception):
                port.cancel_read()
        if self._thread is not None:
            await asyncio.to_thread(self._thread.join, 5.0)
            self._thread = None
        if port is not None:
            with contextlib.suppress(Exception):
                await asyncio.to_thread(port.close)
            self._port = None
        if self._error is None:
            self._error = PortGone(f"{self.url} closed")

    async def write(self, data: bytes) -> None:
        port = self._port
        if port is None or self._error is not None:
            raise PortGone(str(self._error or f"{self.url} not open"))
        async with self._write_lock:
            try:
                await asyncio.to_thread(self._write_all, port, data)
            except _LINK_ERRORS as exc:
                raise PortGone(f"write to {self.url} failed: {exc}") from exc

    @staticmethod
    def _write_all(port: Any, data: bytes) -> None:
        port.write(data)
        port.flush()

    async def read(self) -> bytes:
        if self._queue is None:
            raise PortGone(f"{self.url} not open")
        if self._error is not None and self._queue.empty():
            raise self._error
        item = await self._queue.get()
        if isinstance(item, bytes):
            return item
        if isinstance(item, PortGone):
            self._error = item
            raise item
        raise PortGone(f"{self.url} closed")

    # -- thread side -----------------------------------------------------------------------

    def _reader_thread(self) -> None:
        port = self._port
        while not self._stop.is_set():
            try:
                data: bytes = port.read(1)
                if data:
                    data += self._drain(port)
            except _READER_ERRORS as exc:
                if not self._stop.is_set():
                    gone = PortGone(f"{self.url} vanished: {exc}")
                    gone.__cause__ = exc
                    self._hand_over(gone)
                return
            if data:
                self._hand_over(data)
        self._hand_over(_EOF)

    @staticmethod
    def _drain(port: Any) -> bytes:
        """What is already buffered, without waiting. A tty reports it exactly (TIOCINQ);
        pyserial's socket:// handler only says "readable" (1), and its read(n) waits for all
        n bytes, so read its non-blocking socket directly."""
        sock = getattr(port, "_socket", None)
        if sock is not None:
            chunks = []
            while True:
                try:
                    chunk = sock.recv(65536)
                except (BlockingIOError, InterruptedError):
                    break
                if not chunk:
                    # EOF: report it on the next read() as pyserial does.
                    break
                chunks.append(chunk)
                if len(chunk) < 65536:
                    break
            return b"".join(chunks)
        waiting = port.in_waiting
        return port.read(waiting) if waiting else b""

    def _hand_over(self, item: object) -> None:
        loop, queue = self._loop, self._queue
        if loop is None or queue is None or loop.is_closed():
            return
        while True:
            try:
                fut = asyncio.run_coroutine_threadsafe(queue.put(item), loop)
            except RuntimeError:  # loop closed meanwhile
                return
            try:
                fut.result(timeout=0.5)
                return
            except concurrent.futures.TimeoutError:
                fut.cancel()
                if self._stop.is_set():
                    return
            except (concurrent.futures.CancelledError, RuntimeError):
                return
