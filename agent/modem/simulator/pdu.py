"""The little TPDU work the simulator does on its own (TS 23.040 §9.2, TS 23.038 §6.2).

SMS-DELIVER encoding and the GSM 7-bit alphabet are the agent codec's (`agent.sms`); this
module adapts to it and does what the codec does not offer: SMS-SUBMIT parsing (for AT+CMGS),
a DELIVER summary for text mode (AT+CMGF=1), SMS-STATUS-REPORT encoding for sent messages.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Literal

from agent import sms as codec
from agent.sms import gsm7
from agent.sms.dcs import Encoding


class SimulatorPduError(ValueError):
    """A PDU the simulator cannot parse (AT+CMGS answers +CMS ERROR 304)."""


@dataclass(frozen=True)
class DeliverPart:
    """One SMS-DELIVER as stored: full PDU (with SMSC field) and TPDU length (TS 27.005 §3.1)."""

    pdu: bytes
    tpdu_length: int
    text: str  # this part's text, for text mode
    sender: str
    scts: datetime


@dataclass(frozen=True)
class Submit:
    mr: int
    destination: str
    srr: bool  # TP-SRR: the sender asked for a status report
    tpdu: bytes


def encode_address(number: str) -> tuple[int, bytes]:
    """TS 23.040 §9.1.2.5: returns (TOA, swapped BCD). '+' → international (0x91)."""
    digits = number.lstrip("+")
    if not digits.isdigit():
        raise SimulatorPduError(f"address {number!r} is not numeric")
    toa = 0x91 if number.startswith("+") else 0x81
    padded = digits + ("F" if len(digits) % 2 else "")
    bcd = bytes(int(padded[i + 1] + padded[i], 16) for i in range(0, len(padded), 2))
    return toa, bcd


def decode_bcd(data: bytes, ndigits: int) -> str:
    table = "0123456789*#abc"
    out: list[str] = []
    for octet in data:
        for nibble in (octet & 0x0F, octet >> 4):
            if len(out) < ndigits and nibble != 0x0F:
                out.append(table[nibble])
    return "".join(out)


def encode_scts(when: datetime) -> bytes:
    """TS 23.040 §9.2.3.11: swapped BCD, zone in quarter hours (sign in bit 3 of nibble 1)."""
    offset = when.utcoffset() or timedelta(0)
    quarters = int(offset.total_seconds() // 900)
    fields = [when.year % 100, when.month, when.day, when.hour, when.minute, when.second]
    out = bytearray(((v % 10) << 4) | (v // 10) for v in fields)
    q = abs(quarters)
    tz = ((q % 10) << 4) | (q // 10)
    if quarters < 0:
        tz |= 0x08
    out.append(tz)
    return bytes(out)


def decode_scts(data: bytes) -> datetime:
    def bcd(octet: int) -> int:
        return (octet & 0x0F) * 10 + (octet >> 4)

    y, mo, d, h, mi, s = (bcd(b) for b in data[:6])
    tz = data[6]
    quarters = (tz & 0x07) * 10 + (tz >> 4)
    if tz & 0x08:
        quarters = -quarters
    zone = timezone(timedelta(minutes=15 * quarters))
    return datetime(2000 + y, mo, d, h, mi, s, tzinfo=zone)


def _smsc_field(smsc: str | None) -> bytes:
    if not smsc:
        return b"\x00"
    toa, bcd = encode_address(smsc)
    return bytes([len(bcd) + 1, toa]) + bcd


def encode_deliver(
    sender: str,
    text: str,
    scts: datetime,
    *,
    smsc: str | None = None,
    message_class: int | None = None,
    encoding: str = "auto",
    concat_ref: int = 0,
) -> list[DeliverPart]:
    """SMS-DELIVER part(s) for `text`, encoded by the agent's codec (agent.sms)."""
    codec_encoding: Encoding | Literal["auto"] = (
        "auto" if encoding == "auto" else Encoding(encoding)
    )
    encoded = codec.encode_deliver(
        sender,
        text,
        scts,
        smsc=smsc,
        message_class=message_class,
        encoding=codec_encoding,
        concat_ref=concat_ref,
    )
    parts: list[DeliverPart] = []
    for item in encoded:
        pdu = bytes(item.pdu)
        summary = summarize_deliver(pdu)
        parts.append(
            DeliverPart(pdu, int(item.tpdu_length), summary.text if summary else "", sender, scts)
        )
    return parts


