"""Joining parts whose escape or surrogate pair was split by a careless sender, UDH details,
status-report optional fields, and the PduError contract."""

from __future__ import annotations

import dataclasses
import pickle
from datetime import UTC, datetime

import pytest

from agent.sms import (
    PduError,
    SmsDeliver,
    SmsStatusReport,
    decode_pdu,
    encode_deliver,
    join_parts,
)
from agent.sms.gsm7 import pack_septets
from agent.sms.semioctet import encode_address, encode_scts, parse_address

SCTS = encode_scts(datetime(2024, 5, 1, 10, 0, tzinfo=UTC))
OA = encode_address(parse_address("+8613800138000"))


def _deliver(dcs: int, udh: bytes, body: bytes, *, gsm7: bool = False) -> bytes:
    """A hand-built SMS-DELIVER (SCA 00) with an arbitrary UDH and payload."""
    if gsm7:
        ud, udl = pack_septets(body, udh)
        user_data = bytes((udl,)) + ud
    else:
        user_data = bytes((len(udh) + len(body),)) + udh + body
    return b"\x00" + bytes((0x44,)) + OA + bytes((0, dcs)) + SCTS + user_data


def _concat_udh(seq: int, total: int = 2, ref: int = 5) -> bytes:
    return bytes((5, 0, 3, ref, total, seq))


def test_surrogate_pair_split_across_parts_joins_to_the_emoji() -> None:
    # Vector warthog-emoji-3of3 (docs/sms-pdu.md): "D83D DE01" is 😁, here split between parts.
    one = decode_pdu(_deliver(0x08, _concat_udh(1), "ab".encode("utf-16-be") + b"\xd8\x3d"))
    two = decode_pdu(_deliver(0x08, _concat_udh(2), b"\xde\x01" + "c".encode("utf-16-be")))
    assert isinstance(one, SmsDeliver) and isinstance(two, SmsDeliver)
    assert one.text == "ab\ufffd" and "lone-surrogate" in one.warnings
    assert join_parts([two, one]) == "ab😁c"


def test_escape_split_across_parts_joins_to_the_extension_char() -> None:
    one = decode_pdu(_deliver(0x00, _concat_udh(1), b"EUR\x1b", gsm7=True))
    two = decode_pdu(_deliver(0x00, _concat_udh(2), b"\x655", gsm7=True))
    assert isinstance(one, SmsDeliver) and isinstance(two, SmsDeliver)
    assert one.text == "EUR"  # lone trailing ESC dropped
    assert join_parts([one, two]) == "EUR€5"


def test_reference_zero_is_a_real_reference() -> None:
    msg = decode_pdu(_deliver(0x08, _concat_udh(1, ref=0), "x".encode("utf-16-be")))
    assert msg.concat is not None and msg.concat.ref == 0  # type: ignore[union-attr]


@pytest.mark.parametrize(("seq", "total"), [(6, 2), (0, 3), (1, 0)])
def test_impossible_seq_total_is_standalone_with_a_warning(seq: int, total: int) -> None:
    # Vector warthog-modem-bad-concat (seq 6 > total 2).
    msg = decode_pdu(_deliver(0x08, _concat_udh(seq, total), "x".encode("utf-16-be")))
    assert isinstance(msg, SmsDeliver)
    assert msg.concat is None and "invalid-concat" in msg.warnings
    assert msg.udh == ((0, bytes((5, total, seq))),)


def test_unknown_ies_are_kept_and_skipped() -> None:
    udh = bytes((10, 0x05, 4, 0x0B, 0x84, 0x23, 0xF0, 0x0A, 2, 0, 0))  # WAP port + EMS format
    msg = decode_pdu(_deliver(0xF5, udh, b"\x01\x02wap"))
    assert isinstance(msg, SmsDeliver)
    assert msg.udh == ((0x05, bytes.fromhex("0B8423F0")), (0x0A, b"\x00\x00"))
    assert msg.user_data == b"\x01\x02wap" and msg.message_class == 1


def test_national_language_single_shift_from_udh() -> None:
    udh = bytes((3, 0x24, 1, 1))  # Turkish single shift, 4 octets -> 5 septets
    msg = decode_pdu(_deliver(0x00, udh, b"\x1b\x47\x1b\x53", gsm7=True))
    assert msg.text == "ĞŞ"


