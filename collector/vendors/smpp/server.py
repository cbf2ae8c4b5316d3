"""asyncio SMPP 3.4 SMSC for tests and the vendor simulator (`SmppServer`).

Over 500 lines on purpose: one SMSC session state machine (bind, window, throttling,
receipt forms, scripted misbehaviour) that only makes sense read as a whole.

It plays a vendor's SMSC faithfully enough to exercise our client and independent ones
(smpplib, npm smpp): bind auth by system_id/password, submit_sm -> message id,
deliver_sm receipts pushed by the simulator, enquire_link, unbind, a rate limit and a
window. Routing and message fate are NOT decided here: the `on_submit` hook (the
vendor simulator) returns the command_status, and the simulator later calls
`send_receipt`.

Real-vendor habits it reproduces on purpose (docs/vendors.md):
submit_sm_resp ids in one base and receipt ids in the other (`id_style`,
`receipt_id_style`), receipts queued while no receiver is bound and flushed on the next
bind (each with a sent-hook that learns when it really went out), and named
misbehaviours (`Misbehaviour`), after jookies/jasmin's family of misbehaving SMSCs.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import itertools
import time
from collections import Counter, deque
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from types import MappingProxyType

import structlog

from collector.vendors.smpp.pdu import (
    DATA_CODING_UCS2,
    ESM_CLASS_DELIVERY_RECEIPT,
    MAX_SEQUENCE,
    Bind,
    BindResp,
    CommandId,
    CommandStatus,
    DataSm,
    MessageIdResp,
    MessageState,
    Pdu,
    ShortMessage,
    SmppDecodeError,
    Tlv,
    TlvTag,
    command_length,
    decode,
    encode,
    status_name,
)
from collector.vendors.smpp.receipt import (
    STATE_BY_STAT,
    IdStyle,
    build_receipt_text,
)

log = structlog.get_logger("collector.vendors.smpp.server")


class Misbehaviour(enum.StrEnum):
    """Named faults, applied to every submit_sm while set (`SmppServer.misbehaviour`)."""

    NONE = "none"
    DROP_CONNECTION = "drop_connection"  # accept, then close the TCP connection, no resp
    SLOW_RESP = "slow_resp"  # answer after `slow_resp_s`
    NO_RESP = "no_resp"  # accept and never answer
    GENERIC_NACK = "generic_nack"  # answer generic_nack ESME_RINVCMDLEN, as if unparseable


class ReceiptForm(enum.StrEnum):
    TEXT = "text"  # Appendix-B text only (many SMSCs)
    TLV = "tlv"  # receipted_message_id + message_state only, empty short_message
    TEXT_AND_TLV = "text_and_tlv"
    DATA_SM = "data_sm"  # a data_sm: both TLVs, the text in message_payload (§4.7.1)


@dataclass(frozen=True, slots=True)
class SmppServerConfig:
    accounts: Mapping[str, str]  # system_id -> password
    host: str = "127.0.0.1"
    port: int = 0  # 0 = a free ephemeral port
    system_id: str = "SIMSMSC"
    id_style: IdStyle = IdStyle.HEX
    receipt_id_style: IdStyle | None = None  # None = the other style than id_style
    first_message_number: int = 43969  # 0xABC1, as the npm smpp server answers
    throttle_per_s: float | None = None  # token bucket per account; None = unlimited
    throttle_burst: int = 1
    max_binds_per_account: int | None = None
    window: int = 10  # outstanding submits per session before ESME_RMSGQFUL
    deliver_window: int = 10  # outstanding deliver_sm per session
    deliver_resp_timeout_s: float = 10.0
    slow_resp_s: float = 1.0
    # A receipt the ESME refused temporarily (ESME_RX_T_APPN...) stays queued; it is sent
    # again after this many seconds, or None: only on the next bind.
    redeliver_after_s: float | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "accounts", MappingProxyType(dict(self.accounts)))

    @property
    def effective_receipt_id_style(self) -> IdStyle:
        return self.receipt_id_style or self.id_style.other


@dataclass(frozen=True, slots=True)
class SubmitEvent:
    """One submit_sm as the SMSC saw it; `message_id` is what the resp carries and
    `receipt_id` what a receipt for it will carry (same number, maybe another base)."""

    system_id: str
    session_id: int
    sequence_number: int
    message_number: int
    message_id: str
    receipt_id: str
    sm: ShortMessage
    raw: bytes


OnSubmit = Callable[[SubmitEvent], Awaitable[int]]
"""Returns the submit_sm_resp command_status (ESME_ROK to accept)."""

OnSent = Callable[[bool], None]
"""The sent-hook of one receipt, called exactly once: True when it was written to a bound
receiver session and acknowledged ESME_ROK; False when the SMSC gave it up (the ESME
refused it permanently, or the server closed with it still queued)."""

# SMPP 3.4 §5.1.3: the ESME will never take this message; an SMSC does not retry it.
_PERMANENT_REFUSALS = frozenset({CommandStatus.ESME_RX_P_APPN, CommandStatus.ESME_RX_R_APPN})


async def accept_all(event: SubmitEvent) -> int:
    return CommandStatus.ESME_ROK


@dataclass(slots=True)
class ServerStats:
    """Counters for tests and the simulator's self-metrics."""

    binds: int = 0
    bind_refusals: int = 0
    submits: int = 0
    throttled: int = 0
    enquire_links: int = 0
    unbinds: int = 0
    generic_nacks_sent: int = 0
    receipts_sent: int = 0
    receipts_queued: int = 0
    deliver_resp_statuses: Counter[int] = field(default_factory=Counter)