@dataclass(frozen=True)
class DeliverSummary:
    sender: str
    scts: datetime
    text: str
    message_class: int | None


def summarize_deliver(pdu: bytes) -> DeliverSummary | None:
    """Best-effort decode of an SMS-DELIVER for text mode; None when it is not one."""
    try:
        i = pdu[0] + 1
        first = pdu[i]
        if first & 0x03 != 0:
            return None
        oa_len, toa = pdu[i + 1], pdu[i + 2]
        oa_bytes = pdu[i + 3 : i + 3 + (oa_len + 1) // 2]
        i += 3 + (oa_len + 1) // 2
        if toa & 0x70 == 0x50:  # alphanumeric (TON 101)
            sender = gsm7.decode_septets(gsm7.unpack_septets(oa_bytes, oa_len * 4 // 7))
        else:
            sender = ("+" if toa & 0x70 == 0x10 else "") + decode_bcd(oa_bytes, oa_len)
        dcs = pdu[i + 1]
        scts = decode_scts(pdu[i + 2 : i + 9])
        udl = pdu[i + 9]
        ud = pdu[i + 10 :]
        udh_len = ud[0] + 1 if first & 0x40 else 0
        group = dcs >> 4
        message_class: int | None = None
        if group < 0x8:  # general data coding (TS 23.038 §4)
            alphabet = (dcs >> 2) & 0x03
            if dcs & 0x10:
                message_class = dcs & 0x03
        elif group == 0xE:  # MWI store, UCS2
            alphabet = 2
        elif group == 0xF:  # bit 3 reserved, bit 2 = 8-bit
            alphabet = 1 if dcs & 0x04 else 0
            message_class = dcs & 0x03
        else:
            alphabet = 0
        alphabet = 0 if alphabet == 3 else alphabet
        if alphabet == 2:
            text = ud[udh_len:udl].decode("utf-16-be", errors="replace")
        elif alphabet == 1:
            text = ud[udh_len:udl].hex().upper()
        else:
            header_septets = (udh_len * 8 + 6) // 7  # the text starts on a septet boundary
            text = gsm7.decode_septets(gsm7.unpack_septets(ud, udl, header_septets))
        return DeliverSummary(sender, scts, text, message_class)
    except (IndexError, ValueError):
        return None


def parse_submit(pdu: bytes) -> Submit:
    """TS 23.040 §9.2.2.2: enough of an SMS-SUBMIT for AT+CMGS (MR, DA, SRR)."""
    try:
        i = pdu[0] + 1
        tpdu = pdu[i:]
        first = tpdu[0]
        if first & 0x03 != 0x01:
            raise SimulatorPduError("not an SMS-SUBMIT")
        mr = tpdu[1]
        da_len, toa = tpdu[2], tpdu[3]
        da = decode_bcd(tpdu[4 : 4 + (da_len + 1) // 2], da_len)
        if toa & 0x70 == 0x10:
            da = "+" + da
        return Submit(mr=mr, destination=da, srr=bool(first & 0x20), tpdu=bytes(tpdu))
    except IndexError as exc:
        raise SimulatorPduError("truncated SMS-SUBMIT") from exc


def encode_status_report(
    mr: int, recipient: str, scts: datetime, discharge: datetime, status: int = 0x00
) -> DeliverPart:
    """TS 23.040 §9.2.2.3 SMS-STATUS-REPORT (MTI=10), no optional parameters."""
    toa, ra = encode_address(recipient)
    tpdu = (
        bytes([0x06, mr & 0xFF, len(recipient.lstrip("+")), toa])
        + ra
        + encode_scts(scts)
        + encode_scts(discharge)
        + bytes([status])
    )
    return DeliverPart(b"\x00" + tpdu, len(tpdu), "", recipient, scts)
