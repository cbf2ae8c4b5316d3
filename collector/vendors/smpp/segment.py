"""Long-message segmentation for submit_sm, in the three ways SMSCs take long messages
(docs/vendors.md): one submit_sm per part with a UDH (the default), one per part with the SAR
TLVs (the SMSC writes the UDH), or the whole text in one submit_sm's message_payload (the
SMSC splits it; one message id for all parts).

Pure. Uses the agent's TS 23.038/23.040 codec (agent/sms: split_text, udh_concat,
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

from agent.sms.concat import split_text, udh_concat
from agent.sms.dcs import Encoding
from agent.sms.errors import EncodeError
from agent.sms.gsm7 import encode_text, pack_septets
from agent.sms.ucs2 import encode_ucs2
from collector.vendors.smpp.pdu import (
    DATA_CODING_DEFAULT,
    DATA_CODING_UCS2,
    ESM_CLASS_UDHI,
    Tlv,
    TlvTag,
)


class Gsm7Wire(enum.Enum):
    UNPACKED = "unpacked"  # one septet per octet: the common SMPP convention
    PACKED = "packed"  # TS 23.038 packing, as on the air interface


class LongMessages(enum.Enum):
    UDH = "udh"  # UDH in each part's short_message, esm_class UDHI (§5.2.12)
    SAR = "sar"  # sar_msg_ref_num / sar_total_segments / sar_segment_seqnum (§5.3.2.22-24)
    PAYLOAD = "payload"  # one submit_sm, the whole text in message_payload (§5.3.2.32)


class SegmentError(ValueError):
    """Text that cannot be sent as at most 255 parts."""


@dataclass(frozen=True, slots=True)
class Segment:
    short_message: bytes
    data_coding: int
    esm_class: int
    part_index: int  # 1-based, as in the UDH
    part_total: int  # parts on the air (what the vendor bills), also for a payload submit
    tlvs: tuple[Tlv, ...] = ()


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
    long_messages: LongMessages = LongMessages.UDH,
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

    def encoded(chunk: str, udh: bytes = b"") -> bytes:
        if encoding is Encoding.UCS2:
            return udh + encode_ucs2(chunk)
        return _gsm7_payload(chunk, udh, gsm7_wire)

    if long_messages is LongMessages.PAYLOAD and total > 1:
        whole = encoded("".join(chunks))
        return [Segment(b"", coding, 0, 1, total, (Tlv(TlvTag.MESSAGE_PAYLOAD, whole),))]
    segments = []
    for seq, chunk in enumerate(chunks, start=1):
        if total == 1 or long_messages is LongMessages.PAYLOAD:
            segments.append(Segment(encoded(chunk), coding, 0, seq, total))
        elif long_messages is LongMessages.SAR:
            sar = (
                Tlv.u16(TlvTag.SAR_MSG_REF_NUM, reference & 0xFFFF),
                Tlv.u8(TlvTag.SAR_TOTAL_SEGMENTS, total),
                Tlv.u8(TlvTag.SAR_SEGMENT_SEQNUM, seq),
            )
            segments.append(Segment(encoded(chunk), coding, 0, seq, total, sar))
        else:
            udh = udh_concat(reference & 0xFF, total, seq, 8)
            segments.append(Segment(encoded(chunk, udh), coding, ESM_CLASS_UDHI, seq, total))
    return segments