@pytest.mark.parametrize(
    ("udh", "offset"),
    [
        (bytes((9, 0, 3, 1, 2, 1)), 21),  # UDHL (at octet 21) beyond the user data
        (bytes((4, 0, 3, 1, 2)), 22),  # IE data runs past the UDH
    ],
)
def test_broken_udh_raises_at_the_header(udh: bytes, offset: int) -> None:
    with pytest.raises(PduError) as info:
        decode_pdu(_deliver(0x08, udh, b""))
    assert info.value.offset == offset


MM_STATUS = bytes.fromhex("07914356060013F1065A098136397339F7219011700463802190117004638030")


def test_status_report_with_sim_filler_after_tp_st() -> None:
    # Vector gammu-32-status-report-ff-padded (TS 23.040 §9.2.3.27): 0xFF filler is not a TP-PI.
    msg = decode_pdu(MM_STATUS + b"\xff" * 5)
    assert isinstance(msg, SmsStatusReport)
    assert (msg.status, msg.pid, msg.dcs, msg.warnings) == (0x30, None, None, ())


def test_status_report_optional_fields() -> None:
    body = "ok".encode("utf-16-be")
    msg = decode_pdu(MM_STATUS + bytes((0x07, 0x00, 0x08, len(body))) + body)
    assert isinstance(msg, SmsStatusReport)
    assert (msg.pid, msg.dcs, msg.text) == (0, 8, "ok")
    short = decode_pdu(MM_STATUS + b"\x07\x00")
    assert short.warnings == ("truncated-optional-fields",)


def test_truncated_ucs2_is_an_error_or_a_flagged_prefix() -> None:
    (pdu,) = encode_deliver("10086", "中国移动通知", datetime(2024, 5, 1, tzinfo=UTC))
    cut = pdu.pdu[:-3]
    with pytest.raises(PduError, match="TP-UDL 12 octets but 9 present"):
        decode_pdu(cut)
    msg = decode_pdu(cut, lenient=True)
    assert msg.text == "中国移动"
    assert set(msg.warnings) == {"truncated", "odd-ucs2-length"}


def test_pdu_error_contract() -> None:
    with pytest.raises(PduError) as info:
        decode_pdu("0011")
    err = info.value
    assert isinstance(err, ValueError)
    assert (err.hex, err.offset) == ("0011", 1)
    assert str(err) == f"{err.reason} at octet 1"
    again = pickle.loads(pickle.dumps(err))
    assert (again.hex, again.offset, again.reason) == (err.hex, err.offset, err.reason)


@pytest.mark.parametrize(
    ("data", "offset", "reason"),
    [
        ("", 0, "empty PDU"),
        ("0C91", 0, "SMSC address length 12 octets exceeds 11"),
        ("0003", 1, "TP-MTI 11 is reserved"),
        ("0004", 2, "TP-OA address is missing"),
        ("00041591", 2, "TP-OA address length 21 semi-octets exceeds 20"),
        ("0004039121F300", 6, "TP-PID/TP-DCS are missing"),
        ("0004039121F30000", 8, "TP-SCTS is truncated"),
        ("0004039121F3000042", 8, "TP-SCTS is truncated"),
        ("0004039121F3000042501001738323", 15, "TP-UDL is missing"),
        ("0004039121F3000042511001738323", 8, "TP-SCTS 42511001738323 is not a valid time"),
        ("x0", 0, "'x' is not a hex digit"),
        ("000", 1, "odd number of hex digits"),
    ],
)
def test_error_reasons_and_offsets(data: str, offset: int, reason: str) -> None:
    with pytest.raises(PduError) as info:
        decode_pdu(data)
    assert (info.value.offset, info.value.reason) == (offset, reason)


def test_decoded_messages_are_frozen_values() -> None:
    (pdu,) = encode_deliver("+8613800138000", "值", datetime(2024, 5, 1, tzinfo=UTC))
    msg = decode_pdu(pdu.pdu)
    assert isinstance(msg, SmsDeliver)
    rebuilt = SmsDeliver(**{f.name: getattr(msg, f.name) for f in dataclasses.fields(msg)})
    assert rebuilt == msg and hash(rebuilt) == hash(msg)
    assert pickle.loads(pickle.dumps(msg)) == msg
    with pytest.raises(dataclasses.FrozenInstanceError):
        msg.text = "changed"  # type: ignore[misc]
