"""TPDUs (TS 23.040 9.2.2): decode SMS-DELIVER / SMS-STATUS-REPORT (and SMS-SUBMIT),
encode SMS-DELIVER / SMS-SUBMIT, with the PDU-mode SMSC prefix (TS 27.005 3.1).

Decoding is a straight walk over the octets with explicit bounds checks; every failure is a
:class:`PduError` carrying the octet offset. Field layouts: docs/sms-pdu.md.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, TypeVar

from agent.sms import gsm7
from agent.sms.concat import Concat, split_text, udh_concat
from agent.sms.dcs import _TABLE as _DCS_TABLE
from agent.sms.dcs import Encoding, dcs_reserved, make_dcs
from agent.sms.errors import EncodeError, PduError
from agent.sms.national import tables_for_udh
from agent.sms.semioctet import (
    _BCD_VALUE,
    _NIBBLE_SWAP,
    _TZ,
    TON_UNKNOWN,
    Address,
    decode_address,
    decode_bcd,
    decode_scts,
    encode_address,
    encode_scts,
    encode_smsc,
    parse_address,
)
from agent.sms.ucs2 import decode_ucs2

__all__ = [
    "EncodedPdu",
    "SmsDeliver",
    "SmsStatusReport",
    "SmsSubmit",
    "decode_pdu",
    "decode_submit",
    "encode_deliver",
    "encode_status_report",
    "encode_submit",
    "validity_minutes",
    "validity_octet",
]

Udh = tuple[tuple[int, bytes], ...]
_T = TypeVar("_T")


@dataclass(frozen=True)
class SmsDeliver:
    """SMS-DELIVER (TS 23.040 9.2.2.1).

    `user_data` holds the payload code units after the UDH: one byte per septet for GSM 7-bit,
    the octets for UCS2 and 8-bit; concatenate them across parts and decode once
    (:func:`agent.sms.join_parts`). 8-bit `text` is the octets read as latin-1.
    `warnings` names anything decoded leniently (e.g. "lone-surrogate").
    """

    smsc: str | None
    sender: Address
    pid: int
    dcs: int
    encoding: Encoding
    message_class: int | None
    scts: datetime
    udh: Udh
    concat: Concat | None
    text: str
    user_data: bytes
    more_messages: bool
    status_report_indication: bool
    reply_path: bool
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True)
class SmsStatusReport:
    """SMS-STATUS-REPORT (TS 23.040 9.2.2.3); `status` is TP-ST (TS 23.040 §9.2.3.15)."""

    smsc: str | None
    message_reference: int
    recipient: Address
    scts: datetime
    discharge_time: datetime
    status: int
    pid: int | None = None
    dcs: int | None = None
    text: str = ""
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True)
class SmsSubmit:
    """SMS-SUBMIT (TS 23.040 9.2.2.2), e.g. a "STO SENT" message read back from storage."""

    smsc: str | None
    message_reference: int
    recipient: Address
    pid: int
    dcs: int
    encoding: Encoding
    message_class: int | None
    validity_minutes: int | None
    udh: Udh
    concat: Concat | None
    text: str
    user_data: bytes
    status_report_request: bool
    reject_duplicates: bool
    reply_path: bool
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True)
class EncodedPdu:
    """One PDU-mode line: `pdu` starts with the SMSC prefix; `tpdu_length` is AT+CMGS=<n>."""

    pdu: bytes
    tpdu_length: int

    @property
    def hex(self) -> str:
        """Upper-case hex, as written after AT+CMGS / shown in +CMGR."""
        return self.pdu.hex().upper()


class _FailError(Exception):
    """Internal: a decoding failure at an offset; turned into PduError with the input."""

    def __init__(self, offset: int, reason: str) -> None:
        super().__init__(offset, reason)
        self.offset = offset
        self.reason = reason


def _build(cls: type[_T], values: dict[str, Any]) -> _T:
    """Instantiate a frozen dataclass from a complete field dict.

    The generated frozen __init__ pays one object.__setattr__ per field (about 1.5 us for
    SmsDeliver); filling the instance dict directly gives an identical object 6x cheaper.
    """
    obj = cls.__new__(cls)
    obj.__dict__.update(values)
    return obj


def _to_bytes(data: bytes | bytearray | memoryview | str) -> bytes:
    if isinstance(data, str):
        try:
            return bytes.fromhex(data)
        except ValueError:
            text = "".join(data.split())
            for i, ch in enumerate(text):
                if ch not in "0123456789abcdefABCDEF":
                    raise PduError(text, i // 2, f"{ch!r} is not a hex digit") from None
            if len(text) % 2:
                raise PduError(text, len(text) // 2, "odd number of hex digits") from None
            return bytes.fromhex(text)  # non-ASCII whitespace, which fromhex does not skip
    if isinstance(data, bytes | bytearray | memoryview):
        return bytes(data)
    raise TypeError(f"a PDU is bytes or a hex string, not {type(data).__name__}")


def _smsc(raw: bytes) -> tuple[str | None, int]:
    n = len(raw)
    if n == 0:
        raise _FailError(0, "empty PDU")
    length = raw[0]
    if length == 0:
        return None, 1
    if length > 11:
        raise _FailError(0, f"SMSC address length {length} octets exceeds 11")
    if 1 + length > n:
        raise _FailError(0, f"SMSC address of {length} octets runs past the end")
    toa = raw[1]
    digits = decode_bcd(raw[2 : 1 + length], 2 * (length - 1))
    if not digits:
        return None, 1 + length
    return ("+" + digits if (toa >> 4) & 0x07 == 1 else digits), 1 + length


# Octets whose two semi-octets are both decimal digits (TS 23.040 9.2.3.11 time stamps).
_BCD_OCTETS = bytes(b for b in range(256) if b & 0x0F <= 9 and b >> 4 <= 9)


def _filler_warning(value: bytes, length: int) -> tuple[str, ...]:
    """TS 23.040 9.1.2.5: 0xF is filler only after the last digit of an odd-length number
    and is not counted in the length; one inside the counted digits is dropped, and named."""
    return ("filler-in-address",) if "f" in value.translate(_NIBBLE_SWAP).hex()[:length] else ()


def _scts_warning(stamp: bytes) -> tuple[str, ...]:
    """A semi-octet above 9 in a time stamp reads as a value nobody wrote (0x0A minutes = 10);
    the time is kept and named. The zone's first semi-octet carries the sign in bit 3."""
    if stamp[:6].translate(None, _BCD_OCTETS) or stamp[6] >= 0xA0:
        return ("non-bcd-timestamp",)
    return ()


