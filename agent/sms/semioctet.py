"""Semi-octet fields (TS 23.040 9.1.2.3): addresses (9.1.2.5) and time stamps (9.2.3.11)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone

from agent.sms import gsm7
from agent.sms.errors import EncodeError

__all__ = [
    "TON_ALPHANUMERIC",
    "TON_INTERNATIONAL",
    "TON_NATIONAL",
    "TON_UNKNOWN",
    "Address",
    "decode_address",
    "decode_bcd",
    "decode_scts",
    "encode_address",
    "encode_bcd",
    "encode_scts",
    "parse_address",
]

TON_UNKNOWN = 0
TON_INTERNATIONAL = 1
TON_NATIONAL = 2
TON_ALPHANUMERIC = 5
NPI_ISDN = 1

# TS 23.040 9.1.2.3 / 24.008 10.5.4.7: semi-octet values 0xA-0xE are * # a b c; 0xF is filler.
_BCD = "0123456789*#abcF"
_NIBBLE_SWAP = bytes((b & 0x0F) << 4 | b >> 4 for b in range(256))
_HEX_TO_BCD = str.maketrans({"a": "*", "b": "#", "c": "a", "d": "b", "e": "c", "f": None})
_DIGIT_VALUE = {ch: i for i, ch in enumerate(_BCD[:15])}
# Octet -> two-digit decimal value of a swapped BCD pair (may exceed 99 for non-BCD nibbles).
_BCD_VALUE = tuple((b & 0x0F) * 10 + (b >> 4) for b in range(256))


def _tz(octet: int) -> timezone:
    # TS 23.040 9.2.3.11: quarter hours; bit 3 of the first semi-octet (low nibble) is the sign.
    quarters = (octet & 0x07) * 10 + (octet >> 4)
    minutes = -15 * quarters if octet & 0x08 else 15 * quarters
    return UTC if minutes == 0 else timezone(timedelta(minutes=minutes))


_TZ = tuple(_tz(b) for b in range(256))


@dataclass(frozen=True)
class Address:
    """An originator/recipient address: `number` has no '+'; for TON 5 it is the text."""

    number: str
    ton: int
    npi: int

    @property
    def formatted(self) -> str:
        """`+` and the digits for international numbers, else the number as is."""
        return "+" + self.number if self.ton == TON_INTERNATIONAL else self.number

    @property
    def toa(self) -> int:
        """The type-of-address octet."""
        return 0x80 | (self.ton & 0x07) << 4 | (self.npi & 0x0F)

    def __str__(self) -> str:
        return self.formatted


def decode_bcd(data: bytes, digits: int) -> str:
    """`digits` semi-octets of swapped BCD; filler (0xF) nibbles are dropped."""
    # Swap the nibbles, then hex() yields the semi-octets in order; letters need mapping.
    text = data.translate(_NIBBLE_SWAP).hex()[:digits]
    if text.isdigit():
        return text
    trimmed = text.rstrip("f")  # the usual odd-length filler
    return trimmed if trimmed.isdigit() else text.translate(_HEX_TO_BCD)


def encode_bcd(number: str) -> bytes:
    """Digits (and * # a b c) -> swapped BCD, padded with F."""
    try:
        values = [_DIGIT_VALUE[ch] for ch in number]
    except KeyError as exc:
        raise EncodeError(f"{exc.args[0]!r} is not a semi-octet digit") from exc
    if len(values) & 1:
        values.append(0x0F)
    return bytes(values[i] | values[i + 1] << 4 for i in range(0, len(values), 2))


def decode_address(length: int, toa: int, value: bytes) -> Address:
    """TP-OA/TP-DA/TP-RA: `length` counts semi-octets (9.1.2.5), even for alphanumerics."""
    ton = (toa >> 4) & 0x07
    npi = toa & 0x0F
    if ton == TON_ALPHANUMERIC:
        # TS 23.040 9.1.2.5: packed GSM 7-bit; only whole septets count (no trailing '@').
        count = length * 4 // 7
        return Address(gsm7.decode_septets(gsm7.unpack_septets(value, count)), ton, npi)
    return Address(decode_bcd(value, length), ton, npi)


_NUMBER = re.compile(r"\+?[0-9*#]{1,20}")


def parse_address(text: str, *, national_ton: int = TON_NATIONAL) -> Address:
    """'+8613...' -> international; digits (* #) -> `national_ton`; anything else ->
    alphanumeric (TON 5, up to 11 GSM 7-bit characters)."""
    if _NUMBER.fullmatch(text):
        if text.startswith("+"):
            return Address(text[1:], TON_INTERNATIONAL, NPI_ISDN)
        return Address(text, national_ton, NPI_ISDN)
    if not text:
        raise EncodeError("empty address")
    if len(gsm7.encode_text(text)) > 11:
        raise EncodeError(f"alphanumeric address {text!r} is longer than 11 septets")
    return Address(text, TON_ALPHANUMERIC, 0)


def encode_address(address: Address) -> bytes:
    """Address -> length (semi-octets), TOA, value."""
    if address.ton == TON_ALPHANUMERIC:
        septets = gsm7.encode_text(address.number)
        value, _ = gsm7.pack_septets(septets)
        return bytes(((len(septets) * 7 + 3) // 4, address.toa)) + value
    return bytes((len(address.number), address.toa)) + encode_bcd(address.number)


def encode_smsc(smsc: str | None) -> bytes:
    """The PDU-mode SMSC prefix (TS 27.005 3.1 <pdu>): `00` when absent; octet count."""
    if not smsc:
        return b"\x00"
    address = parse_address(smsc, national_ton=TON_UNKNOWN)
    if address.ton == TON_ALPHANUMERIC:
        raise EncodeError(f"SMSC address {smsc!r} must be a number")
    value = encode_bcd(address.number)
    return bytes((len(value) + 1, address.toa)) + value


def decode_scts(data: bytes) -> datetime:
    """Seven swapped-BCD octets YY MM DD hh mm ss TZ -> aware datetime; ValueError if invalid.

    Two-digit years pivot at 90 (90-99 -> 1990s), as python-gsmmodem does.
    """
    v = _BCD_VALUE
    yy = v[data[0]]
    return datetime(
        (1900 if 90 <= yy <= 99 else 2000) + yy,
        v[data[1]],
        v[data[2]],
        v[data[3]],
        v[data[4]],
        v[data[5]],
        tzinfo=_TZ[data[6]],
    )


def _pair(value: int) -> int:
    return (value % 10) << 4 | value // 10


def encode_scts(when: datetime) -> bytes:
    """Aware datetime -> seven TP-SCTS octets (seconds resolution, quarter-hour zone)."""
    offset = when.utcoffset()
    if offset is None:
        raise EncodeError("SCTS needs a timezone-aware datetime")
    if not 1990 <= when.year <= 2089:
        raise EncodeError(f"year {when.year} does not fit a two-digit SCTS year")
    seconds = int(offset.total_seconds())
    if seconds % 900:
        raise EncodeError(f"UTC offset {offset} is not a whole number of quarter hours")
    quarters = abs(seconds) // 900
    if quarters > 79:
        raise EncodeError(f"UTC offset {offset} is out of range")
    tz = _pair(quarters) | (0x08 if seconds < 0 else 0)
    return bytes(
        (
            _pair(when.year % 100),
            _pair(when.month),
            _pair(when.day),
            _pair(when.hour),
            _pair(when.minute),
            _pair(when.second),
            tz,
        )
    )
