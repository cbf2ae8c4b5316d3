"""`SmppVendor`: the collector's `SmsVendor` over one SMPP 3.4 account.

- submit: the signed text is split (UDH, one submit_sm per part, one id per part) and
  sent part by part; SMPP errors become the collector's `VendorError` tree here, in one
  place (`_vendor_error`).
- A throttled later part is resent after a bounded, injected delay: a throttled part was
  definitely not accepted, and resending the whole message would duplicate the earlier
  parts (throttling counts PDUs, not messages: docs/vendors.md). If a later part
  still fails, `PartialSubmitError` (an `AmbiguousSubmitError`) carries the ids already accepted.
- DLRs: every deliver_sm receipt is stored through the `DlrSink` with its raw PDU before
  the client acknowledges it (persist before ack); an unparseable receipt is still stored, with
  an empty id and status UNKNOWN, because a DLR is evidence even when we cannot read it.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, timedelta, timezone
from types import MappingProxyType

import structlog

import collector.vendors.smpp.errors as smpp_errors
from agent.common.logs import mask_msisdn
from collector.vendors.base import (
    AmbiguousSubmitError,
    AuthFailedError,
    Clock,
    DlrSink,
    DlrSource,
    DlrStatus,
    OutgoingSms,
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
from collector.vendors.smpp.client import (
    Backoff,
    ExponentialBackoff,
    SmppClient,
    SmppClientConfig,
)
from collector.vendors.smpp.pdu import (
    REGISTERED_DELIVERY_RECEIPT,
    CommandStatus,
    DataSm,
    Pdu,
    ShortMessage,
    status_name,
)
from collector.vendors.smpp.receipt import (
    ReceiptParseError,
    delivered_message,
    receipt_from_deliver_sm,
)
from collector.vendors.smpp.segment import Gsm7Wire, LongMessages, segment_text

log = structlog.get_logger("collector.vendors.smpp.adapter")

Sleep = Callable[[float], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class SmppVendorConfig:
    name: str
    client: SmppClientConfig
    source_addr: str = ""
    source_addr_ton: int = 5  # alphanumeric; vendors usually override it
    source_addr_npi: int = 0
    dest_addr_ton: int = 1  # international, "86" + 11 digits; per account
    dest_addr_npi: int = 1
    service_type: str = ""
    gsm7_wire: Gsm7Wire = Gsm7Wire.UNPACKED
    long_messages: LongMessages = LongMessages.UDH
    bind_timeout_s: float = 10.0
    part_throttle_retries: int = 3
    part_throttle_delay_s: float = 1.0
    throttle_retry_after_s: float = 15.0  # Kannel's SMPP_THROTTLING_SLEEP_TIME
    # Receipt dates are vendor wall clock; Chinese SMSCs use UTC+8.
    receipt_utc_offset_min: int = 480
    # Per-account overrides for vendor codes (0x400-0x4FF differ per vendor, SMPP 3.4 §5.1.3).
    reject_reasons: Mapping[int, RejectReason] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "reject_reasons", MappingProxyType(dict(self.reject_reasons)))


class PartialSubmitError(AmbiguousSubmitError):
    """Some parts of a long message were accepted, a later one was not: do not resend the
    whole message (it would duplicate the accepted parts)."""

    kind = "PartialSubmit"

    def __init__(
        self,
        message: str,
        *,
        message_ids: tuple[str, ...],
        parts: int,
        vendor: str,
        raw_request: bytes,
        raw_response: bytes,
        smpp_status: int | None,
    ) -> None:
        super().__init__(
            message,
            vendor=vendor,
            raw_request=raw_request,
            raw_response=raw_response,
            smpp_status=smpp_status,
        )
        self.message_ids = message_ids
        self.parts = parts


# SMPP 3.4 §5.1.3: which permanent codes point at the number; everything else is OTHER unless the
# account config says better (vendor codes 0x400-0x4FF differ per vendor).
_NUMBER_STATUSES = frozenset(
    {
        CommandStatus.ESME_RINVDSTADR,
        CommandStatus.ESME_RINVDSTTON,
        CommandStatus.ESME_RINVDSTNPI,
    }
)
_CONTENT_STATUSES = frozenset({CommandStatus.ESME_RPROHIBITED})


class SmppVendor:
    """One SMPP account as an `SmsVendor`."""

    def __init__(
        self,
        config: SmppVendorConfig,
        *,
        clock: Clock = wall_clock_ns,
        backoff: Backoff | None = None,
        sleep: Sleep = asyncio.sleep,
        rng: random.Random | None = None,
    ) -> None:
        self._config = config
        self._clock = clock
        self._backoff = backoff or ExponentialBackoff(base_s=1.0, max_s=60.0, min_s=0.5)
        self._sleep = sleep
        self._rng = rng or random.Random()
        self._ref = self._rng.randrange(256)
        self._client: SmppClient | None = None
        self._sink: DlrSink | None = None
        self._tz = timezone(timedelta(minutes=config.receipt_utc_offset_min))
        self._log = log.bind(vendor=config.name)

    @property
    def name(self) -> str:
        return self._config.name

    async def start(self, dlr_sink: DlrSink) -> None:
        if self._client is not None:
            return
        self._sink = dlr_sink
        client = SmppClient(
            self._config.client,
            on_deliver=self._on_deliver,
            backoff=self._backoff,
            sleep=self._sleep,
        )
        self._client = client
        await client.start()
        try:
            await client.wait_bound(self._config.bind_timeout_s)
        except smpp_errors.SmppBindRefusedError as exc:
            await self.close()
            if exc.is_auth:
                raise AuthFailedError(str(exc), vendor=self.name, smpp_status=exc.status) from exc
            raise TransientError(str(exc), vendor=self.name, smpp_status=exc.status) from exc
        except TimeoutError as exc:
            await self.close()
            raise TransientError(
                f"not bound within {self._config.bind_timeout_s}s", vendor=self.name
            ) from exc

    async def close(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            await client.close()

    async def poll_dlrs(self) -> int:
        return 0  # receipts arrive as deliver_sm on the bound session

    # -- submit ------------------------------------------------------------------------

    def _next_ref(self) -> int:
        self._ref = (self._ref + 1) % 256
        return self._ref

    async def submit(self, sms: OutgoingSms) -> SubmitResult:
        client = self._client
        if client is None:
            raise TransientError("vendor not started", vendor=self.name)
        cfg = self._config
        segments = segment_text(
            sms.signed_text,
            reference=self._next_ref(),
            gsm7_wire=cfg.gsm7_wire,
            long_messages=cfg.long_messages,
        )
        billed = segments[0].part_total
        whole_payload = len(segments) == 1 and billed > 1  # long_messages = "payload"
        ids: list[str] = []
        requests: list[bytes] = []
        responses: list[bytes] = []
        for seg in segments:
            sm = ShortMessage(
                service_type=cfg.service_type,
                source_addr_ton=cfg.source_addr_ton,
                source_addr_npi=cfg.source_addr_npi,
                source_addr=sms.sender_id or cfg.source_addr,
                dest_addr_ton=cfg.dest_addr_ton,
                dest_addr_npi=cfg.dest_addr_npi,
                destination_addr=sms.to_msisdn.lstrip("+"),
                esm_class=seg.esm_class,
                registered_delivery=REGISTERED_DELIVERY_RECEIPT,
                data_coding=seg.data_coding,
                short_message=seg.short_message,
                tlvs=seg.tlvs,
            )
            attempts = 0
            while True:
                try:
                    resp = await client.submit(sm)
                    break
                except smpp_errors.SmppThrottledError as exc:
                    # A throttled part was not accepted; only a later part is worth a
                    # bounded local retry (the first part's caller can simply retry).
                    if not ids or attempts >= cfg.part_throttle_retries:
                        raise self._fail(exc, ids, billed, requests, responses) from exc
                    attempts += 1
                    await self._sleep(cfg.part_throttle_delay_s)
                except smpp_errors.SmppError as exc:
                    raise self._fail(exc, ids, billed, requests, responses) from exc
            ids.append(resp.message_id)
            requests.append(resp.request)
            responses.append(resp.response)
        self._log.info(
            "smpp_submitted",
            probe_id=sms.probe_id,
            to=mask_msisdn(sms.to_msisdn),
            parts=billed,
            message_ids=ids,
        )
        return SubmitResult(
            vendor=self.name,
            message_ids=tuple(ids),
            parts=billed,
            accepted_at_ns=self._clock(),
            raw_request=b"".join(requests),
            raw_response=b"".join(responses),
            smpp_status=CommandStatus.ESME_ROK,
            # One submit_sm_resp message_id per part acknowledged: what the SMSC bills.
            # message_payload gets one id for the whole text, which says nothing of parts.
            billed_parts=None if whole_payload else len(ids),
            billed_from="" if whole_payload else "acks:smpp",
        )

    def _fail(
        self,
        exc: smpp_errors.SmppError,
        ids: list[str],
        parts: int,
        requests: list[bytes],
        responses: list[bytes],
    ) -> VendorError:
        status = exc.status if isinstance(exc, smpp_errors.SmppStatusError) else None
        if ids:
            return PartialSubmitError(
                f"part {len(ids) + 1}/{parts} failed after {len(ids)} accepted: {exc}",
                message_ids=tuple(ids),
                parts=parts,
                vendor=self.name,
                raw_request=b"".join(requests),
                raw_response=b"".join(responses),
                smpp_status=status,
            )
        return self._vendor_error(exc)

    def _vendor_error(self, exc: smpp_errors.SmppError) -> VendorError:
        """The one mapping from SMPP failures to the collector's error tree."""
        name = self.name
        if isinstance(exc, smpp_errors.SmppThrottledError):
            return ThrottledError(
                str(exc),
                retry_after_s=self._config.throttle_retry_after_s,
                vendor=name,
                code=status_name(exc.status),
                smpp_status=exc.status,
            )
        if isinstance(exc, smpp_errors.SmppTransientStatusError):
            return TransientError(
                str(exc), vendor=name, code=status_name(exc.status), smpp_status=exc.status
            )
        if isinstance(exc, smpp_errors.SmppAmbiguousStatusError):
            return AmbiguousSubmitError(
                str(exc), vendor=name, code=status_name(exc.status), smpp_status=exc.status
            )
        if isinstance(exc, smpp_errors.SmppBindRefusedError):
            return AuthFailedError(
                str(exc), vendor=name, code=status_name(exc.status), smpp_status=exc.status
            )
        if isinstance(exc, smpp_errors.SmppRejectedError):
            reason = self._config.reject_reasons.get(exc.status)
            if reason is None:
                if exc.status in _NUMBER_STATUSES:
                    reason = RejectReason.NUMBER
                elif exc.status in _CONTENT_STATUSES:
                    reason = RejectReason.CONTENT
                else:
                    reason = RejectReason.OTHER
            return RejectedError(
                str(exc),
                reason=reason,
                vendor=name,
                code=status_name(exc.status),
                smpp_status=exc.status,
            )
        if isinstance(exc, smpp_errors.SmppNotBoundError):
            return TransientError(str(exc), vendor=name)
        if isinstance(exc, smpp_errors.SmppAmbiguousSubmitError):
            return AmbiguousSubmitError(str(exc), vendor=name)
        # SmppProtocolError (generic_nack) is our bug, not the probe's: never retried as is.
        return RejectedError(str(exc), reason=RejectReason.OTHER, vendor=name)

    # -- receipts ----------------------------------------------------------------------

    async def _on_deliver(self, pdu: Pdu, raw: bytes) -> None:
        sink = self._sink
        if sink is None:  # cannot happen after start(); refuse so the SMSC redelivers
            raise RuntimeError("DLR arrived before a sink was set")
        if not isinstance(pdu.body, ShortMessage | DataSm):
            return
        body = delivered_message(pdu.body)
        if not body.is_receipt:
            # A mobile-originated message on the probe account: not a DLR; acknowledged
            # so the SMSC does not resend it forever.
            self._log.info("smpp_mo_ignored", source=mask_msisdn(body.source_addr))
            return
        await sink.store(self._raw_dlr(body, raw))

    def _raw_dlr(self, sm: ShortMessage, raw: bytes) -> RawDlr:
        received = self._clock()
        try:
            receipt = receipt_from_deliver_sm(sm)
        except ReceiptParseError as exc:
            self._log.warning("smpp_receipt_unparsed", error=str(exc))
            return RawDlr(
                vendor=self.name,
                message_id="",
                status=DlrStatus.UNKNOWN,
                vendor_status_raw="",
                err="",
                done_at_ns=None,
                received_at_ns=received,
                raw=raw,
                source=DlrSource.SMPP,
                msisdn=sm.source_addr or None,
            )
        done = receipt.text.done_time if receipt.text is not None else None
        done_ns = None
        if done is not None:
            done_ns = int(done.replace(tzinfo=self._tz).astimezone(UTC).timestamp()) * 10**9
        return RawDlr(
            vendor=self.name,
            message_id=receipt.message_id,
            status=normalise_dlr_status(receipt.stat),
            vendor_status_raw=receipt.stat,
            err=receipt.err,
            done_at_ns=done_ns,
            received_at_ns=received,
            raw=raw,
            source=DlrSource.SMPP,
            msisdn=sm.source_addr or None,
        )
