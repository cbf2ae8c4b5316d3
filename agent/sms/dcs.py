"""TP-DCS (TS 23.038 4): alphabet and message class, decided once per octet value."""

from __future__ import annotations

import enum

__all__ = ["Encoding", "dcs_info", "dcs_reserved", "make_dcs"]


class Encoding(str, enum.Enum):  # noqa: UP042 (the agreed interface spelling)
    """Character set of the user data."""

    GSM7 = "gsm7"
    UCS2 = "ucs2"
    EIGHT_BIT = "8bit"


_ALPHABET = (Encoding.GSM7, Encoding.EIGHT_BIT, Encoding.UCS2, Encoding.GSM7)


def _classify(dcs: int) -> tuple[Encoding, int | None, bool]:
    group = dcs >> 4
    if group < 0x8:
        # 00xx general data coding / 01xx automatic deletion: bit 5 compressed, bit 4 says
        # whether bits 1-0 are a class, bits 3-2 the alphabet (11 reserved -> GSM 7-bit).
        cls = dcs & 0x03 if dcs & 0x10 else None
        if dcs & 0x20:
            # TS 23.042 compressed data: expose the octets as binary, never as text.
            return Encoding.EIGHT_BIT, cls, True
        return _ALPHABET[(dcs >> 2) & 0x03], cls, False
    if group == 0xE:
        # 1110 message waiting indication, store message, UCS2.
        return Encoding.UCS2, None, False
    if group == 0xF:
        # 1111 data coding/message class: bit 3 reserved (0xFB is *not* UCS2),
        # bit 2 = 8-bit, bits 1-0 class.
        return (Encoding.EIGHT_BIT if dcs & 0x04 else Encoding.GSM7), dcs & 0x03, False
    # 1000-1011 reserved and 1100/1101 MWI groups: GSM 7-bit, no class.
    return Encoding.GSM7, None, False


_TABLE: tuple[tuple[Encoding, int | None, bool], ...] = tuple(_classify(d) for d in range(256))


def _reserved(dcs: int) -> bool:
    group = dcs >> 4
    if group < 0x8:
        return not dcs & 0x20 and (dcs >> 2) & 0x03 == 0x03  # alphabet 11
    if group == 0xF:
        return bool(dcs & 0x08)  # bit 3 reserved
    return group < 0xC  # 1000-1011 reserved coding groups


_RESERVED: tuple[bool, ...] = tuple(_reserved(d) for d in range(256))


def dcs_reserved(dcs: int) -> bool:
    """True for a reserved TP-DCS value (TS 23.038 4), decoded as GSM 7-bit by that rule."""
    return _RESERVED[dcs]


def dcs_info(dcs: int) -> tuple[Encoding, int | None, bool]:
    """(encoding, message class, compressed) for a TP-DCS octet."""
    return _TABLE[dcs]


def make_dcs(encoding: Encoding, message_class: int | None) -> int:
    """The general-data-coding DCS (group 00xx) for an alphabet and optional class."""
    alphabet = {Encoding.GSM7: 0x00, Encoding.EIGHT_BIT: 0x04, Encoding.UCS2: 0x08}[encoding]
    if message_class is None:
        return alphabet
    if not 0 <= message_class <= 3:
        raise ValueError(f"message class must be 0..3, not {message_class}")
    return 0x10 | alphabet | message_class