def _address(raw: bytes, pos: int, what: str) -> tuple[Address, int]:
    n = len(raw)
    if pos + 2 > n:
        raise _FailError(pos, f"{what} address is missing")
    length = raw[pos]
    if length > 20:
        raise _FailError(pos, f"{what} address length {length} semi-octets exceeds 20")
    end = pos + 2 + ((length + 1) >> 1)
    if end > n:
        raise _FailError(pos, f"{what} address of {length} semi-octets runs past the end")
    toa = raw[pos + 1]
    if toa & 0x70 == 0x50:
        return decode_address(length, toa, raw[pos + 2 : end]), end
    number = decode_bcd(raw[pos + 2 : end], length)
    return _build(Address, {"number": number, "ton": (toa >> 4) & 0x07, "npi": toa & 0x0F}), end


def _scts(raw: bytes, pos: int, what: str) -> datetime:
    if pos + 7 > len(raw):
        raise _FailError(pos, f"{what} is truncated")
    try:
        return decode_scts(raw[pos : pos + 7])
    except ValueError as exc:
        raise _FailError(
            pos, f"{what} {raw[pos : pos + 7].hex().upper()} is not a valid time"
        ) from exc


def _udh(raw: bytes, pos: int, limit: int) -> tuple[Udh, int]:
    """Parse the UDH at `pos` (UDHL first); returns the IEs and the header size in octets."""
    udhl = raw[pos]
    end = pos + 1 + udhl
    if end > limit:
        raise _FailError(pos, f"UDH length {udhl} exceeds the user data")
    ies: list[tuple[int, bytes]] = []
    i = pos + 1
    while i < end:
        if i + 2 > end:
            raise _FailError(i, "information element header is truncated")
        iei, iedl = raw[i], raw[i + 1]
        if i + 2 + iedl > end:
            raise _FailError(i, f"IE 0x{iei:02X} of {iedl} octets runs past the UDH")
        ies.append((iei, raw[i + 2 : i + 2 + iedl]))
        i += 2 + iedl
    return tuple(ies), udhl + 1


