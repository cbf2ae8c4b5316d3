"""`InProcessVendorSimulator`: an `SmsVendor` wired straight into a `CarrierNetwork`, no sockets.

For scheduler/correlation tests and the demo when the wire does not matter: the same policy,
fates, PDUs and ground truth as the HTTP/SMPP faces, with refusals mapped onto the same error
taxonomy and DLRs handed to the sink as push DLRs.
"""

from __future__ import annotations

import json

from collector.vendors.base import (
    AmbiguousSubmitError,
    Clock,
    DlrSink,
    DlrSource,
    OutgoingSms,
    RawDlr,
    RejectedError,
    SubmitResult,
    ThrottledError,
    TransientError,
    wall_clock_ns,
)
from collector.vendors.simulator.network import Accepted, CarrierNetwork, SimulatedDlr

__all__ = ["InProcessVendorSimulator"]


class InProcessVendorSimulator:
    """One scenario vendor as an `SmsVendor`; also the network's `DlrOutlet` for it."""

    def __init__(
        self, network: CarrierNetwork, vendor: str, *, clock: Clock = wall_clock_ns
    ) -> None:
        self._network = network
        self._name = vendor
        self._clock = clock
        self._sink: DlrSink | None = None
        network.set_outlet(vendor, self)

    @property
    def name(self) -> str:
        return self._name

    async def start(self, dlr_sink: DlrSink) -> None:
        self._sink = dlr_sink
        self._network.clock.anchor()

    async def close(self) -> None:
        self._sink = None

    async def poll_dlrs(self) -> int:
        return 0

    async def submit(self, sms: OutgoingSms) -> SubmitResult:
        request = json.dumps(
            {
                "to": sms.to_msisdn,
                "text": sms.text,
                "signature": sms.signature,
                "template_id": sms.template_id,
                "params": dict(sms.params),
                "profile": sms.profile.value,
            },
            ensure_ascii=False,
        ).encode()
        if self._sink is None:
            raise RuntimeError(f"vendor {self._name} used before start()")
        outcome = self._network.submit(
            self._name,
            msisdn=sms.to_msisdn,
            content=sms.text if sms.template_id is None else "",
            signature=sms.signature,
            template_id=sms.template_id,
            params=sms.params,
            profile=sms.profile,
        )
        if isinstance(outcome, Accepted):
            response = json.dumps(
                {"message_ids": list(outcome.message_ids), "fee": outcome.billed_parts}
            ).encode()
            return SubmitResult(
                vendor=self._name,
                message_ids=outcome.message_ids,
                parts=outcome.parts,
                accepted_at_ns=self._clock(),
                raw_request=request,
                raw_response=response,
                billed_parts=outcome.billed_parts,
                billed_from="submit:fee",
            )
        check = outcome.check
        response = json.dumps({"code": check.code, "message": check.message}).encode()
        vendor, code = self._name, check.code
        if check.reject is not None:
            raise RejectedError(
                check.message,
                reason=check.reject,
                raw_request=request,
                raw_response=response,
                vendor=vendor,
                code=code,
            )
        if check.throttled_retry_s is not None:
            raise ThrottledError(
                check.message,
                retry_after_s=check.throttled_retry_s,
                raw_request=request,
                raw_response=response,
                vendor=vendor,
                code=code,
            )
        if check.outage is not None:
            raise TransientError(
                "vendor outage",
                vendor=vendor,
                code=code,
                raw_request=request,
                raw_response=response,
            )
        raise AmbiguousSubmitError(
            "unclassified refusal", vendor=vendor, code=code, raw_request=request
        )

    async def emit(self, dlr: SimulatedDlr) -> bool:
        if self._sink is None:
            return False  # not started/closed: like a vendor pushing to nobody
        raw = json.dumps(
            {
                "msgid": dlr.message_id,
                "status": dlr.status.value,
                "err": dlr.err,
                "mobile": dlr.msisdn,
                "done_at": dlr.done_at.isoformat(),
            },
            ensure_ascii=False,
        ).encode()
        await self._sink.store(
            RawDlr(
                vendor=self._name,
                message_id=dlr.message_id,
                status=dlr.status,
                vendor_status_raw=dlr.status.value,
                err=dlr.err,
                done_at_ns=int(dlr.done_at.timestamp() * 1_000_000_000),
                received_at_ns=self._clock(),
                raw=raw,
                source=DlrSource.PUSH,
                msisdn=dlr.msisdn,
            )
        )
        return True
