"""Byte streams under the AT engine.

`SerialByteStream` owns one pyserial port through one reader thread and exposes an
async API; the asyncio side never blocks on the port. `serial.serial_for_url` means
device paths, pty slaves, `socket://host:port` and `spy://` all work.

Why a byte can be neither duplicated nor dropped between the thread and the loop: the
reader thread puts each chunk exactly once into a thread-safe bounded buffer
(`queue.Queue`) and only then asks the loop to wake the reader (`call_soon_threadsafe`,
which carries no data). The loop side only ever takes from that buffer. Nothing is
retried, so a loop that stalls for seconds delays the bytes but cannot see them twice; a
full buffer blocks the thread (back-pressure: the tty and the modem hold the rest) and
never drops.
"""

from __future__ import annotations

import asyncio
import contextlib
import queue
import threading
from typing import Any, Protocol

import serial

from agent.modem.errors import PortGoneError

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
    """The seam between the AT engine and a device (one Protocol per seam)."""

    async def open(self) -> None: ...

    async def close(self) -> None: ...

    async def write(self, data: bytes) -> None:
        """Raises PortGoneError when the device is gone."""

    async def read(self) -> bytes:
        """Next chunk (never empty). Raises PortGoneError when the device vanished or was closed."""
        ...


_EOF = object()


class SerialByteStream:
    """A serial port (or any pyserial URL) read by one dedicated thread.

    The thread blocks in `read`, hands chunks to the event loop through a bounded queue
    (back-pressure instead of unbounded memory) and turns SerialException/OSError (EIO when a
    pty master closes, USB unplug, socket EOF) into a `PortGoneError` for `read()`.
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
        self._queue: queue.Queue[object] | None = None
        self._wake: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._error: PortGoneError | None = None
        self._write_lock = asyncio.Lock()

    async def open(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._queue = queue.Queue(maxsize=self._queue_chunks)
        self._wake = asyncio.Event()
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
            raise PortGoneError(f"cannot open {self.url}: {exc}") from exc
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
            self._error = PortGoneError(f"{self.url} closed")
        if self._wake is not None:
            # A read() waiting for data sees the error now, even if the reader thread
            # could not hand over its end marker (stuck in a read cancel_read missed).
            self._wake.set()

    async def write(self, data: bytes) -> None:
        port = self._port
        if port is None or self._error is not None:
            raise PortGoneError(str(self._error or f"{self.url} not open"))
        async with self._write_lock:
            try:
                await asyncio.to_thread(self._write_all, port, data)
            except _LINK_ERRORS as exc:
                raise PortGoneError(f"write to {self.url} failed: {exc}") from exc

    @staticmethod
    def _write_all(port: Any, data: bytes) -> None:
        port.write(data)
        port.flush()

    async def read(self) -> bytes:
        q, wake = self._queue, self._wake
        if q is None or wake is None:
            raise PortGoneError(f"{self.url} not open")
        while True:
            try:
                item = q.get_nowait()
                break
            except queue.Empty:
                pass
            if self._error is not None:
                raise self._error
            wake.clear()
            # Look again after clearing: a chunk put just before clear() set the event
            # before we cleared it, so it must be taken now, not waited for.
            if q.empty():
                await wake.wait()
        if isinstance(item, bytes):
            return item
        if isinstance(item, PortGoneError):
            self._error = item
            raise item
        self._error = PortGoneError(f"{self.url} closed")
        raise self._error

    # -- thread side -----------------------------------------------------------------------

    def _reader_thread(self) -> None:
        port = self._port
        while not self._stop.is_set():
            try:
                data: bytes = port.read(1)
                if data:
                    data += self._drain(port)
            except _READER_ERRORS as exc:
                if self._stop.is_set():
                    break  # closing: the end marker below releases the reader
                gone = PortGoneError(f"{self.url} vanished: {exc}")
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
        """Give one item to the loop side exactly once (see the module docstring)."""
        q = self._queue
        if q is None:
            return
        while True:
            try:
                q.put(item, timeout=0.5)
                break
            except queue.Full:
                if not self._stop.is_set():
                    continue  # the loop is slow: wait, never drop
                if item is not _EOF:
                    return  # closing: nobody will read it
                with contextlib.suppress(queue.Empty):
                    q.get_nowait()  # room for the end marker, so a blocked read() returns
        loop, wake = self._loop, self._wake
        if loop is not None and wake is not None:
            with contextlib.suppress(RuntimeError):  # loop closed meanwhile: nobody to wake
                loop.call_soon_threadsafe(wake.set)
