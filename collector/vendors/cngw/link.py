"""One TCP connection of a gateway protocol, either end: framing, the requests we sent
waiting for their responses (matched by sequence), and the requests the peer sends us.

A PDU we cannot decode never ends the program: its raw octets go to `on_bad` (which
quarantines them) and, when the header was readable, the connection goes on; a broken
length (the framing is lost) closes the connection, and the session above reconnects.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Hashable
from typing import Protocol

import structlog

from collector.vendors.cngw.wire import MAX_PDU_LENGTH, GatewayDecodeError, Pdu

__all__ = ["Codec", "ConnectionLostError", "Link", "NotSentError"]

log = structlog.get_logger("collector.vendors.cngw.link")


class Codec(Protocol):
    """A protocol's pure PDU codec."""

    @property
    def name(self) -> str: ...

    @property
    def header_len(self) -> int: ...

    def encode(self, pdu: Pdu) -> bytes: ...

    def decode(self, raw: bytes) -> Pdu: ...


RequestHandler = Callable[["Link", Pdu, bytes], Awaitable[Pdu | None]]
"""Answers one request from the peer; None = no response (the handler closed the link)."""
BadPduHandler = Callable[[bytes, GatewayDecodeError], Awaitable[None]]


class ConnectionLostError(Exception):
    """The connection died while a request was outstanding."""


class NotSentError(ConnectionLostError):
    """The connection was already closed: the request never left."""


class Link:
    def __init__(
        self,
        codec: Codec,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        *,
        on_request: RequestHandler,
        on_bad: BadPduHandler,
    ) -> None:
        self.codec = codec
        self._reader = reader
        self._writer = writer
        self._on_request = on_request
        self._on_bad = on_bad
        self._pending: dict[Hashable, asyncio.Future[tuple[Pdu, bytes]]] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self.closed = asyncio.Event()
        self.last_rx = asyncio.get_running_loop().time()
        self.peer = writer.get_extra_info("peername")
        self._reader_task = asyncio.create_task(self._read_loop(), name=f"{codec.name}-reader")

    # -- sending -----------------------------------------------------------------------

    def send(self, pdu: Pdu) -> bytes:
        """Write one PDU; returns its octets (evidence)."""
        if self.closed.is_set() or self._writer.is_closing():
            raise NotSentError("connection closed")
        raw = self.codec.encode(pdu)
        self._writer.write(raw)
        return raw

    async def request(self, pdu: Pdu, timeout_s: float) -> tuple[bytes, Pdu, bytes]:
        """Send a request, wait for the response with the same sequence; returns
        (request octets, response, response octets). TimeoutError if none came."""
        fut: asyncio.Future[tuple[Pdu, bytes]] = asyncio.get_running_loop().create_future()
        if pdu.sequence in self._pending:
            raise ValueError(f"sequence {pdu.sequence!r} already outstanding")
        self._pending[pdu.sequence] = fut
        try:
            raw = self.send(pdu)
            async with asyncio.timeout(timeout_s):
                resp, resp_raw = await fut
        finally:
            self._pending.pop(pdu.sequence, None)
        return raw, resp, resp_raw

    # -- receiving ---------------------------------------------------------------------

    async def _read_frame(self) -> bytes:
        header = await self._reader.readexactly(4)
        length = int.from_bytes(header, "big")
        if not self.codec.header_len <= length <= MAX_PDU_LENGTH:
            raise GatewayDecodeError(
                f"{self.codec.name}: total length {length} outside "
                f"{self.codec.header_len}..{MAX_PDU_LENGTH}",
                fatal=True,
            )
        return header + await self._reader.readexactly(length - 4)

    async def _read_loop(self) -> None:
        raw = b""
        try:
            while True:
                raw = await self._read_frame()
                self.last_rx = asyncio.get_running_loop().time()
                try:
                    pdu = self.codec.decode(raw)
                except GatewayDecodeError as exc:
                    log.warning("gateway_pdu_undecodable", protocol=self.codec.name,
                                error=str(exc), raw=raw.hex())  # fmt: skip
                    await self._on_bad(raw, exc)
                    continue
                self._dispatch(pdu, raw)
        except GatewayDecodeError as exc:  # framing lost: nothing after this can be read
            log.warning("gateway_stream_broken", protocol=self.codec.name, error=str(exc))
            with contextlib.suppress(Exception):
                await self._on_bad(raw + await self._drain(), exc)
        except (asyncio.IncompleteReadError, ConnectionError) as exc:
            log.info("gateway_reader_stopped", protocol=self.codec.name, reason=repr(exc))
        finally:
            self.abort()

    async def _drain(self) -> bytes:
        """What is readable right now, for the quarantine record of a broken stream."""
        try:
            async with asyncio.timeout(0.05):
                return await self._reader.read(MAX_PDU_LENGTH)
        except (TimeoutError, ConnectionError):
            return b""

    def _dispatch(self, pdu: Pdu, raw: bytes) -> None:
        if pdu.is_response:
            fut = self._pending.get(pdu.sequence)
            if fut is None or fut.done():
                log.warning("gateway_unexpected_response", protocol=self.codec.name,
                            command=hex(pdu.command), sequence=repr(pdu.sequence))  # fmt: skip
            else:
                fut.set_result((pdu, raw))
            return
        task = asyncio.create_task(self._answer(pdu, raw), name=f"{self.codec.name}-request")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _answer(self, pdu: Pdu, raw: bytes) -> None:
        try:
            resp = await self._on_request(self, pdu, raw)
        except Exception:
            log.exception("gateway_request_handler_failed", protocol=self.codec.name)
            return  # unanswered: the peer resends after its own timeout
        if resp is not None:
            with contextlib.suppress(NotSentError):
                self.send(resp)

    # -- closing -----------------------------------------------------------------------

    def abort(self) -> None:
        if self.closed.is_set():
            return
        self.closed.set()
        for fut in self._pending.values():
            if not fut.done():
                fut.set_exception(ConnectionLostError("connection lost before the response"))
        self._pending.clear()
        self._writer.close()

    async def close(self, grace_s: float = 2.0) -> None:
        """Let answers in progress (stored receipts) go out, then close."""
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=grace_s)
        self.abort()
        self._reader_task.cancel()
        for task in [self._reader_task, *self._tasks]:
            task.cancel()
        await asyncio.gather(self._reader_task, *self._tasks, return_exceptions=True)
        with contextlib.suppress(OSError):
            await self._writer.wait_closed()
