"""A vendor's DLR pull endpoint that accepts the connection and goes silent, or sends half an
answer and stalls or hangs up: the pull ends in its timeout with a logged error, what
arrived is quarantined raw, and the next pull asks again. The vendor is a real socket
server (asyncio streams) that writes exactly the octets each test scripts."""

from __future__ import annotations

import asyncio
import json
from collections import deque
from collections.abc import AsyncIterator, MutableMapping
from contextlib import asynccontextmanager
from typing import Any

import pytest
from structlog.testing import capture_logs

from collector.vendors.base import DlrSource, OutgoingSms, TransientError
from collector.vendors.config import parse_http_vendor
from collector.vendors.http import HttpVendor
from tests.collector.vendors.helpers import MSISDN_CMCC, ListDlrSink, http_vendor_table, run

TIMEOUT_S = 0.5
REPORT = {"msgid": "M1", "status": "DELIVRD", "mobile": MSISDN_CMCC, "reportTime": "261124220030"}
FULL_BODY = json.dumps({"code": "0", "result": [REPORT]}).encode()
HEAD = (
    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
    b"Content-Length: " + str(len(FULL_BODY)).encode() + b"\r\n\r\n"
)
HALF = HEAD + FULL_BODY[:30]  # the status line, headers and 30 of the body's octets


class StallingVendor:
    """Answers /sms/send with message id M1; each /sms/report with the next scripted act:
    "ok" (a whole answer), "silent" (nothing, connection held open), "half" (HALF, then
    held open), "half_close" (HALF, then closed). Requests seen are counted per path."""

    def __init__(self, acts: list[str]) -> None:
        self.acts = deque(acts)
        self.requests: dict[str, int] = {}
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.sockets[0].getsockname()[1]}"

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.add(writer)
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                path = head.split(b" ", 2)[1].decode()
                length = next(
                    (int(line.split(b":")[1]) for line in head.split(b"\r\n")
                     if line.lower().startswith(b"content-length:")),
                    0,
                )  # fmt: skip
                await reader.readexactly(length)
                self.requests[path] = self.requests.get(path, 0) + 1
                if path == "/sms/send":
                    body = json.dumps({"code": "0", "data": {"msgid": "M1", "fee": 1}}).encode()
                    writer.write(
                        HEAD.replace(str(len(FULL_BODY)).encode(), str(len(body)).encode()) + body
                    )
                    continue
                act = self.acts.popleft()
                if act == "ok":
                    writer.write(HEAD + FULL_BODY)
                    continue
                if act in ("half", "half_close"):
                    writer.write(HALF)
                    await writer.drain()
                if act == "half_close":
                    return
                await reader.read()  # hold the connection until the client gives up
                return
        except (asyncio.IncompleteReadError, ConnectionError):
            return
        finally:
            writer.close()

    async def __aenter__(self) -> StallingVendor:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        for writer in self._writers:
            writer.close()
        await self._server.wait_closed()


@asynccontextmanager
async def pulling(
    acts: list[str], *, per_message: bool = False
) -> AsyncIterator[tuple[StallingVendor, HttpVendor, ListDlrSink]]:
    async with StallingVendor(acts) as server:
        table: dict[str, Any] = http_vendor_table(server.url, pull=True, timeout_s=TIMEOUT_S)
        if per_message:
            table["dlr_pull"]["per_message"] = True
            table["dlr_pull"]["fields"]["msgid"] = "{message_id}"
        vendor = HttpVendor(parse_http_vendor("stall", table))
        sink = ListDlrSink()
        await vendor.start(sink)
        try:
            yield server, vendor, sink
        finally:
            await vendor.close()


async def _failed_pull(vendor: HttpVendor) -> tuple[TransientError, list[MutableMapping[str, Any]]]:
    with capture_logs() as logs, pytest.raises(TransientError) as failed:
        await vendor.poll_dlrs()
    return failed.value, [e for e in logs if e["event"] == "dlr_pull_incomplete"]


@pytest.mark.parametrize(
    ("act", "received", "says"),
    [
        ("silent", b"", "no complete answer within 0.5 s (0 octets received)"),
        ("half", HALF, f"no complete answer within 0.5 s ({len(HALF)} octets received)"),
        ("half_close", HALF, f"exchange broke after {len(HALF)} octets"),
    ],
)
def test_queue_pull_that_stalls_is_quarantined_and_the_next_pull_asks_again(
    act: str, received: bytes, says: str
) -> None:
    async def scenario() -> None:
        async with pulling([act, "ok"]) as (server, vendor, sink):
            error, logged = await _failed_pull(vendor)
            assert says in str(error)
            [entry] = logged
            assert entry["log_level"] == "error" and entry["received_octets"] == len(received)
            assert entry["stalled"] is (act != "half_close")
            [held] = sink.quarantined
            assert held.raw == received  # exactly the octets the vendor wrote
            assert held.source is DlrSource.PULL and says in held.reason
            assert sink.dlrs == []
            assert await vendor.poll_dlrs() == 1  # the next pull gets the report
            assert server.requests["/sms/report"] == 2
            [dlr] = sink.dlrs
            assert dlr.message_id == "M1" and len(sink.quarantined) == 1

    run(scenario())


def test_per_message_query_that_stalls_asks_the_same_message_again() -> None:
    """A query loses nothing when unanswered: no quarantine for silence, the submission
    stays waiting and the next pull asks for the same id; half an answer is kept."""

    async def scenario() -> None:
        async with pulling(["silent", "half", "ok"], per_message=True) as (
            server, vendor, sink,
        ):  # fmt: skip
            await vendor.submit(OutgoingSms("p-1", MSISDN_CMCC, "code 1234", signature="探针科技"))
            error, [entry] = await _failed_pull(vendor)
            assert "0 octets received" in str(error) and entry["received_octets"] == 0
            assert sink.quarantined == []
            error, _ = await _failed_pull(vendor)
            assert [q.raw for q in sink.quarantined] == [HALF]
            assert await vendor.poll_dlrs() == 1
            assert server.requests["/sms/report"] == 3
            assert [d.message_id for d in sink.dlrs] == ["M1"]
            assert await vendor.poll_dlrs() == 0  # final: not asked again
            assert server.requests["/sms/report"] == 3

    run(scenario())
