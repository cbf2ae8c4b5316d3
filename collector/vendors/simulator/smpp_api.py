"""SMPP face of a simulated vendor: the SMPP engineer's `SmppServer` with our network behind
its `on_submit` hook, so a scenario vendor with `protocol = "smpp"` can be reached by SMPP.

Long messages arrive as one submit_sm (SMPP 3.4 §4.4.1) per UDH part; parts are
acknowledged as they come and the message enters the network once every part is in, with
one message id per part; each part id later gets its own receipt (1.3, 2.7).

A receipt is in the truth once the SMSC wrote it to a bound receiver session and the ESME
acknowledged it (the server's sent-hook), as the gateway face does: one due while no
receiver is bound waits for the next bind, one the ESME refused temporarily
(ESME_RX_T_APPN) is sent again, and one still queued when the run ends was never sent.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

import structlog

from agent.sms.concat import split_udh_concat
from agent.sms.gsm7 import decode_septets
from collector.vendors.base import ContentProfile, RejectReason
from collector.vendors.simulator.network import Accepted, CarrierNetwork, SimulatedDlr
from collector.vendors.simulator.scenario import SmscAlphabet, VendorScenario
from collector.vendors.smpp.pdu import CommandStatus, ShortMessage
from collector.vendors.smpp.server import SmppServer, SmppServerConfig, SubmitEvent

__all__ = ["SmppVendorSimulator", "decode_submit_text"]

log = structlog.get_logger(__name__)

_ESM_UDHI = 0x40
_TLV_MESSAGE_PAYLOAD = 0x0424
_SAR_TAGS = (0x020C, 0x020E, 0x020F)  # sar_msg_ref_num, sar_total_segments, _segment_seqnum
_DATA_CODING_UCS2 = 0x08
_REDELIVER_AFTER_S = 1.0  # a receipt the ESME could not store (ESME_RX_T_APPN) goes again

_REFUSAL_STATUS = {
    RejectReason.NUMBER: CommandStatus.ESME_RINVDSTADR,
    RejectReason.TEMPLATE: CommandStatus.ESME_RSUBMITFAIL,
    RejectReason.SIGNATURE: CommandStatus.ESME_RSUBMITFAIL,
    RejectReason.CONTENT: CommandStatus.ESME_RSUBMITFAIL,
    RejectReason.OTHER: CommandStatus.ESME_RSUBMITFAIL,
}


@dataclass(frozen=True, slots=True)
class SubmitText:
    text: str
    concat: tuple[int, int, int] | None  # (reference, total, sequence)


def decode_submit_text(
    sm: ShortMessage, default_alphabet: SmscAlphabet = SmscAlphabet.GSM7
) -> SubmitText:
    """Text and concatenation of one submit_sm: from the UDH (TS 23.040 9.2.3.24.1/.8 IEs)
    or the SAR TLVs; the text from short_message or message_payload. data_coding 0 is the
    "SMSC default alphabet" (SMPP 3.4 §5.2.19), the vendor's choice: GSM 03.38 septets one
    per octet, as smpplib, the npm smpp package and our adapter send it, unless the
    vendor is set to Latin-1."""
    payload = sm.short_message
    if not payload:
        tlv = sm.tlv(_TLV_MESSAGE_PAYLOAD)
        payload = tlv.value if tlv is not None else b""
    concat: tuple[int, int, int] | None = None
    if sm.esm_class & _ESM_UDHI:
        concat, payload = split_udh_concat(payload)
    sar = [sm.tlv(tag) for tag in _SAR_TAGS]
    if concat is None and all(t is not None for t in sar):
        ref, total, seq = (int.from_bytes(t.value, "big") for t in sar if t is not None)
        concat = (ref, total, seq)
    if sm.data_coding == _DATA_CODING_UCS2:
        text = payload.decode("utf-16-be", errors="replace")
    elif sm.data_coding == 0 and default_alphabet is SmscAlphabet.GSM7:
        text = _gsm7_text(payload)
    else:
        text = payload.decode("latin-1")  # data_coding 3 (ISO-8859-1), or a Latin-1 SMSC
    return SubmitText(text, concat)


def _gsm7_text(payload: bytes) -> str:
    """Unpacked septets -> text; a byte above 0x7F is no septet and becomes U+FFFD rather
    than being remapped silently."""
    return "".join(
        decode_septets(run) if run[0] < 0x80 else "\ufffd" * len(run) for run in _runs(payload)
    )


def _runs(payload: bytes) -> list[bytes]:
    """Consecutive bytes split where they cross 0x80 (septets vs. not)."""
    out: list[bytes] = []
    for b in payload:
        if out and (out[-1][0] < 0x80) == (b < 0x80):
            out[-1] += bytes([b])
        else:
            out.append(bytes([b]))
    return out


@dataclass
class _Pending:
    parts: dict[int, tuple[str, str]] = field(default_factory=dict)  # seq -> (text, id)


class SmppVendorSimulator:
    """One simulated vendor reached by SMPP; also the network's `DlrOutlet` for it."""

    def __init__(
        self, network: CarrierNetwork, vendor: str, *, host: str = "127.0.0.1", port: int = 0
    ) -> None:
        self._network = network
        self._vendor: VendorScenario = network.vendor(vendor)
        self.server = SmppServer(
            SmppServerConfig(
                accounts={self._vendor.account: self._vendor.password},
                host=host,
                port=port,
                redeliver_after_s=_REDELIVER_AFTER_S,
            ),
            on_submit=self._on_submit,
        )
        self._numbers: dict[str, int] = {}
        self._pending: dict[tuple[str, int, int], _Pending] = {}
        network.set_outlet(vendor, self)

    @property
    def port(self) -> int:
        return self.server.port

    async def start(self) -> None:
        await self.server.start()
        self._network.clock.anchor()
        log.info("sim_vendor_smpp_listening", vendor=self._vendor.name, port=self.port)

    async def close(self) -> None:
        await self.server.close()

    async def _on_submit(self, event: SubmitEvent) -> int:
        self._numbers[event.message_id] = event.message_number
        decoded = decode_submit_text(event.sm, self._vendor.smpp_default_alphabet)
        ids: tuple[str, ...] = (event.message_id,)
        text = decoded.text
        if decoded.concat is not None:
            ref, total, seq = decoded.concat
            key = (event.sm.destination_addr, ref, total)
            pending = self._pending.setdefault(key, _Pending())
            pending.parts[seq] = (decoded.text, event.message_id)
            if len(pending.parts) < total:
                return int(CommandStatus.ESME_ROK)
            del self._pending[key]
            ordered = [pending.parts[s] for s in sorted(pending.parts)]
            text = "".join(t for t, _ in ordered)
            ids = tuple(i for _, i in ordered)
        signature, content = "", text
        if text.startswith("【") and "】" in text:
            signature, content = text[1:].split("】", 1)
        outcome = self._network.submit(
            self._vendor.name,
            msisdn=event.sm.destination_addr,
            content=content,
            signature=signature,
            profile=ContentProfile.NOTIFICATION,
            message_ids=ids,
        )
        if isinstance(outcome, Accepted):
            return int(CommandStatus.ESME_ROK)
        check = outcome.check
        if check.reject is not None:
            return int(_REFUSAL_STATUS[check.reject])
        if check.throttled_retry_s is not None:
            return int(CommandStatus.ESME_RTHROTTLED)
        return int(CommandStatus.ESME_RSYSERR)  # outage: ambiguous for the client

    async def emit(self, dlr: SimulatedDlr) -> bool:
        """True once the receipt was written to a bound receiver session and acknowledged;
        waits across a time without a receiver; False when the SMSC gave it up."""
        number = self._numbers.get(dlr.message_id)
        if number is None:
            return False
        sent: asyncio.Future[bool] = asyncio.get_running_loop().create_future()

        def on_sent(ok: bool) -> None:
            if not sent.done():
                sent.set_result(ok)

        await self.server.send_receipt(
            self._vendor.account,
            number,
            dlr.status.value,
            submit_time=dlr.submitted_at,
            done_time=dlr.done_at,
            err=dlr.err,
            text=dlr.text,
            form=self._vendor.smpp_receipt_form,
            source_addr=dlr.msisdn,
            destination_addr=self._vendor.sender,
            on_sent=on_sent,
        )
        return await sent
