"""Appendix-B receipt texts (variants in docs/vendors.md), receipt
TLVs, and message-id normalisation."""

from __future__ import annotations

from datetime import datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from collector.correlation.match import IdRule, id_rule
from collector.vendors.smpp.pdu import (
    DATA_CODING_UCS2,
    MessageState,
    ShortMessage,
    Tlv,
    TlvTag,
    decode,
)
from collector.vendors.smpp.receipt import (
    IdStyle,
    ReceiptParseError,
    build_receipt_text,
    parse_receipt_date,
    parse_receipt_text,
    receipt_from_deliver_sm,
)
from tests.collector.vendors.smpp.test_smpp_pdu import DELIVER_SM_RECEIPT


def test_appendix_b_text() -> None:
    r = parse_receipt_text(
        "id:0059113978 sub:001 dlvrd:001 submit date:1002101730 done date:1002101731"
        " stat:DELIVRD err:000 text:@$#!%&/:"
    )
    assert (r.message_id, r.sub, r.dlvrd, r.stat, r.err) == (
        "0059113978",
        "001",
        "001",
        "DELIVRD",
        "000",
    )
    assert r.submit_time == datetime(2010, 2, 10, 17, 30)
    assert r.done_time == datetime(2010, 2, 10, 17, 31)
    assert r.text == "@$#!%&/:"
    assert r.state is MessageState.DELIVERED


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # seconds in the dates (smppcenter.com kb)
        (
            "id:7220 sub:001 dlvrd:001 submit date:190608165232 done date:190608165245"
            " stat:DELIVRD err:000 text:hello",
            ("7220", "DELIVRD", "000", datetime(2019, 6, 8, 16, 52, 45)),
        ),
        # no space in the date keys, all-zero done date (OpenMarket)
        (
            "id:0118Z-0122I-2309U-57DGB sub:001 dlvrd:000 submitdate:180122230957"
            " donedate:000000000000 stat:REJECTD err:375 text:",
            ("0118Z-0122I-2309U-57DGB", "REJECTD", "375", None),
        ),
        # capitalised keys, lower-case stat, extra spaces (8x8, Nexmo)
        (
            "ID:  abc1   Sub:1  dlvrd:1  Submit Date:2501011200  Done Date:2501011201"
            "  Stat:delivrd  Err:0  Text:none",
            ("abc1", "DELIVRD", "0", datetime(2025, 1, 1, 12, 1)),
        ),
        # missing fields and a Chinese gateway code in stat (anxin163)
        ("id:123 stat:MK:0005", ("123", "MK:0005", "", None)),
        # text: containing key-like words must not be split
        (
            "id:9 sub:001 dlvrd:001 submit date:2501011200 done date:2501011200 stat:DELIVRD"
            " err:000 text:id:42 stat:FAKE",
            ("9", "DELIVRD", "000", datetime(2025, 1, 1, 12, 0)),
        ),
    ],
)
def test_receipt_variants(text: str, expected: tuple[str, str, str, datetime | None]) -> None:
    r = parse_receipt_text(text)
    assert (r.message_id, r.stat, r.err, r.done_time) == expected
    assert r.raw == text


def test_text_field_is_kept_verbatim_after_text_key() -> None:
    r = parse_receipt_text("id:9 stat:DELIVRD err:000 text:id:42 stat:FAKE")
    assert r.text == "id:42 stat:FAKE"


def test_text_without_id_raises() -> None:
    with pytest.raises(ReceiptParseError):
        parse_receipt_text("00,0210021543,0210021500,,447887123456")


@pytest.mark.parametrize("value", ["", "0000000000", "1913011200", "25010112", "abcdefghij"])
def test_bad_dates_are_none(value: str) -> None:
    assert parse_receipt_date(value) is None


