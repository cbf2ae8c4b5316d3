"""asyncio SMPP 3.4 ESME: one session to one SMSC account, kept bound.

What it owns (SMPP 3.4 §2, §4.1, §4.4; docs/vendors.md):
- bind (transceiver by default), unique increasing sequence numbers for every request;
- a window of outstanding requests (Kannel's `max-pending-submits` idea, default 10);
- enquire_link when idle, and answers to the SMSC's enquire_link / unbind;
- reconnect with an injected backoff; requests in flight when a connection dies become
  `SmppAmbiguousSubmitError` (never resent here);
- deliver_sm / data_sm handed to an async callback and answered ONLY after the callback
  returned; if it raises, the answer is ESME_RX_T_APPN so the SMSC redelivers (SMPP 3.4 §5.1.3).

No retry policy lives here: the caller decides what to do with each typed error.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import structlog

from agent.common.backoff import Backoff, ExponentialBackoff
from collector.vendors.smpp.errors import (
    SmppAmbiguousSubmitError,
    SmppBindRefusedError,
    SmppError,
    SmppNotBoundError,
    SmppProtocolError,
    classify_submit_status,
)
from collector.vendors.smpp.pdu import (
    MAX_SEQUENCE,
    Bind,
    Body,
    CommandId,
    CommandStatus,
    Empty,
    MessageIdResp,
    Pdu,
    ShortMessage,
    SmppDecodeError,
    command_length,
    decode,
    encode,
    status_name,
)

log = structlog.get_logger("collector.vendors.smpp.client")


class BindMode(enum.Enum):
    TRANSCEIVER = CommandId.BIND_TRANSCEIVER
    TRANSMITTER = CommandId.BIND_TRANSMITTER
    RECEIVER = CommandId.BIND_RECEIVER


@dataclass(frozen=True, slots=True)
class SmppClientConfig:
    host: str
    port: int
    system_id: str
    password: str
    system_type: str = ""
    bind_mode: BindMode = BindMode.TRANSCEIVER
    window: int = 10
    response_timeout_s: float = 10.0
    enquire_link_interval_s: float = 30.0
    connect_timeout_s: float = 10.0
    bind_wait_s: float = 5.0  # how long a request waits for a bound session
    unbind_timeout_s: float = 2.0

    def __post_init__(self) -> None:
        if self.window < 1:
            raise ValueError("window must be >= 1")
        for name in ("response_timeout_s", "enquire_link_interval_s", "connect_timeout_s"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be > 0")


DeliverHandler = Callable[[Pdu, bytes], Awaitable[None]]
"""Gets the decoded deliver_sm/data_sm and its raw octets (evidence); must store durably."""
Sleep = Callable[[float], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class SubmitResponse:
    """An accepted submit_sm, with both PDUs' octets kept as evidence."""

    message_id: str
    sequence_number: int
    request: bytes
    response: bytes


class _ConnectionLostError(Exception):
    """The connection died while a request was outstanding."""


class _NotSentError(_ConnectionLostError):
    """The connection was already closed: the request never left."""


