"""GSM 7-bit default alphabet (TS 23.038 6.2.1), extension table (6.2.1.1), septet packing.

Packing and unpacking never loop per bit or per septet in Python: the whole user data is one
integer and the septets are spread into (or gathered from) octet slots in log2(n) mask-and-shift
steps with precomputed masks.
"""

from __future__ import annotations

import codecs
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from agent.sms.errors import EncodeError

__all__ = [
    "DEFAULT_ALPHABET",
    "DEFAULT_EXTENSION",
    "DEFAULT_TABLES",
    "ESC",
    "Gsm7Tables",
    "decode_septets",
    "decode_septets_checked",
    "encode_text",
    "is_encodable",
    "pack_septets",
    "septet_units",
    "unpack_septets",
]

ESC = 0x1B

# TS 23.038 6.2.1: septet value -> character; 0x1B is the escape to the extension table.
DEFAULT_ALPHABET = (
    "@£$¥èéùìòÇ\nØø\rÅå"
    "Δ_ΦΓΛΩΠΨΣΘΞ\x1bÆæßÉ"
    " !\"#¤%&'()*+,-./"
    "0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNO"
    "PQRSTUVWXYZÄÖÑÜ§"
    "¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
assert len(DEFAULT_ALPHABET) == 128

# TS 23.038 6.2.1.1: the characters reached by ESC <septet>.
DEFAULT_EXTENSION: Mapping[int, str] = MappingProxyType(
    {
        0x0A: "\x0c",
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
)


def _encode_map(base: str, ext: Mapping[int, str]) -> Mapping[str, bytes]:
    enc: dict[str, bytes] = {}
    # Base table first: a character in both tables costs one septet, not two.
    for code, ch in enumerate(base):
        if code != ESC:
            enc.setdefault(ch, bytes((code,)))
    for code, ch in ext.items():
        enc.setdefault(ch, bytes((ESC, code)))
    return MappingProxyType(enc)


@dataclass(frozen=True)
class Gsm7Tables:
    """A base (locking-shift) table and an extension (single-shift) table, TS 23.038 6.2/A."""

    base: str
    ext: Mapping[int, str]
    name: str = "default"
    encode_map: Mapping[str, bytes] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if len(self.base) != 128:
            raise ValueError("a GSM 7-bit base table has 128 entries")
        object.__setattr__(self, "encode_map", _encode_map(self.base, self.ext))


DEFAULT_TABLES = Gsm7Tables(DEFAULT_ALPHABET, DEFAULT_EXTENSION)


def _masks(size: int) -> tuple[tuple[int, int, int], ...]:
    """(shift, low mask, high mask) per level for `size` septets (a power of two)."""
    levels = []
    h = size // 2
    while h >= 1:
        width = (1 << (7 * h)) - 1
        low = high = 0
        for j in range(size // (2 * h)):
            low |= width << (j * 16 * h)
            high |= width << (j * 16 * h + 7 * h)
        levels.append((h, low, high))
        h //= 2
    return tuple(levels)


# Largest TP-UDL is 255 septets, so 256 is the largest power of two needed.
_SIZES = tuple(1 << k for k in range(3, 9))
_MASKS = {size: _masks(size) for size in _SIZES}


def _size_for(count: int) -> int:
    for size in _SIZES:
        if count <= size:
            return size
    raise ValueError(f"{count} septets is more than one TP-UD can hold")


def unpack_septets(data: bytes, count: int, start: int = 0) -> bytes:
    """Septets `start..count-1` of the LSB-first packed stream `data`, one per byte.

    TS 23.038 6.1.2.1.1: septet i occupies bits 7i..7i+6 of the little-endian bit stream.
    `data` must hold at least ceil(7*count/8) octets; extra bits are ignored.
    """
    if count <= start:
        return b""
    size = _size_for(count)
    t = int.from_bytes(data, "little") & ((1 << (7 * count)) - 1)
    for h, low, high in _MASKS[size]:
        t = (t & low) | ((t & high) << h)
    return t.to_bytes(size, "little")[start:count]


def pack_septets(septets: bytes, header: bytes = b"") -> tuple[bytes, int]:
    """Pack septets after an optional UDH; returns (TP-UD octets, TP-UDL in septets).

    TS 23.040 9.2.3.24: with a header the text starts at the next septet boundary, i.e. after
    ceil(8*len(header)/7) septets (fill bits are zero).
    """
    start = (len(header) * 8 + 6) // 7
    total = start + len(septets)
    if total > 255:
        raise EncodeError(f"{total} septets do not fit in one TP-UD")
    t = 0
    if septets:
        size = _size_for(len(septets))
        t = int.from_bytes(septets, "little")
        for h, low, high in reversed(_MASKS[size]):
            t = (t & low) | ((t >> h) & high)
    t = (t << (7 * start)) | int.from_bytes(header, "little")
    return t.to_bytes((7 * total + 7) // 8, "little"), total


def decode_septets(septets: bytes, tables: Gsm7Tables = DEFAULT_TABLES) -> str:
    """Septet values (one per byte, < 128) -> text, resolving ESC via the extension table
    (the anomalies `decode_septets_checked` names are resolved the same way, silently)."""
    if ESC not in septets:
        return codecs.charmap_decode(septets, "strict", tables.base)[0]
    return decode_septets_checked(septets, tables)[0]


def decode_septets_checked(
    septets: bytes, tables: Gsm7Tables = DEFAULT_TABLES
) -> tuple[str, tuple[str, ...]]:
    """Like `decode_septets`, with warnings naming each tolerated escape anomaly.

    TS 23.038 6.2.1.1 note 1: ESC + a value without an extension character shows the base
    character ("undefined-escape"); Android maps ESC ESC to a space ("escape-escape"); a
    lone trailing ESC is dropped ("trailing-escape", also how an escape pair split across
    the parts of a long message looks in the first part).
    """
    base = tables.base
    if ESC not in septets:
        return codecs.charmap_decode(septets, "strict", base)[0], ()
    ext = tables.ext
    chunks = septets.split(b"\x1b")
    out = [codecs.charmap_decode(chunks[0], "strict", base)[0]]
    warnings: list[str] = []
    last = len(chunks) - 1
    consumed = False  # the ESC before this chunk was itself the escaped septet
    for i in range(1, last + 1):
        chunk = chunks[i]
        if consumed:
            consumed = False
        elif not chunk:
            if i == last:
                warnings.append("trailing-escape")
                break
            out.append(" ")  # ESC ESC
            warnings.append("escape-escape")
            consumed = True
            continue
        else:
            ch = ext.get(chunk[0])
            if ch is None:
                ch = base[chunk[0]]
                warnings.append("undefined-escape")
            out.append(ch)
            chunk = chunk[1:]
        out.append(codecs.charmap_decode(chunk, "strict", base)[0])
    return "".join(out), tuple(dict.fromkeys(warnings))


def encode_text(text: str, tables: Gsm7Tables = DEFAULT_TABLES) -> bytes:
    """Text -> septet values (extension characters become ESC + septet); EncodeError if a
    character has no GSM 7-bit encoding in `tables`."""
    enc = tables.encode_map
    try:
        return b"".join([enc[ch] for ch in text])
    except KeyError as exc:
        raise EncodeError(f"character {exc.args[0]!r} is not in the GSM 7-bit alphabet") from exc


def is_encodable(text: str, tables: Gsm7Tables = DEFAULT_TABLES) -> bool:
    """True if every character is in the base or extension table."""
    return set(text).issubset(tables.encode_map.keys())


def septet_units(text: str, tables: Gsm7Tables = DEFAULT_TABLES) -> list[bytes]:
    """Per character, its septets (1 or 2); the unit a segment boundary must not split."""
    enc = tables.encode_map
    try:
        return [enc[ch] for ch in text]
    except KeyError as exc:
        raise EncodeError(f"character {exc.args[0]!r} is not in the GSM 7-bit alphabet") from exc