def _concat(udh: Udh) -> tuple[Concat | None, tuple[str, ...]]:
    concat = None
    warnings: tuple[str, ...] = ()
    for iei, data in udh:
        if iei in (0x00, 0x08) and concat is not None:
            # TS 23.040 9.2.3.24: of a repeated non-repeatable IE the last one counts.
            warnings = (*warnings, "duplicate-concat-ie")
        if iei == 0x00 and len(data) == 3:  # TS 23.040 9.2.3.24.1: 8-bit reference
            concat = Concat(data[0], data[1], data[2], 8)
        elif iei == 0x08 and len(data) == 4:  # TS 23.040 9.2.3.24.8: 16-bit reference
            concat = Concat(data[0] << 8 | data[1], data[2], data[3], 16)
        elif iei in (0x00, 0x08):
            warnings = (*warnings, "malformed-concat-ie")
    if concat is not None and not 1 <= concat.seq <= concat.total:
        # An impossible seq/total is treated as a standalone message (docs/sms-pdu.md).
        return None, (*warnings, "invalid-concat")
    return concat, warnings


def _user_data(
    raw: bytes, pos: int, dcs: int, udhi: bool, lenient: bool
) -> tuple[Encoding, int | None, Udh, Concat | None, str, bytes, tuple[str, ...]]:
    """TP-UDL at `pos`, then TP-UD (TS 23.040 9.2.3.16, 9.2.3.24)."""
    n = len(raw)
    if pos >= n:
        raise _FailError(pos, "TP-UDL is missing")
    udl = raw[pos]
    start = pos + 1
    avail = n - start
    encoding, message_class, compressed = _DCS_TABLE[dcs]
    warnings: tuple[str, ...] = ("compressed",) if compressed else ()
    if dcs_reserved(dcs):
        warnings = (*warnings, "reserved-dcs")  # TS 23.038 4: read as GSM 7-bit
    if udhi and not udl:
        warnings = (*warnings, "udhi-without-user-data")
    udh: Udh = ()
    concat: Concat | None = None
    if encoding is Encoding.GSM7:
        need = (udl * 7 + 7) // 8
        if need > avail:
            if not lenient:
                raise _FailError(pos, f"TP-UDL {udl} septets needs {need} octets, {avail} present")
            udl, need, warnings = avail * 8 // 7, avail, (*warnings, "truncated")
        elif need < avail:
            warnings = (*warnings, "excess-user-data")  # octets past TP-UDL are ignored
        skip = 0
        if udhi and udl:
            udh, hdr = _udh(raw, start, start + need)
            skip = (hdr * 8 + 6) // 7  # fill bits up to the next septet boundary
            if skip > udl:
                raise _FailError(start, f"UDH of {hdr} octets exceeds TP-UDL {udl} septets")
        units = gsm7.unpack_septets(raw[start : start + need], udl, skip)
        if udh:
            concat, more = _concat(udh)
            tables, lang = tables_for_udh(udh)
            text, escapes = gsm7.decode_septets_checked(units, tables)
            warnings = (*warnings, *more, *lang, *escapes)
        else:
            text, escapes = gsm7.decode_septets_checked(units)
            if escapes:
                warnings = (*warnings, *escapes)
        return encoding, message_class, udh, concat, text, units, warnings
    if udl > avail:
        if not lenient:
            raise _FailError(pos, f"TP-UDL {udl} octets but {avail} present")
        udl, warnings = avail, (*warnings, "truncated")
    elif udl < avail:
        warnings = (*warnings, "excess-user-data")  # octets past TP-UDL are ignored
    hdr = 0
    if udhi and udl:
        udh, hdr = _udh(raw, start, start + udl)
        concat, more = _concat(udh)
        warnings = (*warnings, *more)
    units = raw[start + hdr : start + udl]
    if encoding is Encoding.UCS2:
        text, more = decode_ucs2(units)
        if more:
            warnings = (*warnings, *more)
    else:
        text = units.decode("latin-1")
    return encoding, message_class, udh, concat, text, units, warnings


