"""Encoders checked byte for byte against published PDUs, plus SMS-DELIVER layout checks."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from agent.sms import (
    EncodeError,
    Encoding,
    SmsDeliver,
    decode_pdu,
    decode_submit,
    encode_deliver,
    encode_submit,
)

CST = timezone(timedelta(hours=8))

# ModemManager src/tests/test-sms-part-3gpp.c PDU-creator tests (validity 5 minutes -> VP 0x00).
MM_UCS2_WITH_SMSC = bytes([
    0x07, 0x91, 0x91, 0x30, 0x07, 0x92, 0x29, 0xF0, 0x11, 0x00, 0x0B, 0x91,
    0x51, 0x55, 0x55, 0x15, 0x32, 0xF4, 0x00, 0x08, 0x00, 0x3A, 0x04, 0x14,
    0x04, 0x30, 0x00, 0x20, 0x04, 0x37, 0x04, 0x34, 0x04, 0x40, 0x04, 0x30,
    0x04, 0x32, 0x04, 0x41, 0x04, 0x42, 0x04, 0x32, 0x04, 0x43, 0x04, 0x35,
    0x04, 0x42, 0x00, 0x20, 0x04, 0x3A, 0x04, 0x3E, 0x04, 0x40, 0x04, 0x3E,
    0x04, 0x3B, 0x04, 0x4C, 0x00, 0x2C, 0x00, 0x20, 0x04, 0x34, 0x04, 0x35,
    0x04, 0x42, 0x04, 0x3A, 0x04, 0x30, 0x00, 0x21,
])  # fmt: skip
MM_GSM_NO_SMSC = bytes([
    0x00, 0x11, 0x00, 0x0B, 0x91, 0x51, 0x55, 0x55, 0x15, 0x32, 0xF4, 0x00,
    0x00, 0x00, 0x36, 0xC8, 0x34, 0x88, 0x8E, 0x2E, 0xCB, 0xCB, 0x2E, 0x97,
    0x8B, 0x5A, 0x2F, 0x83, 0x62, 0x37, 0x3A, 0x1A, 0xA4, 0x0C, 0xBB, 0x41,
    0x32, 0x58, 0x4C, 0x06, 0x82, 0xD5, 0x74, 0x33, 0x98, 0x2B, 0x86, 0x03,
    0xC1, 0xDB, 0x20, 0xD4, 0xB1, 0x49, 0x5D, 0xC5, 0x52, 0x20, 0x08, 0x04,
    0x02, 0x81, 0x00,
])  # fmt: skip
MM_GSM_3 = bytes([
    0x00, 0x11, 0x00, 0x0B, 0x91, 0x51, 0x55, 0x66, 0x16, 0x32, 0xF4, 0x00,
    0x00, 0x00, 0x19, 0x54, 0x74, 0x7A, 0x0E, 0x4A, 0xCF, 0x41, 0xF2, 0x72,
    0x98, 0xCD, 0xCE, 0x83, 0xC6, 0xEF, 0x37, 0x1B, 0x04, 0x81, 0x40, 0x20,
    0x10,
])  # fmt: skip
MM_GSM_NO_VALIDITY = bytes([
    0x00, 0x01, 0x00, 0x0B, 0x91, 0x51, 0x55, 0x66, 0x16, 0x32, 0xF4, 0x00,
    0x00, 0x19, 0x54, 0x74, 0x7A, 0x0E, 0x4A, 0xCF, 0x41, 0xF2, 0x72, 0x98,
    0xCD, 0xCE, 0x83, 0xC6, 0xEF, 0x37, 0x1B, 0x04, 0x81, 0x40, 0x20, 0x10,
])  # fmt: skip


@pytest.mark.parametrize(
    ("smsc", "number", "text", "validity", "expected"),
    [
        ("+19037029920", "+15555551234", "Да здравствует король, детка!", 5, MM_UCS2_WITH_SMSC),
        (
            None,
            "+15555551234",
            "Hi there...Tue 17th Jan 2012 05:30.18 pm (GMT+1) ΔΔΔΔΔ",
            5,
            MM_GSM_NO_SMSC,
        ),
        (None, "+15556661234", "This is really cool ΔΔΔΔΔ", 5, MM_GSM_3),
        (None, "+15556661234", "This is really cool ΔΔΔΔΔ", None, MM_GSM_NO_VALIDITY),
    ],
    ids=["mm-ucs2-with-smsc", "mm-gsm-no-smsc", "mm-gsm-3", "mm-gsm-no-validity"],
)
def test_submit_matches_modemmanager_byte_for_byte(
    smsc: str | None, number: str, text: str, validity: int | None, expected: bytes
) -> None:
    (pdu,) = encode_submit(number, text, smsc=smsc, validity_minutes=validity)
    assert pdu.pdu == expected
    assert pdu.tpdu_length == len(expected) - 1 - expected[0]


def test_submit_matches_python_gsmmodem_hello_world() -> None:
    # faucamp/python-gsmmodem test/test_pdu.py test_encodeSmsSubmit #1.
    (pdu,) = encode_submit("+27820001111", "Hello World!")
    assert pdu.hex == "0001000B917228001011F100000CC8329BFD065DDF72363904"


def test_concatenated_submit_matches_python_gsmmodem_except_the_rd_bit() -> None:
    # python-gsmmodem test_encodeSmsSubmit_concatenated encodes with TP-RD set (first octet
    # 0x45); everything after the first octet must match ours (0x41).
    text = (
        "Lorem ipsum dolor sit amet, consectetur adipisicing elit, sed do eiusmod tempor "
        "incididunt ut labore et dolore magna aliqua.Ut enim ad minim veniam, quinostrud "
        "exercitation ullamco laboris nisi ut aliquip ex ea commodo consequat.Duis aute irure "
        "dolor in reprehenderit in voluptate velit esse cillum doloe eu fugiat nulla pariatur."
        "Excepteur sint occaecat cupidatat non proident, sunt in culpa qui officia deserunt "
        "mollit anim id est laborum"
    )
    starts = [
        "0045000B915121551532F40000A0050003000301986F79B90D4AC3E7F536",
        "0045000B915121551532F40000A0050003000302DE73BABC4E0695F165F9",
        "0045000B915121551532F400008C050003000303EA2073FD9C0ED341EE3A",
    ]
    parts = encode_submit("+15125551234", text)
    assert len(parts) == 3
    for i, (pdu, start) in enumerate(zip(parts, starts, strict=True)):
        # MR: python-gsmmodem keeps 0 for every part; we increment per part.
        got = pdu.hex
        assert got[:2] == "00" and got[2:4] == "41"
        assert got[4:6] == f"{i:02X}"
        assert got[6:].startswith(start[6:])
    assert "".join(decode_submit(p.pdu).text for p in parts) == text


def test_submit_status_report_request_and_reference() -> None:
    (pdu,) = encode_submit("10086", "cx", message_reference=7, status_report_request=True)
    decoded = decode_submit(pdu.pdu)
    assert decoded.status_report_request
    assert decoded.message_reference == 7
    assert decoded.recipient.number == "10086" and decoded.recipient.ton == 0


def test_deliver_layout_for_a_chinese_verification_code() -> None:
    when = datetime(2024, 5, 1, 10, 37, 38, tzinfo=CST)
    (pdu,) = encode_deliver("1069012345", "【腾讯科技】221592", when, smsc="+8613800250500")
    assert pdu.hex.startswith(
        "0891683108200505F0"  # SCA: 8 octets, TOA 91, +8613800250500
        "04"  # SMS-DELIVER, TP-MMS (no more messages)
        "0AA10196103254"  # OA: 10 digits, TOA A1 (national), swapped BCD
        "0008"  # PID 0, DCS UCS2
        "42501001738323"  # SCTS 24-05-01 10:37:38 +08:00 (32 quarters)
    )
    msg = decode_pdu(pdu.pdu)
    assert isinstance(msg, SmsDeliver)
    assert msg.sender.formatted == "1069012345" and msg.sender.toa == 0xA1
    assert msg.encoding is Encoding.UCS2 and msg.dcs == 0x08
    assert msg.scts == when and msg.scts.utcoffset() == timedelta(hours=8)
    assert pdu.tpdu_length == len(pdu.pdu) - 9


def test_deliver_concat_headers_8_and_16_bit() -> None:
    when = datetime(2024, 5, 1, 10, 0, tzinfo=UTC)
    eight = encode_deliver("+8613800138000", "x" * 200, when, concat_ref=0xAB)
    sixteen = encode_deliver("+8613800138000", "x" * 200, when, concat_ref=0x1234, ref_bits=16)
    ud8 = eight[0].pdu[1 + 1 + 9 + 2 + 7 :]
    ud16 = sixteen[0].pdu[1 + 1 + 9 + 2 + 7 :]
    assert ud8[0] == 160 and ud8[1:7] == bytes.fromhex("050003AB0201")  # UDL 7+153 septets
    assert ud16[0] == 160 and ud16[1:8] == bytes.fromhex("06080412340201")
    assert [decode_pdu(p.pdu).concat.seq for p in sixteen] == [1, 2]  # type: ignore[union-attr]


def test_deliver_class_and_pid() -> None:
    when = datetime(2024, 5, 1, tzinfo=CST)
    (pdu,) = encode_deliver("+8613800138000", "flash", when, message_class=0, pid=0x40)
    msg = decode_pdu(pdu.pdu)
    assert isinstance(msg, SmsDeliver)
    assert (msg.message_class, msg.pid, msg.dcs) == (0, 0x40, 0x10)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"concat_ref": 256}, "reference"),
        ({"ref_bits": 12}, "ref_bits"),
        ({"encoding": "gsm7", "text": "你好"}, "GSM 7-bit"),
        ({"sender": "TooLongSenderName"}, "11 septets"),
    ],
)
def test_deliver_rejects_what_it_cannot_encode(kwargs: dict[str, object], match: str) -> None:
    args: dict[str, object] = {"sender": "+8613800138000", "text": "x" * 200}
    args.update(kwargs)
    with pytest.raises(EncodeError, match=match):
        encode_deliver(
            str(args.pop("sender")),
            str(args.pop("text")),
            datetime(2024, 5, 1, tzinfo=CST),
            **args,  # type: ignore[arg-type]
        )


def test_submit_matches_ofono_prepare_7bit() -> None:
    # rilmodem/ofono unit/test-sms.c test_prepare_7bit (VP 0xA7 = 24 hours).
    (pdu,) = encode_submit(
        "+358478400241", "This is testing !", smsc="+358405202090", validity_minutes=24 * 60
    )
    assert pdu.hex == "079153485002020911000C915348870420140000A71154747A0E4ACF41F4F29C9E769F4121"