@given(
    message_id=st.text(alphabet="0123456789ABCDEFabcdef-", min_size=1, max_size=20),
    stat=st.sampled_from(["DELIVRD", "UNDELIV", "EXPIRED", "REJECTD", "ACCEPTD", "ENROUTE"]),
    seconds=st.booleans(),
    text=st.text(alphabet="abc 123:", max_size=30),
)
def test_build_then_parse_round_trip(message_id: str, stat: str, seconds: bool, text: str) -> None:
    submit = datetime(2026, 11, 24, 22, 5, 7 if seconds else 0)
    done = datetime(2026, 11, 24, 22, 6, 9 if seconds else 0)
    raw = build_receipt_text(
        message_id, stat, submit_time=submit, done_time=done, text=text, seconds=seconds
    )
    r = parse_receipt_text(raw)
    assert (r.message_id, r.stat, r.submit_time, r.done_time) == (message_id, stat, submit, done)
    assert r.text == text[:20].lstrip(" ")
    assert r.dlvrd == ("001" if stat == "DELIVRD" else "000")


# --- deliver_sm receipts ------------------------------------------------------------------


def test_cloudhopper_receipt_tlv_id_is_hex_of_the_text_id() -> None:
    sm = decode(bytes.fromhex(DELIVER_SM_RECEIPT)).body
    assert isinstance(sm, ShortMessage)
    receipt = receipt_from_deliver_sm(sm)
    assert receipt.message_id == "38601fa"  # TLV first
    assert receipt.text_message_id == "0059113978"
    assert receipt.state is MessageState.DELIVERED and receipt.stat == "DELIVRD"
    assert not receipt.intermediate
    # The same message in two bases and with leading zeros (0x38601FA == 59113978).
    assert id_rule(receipt.message_id, "0059113978") is IdRule.HEX_SUBMIT_DEC_DLR


def test_tlv_only_receipt() -> None:
    sm = ShortMessage(
        esm_class=0x04,
        tlvs=(Tlv.cstring(TlvTag.RECEIPTED_MESSAGE_ID, "ABC1"), Tlv.u8(TlvTag.MESSAGE_STATE, 5)),
    )
    receipt = receipt_from_deliver_sm(sm)
    assert (receipt.message_id, receipt.state, receipt.stat) == (
        "ABC1",
        MessageState.UNDELIVERABLE,
        "UNDELIV",
    )
    assert receipt.text is None


def test_ucs2_receipt_text_is_decoded_by_data_coding() -> None:
    text = "id:43969 sub:001 dlvrd:001 stat:DELIVRD err:000 text:验证码"
    sm = ShortMessage(
        esm_class=0x04, data_coding=DATA_CODING_UCS2, short_message=text.encode("utf-16-be")
    )
    receipt = receipt_from_deliver_sm(sm)
    assert receipt.message_id == "43969"
    assert receipt.text is not None and receipt.text.text == "验证码"


def test_intermediate_receipt_is_flagged() -> None:
    sm = ShortMessage(esm_class=0x04, short_message=b"id:1 stat:ENROUTE err:000 text:")
    assert receipt_from_deliver_sm(sm).intermediate


def test_receipt_without_any_id_raises() -> None:
    with pytest.raises(ReceiptParseError):
        receipt_from_deliver_sm(ShortMessage(esm_class=0x04, short_message=b"stat:DELIVRD"))


# --- id matching (docs/vendors.md; collector.correlation.match is the one implementation) ---


def test_hex_resp_matches_decimal_receipt() -> None:
    # The npm smpp server answers ABC1 and sends id:43969 in the receipt.
    assert id_rule("ABC1", "43969") is IdRule.HEX_SUBMIT_DEC_DLR
    assert id_rule("43969", "abc1") is IdRule.DEC_SUBMIT_HEX_DLR


def test_normalisation_rules() -> None:
    assert id_rule("42", "42") is IdRule.SAME
    assert id_rule(" 0042\x00", "42") is IdRule.SAME
    assert id_rule("ABC1", "abc1") is IdRule.SAME
    assert id_rule("0118Z-0122I", "0118z-0122i") is IdRule.SAME
    assert id_rule("000", "0") is IdRule.SAME
    assert id_rule("ABC1", "43970") is None
    assert id_rule("SAR-1-2-1", "SAR-1-2-2") is None


@given(st.integers(min_value=0, max_value=2**64))
def test_any_number_in_either_style_matches_itself(n: int) -> None:
    hex_id, dec_id = IdStyle.HEX.render(n), IdStyle.DECIMAL.render(n)
    assert id_rule(hex_id, dec_id) is not None
    assert id_rule(dec_id, hex_id.lower().zfill(20)) is not None