@dataclass(slots=True)
class _Outgoing:
    """A deliver_sm/data_sm body on its way to a receiver, with its sent-hook."""

    sm: ShortMessage | DataSm
    on_sent: OnSent | None = None

    def done(self, sent: bool) -> None:
        hook, self.on_sent = self.on_sent, None
        if hook is not None:
            hook(sent)


class _TokenBucket:
    def __init__(self, rate_per_s: float, burst: int, clock: Callable[[], float]) -> None:
        self._rate = rate_per_s
        self._burst = float(burst)
        self._tokens = float(burst)
        self._clock = clock
        self._last = clock()

    def take(self) -> bool:
        now = self._clock()
        self._tokens = min(self._burst, self._tokens + (now - self._last) * self._rate)
        self._last = now
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            return True
        return False


_RECEIVING_MODES = frozenset({CommandId.BIND_RECEIVER, CommandId.BIND_TRANSCEIVER})
_SENDING_MODES = frozenset({CommandId.BIND_TRANSMITTER, CommandId.BIND_TRANSCEIVER})


class _Session:
    def __init__(
        self,
        session_id: int,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        deliver_window: int,
    ) -> None:
        self.id = session_id
        self.reader = reader
        self.writer = writer
        self.system_id: str | None = None
        self.mode: CommandId | None = None
        self.seq = 0
        self.pending: dict[int, asyncio.Future[Pdu]] = {}
        self.deliver_window = asyncio.Semaphore(deliver_window)
        self.inflight_submits = 0
        self.closed = asyncio.Event()

    def next_seq(self) -> int:
        self.seq = self.seq % MAX_SEQUENCE + 1
        return self.seq

    def send(self, pdu: Pdu) -> None:
        if not self.closed.is_set() and not self.writer.is_closing():
            self.writer.write(encode(pdu))

    def abort(self) -> None:
        self.closed.set()
        for fut in self.pending.values():
            if not fut.done():
                fut.set_exception(ConnectionResetError("session closed"))
        self.pending.clear()
        self.writer.close()


