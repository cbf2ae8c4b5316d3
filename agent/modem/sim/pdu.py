"""The little TPDU work the simulator does on its own (TS 23.040 §9.2, TS 23.038 §6.2).

SMS-DELIVER encoding is the agent codec's job (`agent.modem.sms.encode_deliver`); this
module adapts to it and carries a small built-in encoder used only when that codec is not
importable (it is written in parallel), so the simulator never depends on its progress.
It also parses what the codec does not offer: SMS-SUBMIT (for AT+CMGS), a DELIVER summary
for text mode (AT+CMGF=1), and SMS-STATUS-REPORT encoding for sent messages.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

# TS 23.038 §6.2.1 default alphabet; index = septet value.
GSM7_BASIC = (
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞ\x1bÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
# TS 23.038 §6.2.1.1 extension table (after ESC 0x1B).
GSM7_EXT = {
    0x0A: "\f",
    0x14: "^",
    0x28: "{",
    0x29: "}",
    0x2F: "\\",
    0x3C: "[",
    0x3D: "~",
    0x3E: "]",
    0x40: "|",
    0x65: "€",
}
_BASIC_INDEX = {ch: i for i, ch in enumerate(GSM7_BASIC) if ch != "\x1b"}
_EXT_INDEX = {ch: code for code, ch in GSM7_EXT.items()}


class SimPduError(ValueError):
    """A PDU the simulator cannot parse (AT+CMGS answers +CMS ERROR 304)."""


@dataclass(frozen=True)
class DeliverPart:
    """One SMS-DELIVER as stored: full PDU (with SMSC field) and TPDU length (§1.6)."""

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


def gsm7_septets(text: str) -> list[int] | None:
    out: list[int] = []
    for ch in text:
        if ch in _BASIC_INDEX:
            out.append(_BASIC_INDEX[ch])
        elif ch in _EXT_INDEX:
            out += [0x1B, _EXT_INDEX[ch]]
        else:
            return None
    return out


def pack7(septets: list[int], fill_bits: int = 0) -> bytes:
    """TS 23.038 §6.1.2.1.1: LSB-first packing, after `fill_bits` zero bits."""
    acc = 0
    nbits = fill_bits
    for s in septets:
        acc |= (s & 0x7F) << nbits
        nbits += 7
    return acc.to_bytes((nbits + 7) // 8, "little") if nbits else b""


def unpack7(data: bytes, count: int, fill_bits: int = 0) -> list[int]:
    acc = int.from_bytes(data, "little") >> fill_bits
    return [(acc >> (7 * i)) & 0x7F for i in range(count)]


def septets_to_text(septets: list[int]) -> str:
    out: list[str] = []
    escape = False
    for s in septets:
        if escape:
            out.append(GSM7_EXT.get(s, GSM7_BASIC[s]))
            escape = False
        elif s == 0x1B:
            escape = True
        else:
            out.append(GSM7_BASIC[s])
    return "".join(out)


def encode_address(number: str) -> tuple[int, bytes]:
    """TS 23.040 §9.1.2.5: returns (TOA, swapped BCD). '+' → international (0x91)."""
    digits = number.lstrip("+")
    if not digits.isdigit():
        raise SimPduError(f"address {number!r} is not numeric")
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


def _builtin_encode_deliver(
    sender: str,
    text: str,
    scts: datetime,
    *,
    smsc: str | None,
    message_class: int | None,
    encoding: str,
    concat_ref: int,
) -> list[DeliverPart]:
    septets = gsm7_septets(text) if encoding in ("auto", "gsm7") else None
    if septets is None and encoding == "gsm7":
        raise SimPduError("text is not representable in the GSM 7-bit alphabet")
    ucs2 = septets is None
    dcs = 0x08 if ucs2 else 0x00
    if message_class is not None:
        dcs |= 0x10 | (message_class & 0x03)  # TS 23.038 §4: bit4 = class meaningful
    # §8.6 segment sizes with an 8-bit concatenation UDH.
    if ucs2:
        units = text.encode("utf-16-be")
        chunks_b = [units] if len(units) <= 140 else _split_utf16(units, 134)
        chunks: list[Any] = chunks_b
    else:
        assert septets is not None
        chunks = [septets] if len(septets) <= 160 else _split_septets(septets, 153)
    toa, oa = encode_address(sender)
    oa_len = len(sender.lstrip("+"))
    total = len(chunks)
    parts: list[DeliverPart] = []
    for seq, chunk in enumerate(chunks, start=1):
        first = 0x04  # TP-MMS=1: no more messages waiting (§8 field 4)
        udh = b""
        if total > 1:
            first |= 0x40  # TP-UDHI
            udh = bytes([5, 0x00, 3, concat_ref & 0xFF, total, seq])  # IEI 0x00, 8-bit ref
        if ucs2:
            ud = udh + chunk
            udl = len(ud)
            part_text = chunk.decode("utf-16-be", errors="replace")
        else:
            fill = (7 - (len(udh) * 8) % 7) % 7 if udh else 0
            body = pack7(chunk, fill)
            ud = udh + body if udh else body
            udl = (len(udh) * 8 + fill) // 7 + len(chunk) if udh else len(chunk)
            part_text = septets_to_text(chunk)
        tpdu = (
            bytes([first, oa_len, toa])
            + oa
            + bytes([0x00, dcs])
            + encode_scts(scts)
            + bytes([udl])
            + ud
        )
        parts.append(DeliverPart(_smsc_field(smsc) + tpdu, len(tpdu), part_text, sender, scts))
    return parts


def _split_utf16(units: bytes, max_octets: int) -> list[bytes]:
    out: list[bytes] = []
    i = 0
    while i < len(units):
        end = min(i + max_octets, len(units))
        # Do not cut a surrogate pair (§8.6: a well-behaved sender keeps pairs whole).
        if end < len(units) and 0xD8 <= units[end - 2] <= 0xDB:
            end -= 2
        out.append(units[i:end])
        i = end
    return out


def _split_septets(septets: list[int], max_septets: int) -> list[list[int]]:
    out: list[list[int]] = []
    i = 0
    while i < len(septets):
        end = min(i + max_septets, len(septets))
        if end < len(septets) and septets[end - 1] == 0x1B:  # keep ESC with its char
            end -= 1
        out.append(septets[i:end])
        i = end
    return out


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
    """SMS-DELIVER part(s) for `text`; uses agent.modem.sms when it is importable."""
    try:
        from agent.modem import sms as codec

        codec_encode = codec.encode_deliver
    except (ImportError, AttributeError):
        return _builtin_encode_deliver(
            sender,
            text,
            scts,
            smsc=smsc,
            message_class=message_class,
            encoding=encoding,
            concat_ref=concat_ref,
        )
    codec_encoding: Any = encoding if encoding == "auto" else codec.Encoding(encoding)
    encoded = codec_encode(
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
            sender = septets_to_text(unpack7(oa_bytes, oa_len * 4 // 7))
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
            fill = (7 - (udh_len * 8) % 7) % 7 if udh_len else 0
            header_septets = (udh_len * 8 + fill) // 7
            septets = unpack7(ud, udl, 0)
            if udh_len:
                septets = unpack7(ud[udh_len:], udl - header_septets, fill)
            text = septets_to_text(septets)
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
            raise SimPduError("not an SMS-SUBMIT")
        mr = tpdu[1]
        da_len, toa = tpdu[2], tpdu[3]
        da = decode_bcd(tpdu[4 : 4 + (da_len + 1) // 2], da_len)
        if toa & 0x70 == 0x10:
            da = "+" + da
        return Submit(mr=mr, destination=da, srr=bool(first & 0x20), tpdu=bytes(tpdu))
    except IndexError as exc:
        raise SimPduError("truncated SMS-SUBMIT") from exc


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
