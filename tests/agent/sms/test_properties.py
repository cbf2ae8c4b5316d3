"""Property tests: encode -> decode round trips, and arbitrary input raising only PduError."""

from __future__ import annotations

from datetime import UTC, datetime

from hypothesis import given
from hypothesis import strategies as st

from agent.sms import (
    Encoding,
    PduError,
    SmsDeliver,
    SmsStatusReport,
    decode_pdu,
    decode_submit,
    encode_deliver,
    encode_status_report,
    encode_submit,
    join_parts,
    split_text,
)
from tests.agent.sms.strategies import (
    any_text,
    codec_settings,
    gsm7_text,
    international,
    national,
    scts,
    senders,
    ucs2_text,
)

FAST = codec_settings(150)


@FAST
@given(text=any_text, sender=senders, when=scts, ref=st.integers(0, 255))
def test_deliver_round_trip(text: str, sender: str, when: datetime, ref: int) -> None:
    parts = encode_deliver(sender, text, when, concat_ref=ref, smsc="+8613800250500")
    decoded = [decode_pdu(p.pdu) for p in parts]
    assert all(isinstance(d, SmsDeliver) for d in decoded)
    msgs = [d for d in decoded if isinstance(d, SmsDeliver)]
    assert join_parts(msgs) == text
    assert "".join(m.text for m in msgs) == text  # no escape/surrogate pair split
    for seq, (pdu, msg) in enumerate(zip(parts, msgs, strict=True), start=1):
        assert msg.scts == when and msg.scts.utcoffset() == when.utcoffset()
        assert msg.sender.formatted == sender
        assert msg.smsc == "+8613800250500"
        assert pdu.tpdu_length == len(pdu.pdu) - 9
        assert len(pdu.pdu) - 9 <= 176  # TPDU never exceeds the 176-octet maximum
        if len(parts) > 1:
            assert msg.concat is not None
            assert (msg.concat.ref, msg.concat.total, msg.concat.seq) == (ref, len(parts), seq)
        else:
            assert msg.concat is None


@FAST
@given(text=any_text, ref=st.integers(0, 0xFFFF))
def test_deliver_round_trip_with_16_bit_references(text: str, ref: int) -> None:
    when = datetime(2024, 1, 1, tzinfo=UTC)
    parts = encode_deliver("+8613800138000", text, when, concat_ref=ref, ref_bits=16)
    msgs = [decode_pdu(p.pdu) for p in parts]
    assert join_parts(msgs) == text  # type: ignore[arg-type]
    if len(parts) > 1:
        assert all(m.concat is not None and m.concat.ref_bits == 16 for m in msgs)  # type: ignore[union-attr]


@FAST
@given(text=gsm7_text)
def test_gsm7_segments_fit_153_septets(text: str) -> None:
    encoding, parts = split_text(text)
    assert encoding is Encoding.GSM7
    assert "".join(parts) == text


@FAST
@given(text=ucs2_text)
def test_ucs2_segments_fit_67_units(text: str) -> None:
    _encoding, parts = split_text(text, Encoding.UCS2)
    units = [len(p.encode("utf-16-be")) // 2 for p in parts]
    assert max(units) <= (70 if len(parts) == 1 else 67)
    assert "".join(parts) == text


@FAST
@given(text=any_text, recipient=international, mr=st.integers(0, 255), srr=st.booleans())
def test_submit_round_trip(text: str, recipient: str, mr: int, srr: bool) -> None:
    parts = encode_submit(
        recipient, text, message_reference=mr, status_report_request=srr, validity_minutes=1440
    )
    decoded = [decode_submit(p.pdu) for p in parts]
    assert "".join(d.text for d in decoded) == text
    assert decoded[0].message_reference == mr
    assert all(d.recipient.formatted == recipient for d in decoded)
    assert all(d.status_report_request is srr and d.validity_minutes == 1440 for d in decoded)


@FAST
@given(
    recipient=st.one_of(international, national),
    mr=st.integers(0, 255),
    when=scts,
    later=scts,
    status=st.integers(0, 255),
)
def test_status_report_round_trip(
    recipient: str, mr: int, when: datetime, later: datetime, status: int
) -> None:
    pdu = encode_status_report(recipient, mr, when, later, status, smsc="+8613800250500")
    msg = decode_pdu(pdu.hex)
    assert isinstance(msg, SmsStatusReport)
    assert (msg.recipient.formatted, msg.message_reference, msg.status) == (recipient, mr, status)
    assert (msg.scts, msg.discharge_time) == (when, later)
    assert msg.discharge_time.utcoffset() == later.utcoffset()
    assert pdu.tpdu_length == len(pdu.pdu) - 9


@codec_settings(600)
@given(data=st.binary(max_size=200), has_sca=st.booleans())
def test_arbitrary_bytes_raise_only_pdu_error(data: bytes, has_sca: bool) -> None:
    for decode in (decode_pdu, decode_submit):
        try:
            decode(data, has_sca=has_sca)
        except PduError as exc:
            assert 0 <= exc.offset <= len(data)
            assert exc.hex == data.hex().upper()
            assert str(exc).endswith(f"at octet {exc.offset}")


@codec_settings(400)
@given(
    text=any_text,
    cuts=st.lists(st.tuples(st.integers(0, 200), st.integers(0, 255)), max_size=4),
    keep=st.integers(0, 200),
)
def test_mutated_valid_pdus_raise_only_pdu_error(
    text: str, cuts: list[tuple[int, int]], keep: int
) -> None:
    pdu = bytearray(encode_deliver("+8613800138000", text, datetime(2024, 1, 1, tzinfo=UTC))[0].pdu)
    for index, value in cuts:
        if pdu:
            pdu[index % len(pdu)] = value
    mutated = bytes(pdu[:keep])
    for lenient in (False, True):
        try:
            decode_pdu(mutated, lenient=lenient)
        except PduError as exc:
            assert 0 <= exc.offset <= len(mutated)


@codec_settings(200)
@given(text=st.text(max_size=60))
def test_arbitrary_strings_raise_only_pdu_error(text: str) -> None:
    try:
        decode_pdu(text)
    except PduError as exc:
        assert exc.offset >= 0
