"""Delivery receipts: the de-facto Appendix B text, receipt TLVs, and id normalisation.

Pure functions only. The text format is "vendor specific" per SMPP 3.4 Appendix B:

    id:IIIIIIIIII sub:SSS dlvrd:DDD submit date:YYMMDDhhmm done date:YYMMDDhhmm
    stat:DDDDDDD err:E text:...

Real SMSCs vary it (docs/vendors.md): seconds in the dates, no space
in "submitdate", "Text:" capitalised, missing fields, extra spaces, non-numeric ids. The
parser accepts all of those and keeps the raw text, so nothing is lost when it guesses.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass
from datetime import datetime

from collector.vendors.smpp.pdu import (
    DATA_CODING_UCS2,
    DataSm,
    MessageState,
    ShortMessage,
    TlvTag,
)


class ReceiptParseError(ValueError):
    """Text that carries no receipt id at all."""


class IdStyle(enum.Enum):
    """How an SMSC renders its numeric message ids."""

    DECIMAL = "decimal"
    HEX = "hex"  # upper-case, no leading zeros, like npm smpp's "ABC1"

    def render(self, number: int) -> str:
        return str(number) if self is IdStyle.DECIMAL else f"{number:X}"

    @property
    def other(self) -> IdStyle:
        return IdStyle.HEX if self is IdStyle.DECIMAL else IdStyle.DECIMAL


# stat values (Appendix B, plus ENROUTE used for intermediate notifications).
STAT_BY_STATE = {
    MessageState.ENROUTE: "ENROUTE",
    MessageState.DELIVERED: "DELIVRD",
    MessageState.EXPIRED: "EXPIRED",
    MessageState.DELETED: "DELETED",
    MessageState.UNDELIVERABLE: "UNDELIV",
    MessageState.ACCEPTED: "ACCEPTD",
    MessageState.UNKNOWN: "UNKNOWN",
    MessageState.REJECTED: "REJECTD",
}
STATE_BY_STAT = {v: k for k, v in STAT_BY_STATE.items()}


@dataclass(frozen=True, slots=True)
class ReceiptText:
    """The fields of an Appendix-B receipt text, as found (strings kept raw)."""

    message_id: str
    stat: str = ""  # upper-cased; vendor codes such as "MK:0005" kept verbatim
    err: str = ""
    sub: str = ""
    dlvrd: str = ""
    submit_date: str = ""  # raw digits, e.g. "1002101730" or "100210173000"
    done_date: str = ""
    text: str = ""
    raw: str = ""

    @property
    def submit_time(self) -> datetime | None:
        """Vendor wall clock (time zone unknown, usually UTC+8 in China), or None."""
        return parse_receipt_date(self.submit_date)

    @property
    def done_time(self) -> datetime | None:
        return parse_receipt_date(self.done_date)

    @property
    def state(self) -> MessageState | None:
        return STATE_BY_STAT.get(self.stat)


_KEY = re.compile(
    r"(?:^|(?<=\s))(id|sub|dlvrd|submit\s*date|done\s*date|stat|err|text)\s*:",
    re.IGNORECASE,
)


def parse_receipt_text(text: str) -> ReceiptText:
    """Parse an Appendix-B receipt text; raises ReceiptParseError when there is no `id:`."""
    matches: list[re.Match[str]] = []
    for m in _KEY.finditer(text):
        matches.append(m)
        if m.group(1).lower() == "text":
            break  # everything after text: is the message's own content, keys included
    fields: dict[str, str] = {}
    for i, m in enumerate(matches):
        key = re.sub(r"\s+", "_", m.group(1).lower())
        end = matches[i + 1].start() if i + 1 < len(matches) else len(text)
        value = text[m.end() : end]
        value = value.lstrip(" ") if key == "text" else value.strip()
        fields.setdefault(key, value)
    message_id = fields.get("id", "")
    if not message_id:
        raise ReceiptParseError(f"no id: field in receipt text {text[:80]!r}")
    return ReceiptText(
        message_id=message_id,
        stat=fields.get("stat", "").upper(),
        err=fields.get("err", ""),
        sub=fields.get("sub", ""),
        dlvrd=fields.get("dlvrd", ""),
        submit_date=fields.get("submit_date", ""),
        done_date=fields.get("done_date", ""),
        text=fields.get("text", ""),
        raw=text,
    )


def parse_receipt_date(value: str) -> datetime | None:
    """YYMMDDhhmm or YYMMDDhhmmss (Appendix B); None for empty or all-zero dates."""
    digits = value.strip()
    if len(digits) not in (10, 12) or not digits.isdigit() or not digits.strip("0"):
        return None
    fmt = "%y%m%d%H%M%S" if len(digits) == 12 else "%y%m%d%H%M"
    try:
        return datetime.strptime(digits, fmt)
    except ValueError:
        return None


def format_receipt_date(when: datetime, *, seconds: bool = False) -> str:
    return when.strftime("%y%m%d%H%M%S" if seconds else "%y%m%d%H%M")


def build_receipt_text(
    message_id: str,
    stat: str,
    *,
    submit_time: datetime,
    done_time: datetime,
    err: str = "000",
    sub: int = 1,
    dlvrd: int | None = None,
    text: str = "",
    seconds: bool = False,
) -> str:
    """An Appendix-B receipt; `text` is cut to its first 20 characters like SMSCs do."""
    delivered = dlvrd if dlvrd is not None else (sub if stat == "DELIVRD" else 0)
    return (
        f"id:{message_id} sub:{sub:03d} dlvrd:{delivered:03d}"
        f" submit date:{format_receipt_date(submit_time, seconds=seconds)}"
        f" done date:{format_receipt_date(done_time, seconds=seconds)}"
        f" stat:{stat} err:{err} text:{text[:20]}"
    )


@dataclass(frozen=True, slots=True)
class DeliveryReceipt:
    """What one deliver_sm receipt says, from its TLVs and its text.

    `message_id` prefers the receipted_message_id TLV (SMPP 3.4 §5.3.2) over the text id;
    both are kept because they can disagree in base or leading zeros.
    """

    message_id: str
    tlv_message_id: str | None
    text_message_id: str | None
    state: MessageState | None
    stat: str
    err: str
    text: ReceiptText | None
    network_error_code: bytes | None
    intermediate: bool


def decode_short_message_text(sm: ShortMessage) -> str:
    """short_message as text by data_coding: UCS-2 for 8 (node-smpp#68), else latin-1."""
    if sm.data_coding == DATA_CODING_UCS2:
        return sm.short_message.decode("utf-16-be", errors="replace")
    return sm.short_message.decode("latin-1")


def delivered_message(body: ShortMessage | DataSm) -> ShortMessage:
    """What an SMSC delivers, as one shape: a data_sm (§4.7.1, some SMSCs send receipts
    that way) is a deliver_sm whose text travels in message_payload (read from there by
    `receipt_from_deliver_sm`)."""
    if isinstance(body, ShortMessage):
        return body
    return ShortMessage(
        source_addr=body.source_addr,
        destination_addr=body.destination_addr,
        service_type=body.service_type,
        source_addr_ton=body.source_addr_ton,
        source_addr_npi=body.source_addr_npi,
        dest_addr_ton=body.dest_addr_ton,
        dest_addr_npi=body.dest_addr_npi,
        esm_class=body.esm_class,
        registered_delivery=body.registered_delivery,
        data_coding=body.data_coding,
        tlvs=body.tlvs,
    )


def receipt_from_deliver_sm(sm: ShortMessage) -> DeliveryReceipt:
    """Interpret a receipt deliver_sm; raises ReceiptParseError if no id is found anywhere."""
    tlv_id_raw = sm.tlv(TlvTag.RECEIPTED_MESSAGE_ID)
    tlv_id = tlv_id_raw.as_cstring() if tlv_id_raw is not None else None
    state_tlv = sm.tlv(TlvTag.MESSAGE_STATE)
    tlv_state: MessageState | None = None
    if state_tlv is not None:
        try:
            tlv_state = MessageState(state_tlv.as_int())
        except ValueError:
            tlv_state = None
    payload = sm.tlv(TlvTag.MESSAGE_PAYLOAD)
    body = (
        ShortMessage(short_message=payload.value, data_coding=sm.data_coding)
        if payload is not None and not sm.short_message
        else sm
    )
    text_raw = decode_short_message_text(body)
    parsed: ReceiptText | None
    try:
        parsed = parse_receipt_text(text_raw)
    except ReceiptParseError:
        parsed = None
    if not tlv_id and parsed is None:
        raise ReceiptParseError(f"receipt without id (text {text_raw[:80]!r})")
    message_id = tlv_id or (parsed.message_id if parsed else "")
    state = tlv_state or (parsed.state if parsed else None)
    stat = parsed.stat if parsed and parsed.stat else (STAT_BY_STATE[state] if state else "")
    nec = sm.tlv(TlvTag.NETWORK_ERROR_CODE)
    return DeliveryReceipt(
        message_id=message_id,
        tlv_message_id=tlv_id,
        text_message_id=parsed.message_id if parsed else None,
        state=state,
        stat=stat,
        err=parsed.err if parsed else "",
        text=parsed,
        network_error_code=nec.value if nec is not None else None,
        intermediate=state in (MessageState.ENROUTE, MessageState.ACCEPTED),
    )
