"""One HTTP exchange read as it arrives, so an answer that stalls or breaks off keeps what
did arrive (`IncompleteExchange.received`): a DLR pull from a read-once queue cannot ask
for those reports again, so the octets are evidence to quarantine, not something to drop.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import SimpleNamespace

import aiohttp

__all__ = ["IncompleteExchange", "exchange_as_it_comes", "request_tracing", "tls_failure"]


@dataclass(slots=True)
class _Progress:
    sent: bool = False  # the request headers left: the vendor may have acted on it
    head: bytes = b""  # status line and headers, once complete
    body: bytearray = field(default_factory=bytearray)

    @property
    def received(self) -> bytes:
        return self.head + bytes(self.body)


class IncompleteExchange(Exception):
    """No complete answer: a timeout (`stalled`) or a connection that broke. `received`
    holds the status line, headers and body octets that did arrive (b"" when none did;
    a status line cut short is not kept by the HTTP client); `sent` whether the request
    left (False: the connect itself failed)."""

    def __init__(self, message: str, *, received: bytes, sent: bool, stalled: bool) -> None:
        super().__init__(message)
        self.received = received
        self.sent = sent
        self.stalled = stalled


async def _headers_sent(
    session: aiohttp.ClientSession,
    ctx: SimpleNamespace,
    params: aiohttp.TraceRequestHeadersSentParams,
) -> None:
    progress = ctx.trace_request_ctx
    if isinstance(progress, _Progress):
        progress.sent = True


def request_tracing() -> aiohttp.TraceConfig:
    """The trace config a session needs so `exchange_as_it_comes` knows a request left."""
    trace = aiohttp.TraceConfig()
    trace.on_request_headers_sent.append(_headers_sent)
    return trace


def _head(resp: aiohttp.ClientResponse) -> bytes:
    version = resp.version or aiohttp.HttpVersion11
    line = f"HTTP/{version.major}.{version.minor} {resp.status} {resp.reason or ''}\r\n"
    fields = b"".join(k + b": " + v + b"\r\n" for k, v in resp.raw_headers)
    return line.encode("latin-1") + fields + b"\r\n"


async def exchange_as_it_comes(
    session: aiohttp.ClientSession,
    method: str,
    url: str,
    *,
    body: bytes | None,
    headers: Mapping[str, str],
    timeout_s: float,
) -> tuple[int, bytes]:
    """Status and body of one exchange, all of it within `timeout_s` (connect, headers and
    every body octet: a server that dribbles is cut off too); `IncompleteExchange`
    otherwise."""
    progress = _Progress()
    try:
        async with (
            asyncio.timeout(timeout_s),
            session.request(
                method, url, data=body, headers=dict(headers), trace_request_ctx=progress
            ) as resp,
        ):
            progress.head = _head(resp)
            async for chunk in resp.content.iter_any():
                progress.body += chunk
            return resp.status, bytes(progress.body)
    except TimeoutError as exc:  # asyncio's, or aiohttp's own (ServerTimeoutError)
        what = "no complete answer" if progress.sent else "no connection"
        raise IncompleteExchange(
            f"{what} within {timeout_s:g} s ({len(progress.received)} octets received)",
            received=progress.received,
            sent=progress.sent,
            stalled=True,
        ) from exc
    except aiohttp.ClientError as exc:
        raise IncompleteExchange(
            f"exchange broke after {len(progress.received)} octets: {exc!r}",
            received=progress.received,
            sent=progress.sent,
            stalled=False,
        ) from exc


def tls_failure(exc: BaseException) -> str | None:
    """What a failed TLS handshake says (e.g. "unable to get local issuer certificate",
    a host name mismatch), or None when `exc` is no TLS failure."""
    if isinstance(exc, aiohttp.ClientConnectorCertificateError):
        cert = exc.certificate_error
        return str(getattr(cert, "verify_message", "") or cert)
    if isinstance(exc, aiohttp.ClientSSLError):
        return str(exc)
    return None