def receipt_short_message(
    receipt_id: str,
    stat: str,
    *,
    submit_time: datetime,
    done_time: datetime,
    err: str = "000",
    text: str = "",
    form: ReceiptForm = ReceiptForm.TEXT_AND_TLV,
    seconds: bool = False,
    ucs2: bool = False,
    source_addr: str = "",
    destination_addr: str = "",
) -> ShortMessage | DataSm:
    """A receipt deliver_sm body (esm_class 0x04), or data_sm body for ReceiptForm.DATA_SM.
    Pure."""
    tlvs: tuple[Tlv, ...] = ()
    if form is not ReceiptForm.TEXT:
        state = STATE_BY_STAT.get(stat, MessageState.UNKNOWN)
        tlvs = (
            Tlv.cstring(TlvTag.RECEIPTED_MESSAGE_ID, receipt_id),
            Tlv.u8(TlvTag.MESSAGE_STATE, state),
        )
    payload = b""
    if form is not ReceiptForm.TLV:
        body = build_receipt_text(
            receipt_id,
            stat,
            submit_time=submit_time,
            done_time=done_time,
            err=err,
            text=text,
            seconds=seconds,
        )
        payload = body.encode("utf-16-be") if ucs2 else body.encode("latin-1", "replace")
    if form is ReceiptForm.DATA_SM:
        return DataSm(
            source_addr=source_addr,
            destination_addr=destination_addr,
            esm_class=ESM_CLASS_DELIVERY_RECEIPT,
            data_coding=DATA_CODING_UCS2 if ucs2 else 0,
            tlvs=(*tlvs, Tlv(TlvTag.MESSAGE_PAYLOAD, payload)),
        )
    return ShortMessage(
        source_addr=source_addr,
        destination_addr=destination_addr,
        esm_class=ESM_CLASS_DELIVERY_RECEIPT,
        data_coding=DATA_CODING_UCS2 if ucs2 else 0,
        short_message=payload,
        tlvs=tlvs,
    )