def _deliver(raw: bytes, pos: int, smsc: str | None, lenient: bool) -> SmsDeliver:
    fo = raw[pos]
    n = len(raw)
    p = pos + 1
    # Fast path for numeric senders (inlined TP-OA and TP-SCTS); anything unusual takes the
    # general helpers below, which also produce the precise error.
    scts = None
    notes: tuple[str, ...] = ()
    if p + 2 <= n:
        length, toa = raw[p], raw[p + 1]
        end = p + 2 + ((length + 1) >> 1)
        if length <= 20 and end + 9 <= n and toa & 0x70 != 0x50:
            digits = raw[p + 2 : end].translate(_NIBBLE_SWAP).hex()[:length]
            if not digits.isdigit():
                digits = decode_bcd(raw[p + 2 : end], length)
                notes = _filler_warning(raw[p + 2 : end], length)
            sender = _build(
                Address, {"number": digits, "ton": (toa >> 4) & 0x07, "npi": toa & 0x0F}
            )
            v = _BCD_VALUE
            yy = v[raw[end + 2]]
            try:
                scts = datetime(
                    (1900 if 90 <= yy <= 99 else 2000) + yy,
                    v[raw[end + 3]],
                    v[raw[end + 4]],
                    v[raw[end + 5]],
                    v[raw[end + 6]],
                    v[raw[end + 7]],
                    tzinfo=_TZ[raw[end + 8]],
                )
            except ValueError:
                scts = None
            pos = end
    if scts is None:
        sender, pos = _address(raw, p, "TP-OA")
        if pos + 2 > n:
            raise _FailError(pos, "TP-PID/TP-DCS are missing")
        scts = _scts(raw, pos + 2, "TP-SCTS")
        notes = _filler_warning(raw[p + 2 : pos], raw[p]) if sender.ton != 5 else ()
    notes = (*notes, *_scts_warning(raw[pos + 2 : pos + 9]))
    pid, dcs = raw[pos], raw[pos + 1]
    encoding, cls, udh, concat, text, units, warnings = _user_data(
        raw, pos + 9, dcs, bool(fo & 0x40), lenient
    )
    if notes:
        warnings = (*notes, *warnings)
    return _build(
        SmsDeliver,
        {
            "smsc": smsc,
            "sender": sender,
            "pid": pid,
            "dcs": dcs,
            "encoding": encoding,
            "message_class": cls,
            "scts": scts,
            "udh": udh,
            "concat": concat,
            "text": text,
            "user_data": units,
            # TS 23.040 9.2.3.2: TP-MMS 0 means more messages are waiting.
            "more_messages": not fo & 0x04,
            "status_report_indication": bool(fo & 0x20),
            "reply_path": bool(fo & 0x80),
            "warnings": warnings,
        },
    )


