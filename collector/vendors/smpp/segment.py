"""Long-message segmentation for submit_sm: one short_message per part, UDH concatenation.

Pure. Uses the agent's TS 23.038/23.040 codec (agent/modem/sms: split_text, udh_concat,
gsm7, ucs2) so the collector splits exactly as the modems reassemble; a segment boundary
never splits an escape pair or a UTF-16 surrogate pair.

SMPP 3.4 §5.2.12 esm_class 0x40 (UDHI) marks a short_message that starts with a UDH;
TS 23.040 9.2.3.24.1: IEI 0x00, 8-bit reference, "05 00 03 ref total seq".
data_coding 0x00 is "SMSC default alphabet" (§5.2.19), which for the SMSCs we meet means
GSM 03.38; most expect one septet per octet (unpacked), some want packed septets.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from agent.modem.sms.concat import split_text, udh_concat
from agent.modem.sms.dcs import Encoding
from agent.modem.sms.errors import EncodeError
from agent.modem.sms.gsm7 import encode_text, pack_septets
from agent.modem.sms.ucs2 import encode_ucs2
from collector.vendors.smpp.pdu import (
    DATA_CODING_DEFAULT,
    DATA_CODING_UCS2,
    ESM_CLASS_UDHI,
)


class Gsm7Wire(enum.Enum):
    UNPACKED = "unpacked"  # one septet per octet: the common SMPP convention
    PACKED = "packed"  # TS 23.038 packing, as on the air interface


class SegmentError(ValueError):
    """Text that cannot be sent as at most 255 parts."""


@dataclass(frozen=True, slots=True)
class Segment:
    short_message: bytes
    data_coding: int
    esm_class: int
    part_index: int  # 1-based, as in the UDH
    part_total: int


def _gsm7_payload(chunk: str, udh: bytes, wire: Gsm7Wire) -> bytes:
    septets = encode_text(chunk)
    if wire is Gsm7Wire.PACKED:
        # TS 23.040 9.2.3.24: after a UDH the text starts on the next septet boundary.
        return pack_septets(septets, header=udh)[0]
    return udh + septets


def segment_text(
    text: str,
    *,
    reference: int,
    gsm7_wire: Gsm7Wire = Gsm7Wire.UNPACKED,
    force_ucs2: bool = False,
) -> list[Segment]:
    """Split `text` into submit_sm payloads; GSM 7-bit when possible, else UCS-2 (0x08).

    Segment sizes come from the agent's `split_text` (160/153 septets, 70/67 UTF-16
    units), so the collector splits exactly as the modems' codec expects to reassemble.
    """
    try:
        encoding, chunks = split_text(text, Encoding.UCS2 if force_ucs2 else "auto")
    except EncodeError as exc:
        raise SegmentError(str(exc)) from exc
    total = len(chunks)
    coding = DATA_CODING_UCS2 if encoding is Encoding.UCS2 else DATA_CODING_DEFAULT
    segments = []
    for seq, chunk in enumerate(chunks, start=1):
        udh = udh_concat(reference & 0xFF, total, seq, 8) if total > 1 else b""
        if encoding is Encoding.UCS2:
            payload = udh + encode_ucs2(chunk)
        else:
            payload = _gsm7_payload(chunk, udh, gsm7_wire)
        segments.append(Segment(payload, coding, ESM_CLASS_UDHI if udh else 0, seq, total))
    return segments