class SmppServer:
    """One listening SMSC. `await start()`, then read `port`; `await close()` to stop."""

    def __init__(
        self,
        config: SmppServerConfig,
        *,
        on_submit: OnSubmit = accept_all,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.config = config
        self.on_submit = on_submit
        self.misbehaviour = Misbehaviour.NONE
        self.stats = ServerStats()
        self._clock = clock
        self._numbers = itertools.count(config.first_message_number)
        self._session_ids = itertools.count(1)
        self._sessions: dict[int, _Session] = {}
        self._queued: dict[str, deque[_Outgoing]] = {}
        self._closing = False
        self._buckets: dict[str, _TokenBucket] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._serve_tasks: set[asyncio.Task[object]] = set()
        self._server: asyncio.Server | None = None
        self._rr = itertools.count()

    # -- lifecycle ---------------------------------------------------------------------

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, self.config.host, self.config.port)

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("server not started")
        port: int = self._server.sockets[0].getsockname()[1]
        return port

    async def close(self) -> None:
        """Stop; receipts still queued were never sent: their sent-hooks get False."""
        self._closing = True
        if self._server is not None:
            self._server.close()
        for session in list(self._sessions.values()):
            session.abort()
        for task in list(self._tasks):
            task.cancel()
        pending = [*self._tasks, *self._serve_tasks]
        if pending:
            await asyncio.gather(*pending, return_exceptions=True)
        for queue in self._queued.values():
            while queue:
                queue.popleft().done(False)
        if self._server is not None:
            await self._server.wait_closed()
            self._server = None

    async def __aenter__(self) -> SmppServer:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def bound_sessions(self, system_id: str | None = None) -> list[int]:
        return [
            s.id
            for s in self._sessions.values()
            if s.mode is not None and (system_id is None or s.system_id == system_id)
        ]

    def drop_sessions(self, system_id: str | None = None) -> int:
        """Close connections abruptly (an outage); returns how many were dropped."""
        victims = [
            s for s in self._sessions.values() if system_id is None or s.system_id == system_id
        ]
        for session in victims:
            session.abort()
        return len(victims)

    async def unbind_sessions(self, system_id: str | None = None) -> int:
        """Send unbind to bound sessions (an SMSC restart or "unbind storm"), wait for each
        unbind_resp (bounded), then close; returns how many answered."""
        answered = 0
        victims = [
            s
            for s in self._sessions.values()
            if s.mode is not None and (system_id is None or s.system_id == system_id)
        ]
        for session in victims:
            seq = session.next_seq()
            fut: asyncio.Future[Pdu] = asyncio.get_running_loop().create_future()
            session.pending[seq] = fut
            session.send(Pdu(CommandId.UNBIND, seq))
            try:
                async with asyncio.timeout(self.config.deliver_resp_timeout_s):
                    resp = await fut
                answered += resp.command_id == CommandId.UNBIND_RESP
            except (ConnectionResetError, TimeoutError):
                pass  # gone or silent: closed below either way
            finally:
                session.pending.pop(seq, None)
                session.abort()
        return answered

    def _spawn(self, coro: Awaitable[None]) -> None:
        task: asyncio.Task[None] = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # -- connection --------------------------------------------------------------------

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._serve_tasks.add(task)
            task.add_done_callback(self._serve_tasks.discard)
        session = _Session(next(self._session_ids), reader, writer, self.config.deliver_window)
        self._sessions[session.id] = session
        slog = log.bind(session=session.id)
        try:
            while not session.closed.is_set():
                header = await reader.readexactly(4)
                length = command_length(header)
                raw = header + await reader.readexactly(length - 4)
                try:
                    pdu = decode(raw)
                except SmppDecodeError as exc:
                    slog.warning("smpp_server_pdu_undecodable", error=str(exc), raw=raw.hex())
                    is_resp = exc.command_id is not None and exc.command_id & 0x80000000
                    if not is_resp:
                        self.stats.generic_nacks_sent += 1
                        session.send(
                            Pdu(CommandId.GENERIC_NACK, exc.sequence_number or 0, exc.status)
                        )
                    continue
                await self._dispatch(session, pdu, raw)
        except (asyncio.IncompleteReadError, ConnectionError, SmppDecodeError) as exc:
            slog.info("smpp_server_session_ended", reason=repr(exc))
        finally:
            session.abort()
            self._sessions.pop(session.id, None)
            with contextlib.suppress(OSError):
                await writer.wait_closed()

    async def _dispatch(self, session: _Session, pdu: Pdu, raw: bytes) -> None:
        cid = pdu.command_id
        if cid.is_response or cid == CommandId.GENERIC_NACK:
            fut = session.pending.get(pdu.sequence_number)
            if fut is not None and not fut.done():
                fut.set_result(pdu)
            return
        if cid in (
            CommandId.BIND_TRANSCEIVER,
            CommandId.BIND_TRANSMITTER,
            CommandId.BIND_RECEIVER,
        ):
            self._bind(session, pdu)
        elif cid == CommandId.ENQUIRE_LINK:
            self.stats.enquire_links += 1
            session.send(pdu.response())
        elif cid == CommandId.UNBIND:
            self.stats.unbinds += 1
            session.send(pdu.response())
            session.abort()
        elif cid == CommandId.SUBMIT_SM:
            self._submit(session, pdu, raw)
        else:
            self.stats.generic_nacks_sent += 1
            session.send(
                Pdu(CommandId.GENERIC_NACK, pdu.sequence_number, CommandStatus.ESME_RINVCMDID)
            )

    def _bind(self, session: _Session, pdu: Pdu) -> None:
        body = pdu.body
        assert isinstance(body, Bind)  # guaranteed by the codec for bind command ids
        status = self._bind_status(session, body)
        if status != CommandStatus.ESME_ROK:
            self.stats.bind_refusals += 1
            log.info(
                "smpp_server_bind_refused",
                session=session.id,
                system_id=body.system_id,
                status=status_name(status),
            )
            session.send(pdu.response(status, BindResp(self.config.system_id)))
            return
        session.system_id = body.system_id
        session.mode = pdu.command_id
        self.stats.binds += 1
        session.send(
            pdu.response(
                CommandStatus.ESME_ROK,
                BindResp(
                    self.config.system_id,
                    (Tlv.u8(TlvTag.SC_INTERFACE_VERSION, 0x34),),
                ),
            )
        )
        log.info("smpp_server_bound", session=session.id, system_id=body.system_id)
        if session.mode in _RECEIVING_MODES and self._queued.get(body.system_id):
            self._spawn(self._flush_queue(body.system_id))

    def _bind_status(self, session: _Session, body: Bind) -> int:
        if session.mode is not None:
            return CommandStatus.ESME_RALYBND
        password = self.config.accounts.get(body.system_id)
        if password is None:
            return CommandStatus.ESME_RINVSYSID
        if password != body.password:
            return CommandStatus.ESME_RINVPASWD
        limit = self.config.max_binds_per_account
        if limit is not None and len(self.bound_sessions(body.system_id)) >= limit:
            return CommandStatus.ESME_RBINDFAIL
        return CommandStatus.ESME_ROK

    # -- submit ------------------------------------------------------------------------

    def _submit(self, session: _Session, pdu: Pdu, raw: bytes) -> None:
        if session.mode not in _SENDING_MODES or session.system_id is None:
            session.send(pdu.response(CommandStatus.ESME_RINVBNDSTS))
            return
        if self.misbehaviour is Misbehaviour.GENERIC_NACK:
            self.stats.generic_nacks_sent += 1
            session.send(
                Pdu(CommandId.GENERIC_NACK, pdu.sequence_number, CommandStatus.ESME_RINVCMDLEN)
            )
            return
        self.stats.submits += 1
        if session.inflight_submits >= self.config.window:
            self.stats.throttled += 1
            session.send(pdu.response(CommandStatus.ESME_RMSGQFUL))
            return
        if not self._take_token(session.system_id):
            self.stats.throttled += 1
            session.send(pdu.response(CommandStatus.ESME_RTHROTTLED))
            return
        session.inflight_submits += 1
        self._spawn(self._handle_submit(session, session.system_id, pdu, raw))

    def _take_token(self, system_id: str) -> bool:
        rate = self.config.throttle_per_s
        if rate is None:
            return True
        bucket = self._buckets.get(system_id)
        if bucket is None:
            bucket = _TokenBucket(rate, self.config.throttle_burst, self._clock)
            self._buckets[system_id] = bucket
        return bucket.take()

    async def _handle_submit(self, session: _Session, system_id: str, pdu: Pdu, raw: bytes) -> None:
        try:
            sm = pdu.body
            assert isinstance(sm, ShortMessage)  # guaranteed by the codec for submit_sm
            number = next(self._numbers)
            event = SubmitEvent(
                system_id=system_id,
                session_id=session.id,
                sequence_number=pdu.sequence_number,
                message_number=number,
                message_id=self.config.id_style.render(number),
                receipt_id=self.config.effective_receipt_id_style.render(number),
                sm=sm,
                raw=raw,
            )
            status = await self.on_submit(event)
            mode = self.misbehaviour
            if mode is Misbehaviour.DROP_CONNECTION:
                log.info("smpp_server_dropped_connection", session=session.id)
                session.abort()
                return
            if mode is Misbehaviour.NO_RESP:
                return
            if mode is Misbehaviour.SLOW_RESP:
                await asyncio.sleep(self.config.slow_resp_s)
            body = MessageIdResp(event.message_id) if status == CommandStatus.ESME_ROK else None
            session.send(pdu.response(status, body))
        finally:
            session.inflight_submits -= 1

    # -- deliver -----------------------------------------------------------------------

    def _receivers(self, system_id: str) -> list[_Session]:
        return [
            s
            for s in self._sessions.values()
            if s.system_id == system_id and s.mode in _RECEIVING_MODES and not s.closed.is_set()
        ]

    async def deliver(
        self, system_id: str, sm: ShortMessage | DataSm, *, on_sent: OnSent | None = None
    ) -> int | None:
        """Send one deliver_sm (data_sm for a DataSm body) to a bound RX/TRX session of
        `system_id` (round-robin, like MavoCz/smscsim); returns the response's status, or
        None when no session is bound or the session died first: then it is queued and
        delivered on the next bind. SMPP 3.4 leaves a receipt for an ESME that is not
        bound to the SMSC; store-and-forward SMSCs hold it, and so does this one.
        `on_sent` is called once the receipt's fate is known (`OnSent`)."""
        return await self._deliver(system_id, _Outgoing(sm, on_sent))

    def _requeue(self, system_id: str, out: _Outgoing) -> None:
        if self._closing:
            out.done(False)
            return
        self._queued.setdefault(system_id, deque()).append(out)
        self.stats.receipts_queued += 1

    async def _deliver(self, system_id: str, out: _Outgoing) -> int | None:
        try:
            return await self._deliver_once(system_id, out)
        except asyncio.CancelledError:  # the server closing (or the caller gone): never sent
            out.done(False)
            raise

    async def _deliver_once(self, system_id: str, out: _Outgoing) -> int | None:
        receivers = self._receivers(system_id)
        if not receivers:
            self._requeue(system_id, out)
            return None
        session = receivers[next(self._rr) % len(receivers)]
        async with session.deliver_window:
            seq = session.next_seq()
            fut: asyncio.Future[Pdu] = asyncio.get_running_loop().create_future()
            session.pending[seq] = fut
            command = CommandId.DATA_SM if isinstance(out.sm, DataSm) else CommandId.DELIVER_SM
            session.send(Pdu(command, seq, 0, out.sm))
            if session.closed.is_set():  # died before we registered: nobody will answer
                session.pending.pop(seq, None)
                self._requeue(system_id, out)
                return None
            try:
                async with asyncio.timeout(self.config.deliver_resp_timeout_s):
                    resp = await fut
            except (ConnectionResetError, TimeoutError):
                self._requeue(system_id, out)
                return None
            finally:
                session.pending.pop(seq, None)
        status = resp.command_status
        self.stats.receipts_sent += 1
        self.stats.deliver_resp_statuses[status] += 1
        if status == CommandStatus.ESME_ROK:
            out.done(True)
        elif status in _PERMANENT_REFUSALS:
            out.done(False)
        else:  # a temporary refusal (ESME_RX_T_APPN: it could not store it): send again
            self._requeue(system_id, out)
            if self.config.redeliver_after_s is not None:
                self._spawn(self._redeliver_later(system_id, self.config.redeliver_after_s))
        return status

    async def _redeliver_later(self, system_id: str, delay_s: float) -> None:
        await asyncio.sleep(delay_s)
        await self._flush_queue(system_id)

    async def send_receipt(
        self,
        system_id: str,
        message_number: int,
        stat: str = "DELIVRD",
        *,
        submit_time: datetime,
        done_time: datetime,
        err: str = "000",
        text: str = "",
        form: ReceiptForm = ReceiptForm.TEXT_AND_TLV,
        seconds: bool = False,
        ucs2: bool = False,
        source_addr: str = "",
        destination_addr: str = "",
        on_sent: OnSent | None = None,
    ) -> int | None:
        """Push a delivery receipt for the message numbered `message_number` (ids rendered
        in `receipt_id_style`). Returns the deliver_sm_resp status or None if queued;
        `on_sent` learns when it really went out (`OnSent`)."""
        sm = receipt_short_message(
            self.config.effective_receipt_id_style.render(message_number),
            stat,
            submit_time=submit_time,
            done_time=done_time,
            err=err,
            text=text,
            form=form,
            seconds=seconds,
            ucs2=ucs2,
            source_addr=source_addr,
            destination_addr=destination_addr,
        )
        return await self.deliver(system_id, sm, on_sent=on_sent)

    async def _flush_queue(self, system_id: str) -> None:
        queue = self._queued.get(system_id)
        while queue:
            status = await self._deliver(system_id, queue.popleft())
            if status is None:
                return  # re-queued: no receiver again
            if status != CommandStatus.ESME_ROK and status not in _PERMANENT_REFUSALS:
                return  # re-queued: the ESME wants it later; next bind or redelivery