def _status_report(raw: bytes, pos: int, smsc: str | None, lenient: bool) -> SmsStatusReport:
    fo = raw[pos]
    if pos + 1 >= len(raw):
        raise _FailError(pos + 1, "TP-MR is missing")
    mr = raw[pos + 1]
    start = pos + 2
    recipient, pos = _address(raw, start, "TP-RA")
    scts = _scts(raw, pos, "TP-SCTS")
    discharge = _scts(raw, pos + 7, "TP-DT")
    notes = _filler_warning(raw[start + 2 : pos], raw[start]) if recipient.ton != 5 else ()
    stamps = _scts_warning(raw[pos : pos + 7]) or _scts_warning(raw[pos + 7 : pos + 14])
    notes = (*notes, *stamps)
    pos += 14
    if pos >= len(raw):
        raise _FailError(pos, "TP-ST is missing")
    status = raw[pos]
    pos += 1
    pid = dcs = None
    text = ""
    warnings: tuple[str, ...] = ()
    # TS 23.040 9.2.3.27 TP-PI is optional; 0xFF is SIM-record filler (docs/sms-pdu.md),
    # and a PI that announces more than is present is ignored rather than fatal.
    if pos < len(raw) and raw[pos] != 0xFF:
        pi = raw[pos]
        pos += 1
        wanted = (pi & 1) + (pi >> 1 & 1) + (pi >> 2 & 1)
        if pos + wanted > len(raw):
            warnings = ("truncated-optional-fields",)
        else:
            if pi & 1:
                pid, pos = raw[pos], pos + 1
            if pi & 2:
                dcs, pos = raw[pos], pos + 1
            if pi & 4:
                try:
                    *_, text, _, more = _user_data(raw, pos, dcs or 0, bool(fo & 0x40), lenient)
                    warnings = more
                except _FailError:
                    warnings = ("undecodable-optional-user-data",)
    return _build(
        SmsStatusReport,
        {
            "smsc": smsc,
            "message_reference": mr,
            "recipient": recipient,
            "scts": scts,
            "discharge_time": discharge,
            "status": status,
            "pid": pid,
            "dcs": dcs,
            "text": text,
            "warnings": (*notes, *warnings),
        },
    )


def decode_pdu(
    data: bytes | str, *, has_sca: bool = True, lenient: bool = False
) -> SmsDeliver | SmsStatusReport:
    """Decode a received PDU (SMS-DELIVER or SMS-STATUS-REPORT).

    `data` is bytes or hex (case-insensitive, whitespace tolerated). `has_sca=False` when the
    input is a bare TPDU without the SMSC prefix. `lenient=True` decodes the readable prefix of
    user data shorter than TP-UDL says (warning "truncated") instead of failing.
    Raises PduError for anything that cannot be decoded.
    """
    if type(data) is str:
        try:
            raw = bytes.fromhex(data)
        except ValueError:
            raw = _to_bytes(data)
    else:
        raw = _to_bytes(data)
    try:
        smsc, pos = _smsc(raw) if has_sca else (None, 0)
        if pos >= len(raw):
            raise _FailError(pos, "first octet is missing")
        mti = raw[pos] & 0x03
        if mti == 0:
            return _deliver(raw, pos, smsc, lenient)
        if mti == 2:
            return _status_report(raw, pos, smsc, lenient)
        if mti == 1:
            raise _FailError(
                pos, "TP-MTI 01 is an SMS-SUBMIT, not a received message (decode_submit)"
            )
        raise _FailError(pos, "TP-MTI 11 is reserved")
    except _FailError as exc:
        raise PduError(raw.hex().upper(), exc.offset, exc.reason) from None


def validity_minutes(octet: int) -> int:
    """Relative TP-VP (TS 23.040 9.2.3.12.1) -> minutes."""
    if octet <= 143:
        return (octet + 1) * 5
    if octet <= 167:
        return 12 * 60 + (octet - 143) * 30
    if octet <= 196:
        return (octet - 166) * 24 * 60
    return (octet - 192) * 7 * 24 * 60


