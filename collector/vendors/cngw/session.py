"""The client side of a gateway protocol: login, a window of unacknowledged submits,
keep-alive, reconnect with back-off. What differs per protocol is a `Dialect`.

Two ways of holding a connection:
- persistent (CMPP, SMGP): one long-lived connection kept logged in by a background task,
  kept alive with the protocol's active test when idle (CMPP 2.0 §6.1.10, SMGP 3.0 §5.2.6),
  and re-established with the injected back-off when it dies or goes silent;
- per batch (SGIP 1.2 §3: the SP connects, binds, submits, unbinds; there is no keep-alive
  command): `connection()` opens, binds, yields, unbinds and closes.

No retry policy lives here: failures are typed (`LoginRefusedError`, `SubmitRefusedError`,
`NotConnectedError`, `NoResponseError`) and the adapter decides.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections.abc import AsyncIterator, Awaitable, Callable, Hashable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Protocol

import structlog

from agent.common.backoff import Backoff, ExponentialBackoff
from collector.vendors.cngw.link import Codec, ConnectionLostError, Link, NotSentError
from collector.vendors.cngw.wire import GatewayDecodeError, Part, Pdu, ReceiptInfo

__all__ = [
    "Dialect",
    "GatewayError",
    "GatewaySession",
    "LoginRefusedError",
    "NoResponseError",
    "NotConnectedError",
    "SessionConfig",
    "SubmitRefusedError",
    "Submitted",
]

log = structlog.get_logger("collector.vendors.cngw.session")

CHINA_TZ = timezone(timedelta(hours=8))


class GatewayError(Exception):
    """Root of what the session raises."""


class LoginRefusedError(GatewayError):
    def __init__(self, message: str, *, status: int, is_auth: bool) -> None:
        super().__init__(f"{message} (status {status})")
        self.status = status
        self.is_auth = is_auth


class SubmitRefusedError(GatewayError):
    """A submit answered with a non-zero result. The dialect classifies it."""

    def __init__(
        self,
        message: str,
        *,
        status: int,
        throttled: bool = False,
        ambiguous: bool = False,
        number: bool = False,
        request: bytes = b"",
        response: bytes = b"",
    ) -> None:
        super().__init__(f"{message} (result {status})")
        self.status = status
        self.throttled = throttled
        self.ambiguous = ambiguous
        self.number = number
        self.request = request
        self.response = response


class NotConnectedError(GatewayError):
    """No logged-in connection within the wait: nothing was sent."""


class NoResponseError(GatewayError):
    """Sent, but no response (timeout, connection lost): it may have been accepted."""


class Dialect(Protocol):
    """How the shared session speaks one protocol (client side)."""

    @property
    def codec(self) -> Codec: ...

    keepalive: bool  # has an active test (CMPP, SMGP); SGIP has none

    def sequence(self, n: int, now: datetime) -> Hashable: ...

    def login(self, sequence: Hashable, now: datetime) -> Pdu: ...

    def check_login(self, request: Pdu, response: Pdu) -> None:
        """Raise `LoginRefusedError` unless the response accepts the login."""
        ...

    def submit(self, sequence: Hashable, part: Part, to: str) -> Pdu: ...

    def accepted_id(self, request: Pdu, response: Pdu) -> str:
        """The message id of an accepted submit; `SubmitRefusedError` otherwise."""
        ...

    def active_test(self, sequence: Hashable) -> Pdu | None: ...

    def terminate(self, sequence: Hashable) -> Pdu: ...

    def answer(self, pdu: Pdu) -> Pdu | None:
        """The response to a peer's active test or terminate; None for anything else."""
        ...

    def is_terminate(self, pdu: Pdu) -> bool: ...

    def is_deliver(self, pdu: Pdu) -> bool: ...

    def read_deliver(self, pdu: Pdu) -> ReceiptInfo | None:
        """The status report a deliver carries, None for a mobile-originated message;
        `GatewayDecodeError` for a report that cannot be read."""
        ...

    def deliver_response(self, pdu: Pdu, ok: bool) -> Pdu: ...


DeliverHandler = Callable[[Pdu, bytes], Awaitable[None]]
BadHandler = Callable[[bytes, GatewayDecodeError], Awaitable[None]]
Sleep = Callable[[float], Awaitable[None]]
Now = Callable[[], datetime]


