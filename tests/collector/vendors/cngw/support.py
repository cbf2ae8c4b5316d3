"""Helpers shared by the CMPP, SMGP and SGIP tests: a refused login, a submit waited out
to its reports, a throttled second submit, and a scripted
CMPP/SMGP gateway for the bad-input tests (both frame PDUs as Total_Length, Command_Id,
Sequence_Id: 12 octets, CMPP 2.0 §6.1.2, SMGP 3.0 §4.1)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Protocol

import pytest

from collector.vendors.base import AuthFailedError, OutgoingSms, SubmitResult, ThrottledError
from collector.vendors.cngw.adapter import GatewayVendor
from tests.collector.vendors.helpers import ListDlrSink


class _Closable(Protocol):
    async def close(self) -> None: ...


class _Network(_Closable, Protocol):
    async def wait_idle(self) -> None: ...


async def expect_auth_failure(vendor: GatewayVendor, *servers: _Closable) -> None:
    """`vendor.start` must fail with AuthFailedError; then closes the vendor and `servers`."""
    try:
        with pytest.raises(AuthFailedError):
            await vendor.start(ListDlrSink())
    finally:
        await vendor.close()
        for server in servers:
            await server.close()


async def submit_and_collect(
    vendor: GatewayVendor, sms: OutgoingSms, net: _Network, *servers: _Closable
) -> tuple[SubmitResult, ListDlrSink]:
    """Start `vendor`, submit `sms`, wait for a report per part and for the network to
    settle; then close the vendor, `net` and `servers`."""
    sink = ListDlrSink()
    try:
        await vendor.start(sink)
        result = await vendor.submit(sms)
        await sink.wait_for(result.parts)
        await net.wait_idle()
    finally:
        await vendor.close()
        await net.close()
        for server in servers:
            await server.close()
    return result, sink


async def second_submit_throttled(
    vendor: GatewayVendor, first: OutgoingSms, second: OutgoingSms, *servers: _Closable
) -> ThrottledError:
    """`first` passes, `second` must raise ThrottledError (returned); then closes all."""
    try:
        await vendor.start(ListDlrSink())
        await vendor.submit(first)
        with pytest.raises(ThrottledError) as exc:
            await vendor.submit(second)
    finally:
        await vendor.close()
        for server in servers:
            await server.close()
    return exc.value


class ScriptedGateway:
    """A real TCP gateway that accepts any login (answering with `login_response` of the
    login's header), then sends `script` (raw octets) and answers nothing else: for
    malformed PDUs and silent connections. Collects the PDUs of command `ack_command`."""

    def __init__(
        self, script: list[bytes], login_response: Callable[[bytes], bytes], ack_command: int
    ) -> None:
        self.script = script
        self.logins = 0
        self.acks: list[bytes] = []
        self._login_response = login_response
        self._ack_command = ack_command
        self._server: asyncio.Server | None = None

    async def start(self) -> int:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return int(self._server.sockets[0].getsockname()[1])

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readexactly(12)
            await reader.readexactly(int.from_bytes(head[:4], "big") - 12)
            writer.write(self._login_response(head))
            self.logins += 1
            for raw in self.script:
                writer.write(raw)
            while True:  # read, never answer (a silent gateway)
                head = await reader.readexactly(12)
                rest = await reader.readexactly(int.from_bytes(head[:4], "big") - 12)
                if int.from_bytes(head[4:8], "big") == self._ack_command:
                    self.acks.append(head + rest)
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
