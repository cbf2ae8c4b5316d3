"""Long messages: splitting text into segments (TS 23.040 9.2.3.24.1) and joining parts.

Segment sizes (TS 23.040 §9.2.3.24; docs/sms-pdu.md): GSM 7-bit 160 septets single, 153 with
an 8-bit-reference header (6 octets = 7 septets), 152 with a 16-bit one; 8-bit 140/134/133 octets;
UCS2 70/67/66 UTF-16 code units. An escape pair or a surrogate pair is never split.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, Protocol

from agent.sms import gsm7
from agent.sms.dcs import Encoding
from agent.sms.errors import EncodeError
from agent.sms.national import tables_for_udh
from agent.sms.ucs2 import code_units, decode_ucs2

__all__ = [
    "Concat",
    "ConcatPart",
    "join_parts",
    "resolve_encoding",
    "split_text",
    "split_udh_concat",
    "udh_concat",
]

MAX_PARTS = 255

# (single, per part with an 8-bit reference, per part with a 16-bit reference)
_LIMITS = {
    Encoding.GSM7: (160, 153, 152),
    Encoding.EIGHT_BIT: (140, 134, 133),
    Encoding.UCS2: (70, 67, 66),
}


@dataclass(frozen=True)
class Concat:
    """Concatenation IE (TS 23.040 9.2.3.24.1 IEI 0x00 / 9.2.3.24.8 IEI 0x08); seq is 1-based."""

    ref: int
    total: int
    seq: int
    ref_bits: int


class ConcatPart(Protocol):
    """What :func:`join_parts` reads of a decoded part (an SmsDeliver); structural, so this
    module does not import the TPDU decoder that imports it."""

    @property
    def concat(self) -> Concat | None: ...
    @property
    def encoding(self) -> Encoding: ...
    @property
    def udh(self) -> Sequence[tuple[int, bytes]]: ...
    @property
    def user_data(self) -> bytes: ...


def udh_concat(ref: int, total: int, seq: int, ref_bits: int) -> bytes:
    """A complete UDH (with UDHL) carrying one concatenation IE."""
    if ref_bits == 8:
        if not 0 <= ref <= 0xFF:
            raise EncodeError(f"8-bit concatenation reference {ref} is out of range")
        return bytes((5, 0x00, 3, ref, total, seq))
    if ref_bits == 16:
        if not 0 <= ref <= 0xFFFF:
            raise EncodeError(f"16-bit concatenation reference {ref} is out of range")
        return bytes((6, 0x08, 4, ref >> 8, ref & 0xFF, total, seq))
    raise EncodeError(f"ref_bits must be 8 or 16, not {ref_bits}")


def split_udh_concat(user_data: bytes) -> tuple[tuple[int, int, int] | None, bytes]:
    """(reference, total, sequence) of the concatenation IE (TS 23.040 9.2.3.24.1/.8) in the
    UDH that starts `user_data` (UDHL first), and the data after the header. Lenient, for the
    simulators and gateways that take what a submitter sends: a truncated header ends the
    scan, an out-of-range sequence is kept, of repeated IEs the last one counts."""
    if not user_data:
        return None, user_data
    concat: tuple[int, int, int] | None = None
    header_len = user_data[0]
    udh, rest = user_data[1 : 1 + header_len], user_data[1 + header_len :]
    i = 0
    while i + 2 <= len(udh):
        iei, length = udh[i], udh[i + 1]
        value = udh[i + 2 : i + 2 + length]
        if iei == 0x00 and length == 3:
            concat = (value[0], value[1], value[2])
        elif iei == 0x08 and length == 4:
            concat = (int.from_bytes(value[:2], "big"), value[2], value[3])
        i += 2 + length
    return concat, rest


def resolve_encoding(text: str, encoding: Encoding | Literal["auto"] | str) -> Encoding:
    """'auto' -> GSM 7-bit if every character is in the default or extension table, else UCS2."""
    if encoding == "auto":
        return Encoding.GSM7 if gsm7.is_encodable(text) else Encoding.UCS2
    try:
        return Encoding(encoding)
    except ValueError as exc:
        raise EncodeError(f"unknown encoding {encoding!r}") from exc


def _costs(text: str, encoding: Encoding) -> list[int]:
    if encoding is Encoding.GSM7:
        return [len(u) for u in gsm7.septet_units(text)]
    if encoding is Encoding.UCS2:
        return [code_units(ch) for ch in text]
    try:
        text.encode("latin-1")
    except UnicodeEncodeError as exc:
        raise EncodeError(f"character {text[exc.start]!r} does not fit 8-bit data") from exc
    return [1] * len(text)


def split_text(
    text: str,
    encoding: Encoding | Literal["auto"] = "auto",
    *,
    ref_bits: int = 8,
) -> tuple[Encoding, list[str]]:
    """Text -> (encoding, segments); one segment when it fits a single SMS.

    8-bit text means one character per octet (latin-1), as :func:`decode_pdu` returns it.
    """
    enc = resolve_encoding(text, encoding)
    costs = _costs(text, enc)
    single, per8, per16 = _LIMITS[enc]
    if sum(costs) <= single:
        return enc, [text]
    per = per8 if ref_bits == 8 else per16
    parts: list[str] = []
    start = used = 0
    for i, cost in enumerate(costs):
        if used + cost > per:
            parts.append(text[start:i])
            start, used = i, 0
        used += cost
    parts.append(text[start:])
    if len(parts) > MAX_PARTS:
        raise EncodeError(f"text needs {len(parts)} segments; at most {MAX_PARTS} are possible")
    return enc, parts


def join_parts(parts: Sequence[ConcatPart]) -> str:
    """Text of a complete concatenated message, decoded once from the joined code units.

    Parts are ordered by `concat.seq`; joining the raw units first keeps an escape sequence
    or a surrogate pair that was split across segments intact (docs/sms-pdu.md, "Long messages").
    """
    if not parts:
        return ""
    ordered = sorted(parts, key=lambda p: p.concat.seq if p.concat is not None else 0)
    first = ordered[0]
    units = b"".join(p.user_data for p in ordered)
    if first.encoding is Encoding.GSM7:
        tables, _ = tables_for_udh(first.udh)
        return gsm7.decode_septets(units, tables)
    if first.encoding is Encoding.UCS2:
        return decode_ucs2(units)[0]
    return units.decode("latin-1")