def china_now() -> datetime:
    return datetime.now(CHINA_TZ)


@dataclass(frozen=True, slots=True)
class SessionConfig:
    host: str
    port: int
    persistent: bool = True
    window: int = 16  # unacknowledged submits (CMPP 2.0 §5.2.2 suggests 16)
    response_timeout_s: float = 10.0  # CMPP 2.0 §5.2.2: T = 60 s, C = 3; vendors answer in ms
    active_test_interval_s: float = 180.0  # CMPP 2.0 §5.2.2 / SMGP 3.0: C = 3 min
    connect_timeout_s: float = 10.0
    connect_wait_s: float = 5.0  # how long a submit waits for a logged-in connection

    def __post_init__(self) -> None:
        if self.window < 1:
            raise ValueError("window must be >= 1")


@dataclass(frozen=True, slots=True)
class Submitted:
    message_id: str
    request: bytes
    response: bytes


class GatewaySession:
    def __init__(
        self,
        config: SessionConfig,
        dialect: Dialect,
        *,
        on_deliver: DeliverHandler,
        on_bad: BadHandler,
        backoff: Backoff | None = None,
        sleep: Sleep = asyncio.sleep,
        now: Now = china_now,
    ) -> None:
        self._config = config
        self._dialect = dialect
        self._on_deliver = on_deliver
        self._on_bad = on_bad
        self._backoff = backoff or ExponentialBackoff(base_s=1.0, max_s=60.0, min_s=0.5)
        self._sleep = sleep
        self._now = now
        self._window = asyncio.Semaphore(config.window)
        self._seq = itertools.count(1)
        self._link: Link | None = None
        self._ready = asyncio.Event()
        self._changed = asyncio.Event()
        self._login_error: LoginRefusedError | None = None
        self._run_task: asyncio.Task[None] | None = None
        self._closing = False
        self.logins = 0  # successful logins so far: a reconnect shows up here
        self._log = log.bind(protocol=dialect.codec.name, gateway=f"{config.host}:{config.port}")

    def _next(self) -> Hashable:
        # All three allow 1..2**32-1 and wrap (CMPP 2.0 §6.1.1 Sequence_Id).
        return self._dialect.sequence((next(self._seq) - 1) % 0xFFFFFFFF + 1, self._now())

    # -- lifecycle ---------------------------------------------------------------------

    async def start(self) -> None:
        """Start (or, after `close`, start again: a vendor unit that went down is closed
        and restarted by its supervisor, and must log in anew)."""
        if not self._config.persistent:
            return
        if self._run_task is not None and not self._run_task.done():
            return
        self._closing = False
        self._login_error = None
        self._ready.clear()
        self._run_task = asyncio.create_task(self._run(), name="gateway-session")

    async def wait_ready(self, timeout_s: float) -> None:
        """Persistent: until logged in (`LoginRefusedError` if refused); per batch: a test
        login, so a wrong password shows at start."""
        if not self._config.persistent:
            async with asyncio.timeout(timeout_s), self.connection():
                return
        async with asyncio.timeout(timeout_s):
            while not self._ready.is_set():
                if self._login_error is not None:
                    raise self._login_error
                self._changed.clear()
                await self._changed.wait()

    async def close(self) -> None:
        if self._closing:
            return
        self._closing = True
        link = self._link
        if link is not None and not link.closed.is_set():
            with contextlib.suppress(Exception):
                await link.request(self._dialect.terminate(self._next()), 2.0)
        if self._run_task is not None:
            self._run_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._run_task
            self._run_task = None
        if link is not None:
            await link.close()

    async def _open(self) -> Link:
        cfg = self._config
        async with asyncio.timeout(cfg.connect_timeout_s):
            reader, writer = await asyncio.open_connection(cfg.host, cfg.port)
        link = Link(self._dialect.codec, reader, writer, on_request=self._on_request,
                    on_bad=self._on_bad)  # fmt: skip
        try:
            request = self._dialect.login(self._next(), self._now())
            _, resp, _ = await link.request(request, cfg.response_timeout_s)
            self._dialect.check_login(request, resp)
        except BaseException:
            await link.close()
            raise
        self.logins += 1
        return link

    async def _run(self) -> None:
        while not self._closing:
            try:
                link = await self._open()
                self._login_error = None
                self._backoff.reset()
                self._link = link
                self._ready.set()
                self._changed.set()
                self._log.info("gateway_logged_in")
                await self._keepalive(link)
                self._log.warning("gateway_connection_lost")
            except LoginRefusedError as exc:
                self._login_error = exc
                self._log.warning("gateway_login_refused", status=exc.status)
            except (OSError, TimeoutError, ConnectionLostError, GatewayDecodeError) as exc:
                self._log.warning("gateway_connect_failed", error=repr(exc))
            except Exception:
                self._log.exception("gateway_session_crashed")  # a bug: back off, try again
            finally:
                self._ready.clear()
                self._changed.set()
                if self._link is not None:
                    await self._link.close()
                    self._link = None
            if self._closing:
                break
            delay = self._backoff.next_delay()
            self._log.info("gateway_reconnect_scheduled", delay_s=round(delay, 3))
            await self._sleep(delay)

    async def _keepalive(self, link: Link) -> None:
        """Active test after `interval` without traffic; no answer = a silent connection,
        closed so the session reconnects (CMPP 2.0 §5.2.2)."""
        interval = self._config.active_test_interval_s
        loop = asyncio.get_running_loop()
        while not link.closed.is_set():
            idle = loop.time() - link.last_rx
            if idle < interval or not self._dialect.keepalive:
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(max(interval - idle, 0.01)):
                        await link.closed.wait()
                continue
            probe = self._dialect.active_test(self._next())
            if probe is None:
                continue
            try:
                await link.request(probe, self._config.response_timeout_s)
            except (TimeoutError, ConnectionLostError) as exc:
                self._log.warning("gateway_active_test_failed", error=repr(exc))
                link.abort()

    # -- using a connection ------------------------------------------------------------

    @contextlib.asynccontextmanager
    async def connection(self) -> AsyncIterator[Link]:
        """A logged-in connection: the persistent one, or a new one for this batch."""
        if self._config.persistent:
            try:
                async with asyncio.timeout(self._config.connect_wait_s):
                    await self._ready.wait()
            except TimeoutError:
                detail = f" (last login refused: {self._login_error})" if self._login_error else ""
                raise NotConnectedError(
                    f"not logged in within {self._config.connect_wait_s}s{detail}"
                ) from None
            link = self._link
            if link is None:
                raise NotConnectedError("connection went away")
            yield link
            return
        try:
            link = await self._open()
        except (OSError, TimeoutError, ConnectionLostError, GatewayDecodeError) as exc:
            raise NotConnectedError(f"cannot connect and bind: {exc!r}") from exc
        try:
            yield link
        finally:
            with contextlib.suppress(TimeoutError, ConnectionLostError):
                await link.request(self._dialect.terminate(self._next()), 2.0)
            await link.close()

    async def submit(self, link: Link, part: Part, to: str) -> Submitted:
        async with self._window:
            request = self._dialect.submit(self._next(), part, to)
            try:
                raw, resp, resp_raw = await link.request(request, self._config.response_timeout_s)
            except NotSentError as exc:
                raise NotConnectedError("connection closed before the submit was written") from exc
            except ConnectionLostError as exc:
                raise NoResponseError("connection lost before the submit response") from exc
            except TimeoutError as exc:
                raise NoResponseError(
                    f"no submit response within {self._config.response_timeout_s}s"
                ) from exc
        try:
            message_id = self._dialect.accepted_id(request, resp)
        except SubmitRefusedError as exc:
            exc.request, exc.response = raw, resp_raw
            raise
        return Submitted(message_id, raw, resp_raw)

    async def _on_request(self, link: Link, pdu: Pdu, raw: bytes) -> Pdu | None:
        d = self._dialect
        if d.is_deliver(pdu):
            ok = True
            try:
                await self._on_deliver(pdu, raw)
            except Exception as exc:  # not stored: a failure result makes the gateway resend
                self._log.error("gateway_deliver_handler_failed", error=repr(exc))
                ok = False
            return d.deliver_response(pdu, ok)
        answer = d.answer(pdu)
        if d.is_terminate(pdu):
            self._log.info("gateway_terminate_received")
            if answer is not None:
                with contextlib.suppress(NotSentError):
                    link.send(answer)
            link.abort()
            return None
        if answer is None:
            self._log.warning("gateway_request_ignored", command=hex(pdu.command))
        return answer
