"""ByteStream contract, run against every way SerialByteStream reaches a device: a real
pty (what a USB tty looks like) and a real TCP socket (pyserial `socket://`)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
import tty
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass

import pytest

from agent.modem.errors import PortGoneError
from agent.modem.transport import SerialByteStream


@dataclass
class Peer:
    """The device side of the link."""

    url: str
    send: Callable[[bytes], Awaitable[None]]
    recv: Callable[[int], Awaitable[bytes]]
    vanish: Callable[[], Awaitable[None]]


@contextlib.asynccontextmanager
async def pty_peer() -> AsyncIterator[Peer]:
    master, slave = os.openpty()
    tty.setraw(slave)
    closed = False

    def write_all(data: bytes) -> None:
        view = memoryview(data)
        while view:
            view = view[os.write(master, view) :]

    async def send(data: bytes) -> None:
        # In a thread: a pty buffers only a few KiB, the write blocks until the tty side reads.
        await asyncio.to_thread(write_all, data)

    async def recv(n: int) -> bytes:
        return await asyncio.to_thread(os.read, master, n)

    async def vanish() -> None:
        nonlocal closed
        closed = True
        os.close(master)  # the USB device is gone: the tty side gets EIO

    try:
        yield Peer(os.ttyname(slave), send, recv, vanish)
    finally:
        if not closed:
            os.close(master)
        os.close(slave)


@contextlib.asynccontextmanager
async def socket_peer() -> AsyncIterator[Peer]:
    connected: asyncio.Future[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = (
        asyncio.get_running_loop().create_future()
    )

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connected.set_result((reader, writer))

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]

    async def send(data: bytes) -> None:
        _, writer = await connected
        writer.write(data)
        await writer.drain()

    async def recv(n: int) -> bytes:
        reader, _ = await connected
        return await reader.read(n)

    async def vanish() -> None:
        _, writer = await connected
        writer.close()
        await writer.wait_closed()

    try:
        yield Peer(f"socket://127.0.0.1:{port}", send, recv, vanish)
    finally:
        if connected.done():
            connected.result()[1].close()
        server.close()
        await server.wait_closed()


PEERS = {"pty": pty_peer, "socket": socket_peer}


async def read_exactly(stream: SerialByteStream, n: int, timeout_s: float = 10.0) -> bytes:
    got = b""
    async with asyncio.timeout(timeout_s):
        while len(got) < n:
            got += await stream.read()
    return got


def run_contract(kind: str, body: Callable[[SerialByteStream, Peer], Awaitable[None]]) -> None:
    async def main() -> None:
        async with PEERS[kind]() as peer:
            stream = SerialByteStream(peer.url)
            await stream.open()
            try:
                await body(stream, peer)
            finally:
                await stream.close()

    asyncio.run(main())


@pytest.mark.parametrize("kind", sorted(PEERS))
def test_round_trip(kind: str) -> None:
    async def body(stream: SerialByteStream, peer: Peer) -> None:
        await stream.write(b"AT\r")
        assert await asyncio.wait_for(peer.recv(16), 5) == b"AT\r"
        await peer.send(b"\r\nOK\r\n")
        assert await read_exactly(stream, 6) == b"\r\nOK\r\n"

    run_contract(kind, body)


@pytest.mark.parametrize("kind", sorted(PEERS))
def test_large_burst_arrives_complete_and_in_order(kind: str) -> None:
    # A full +CMGL listing can exceed 40 KB: nothing lost, nothing reordered.
    data = bytes(range(256)) * 512

    async def body(stream: SerialByteStream, peer: Peer) -> None:
        sender = asyncio.ensure_future(peer.send(data))
        assert await read_exactly(stream, len(data)) == data
        await sender

    run_contract(kind, body)


@pytest.mark.parametrize("kind", sorted(PEERS))
def test_device_vanishing_is_port_gone_for_read_and_write(kind: str) -> None:
    async def body(stream: SerialByteStream, peer: Peer) -> None:
        await stream.write(b"AT\r")
        await asyncio.wait_for(peer.recv(16), 5)
        await peer.vanish()
        with pytest.raises(PortGoneError):
            await read_exactly(stream, 1)
        with pytest.raises(PortGoneError):
            await stream.write(b"AT\r")

    run_contract(kind, body)


@pytest.mark.parametrize("kind", sorted(PEERS))
def test_reads_after_close_fail(kind: str) -> None:
    async def body(stream: SerialByteStream, peer: Peer) -> None:
        await stream.close()
        with pytest.raises(PortGoneError):
            await stream.read()
        with pytest.raises(PortGoneError):
            await stream.write(b"AT\r")

    run_contract(kind, body)


def test_missing_device_is_port_gone() -> None:
    async def main() -> None:
        with pytest.raises(PortGoneError, match="cannot open"):
            await SerialByteStream("/dev/nonexistent-smsprobe-tty").open()

    asyncio.run(main())


def test_second_opener_is_refused_while_the_port_is_held() -> None:
    # flock(2) exclusivity: discovery must not disturb a port the agent is using.
    async def main() -> None:
        async with pty_peer() as peer:
            first = SerialByteStream(peer.url)
            await first.open()
            try:
                with pytest.raises(PortGoneError, match="cannot open"):
                    await SerialByteStream(peer.url).open()
            finally:
                await first.close()

    asyncio.run(main())


@pytest.mark.parametrize("stall_s", [0.7, 2.0])
@pytest.mark.parametrize("kind", sorted(PEERS))
def test_a_stalled_event_loop_neither_duplicates_nor_drops_bytes(kind: str, stall_s: float) -> None:
    # The loop is blocked (a slow fsync on the loop thread, a busy CPU) while the device keeps
    # talking: the reader thread must hand each chunk over exactly once, however long the
    # stall. Chunks are numbered lines so a duplicate or a gap is visible, not just a length.
    lines = [f"+CMGL: {i},1,,24\r\n".encode() for i in range(400)]
    data = b"".join(lines)

    async def body(stream: SerialByteStream, peer: Peer) -> None:
        async def trickle() -> None:
            for i in range(0, len(lines), 40):
                await peer.send(b"".join(lines[i : i + 40]))
                await asyncio.sleep(0.02)

        sender = asyncio.ensure_future(trickle())
        got = b""
        stalls = 0
        async with asyncio.timeout(30):
            while len(got) < len(data):
                got += await stream.read()
                if stalls < 3 and len(got) > (stalls + 1) * len(data) // 4:
                    stalls += 1
                    time.sleep(stall_s)  # block the loop thread itself, as a slow fsync does
        await sender
        assert stalls == 3
        assert got == data
        await asyncio.sleep(0.2)  # nothing more may trickle in behind the last line
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0.3):
                await stream.read()

    run_contract(kind, body)
