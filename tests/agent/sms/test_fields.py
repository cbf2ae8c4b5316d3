"""Semi-octet fields, time stamps and TP-DCS (TS 23.040 9.1.2.3, 9.1.2.5, 9.2.3.11; 23.038 4)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from agent.sms import EncodeError, Encoding
from agent.sms.dcs import dcs_info, make_dcs
from agent.sms.semioctet import (
    Address,
    decode_address,
    decode_bcd,
    decode_scts,
    encode_address,
    encode_bcd,
    encode_scts,
    encode_smsc,
    parse_address,
)


@pytest.mark.parametrize(
    ("tz_octet", "minutes"),
    [
        # TS 23.040 §9.2.3.11; first semi-octet (low nibble) bit 3 is the sign.
        (0x00, 0),
        (0x08, 0),  # "-0" (pymessaging vector): treated as +00:00
        (0x40, 60),
        (0x80, 120),
        (0x23, 8 * 60),  # China
        (0x22, 5 * 60 + 30),  # India / Sri Lanka
        (0x48, -60),
        (0x0A, -5 * 60),
        (0x8A, -7 * 60),
        (0x2B, -8 * 60),
        (0x32, 5 * 60 + 45),  # Nepal: 23 quarters
        (0x49, -(3 * 60 + 30)),  # Newfoundland: -14 quarters
        (0xA0, 150),  # non-BCD units nibble (oFono SR vector): parsed defensively, no crash
    ],
)
def test_scts_time_zone_is_quarter_hours_with_sign_bit(tz_octet: int, minutes: int) -> None:
    when = decode_scts(bytes((0x42, 0x50, 0x10, 0x01, 0x73, 0x83, tz_octet)))
    assert when.replace(tzinfo=None) == datetime(2024, 5, 1, 10, 37, 38)
    assert when.utcoffset() == timedelta(minutes=minutes)


@pytest.mark.parametrize("hours", [8, -8, 5.75, -3.5, 5.5, 0, -11, 14])
def test_scts_encode_decode_round_trip_keeps_the_offset(hours: float) -> None:
    when = datetime(2031, 12, 31, 23, 59, 58, tzinfo=timezone(timedelta(hours=hours)))
    raw = encode_scts(when)
    assert len(raw) == 7
    back = decode_scts(raw)
    assert back == when and back.utcoffset() == when.utcoffset()


def test_scts_china_example_octets() -> None:
    # python-gsmmodem test_pdu.py TestTimestamp: 2007-04-12 23:25:42 +08 / -08.
    plus = datetime(2007, 4, 12, 23, 25, 42, tzinfo=timezone(timedelta(hours=8)))
    minus = datetime(2007, 4, 12, 23, 25, 42, tzinfo=timezone(timedelta(hours=-8)))
    assert encode_scts(plus).hex().upper() == "70402132522423"
    assert encode_scts(minus).hex().upper() == "7040213252242B"


def test_scts_two_digit_year_pivots_at_90() -> None:
    # Octets are swapped BCD: 0x99 -> 99, 0x09 -> 90, 0x98 -> 89.
    assert decode_scts(bytes.fromhex("99218101700023")).year == 1999
    assert decode_scts(bytes.fromhex("09218101700023")).year == 1990
    assert decode_scts(bytes.fromhex("98218101700023")).year == 2089


@pytest.mark.parametrize(
    "bad",
    [
        datetime(2024, 1, 1),  # naive
        datetime(2024, 1, 1, tzinfo=timezone(timedelta(minutes=10))),  # not a quarter hour
        datetime(2100, 1, 1, tzinfo=UTC),  # beyond a two-digit year
    ],
)
def test_scts_encode_rejects_what_cannot_be_represented(bad: datetime) -> None:
    with pytest.raises(EncodeError):
        encode_scts(bad)


def test_scts_invalid_month_raises_value_error() -> None:
    with pytest.raises(ValueError):
        decode_scts(bytes.fromhex("42310100000023"))  # month 13


def test_bcd_digits_star_hash_abc_from_android_abbreviated_number() -> None:
    # TS 23.040 §9.1.2.5, vector android-abbreviated-number: OA value BA DC BE 5A F1, 9 digits.
    assert decode_address(9, 0xE1, bytes.fromhex("BADCBE5AF1")).number == "*#abc#*51"


def test_address_length_is_trusted_over_the_filler() -> None:
    # TS 23.040 §9.1.2.5, vector android-mwi-udh-special: OA length 1, digit octet 05 -> "5".
    assert decode_address(1, 0x81, b"\x05").number == "5"


@pytest.mark.parametrize(
    ("field", "text"),
    [
        # python-gsmmodem test_pdu.py TestSmsPduAddressFields (alphanumeric rows).
        ("06D061F118", "abc"),
        ("0ED04669D0397C26A7", "FRANCOIS"),
        ("14D0E10D6FE3DBA036A94D19", "a[]{}€"),
    ],
)
def test_alphanumeric_addresses_count_semi_octets(field: str, text: str) -> None:
    raw = bytes.fromhex(field)
    address = decode_address(raw[0], raw[1], raw[2:])
    assert address == Address(text, 5, 0)
    assert encode_address(address) == raw


@pytest.mark.parametrize(
    ("text", "field"),
    [
        # python-gsmmodem TestSmsPduAddressFields and ModemManager address encoder tests.
        ("+9876543210", "0A918967452301"),
        ("+27829135934", "0B917228195339F4"),
        ("+19037029920", "0B919130079229F0"),
    ],
)
def test_international_address_field(text: str, field: str) -> None:
    assert encode_address(parse_address(text)).hex().upper() == field


def test_national_digits_default_to_toa_a1_as_chinese_service_numbers() -> None:
    assert encode_address(parse_address("10086")).hex().upper() == "05A10180F6"


def test_smsc_prefix_counts_octets() -> None:
    # ModemManager test_address_encode_smsc_intl / _unknown.
    assert encode_smsc("+19037029920").hex().upper() == "07919130079229F0"
    assert encode_smsc("9037029920").hex().upper() == "06810973209902"
    assert encode_smsc(None) == b"\x00"


def test_bcd_round_trip_with_filler() -> None:
    assert encode_bcd("123").hex().upper() == "21F3"
    assert decode_bcd(bytes.fromhex("21F3"), 3) == "123"
    assert decode_bcd(bytes.fromhex("21F3"), 4) == "123"  # filler dropped even inside length


def test_alphanumeric_address_longer_than_11_septets_is_refused() -> None:
    with pytest.raises(EncodeError):
        parse_address("ABCDEFGHIJKL")


@pytest.mark.parametrize(
    ("dcs", "encoding", "message_class"),
    [
        (0x00, Encoding.GSM7, None),
        (0x03, Encoding.GSM7, None),  # class bits ignored without bit 4 (android-dcs03)
        (0x04, Encoding.EIGHT_BIT, None),
        (0x08, Encoding.UCS2, None),
        (0x09, Encoding.UCS2, None),  # wi1dcard-dcs09: UCS2, no class
        (0x0C, Encoding.GSM7, None),  # reserved alphabet -> GSM 7-bit
        (0x10, Encoding.GSM7, 0),
        (0x18, Encoding.UCS2, 0),
        (0x19, Encoding.UCS2, 1),
        (0x48, Encoding.UCS2, None),  # automatic-deletion group
        (0x80, Encoding.GSM7, None),  # reserved group
        (0xC8, Encoding.GSM7, None),  # MWI discard
        (0xD0, Encoding.GSM7, None),  # MWI store, GSM 7-bit
        (0xE0, Encoding.UCS2, None),  # MWI store, UCS2
        (0xF0, Encoding.GSM7, 0),
        (0xF1, Encoding.GSM7, 1),
        (0xF4, Encoding.EIGHT_BIT, 0),  # not UCS2
        (0xF5, Encoding.EIGHT_BIT, 1),
        (0xF6, Encoding.EIGHT_BIT, 2),
        (0xFB, Encoding.GSM7, 3),  # reserved bit 3 set: still GSM 7-bit, not UCS2
        (0xFF, Encoding.EIGHT_BIT, 3),
    ],
)
def test_dcs_groups(dcs: int, encoding: Encoding, message_class: int | None) -> None:
    got_encoding, got_class, _ = dcs_info(dcs)
    assert (got_encoding, got_class) == (encoding, message_class)


def test_dcs_compressed_flag() -> None:
    assert dcs_info(0x20) == (Encoding.EIGHT_BIT, None, True)  # compressed GSM: binary
    assert dcs_info(0x3A) == (Encoding.EIGHT_BIT, 2, True)
    assert dcs_info(0x00)[2] is False


def test_make_dcs_round_trips_through_dcs_info() -> None:
    for encoding in Encoding:
        for message_class in (None, 0, 1, 2, 3):
            got = dcs_info(make_dcs(encoding, message_class))
            assert got[:2] == (encoding, message_class)
    with pytest.raises(ValueError):
        make_dcs(Encoding.GSM7, 4)