def validity_octet(minutes: int) -> int:
    """Minutes -> the smallest relative TP-VP that is at least that long (capped at 63 weeks)."""
    if minutes < 0:
        raise EncodeError("validity must not be negative")
    for octet in range(256):
        if validity_minutes(octet) >= minutes:
            return octet
    return 255


def decode_submit(data: bytes | str, *, has_sca: bool = True) -> SmsSubmit:
    """Decode an SMS-SUBMIT (e.g. a sent message listed by AT+CMGL=4); PduError if invalid."""
    raw = _to_bytes(data)
    try:
        smsc, pos = _smsc(raw) if has_sca else (None, 0)
        if pos >= len(raw):
            raise _FailError(pos, "first octet is missing")
        fo = raw[pos]
        if fo & 0x03 != 1:
            raise _FailError(pos, f"TP-MTI {fo & 0x03:02b} is not an SMS-SUBMIT")
        if pos + 1 >= len(raw):
            raise _FailError(pos + 1, "TP-MR is missing")
        mr = raw[pos + 1]
        recipient, end = _address(raw, pos + 2, "TP-DA")
        notes = _filler_warning(raw[pos + 4 : end], raw[pos + 2]) if recipient.ton != 5 else ()
        pos = end
        if pos + 2 > len(raw):
            raise _FailError(pos, "TP-PID/TP-DCS are missing")
        pid, dcs = raw[pos], raw[pos + 1]
        pos += 2
        vpf = (fo >> 3) & 0x03
        minutes = None
        if vpf == 2:
            if pos >= len(raw):
                raise _FailError(pos, "TP-VP is missing")
            minutes, pos = validity_minutes(raw[pos]), pos + 1
        elif vpf:
            if pos + 7 > len(raw):
                raise _FailError(pos, "TP-VP is truncated")
            pos += 7
        encoding, cls, udh, concat, text, units, warnings = _user_data(
            raw, pos, dcs, bool(fo & 0x40), False
        )
        warnings = (*notes, *warnings)
        return SmsSubmit(
            smsc=smsc,
            message_reference=mr,
            recipient=recipient,
            pid=pid,
            dcs=dcs,
            encoding=encoding,
            message_class=cls,
            validity_minutes=minutes,
            udh=udh,
            concat=concat,
            text=text,
            user_data=units,
            status_report_request=bool(fo & 0x20),
            reject_duplicates=bool(fo & 0x04),
            reply_path=bool(fo & 0x80),
            warnings=warnings,
        )
    except _FailError as exc:
        raise PduError(raw.hex().upper(), exc.offset, exc.reason) from None


def _encode_ud(encoding: Encoding, part: str, header: bytes) -> bytes:
    """TP-UDL + TP-UD for one segment."""
    if encoding is Encoding.GSM7:
        ud, udl = gsm7.pack_septets(gsm7.encode_text(part), header)
        return bytes((udl,)) + ud
    body = part.encode("utf-16-be") if encoding is Encoding.UCS2 else part.encode("latin-1")
    ud = header + body
    if len(ud) > 140:
        raise EncodeError(f"user data of {len(ud)} octets exceeds 140")
    return bytes((len(ud),)) + ud


def _segments(
    text: str, encoding: Encoding | Literal["auto"], concat_ref: int, ref_bits: int
) -> tuple[Encoding, list[tuple[bytes, str]]]:
    enc, parts = split_text(text, encoding, ref_bits=ref_bits)
    if len(parts) == 1:
        return enc, [(b"", parts[0])]
    total = len(parts)
    return enc, [
        (udh_concat(concat_ref, total, seq, ref_bits), part)
        for seq, part in enumerate(parts, start=1)
    ]


