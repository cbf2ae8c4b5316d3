"""`GatewayVendor`: the collector's `SmsVendor` over CMPP, SGIP or SMGP.

- submit: the signed text is split by the 70/67 rule (UCS-2, UDH with TP_udhi), one
  submit per part, one message id per part (what the gateway bills and reports);
  a later part refused by flow control is resent after a bounded delay (it was not
  accepted; resending the whole message would duplicate the earlier parts).
- receipts: each status report is stored through the `DlrSink` with its raw PDU before it
  is acknowledged; a report that cannot be read (bad content, a Msg_Id that is not one,
  unreadable times) is quarantined raw with the reason, and acknowledged, since it is
  durable; a PDU that cannot even be decoded is quarantined by the link.
- failures map onto the collector's error tree in one place (`_vendor_error`).
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta, timezone
from typing import Protocol

import structlog

from agent.common.backoff import Backoff
from agent.common.logs import mask_msisdn
from collector.vendors.base import (
    AmbiguousSubmitError,
    AuthFailedError,
    Clock,
    DlrSink,
    DlrSource,
    OutgoingSms,
    QuarantinedDlr,
    RawDlr,
    RejectedError,
    RejectReason,
    SubmitResult,
    ThrottledError,
    TransientError,
    VendorError,
    normalise_dlr_status,
    wall_clock_ns,
)
from collector.vendors.cngw.session import (
    Dialect,
    GatewayError,
    GatewaySession,
    LoginRefusedError,
    NoResponseError,
    NotConnectedError,
    SessionConfig,
    SubmitRefusedError,
)
from collector.vendors.cngw.wire import GatewayDecodeError, GatewayEncodeError, Pdu, split_ucs2

__all__ = ["GatewayVendor", "PartialGatewaySubmitError", "ReportReceiver"]

log = structlog.get_logger("collector.vendors.cngw.adapter")

Sleep = Callable[[float], Awaitable[None]]
DeliverHandler = Callable[[Pdu, bytes], Awaitable[None]]
BadHandler = Callable[[bytes, GatewayDecodeError], Awaitable[None]]


class ReportReceiver(Protocol):
    """Where reports arrive when the gateway connects to us (SGIP 1.2 §3: the SMG binds to
    the SP's own listener to send Deliver and Report)."""

    async def start(self, on_deliver: DeliverHandler, on_bad: BadHandler) -> None: ...

    async def close(self) -> None: ...


class PartialGatewaySubmitError(AmbiguousSubmitError):
    """Some parts were accepted, a later one was not: never resend the whole message."""

    kind = "PartialSubmit"

    def __init__(self, message: str, *, message_ids: tuple[str, ...], parts: int,
                 vendor: str, raw_request: bytes, raw_response: bytes) -> None:  # fmt: skip
        super().__init__(message, vendor=vendor, raw_request=raw_request,
                         raw_response=raw_response)  # fmt: skip
        self.message_ids = message_ids
        self.parts = parts


def parse_gateway_time(text: str, tz: timezone) -> int | None:
    """YYMMDDHHMM (CMPP/SMGP report times; SGIP has none) in the gateway's zone -> ns."""
    if not text:
        return None
    try:
        at = datetime.strptime(text, "%y%m%d%H%M").replace(tzinfo=tz)
    except ValueError:
        raise GatewayDecodeError(f"report time {text!r} is not YYMMDDHHMM") from None
    return int(at.astimezone(UTC).timestamp()) * 10**9


class GatewayVendor:
    def __init__(
        self,
        name: str,
        dialect: Dialect,
        session: SessionConfig,
        *,
        source: DlrSource,
        receiver: ReportReceiver | None = None,
        login_timeout_s: float = 10.0,
        receipt_utc_offset_min: int = 480,
        throttle_retry_after_s: float = 15.0,
        part_throttle_retries: int = 3,
        part_throttle_delay_s: float = 1.0,
        clock: Clock = wall_clock_ns,
        backoff: Backoff | None = None,
        sleep: Sleep = asyncio.sleep,
        rng: random.Random | None = None,
    ) -> None:
        self._name = name
        self._dialect = dialect
        self._source = source
        self._receiver = receiver
        self._login_timeout_s = login_timeout_s
        self._tz = timezone(timedelta(minutes=receipt_utc_offset_min))
        self._throttle_retry_after_s = throttle_retry_after_s
        self._part_retries = part_throttle_retries
        self._part_delay_s = part_throttle_delay_s
        self._clock = clock
        self._sleep = sleep
        self._ref = (rng or random.Random()).randrange(256)
        self._session = GatewaySession(
            session, dialect, on_deliver=self._on_deliver, on_bad=self._on_bad,
            backoff=backoff, sleep=sleep,
        )  # fmt: skip
        self._sink: DlrSink | None = None
        self._started = False
        self._log = log.bind(vendor=name, protocol=dialect.codec.name)

    @property
    def name(self) -> str:
        return self._name

    @property
    def session(self) -> GatewaySession:
        return self._session

    async def start(self, dlr_sink: DlrSink) -> None:
        if self._started:
            return
        self._sink = dlr_sink
        self._started = True
        if self._receiver is not None:
            await self._receiver.start(self._on_deliver, self._on_bad)
        await self._session.start()
        try:
            await self._session.wait_ready(self._login_timeout_s)
        except LoginRefusedError as exc:
            await self.close()
            error = AuthFailedError if exc.is_auth else TransientError
            raise error(str(exc), vendor=self.name, code=str(exc.status)) from exc
        except (TimeoutError, GatewayError) as exc:
            await self.close()
            raise TransientError(f"no login within {self._login_timeout_s}s: {exc!r}",
                                 vendor=self.name) from exc  # fmt: skip

    async def close(self) -> None:
        await self._session.close()
        if self._receiver is not None:
            await self._receiver.close()
        self._started = False

    async def poll_dlrs(self) -> int:
        return 0  # reports arrive on the gateway connection

    # -- submit ------------------------------------------------------------------------

    async def submit(self, sms: OutgoingSms) -> SubmitResult:
        if not self._started:
            raise TransientError("vendor not started", vendor=self.name)
        self._ref = (self._ref + 1) % 256
        try:
            parts = split_ucs2(sms.signed_text, self._ref)
        except GatewayEncodeError as exc:
            raise RejectedError(str(exc), reason=RejectReason.CONTENT, vendor=self.name) from exc
        to = sms.to_msisdn.lstrip("+")
        ids: list[str] = []
        requests: list[bytes] = []
        responses: list[bytes] = []
        try:
            async with self._session.connection() as link:
                for part in parts:
                    attempts = 0
                    while True:
                        try:
                            done = await self._session.submit(link, part, to)
                            break
                        except SubmitRefusedError as exc:
                            if not (exc.throttled and ids) or attempts >= self._part_retries:
                                raise
                            attempts += 1
                            await self._sleep(self._part_delay_s)
                    ids.append(done.message_id)
                    requests.append(done.request)
                    responses.append(done.response)
        except (GatewayError, GatewayEncodeError) as exc:
            raise self._fail(exc, ids, len(parts), requests, responses) from exc
        self._log.info("gateway_submitted", probe_id=sms.probe_id, to=mask_msisdn(to),
                       parts=len(parts), message_ids=ids)  # fmt: skip
        return SubmitResult(
            vendor=self.name,
            message_ids=tuple(ids),
            parts=len(parts),
            accepted_at_ns=self._clock(),
            raw_request=b"".join(requests),
            raw_response=b"".join(responses),
            billed_parts=len(ids),  # one Msg_Id per part the gateway acknowledged
            billed_from=f"acks:{self._source.value}",
        )

    def _fail(self, exc: Exception, ids: list[str], parts: int, requests: list[bytes],
              responses: list[bytes]) -> VendorError:  # fmt: skip
        if ids:
            return PartialGatewaySubmitError(
                f"part {len(ids) + 1}/{parts} failed after {len(ids)} accepted: {exc}",
                message_ids=tuple(ids), parts=parts, vendor=self.name,
                raw_request=b"".join(requests), raw_response=b"".join(responses),
            )  # fmt: skip
        return self._vendor_error(exc)

    def _vendor_error(self, exc: Exception) -> VendorError:
        """The one mapping from gateway failures to the collector's error tree."""
        name = self.name
        if isinstance(exc, SubmitRefusedError):
            code, req, resp = str(exc.status), exc.request, exc.response
            if exc.throttled:
                return ThrottledError(
                    str(exc), retry_after_s=self._throttle_retry_after_s, vendor=name,
                    code=code, raw_request=req, raw_response=resp,
                )  # fmt: skip
            if exc.ambiguous:
                return AmbiguousSubmitError(
                    str(exc), vendor=name, code=code, raw_request=req, raw_response=resp
                )
            reason = RejectReason.NUMBER if exc.number else RejectReason.OTHER
            return RejectedError(
                str(exc), reason=reason, vendor=name, code=code, raw_request=req,
                raw_response=resp,
            )  # fmt: skip
        if isinstance(exc, LoginRefusedError):
            if exc.is_auth:
                return AuthFailedError(str(exc), vendor=name, code=str(exc.status))
            return TransientError(str(exc), vendor=name, code=str(exc.status))
        if isinstance(exc, NotConnectedError):
            return TransientError(str(exc), vendor=name)
        if isinstance(exc, NoResponseError):
            return AmbiguousSubmitError(str(exc), vendor=name)
        return RejectedError(str(exc), reason=RejectReason.OTHER, vendor=name)

    # -- reports -----------------------------------------------------------------------

    async def _quarantine(self, reason: str, raw: bytes) -> None:
        sink = self._sink
        if sink is None:
            raise RuntimeError("report arrived before a sink was set")
        self._log.warning("gateway_report_quarantined", reason=reason)
        await sink.quarantine(QuarantinedDlr(self.name, reason, raw, self._clock(), self._source))

    async def _on_bad(self, raw: bytes, exc: GatewayDecodeError) -> None:
        await self._quarantine(f"undecodable {self._dialect.codec.name} PDU: {exc}", raw)

    async def _on_deliver(self, pdu: Pdu, raw: bytes) -> None:
        sink = self._sink
        if sink is None:  # refuse so the gateway resends
            raise RuntimeError("report arrived before a sink was set")
        try:
            info = self._dialect.read_deliver(pdu)
            if info is None:
                self._log.info("gateway_mo_ignored")
                return
            done_ns = parse_gateway_time(info.done_time, self._tz)
        except GatewayDecodeError as exc:
            await self._quarantine(f"unreadable {self._dialect.codec.name} report: {exc}", raw)
            return
        await sink.store(
            RawDlr(
                vendor=self.name,
                message_id=info.message_id,
                status=normalise_dlr_status(info.stat),
                vendor_status_raw=info.stat,
                err=info.err,
                done_at_ns=done_ns,
                received_at_ns=self._clock(),
                raw=raw,
                source=self._source,
                msisdn=info.destination or None,
            )
        )
