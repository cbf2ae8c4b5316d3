"""Long-message segmentation for submit_sm (docs/vendors.md, "Long messages")."""

from __future__ import annotations

import pytest

from agent.sms.gsm7 import decode_septets, unpack_septets
from collector.vendors.smpp.pdu import TlvTag
from collector.vendors.smpp.segment import (
    Gsm7Wire,
    LongMessages,
    SegmentError,
    segment_text,
)


def test_short_gsm_text_is_one_unpacked_part() -> None:
    [seg] = segment_text("Code 123456 {ok}", reference=1)
    assert (seg.data_coding, seg.esm_class, seg.part_total) == (0, 0, 1)
    assert decode_septets(seg.short_message) == "Code 123456 {ok}"


def test_160_septets_fit_one_part_161_need_two() -> None:
    assert len(segment_text("a" * 160, reference=1)) == 1
    parts = segment_text("a" * 161, reference=7)
    assert [len(p.short_message) for p in parts] == [6 + 153, 6 + 8]
    assert parts[0].short_message[:6] == bytes.fromhex("050003070201")
    assert parts[1].short_message[:6] == bytes.fromhex("050003070202")
    assert all(p.esm_class == 0x40 for p in parts)


def test_escape_pair_is_never_split() -> None:
    text = "a" * 152 + "€" + "b" * 10  # € is ESC 0x65: septets 153 and 154
    parts = segment_text(text, reference=1)
    assert len(parts) == 2
    assert decode_septets(parts[0].short_message[6:]) == "a" * 152
    assert decode_septets(parts[1].short_message[6:]) == "€" + "b" * 10


def test_chinese_text_is_ucs2_67_units_per_part() -> None:
    text = "您的验证码为" * 12  # 72 characters, like the smpplib check in §1.3
    parts = segment_text(text, reference=0x2A)
    assert [p.data_coding for p in parts] == [8, 8]
    assert len(parts[0].short_message) == 6 + 134
    joined = b"".join(p.short_message[6:] for p in parts).decode("utf-16-be")
    assert joined == text


def test_surrogate_pair_is_never_split() -> None:
    text = "验" * 66 + "😀" + "x" * 5  # the emoji takes UTF-16 units 67 and 68
    parts = segment_text(text, reference=1)
    assert parts[0].short_message[6:].decode("utf-16-be") == "验" * 66
    assert parts[1].short_message[6:].decode("utf-16-be") == "😀xxxxx"


def test_70_ucs2_units_fit_one_part() -> None:
    [seg] = segment_text("验" * 70, reference=1)
    assert (seg.esm_class, len(seg.short_message)) == (0, 140)


def test_packed_gsm7_multipart_has_fill_bits_after_the_udh() -> None:
    parts = segment_text("x" * 200, reference=3, gsm7_wire=Gsm7Wire.PACKED)
    first = parts[0].short_message
    assert first[:6] == bytes.fromhex("050003030201")
    assert len(first) == 140  # 7 + 153 septets = 160 septets = 140 octets
    # TS 23.040 9.2.3.24: text starts at septet 7 after a 6-octet UDH.
    assert decode_septets(unpack_septets(first, 160, 7)) == "x" * 153


def test_too_many_parts_raise() -> None:
    with pytest.raises(SegmentError):
        segment_text("验" * (67 * 256), reference=1)


def test_sar_parts_carry_the_tlvs_and_no_udh() -> None:
    text = "长" * 100  # two UCS-2 parts
    udh_parts = segment_text(text, reference=0x1234)
    sar_parts = segment_text(text, reference=0x1234, long_messages=LongMessages.SAR)
    assert [p.part_total for p in sar_parts] == [2, 2]
    for udh, sar in zip(udh_parts, sar_parts, strict=True):
        assert udh.short_message[6:] == sar.short_message  # same text, without the UDH
        assert sar.esm_class == 0
        tlvs = {t.tag: t.value for t in sar.tlvs}
        assert tlvs == {
            TlvTag.SAR_MSG_REF_NUM: b"\x12\x34",
            TlvTag.SAR_TOTAL_SEGMENTS: b"\x02",
            TlvTag.SAR_SEGMENT_SEQNUM: bytes([sar.part_index]),
        }


def test_payload_is_one_submit_with_the_whole_text() -> None:
    text = "长" * 100
    [only] = segment_text(text, reference=1, long_messages=LongMessages.PAYLOAD)
    assert only.short_message == b"" and only.part_total == 2 and only.esm_class == 0
    [payload] = only.tlvs
    assert payload.tag == TlvTag.MESSAGE_PAYLOAD and payload.value == text.encode("utf-16-be")
    # a text that fits one part goes as a plain short_message in every mode
    for mode in LongMessages:
        [short] = segment_text("hello", reference=1, long_messages=mode)
        assert short.short_message == b"hello" and short.tlvs == ()