def encode_deliver(
    sender: str,
    text: str,
    scts: datetime,
    *,
    smsc: str | None = None,
    message_class: int | None = None,
    encoding: Encoding | Literal["auto"] = "auto",
    concat_ref: int = 0,
    ref_bits: int = 8,
    pid: int = 0,
) -> list[EncodedPdu]:
    """SMS-DELIVER PDUs, one per segment. `sender`: '+86…' international, digits national
    (TOA 0xA1), anything else alphanumeric. Raises EncodeError (a ValueError)."""
    prefix = encode_smsc(smsc)
    oa = encode_address(parse_address(sender))
    enc, segments = _segments(text, encoding, concat_ref, ref_bits)
    head = bytes((pid, make_dcs(enc, message_class))) + encode_scts(scts)
    out = []
    for header, part in segments:
        # TS 23.040 9.2.3.2: TP-MMS=1 (no more messages waiting); 9.2.3.23 TP-UDHI.
        fo = 0x04 | (0x40 if header else 0)
        tpdu = bytes((fo,)) + oa + head + _encode_ud(enc, part, header)
        out.append(EncodedPdu(prefix + tpdu, len(tpdu)))
    return out


def encode_submit(
    recipient: str,
    text: str,
    *,
    smsc: str | None = None,
    message_reference: int = 0,
    status_report_request: bool = False,
    encoding: Encoding | Literal["auto"] = "auto",
    concat_ref: int = 0,
    ref_bits: int = 8,
    validity_minutes: int | None = None,
) -> list[EncodedPdu]:
    """SMS-SUBMIT PDUs, one per segment (TP-MR increments per segment, mod 256)."""
    if not 0 <= message_reference <= 0xFF:
        raise EncodeError(f"message reference {message_reference} is out of range")
    address = parse_address(recipient, national_ton=TON_UNKNOWN)
    if address.ton == 5:
        raise EncodeError(f"recipient {recipient!r} must be a number")
    prefix = encode_smsc(smsc)
    da = encode_address(address)
    enc, segments = _segments(text, encoding, concat_ref, ref_bits)
    dcs = make_dcs(enc, None)
    vp = b"" if validity_minutes is None else bytes((validity_octet(validity_minutes),))
    out = []
    for i, (header, part) in enumerate(segments):
        # TS 23.040 9.2.3.1-9.2.3.5: MTI 01, VPF 10 (relative) when a validity is given.
        fo = 0x01 | (0x10 if vp else 0) | (0x20 if status_report_request else 0)
        fo |= 0x40 if header else 0
        mr = (message_reference + i) & 0xFF
        tpdu = bytes((fo, mr)) + da + bytes((0, dcs)) + vp + _encode_ud(enc, part, header)
        out.append(EncodedPdu(prefix + tpdu, len(tpdu)))
    return out


def encode_status_report(
    recipient: str,
    message_reference: int,
    scts: datetime,
    discharge_time: datetime,
    status: int,
    *,
    smsc: str | None = None,
) -> EncodedPdu:
    """An SMS-STATUS-REPORT (TS 23.040 9.2.2.3) without optional parameters, e.g. for +CDS
    in a modem simulator. `status` is TP-ST (0x00 delivered, 0x20-0x7F: TS 23.040 §9.2.3.15)."""
    if not 0 <= message_reference <= 0xFF:
        raise EncodeError(f"message reference {message_reference} is out of range")
    if not 0 <= status <= 0xFF:
        raise EncodeError(f"status {status} is out of range")
    address = parse_address(recipient, national_ton=TON_UNKNOWN)
    if address.ton == 5:
        raise EncodeError(f"recipient {recipient!r} must be a number")
    # First octet: TP-MTI 10 and TP-MMS (no more messages).
    tpdu = (
        bytes((0x06, message_reference))
        + encode_address(address)
        + encode_scts(scts)
        + encode_scts(discharge_time)
        + bytes((status,))
    )
    return EncodedPdu(encode_smsc(smsc) + tpdu, len(tpdu))