class _Connection:
    """One TCP connection: framing, pending responses, and the writer."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.pending: dict[int, asyncio.Future[tuple[Pdu, bytes]]] = {}
        self.closed = asyncio.Event()
        self.last_rx = asyncio.get_running_loop().time()

    def send(self, raw: bytes) -> None:
        if self.closed.is_set() or self.writer.is_closing():
            raise _NotSentError("connection closed")
        self.writer.write(raw)

    async def read_pdu(self) -> tuple[bytes, Pdu | SmppDecodeError]:
        header = await self.reader.readexactly(4)
        length = command_length(header)  # a bad length is fatal for the stream
        rest = await self.reader.readexactly(length - 4)
        raw = header + rest
        self.last_rx = asyncio.get_running_loop().time()
        try:
            return raw, decode(raw)
        except SmppDecodeError as exc:
            return raw, exc

    def fail_pending(self) -> None:
        for fut in self.pending.values():
            if not fut.done():
                fut.set_exception(_ConnectionLostError("connection lost before the response"))
        self.pending.clear()

    def abort(self) -> None:
        self.closed.set()
        self.fail_pending()
        self.writer.close()


class SmppClient:
    """Keeps one session bound; `submit` sends one submit_sm and waits for its response."""

    def __init__(
        self,
        config: SmppClientConfig,
        *,
        on_deliver: DeliverHandler,
        backoff: Backoff | None = None,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self._config = config
        self._on_deliver = on_deliver
        self._backoff = backoff or ExponentialBackoff(base_s=1.0, max_s=60.0, min_s=0.5)
        self._sleep = sleep
        self._window = asyncio.Semaphore(config.window)
        self._seq = 0
        self._conn: _Connection | None = None
        self._bound = asyncio.Event()
        self._bind_error: SmppBindRefusedError | None = None
        self._state_changed = asyncio.Event()
        self._run_task: asyncio.Task[None] | None = None
        self._handlers: set[asyncio.Task[None]] = set()
        self._closing = False
        self.binds = 0  # successful binds so far: a reconnect shows up here
        self._log = log.bind(smsc=f"{config.host}:{config.port}", system_id=config.system_id)

    # -- lifecycle ---------------------------------------------------------------------

    async def start(self) -> None:
        """Start connecting in the background; `wait_bound` to wait for the first bind."""
        if self._run_task is None:
            self._run_task = asyncio.create_task(self._run(), name="smpp-client")

    async def wait_bound(self, timeout_s: float) -> None:
        """Return once bound; raise SmppBindRefusedError if the SMSC refused us, TimeoutError
        else."""
        async with asyncio.timeout(timeout_s):
            while not self._bound.is_set():
                if self._bind_error is not None:
                    raise self._bind_error
                self._state_changed.clear()
                await self._state_changed.wait()

    @property
    def bound(self) -> bool:
        return self._bound.is_set()

    async def close(self) -> None:
        """Unbind politely (bounded wait), then stop everything. Idempotent."""
        if self._closing:
            return
        self._closing = True
        if self._handlers:
            # Let DLRs being stored finish and be acknowledged before we go (bounded).
            await asyncio.wait(set(self._handlers), timeout=self._config.unbind_timeout_s)
        conn = self._conn
        if conn is not None and self._bound.is_set():
            with contextlib.suppress(SmppError, TimeoutError, _ConnectionLostError):
                await self._request(conn, CommandId.UNBIND, Empty(), self._config.unbind_timeout_s)
        if self._run_task is not None:
            self._run_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._run_task
        for task in list(self._handlers):
            task.cancel()
        if self._handlers:
            await asyncio.gather(*self._handlers, return_exceptions=True)

    async def _run(self) -> None:
        while not self._closing:
            try:
                await self._session()
            except SmppBindRefusedError as exc:
                self._bind_error = exc
                self._log.warning("smpp_bind_refused", status=status_name(exc.status))
            except (OSError, TimeoutError, SmppError, SmppDecodeError, _ConnectionLostError) as exc:
                self._log.warning("smpp_connection_failed", error=repr(exc))
            except Exception:
                # A bug must not stop the session for good: log it, back off, rebind.
                self._log.exception("smpp_session_crashed")
            finally:
                self._state_changed.set()
            if self._closing:
                break
            delay = self._backoff.next_delay()
            self._log.info("smpp_reconnect_scheduled", delay_s=round(delay, 3))
            await self._sleep(delay)

    async def _session(self) -> None:
        cfg = self._config
        async with asyncio.timeout(cfg.connect_timeout_s):
            reader, writer = await asyncio.open_connection(cfg.host, cfg.port)
        conn = _Connection(reader, writer)
        reader_task = asyncio.create_task(self._read_loop(conn), name="smpp-client-reader")
        keepalive: asyncio.Task[None] | None = None
        try:
            resp, _ = await self._request(
                conn,
                cfg.bind_mode.value,
                Bind(cfg.system_id, cfg.password, cfg.system_type),
                cfg.response_timeout_s,
            )
            if resp.command_status != CommandStatus.ESME_ROK:
                raise SmppBindRefusedError("bind refused", status=resp.command_status)
            self._conn = conn
            self._bind_error = None
            self._backoff.reset()
            self.binds += 1
            self._bound.set()
            self._state_changed.set()
            self._log.info("smpp_bound", mode=cfg.bind_mode.name.lower())
            keepalive = asyncio.create_task(self._keepalive(conn), name="smpp-keepalive")
            await conn.closed.wait()
            self._log.warning("smpp_connection_lost")
        finally:
            self._bound.clear()
            self._conn = None
            conn.abort()
            for task in (reader_task, keepalive):
                if task is not None:
                    task.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await task
            with contextlib.suppress(OSError):
                await writer.wait_closed()

    # -- requests ----------------------------------------------------------------------

    def _next_seq(self) -> int:
        # SMPP 3.4 §2.8 (Issue 1.2): 1..0x7FFFFFFF, unique across every request (smpplib#214).
        self._seq = self._seq % MAX_SEQUENCE + 1
        return self._seq

    async def _request(
        self, conn: _Connection, command_id: CommandId, body: Body, timeout_s: float
    ) -> tuple[Pdu, bytes]:
        """Send one request on `conn`; returns the response and its raw octets."""
        seq = self._next_seq()
        fut: asyncio.Future[tuple[Pdu, bytes]] = asyncio.get_running_loop().create_future()
        raw = encode(Pdu(command_id, seq, 0, body))
        conn.pending[seq] = fut
        try:
            conn.send(raw)
        except _NotSentError:
            conn.pending.pop(seq, None)
            raise
        try:
            async with asyncio.timeout(timeout_s):
                resp, resp_raw = await fut
        finally:
            conn.pending.pop(seq, None)
        if resp.command_id == CommandId.GENERIC_NACK:
            # The peer could not parse our PDU: a bug, not a transient (SMPP 3.4 §4.3).
            raise SmppProtocolError(
                f"generic_nack {status_name(resp.command_status)} for {command_id.name}"
            )
        return resp, resp_raw

    async def _bound_connection(self) -> _Connection:
        try:
            async with asyncio.timeout(self._config.bind_wait_s):
                await self._bound.wait()
        except TimeoutError:
            raise SmppNotBoundError(
                f"no bound session within {self._config.bind_wait_s}s"
                + (f" (last bind refused: {self._bind_error})" if self._bind_error else "")
            ) from None
        conn = self._conn
        if conn is None:
            raise SmppNotBoundError("session went away")
        return conn

    async def submit(self, sm: ShortMessage) -> SubmitResponse:
        """One submit_sm. Raises SmppThrottledError / SmppTransientStatusError /
        SmppAmbiguousStatusError / SmppRejectedError for a non-OK response, SmppNotBoundError
        if nothing was sent, SmppAmbiguousSubmitError if it was sent but no response came."""
        async with self._window:
            conn = await self._bound_connection()
            try:
                resp, resp_raw = await self._request(
                    conn, CommandId.SUBMIT_SM, sm, self._config.response_timeout_s
                )
            except _NotSentError as exc:
                raise SmppNotBoundError("connection closed before the submit was written") from exc
            except _ConnectionLostError as exc:
                raise SmppAmbiguousSubmitError("connection lost before submit_sm_resp") from exc
            except TimeoutError as exc:
                raise SmppAmbiguousSubmitError(
                    f"no submit_sm_resp within {self._config.response_timeout_s}s"
                ) from exc
        if resp.command_status != CommandStatus.ESME_ROK:
            self._log.info("smpp_submit_refused", status=status_name(resp.command_status))
            raise classify_submit_status(resp.command_status) from None
        body = resp.body
        message_id = body.message_id if isinstance(body, MessageIdResp) else None
        if not message_id:
            raise SmppProtocolError("submit_sm_resp OK without a message_id")
        return SubmitResponse(message_id, resp.sequence_number, encode_request(sm, resp), resp_raw)

    async def enquire_link(self) -> None:
        """One enquire_link round trip on the current session."""
        conn = await self._bound_connection()
        try:
            await self._request(
                conn, CommandId.ENQUIRE_LINK, Empty(), self._config.response_timeout_s
            )
        except _ConnectionLostError as exc:
            raise SmppNotBoundError("connection lost during enquire_link") from exc

    # -- incoming ----------------------------------------------------------------------

    async def _read_loop(self, conn: _Connection) -> None:
        try:
            while True:
                raw, pdu = await conn.read_pdu()
                if isinstance(pdu, SmppDecodeError):
                    self._log.warning("smpp_pdu_undecodable", error=str(pdu), raw=raw.hex())
                    if pdu.sequence_number is not None and not (
                        pdu.command_id is not None and pdu.command_id & 0x80000000
                    ):
                        conn.send(
                            encode(Pdu(CommandId.GENERIC_NACK, pdu.sequence_number, pdu.status))
                        )
                    continue
                self._dispatch(conn, pdu, raw)
        except (asyncio.IncompleteReadError, ConnectionError, SmppDecodeError) as exc:
            self._log.info("smpp_reader_stopped", reason=repr(exc))
        except _ConnectionLostError:
            pass
        finally:
            conn.abort()

    def _dispatch(self, conn: _Connection, pdu: Pdu, raw: bytes) -> None:
        cid = pdu.command_id
        if cid.is_response:
            fut = conn.pending.get(pdu.sequence_number)
            if fut is None or fut.done():
                self._log.warning(
                    "smpp_unexpected_response", command=cid.name, seq=pdu.sequence_number
                )
            else:
                fut.set_result((pdu, raw))
            return
        if cid == CommandId.ENQUIRE_LINK:
            conn.send(encode(pdu.response()))
        elif cid in (CommandId.DELIVER_SM, CommandId.DATA_SM):
            task = asyncio.create_task(self._deliver(conn, pdu, raw), name="smpp-deliver")
            self._handlers.add(task)
            task.add_done_callback(self._handlers.discard)
        elif cid == CommandId.UNBIND:
            self._log.info("smpp_unbind_received")
            conn.send(encode(pdu.response()))
            conn.abort()
        else:
            conn.send(
                encode(
                    Pdu(CommandId.GENERIC_NACK, pdu.sequence_number, CommandStatus.ESME_RINVCMDID)
                )
            )

    async def _deliver(self, conn: _Connection, pdu: Pdu, raw: bytes) -> None:
        status: int = CommandStatus.ESME_ROK
        try:
            await self._on_deliver(pdu, raw)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            # Not stored: RX_T_APPN makes the SMSC redeliver later.
            self._log.error("smpp_deliver_handler_failed", error=repr(exc))
            status = CommandStatus.ESME_RX_T_APPN
        # SMPP 3.4 §4.6.2: deliver_sm_resp message_id is unused and set to NULL.
        resp = pdu.response(status, MessageIdResp(message_id=""))
        try:
            conn.send(encode(resp))
        except _ConnectionLostError:
            # Stored but not acknowledged: the SMSC resends and intake deduplicates.
            self._log.warning("smpp_deliver_ack_lost", seq=pdu.sequence_number)
            return
        self._log.debug("smpp_deliver_acked", seq=pdu.sequence_number, status=status)

    async def _keepalive(self, conn: _Connection) -> None:
        interval = self._config.enquire_link_interval_s
        loop = asyncio.get_running_loop()
        while not conn.closed.is_set():
            idle = loop.time() - conn.last_rx
            if idle < interval:
                await asyncio.sleep(interval - idle)
                continue
            try:
                await self._request(
                    conn, CommandId.ENQUIRE_LINK, Empty(), self._config.response_timeout_s
                )
            except (TimeoutError, _ConnectionLostError, SmppError) as exc:
                self._log.warning("smpp_enquire_link_failed", error=repr(exc))
                conn.abort()
                return


def encode_request(sm: ShortMessage, resp: Pdu) -> bytes:
    """The submit_sm octets as sent (same sequence number as its response)."""
    return encode(Pdu(CommandId.SUBMIT_SM, resp.sequence_number, 0, sm))


__all__ = [
    "Backoff",
    "BindMode",
    "DeliverHandler",
    "ExponentialBackoff",
    "SmppClient",
    "SmppClientConfig",
    "SubmitResponse",
]
