"""A listening gateway (any of the three protocols) for the vendor simulator and tests:
accepts connections, hands each request to a `ServerHandler`, and lets the handler send
requests of its own (status reports) on a logged-in connection.

Routing, accounts and message fate are the handler's; this is only the socket side.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from typing import Protocol

import structlog

from collector.vendors.cngw.link import Codec, Link
from collector.vendors.cngw.wire import GatewayDecodeError, Pdu

__all__ = ["GatewayServer", "ServerConn", "ServerHandler"]

log = structlog.get_logger("collector.vendors.cngw.server")


class ServerConn:
    """One client connection as the server sees it."""

    def __init__(self, link: Link) -> None:
        self.link = link
        self.account: str | None = None  # set by the handler once logged in
        self.receives = True  # the login allows status reports on it (SMGP LoginMode 0: no)
        self._seq = itertools.count(1)

    def next_number(self) -> int:
        return (next(self._seq) - 1) % 0xFFFFFFFF + 1

    @property
    def open(self) -> bool:
        return not self.link.closed.is_set()


class ServerHandler(Protocol):
    async def handle(self, conn: ServerConn, pdu: Pdu, raw: bytes) -> Pdu | None: ...

    async def bad(self, conn: ServerConn, raw: bytes, exc: GatewayDecodeError) -> None: ...

    def closed(self, conn: ServerConn) -> None: ...


class GatewayServer:
    def __init__(self, codec: Codec, handler: ServerHandler, *, host: str = "127.0.0.1",
                 port: int = 0) -> None:  # fmt: skip
        self.codec = codec
        self._handler = handler
        self._host = host
        self._port = port
        self._server: asyncio.Server | None = None
        self.conns: set[ServerConn] = set()
        self._serving: set[asyncio.Task[None]] = set()

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("not started")
        return int(self._server.sockets[0].getsockname()[1])

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, self._host, self._port)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._serving.add(task)
        holder: list[ServerConn] = []

        async def on_request(link: Link, pdu: Pdu, raw: bytes) -> Pdu | None:
            return await self._handler.handle(holder[0], pdu, raw)

        async def on_bad(raw: bytes, exc: GatewayDecodeError) -> None:
            await self._handler.bad(holder[0], raw, exc)

        link = Link(self.codec, reader, writer, on_request=on_request, on_bad=on_bad)
        conn = ServerConn(link)
        holder.append(conn)
        self.conns.add(conn)
        try:
            await link.closed.wait()
        finally:
            self.conns.discard(conn)
            self._handler.closed(conn)
            await link.close()
            if task is not None:
                self._serving.discard(task)

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        for conn in list(self.conns):
            conn.link.abort()
        for task in list(self._serving):
            task.cancel()
        with contextlib.suppress(Exception):
            await asyncio.gather(*self._serving, return_exceptions=True)
        if self._server is not None:
            with contextlib.suppress(Exception):
                await self._server.wait_closed()
