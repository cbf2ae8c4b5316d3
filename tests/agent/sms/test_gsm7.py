"""GSM 7-bit alphabet, extension and national tables, septet packing (TS 23.038 6.1.2, 6.2, A)."""

from __future__ import annotations

import pytest

from agent.sms import EncodeError
from agent.sms.gsm7 import (
    DEFAULT_ALPHABET,
    decode_septets,
    encode_text,
    is_encodable,
    pack_septets,
    unpack_septets,
)
from agent.sms.national import tables_for, tables_for_udh

# python-gsmmodem test_pdu.py TestGsm7: (text, septet values, packed octets).
GSMMODEM_PACKING = [
    ("123", [49, 50, 51], [49, 217, 12]),
    ("12345678", list(b"12345678"), [49, 217, 140, 86, 179, 221, 112]),
    ("123456789", list(b"123456789"), [49, 217, 140, 86, 179, 221, 112, 57]),
    ("Hello World!", list(b"Hello World!"), [200, 50, 155, 253, 6, 93, 223, 114, 54, 57, 4]),
    (
        "[{abc}]~",
        [0x1B, 0x3C, 0x1B, 0x28, 0x61, 0x62, 0x63, 0x1B, 0x29, 0x1B, 0x3E, 0x1B, 0x3D],
        [27, 222, 6, 21, 22, 143, 55, 169, 141, 111, 211, 3],
    ),
    (
        "{åΦΓΛΩΠΨΣΘ€}",
        [27, 40, 15, 18, 19, 20, 21, 22, 23, 24, 25, 27, 101, 27, 41],
        [27, 212, 67, 50, 161, 84, 44, 23, 76, 102, 83, 222, 164, 0],
    ),
    (
        "a[]{}€",
        [97, 27, 60, 27, 62, 27, 40, 27, 41, 27, 101],
        [225, 13, 111, 227, 219, 160, 54, 169, 77, 25],
    ),
]


@pytest.mark.parametrize(("text", "septets", "packed"), GSMMODEM_PACKING)
def test_published_packing_vectors(text: str, septets: list[int], packed: list[int]) -> None:
    assert encode_text(text) == bytes(septets)
    assert pack_septets(bytes(septets)) == (bytes(packed), len(septets))
    assert unpack_septets(bytes(packed), len(septets)) == bytes(septets)
    assert decode_septets(bytes(septets)) == text


def test_default_table_special_cells() -> None:
    # TS 23.038 §6.2.1: 0x00 '@', 0x02 '$', 0x24 '¤', 0x40 '¡', 0x5F '§', 0x60 '¿', 0x09 'Ç'.
    cells = {0x00: "@", 0x02: "$", 0x24: "¤", 0x40: "¡", 0x5F: "§", 0x60: "¿", 0x09: "Ç"}
    for code, ch in cells.items():
        assert DEFAULT_ALPHABET[code] == ch
        assert encode_text(ch) == bytes((code,))


def test_every_extension_char_costs_two_septets() -> None:
    for ch, code in zip(
        "\x0c^{}\\[~]|€", (0x0A, 0x14, 0x28, 0x29, 0x2F, 0x3C, 0x3D, 0x3E, 0x40, 0x65), strict=True
    ):
        assert encode_text(ch) == bytes((0x1B, code))
        assert decode_septets(bytes((0x1B, code))) == ch


def test_escape_edge_cases() -> None:
    # 23.038 6.2.1.1: unknown extension value shows the base char; ESC ESC -> space (Android);
    # a trailing lone ESC is dropped.
    assert decode_septets(bytes((0x1B, 0x41))) == "A"
    assert decode_septets(bytes((0x41, 0x1B, 0x1B, 0x42))) == "A B"
    assert decode_septets(bytes((0x41, 0x1B))) == "A"


def test_non_gsm_characters_are_refused() -> None:
    assert not is_encodable("你好")
    assert not is_encodable("`")  # backtick is not in GSM 7-bit (python-gsmmodem maps 0x5F to it)
    with pytest.raises(EncodeError, match="not in the GSM 7-bit alphabet"):
        encode_text("a你")


@pytest.mark.parametrize("count", [0, 1, 7, 8, 9, 15, 16, 17, 63, 64, 65, 152, 153, 159, 160, 255])
def test_pack_unpack_round_trip_at_power_of_two_edges(count: int) -> None:
    septets = bytes((i * 37 + 11) % 128 for i in range(count))
    packed, udl = pack_septets(septets)
    assert udl == count
    assert len(packed) == (7 * count + 7) // 8
    assert unpack_septets(packed, count) == septets


@pytest.mark.parametrize(("header_len", "skip"), [(6, 7), (7, 8), (3, 4), (12, 14)])
def test_fill_bits_put_text_on_the_next_septet_boundary(header_len: int, skip: int) -> None:
    # TS 23.040 9.2.3.24: UDHL 5 -> 6 octets -> 1 fill bit -> text at septet 7;
    # UDHL 6 -> 7 octets = 56 bits -> 0 fill bits -> text at septet 8.
    header = bytes(range(header_len))
    packed, udl = pack_septets(b"Hi", header)
    assert udl == skip + 2
    assert packed[:header_len] == header
    assert unpack_septets(packed, udl, skip) == b"Hi"


def test_turkish_locking_and_single_shift() -> None:
    turkish = tables_for(1, 1)
    # A.3.1: 0x07 'ı', 0x40 'İ', 0x1C 'Ş'; A.2.1: ESC 0x47 'Ğ', ESC 0x65 '€'.
    assert decode_septets(bytes((0x07, 0x40, 0x1C)), turkish) == "ıİŞ"
    assert decode_septets(bytes((0x1B, 0x47, 0x1B, 0x65)), turkish) == "Ğ€"
    assert encode_text("ğ", turkish) == b"\x0c"


def test_spanish_single_shift_and_portuguese_locking_shift() -> None:
    spanish = tables_for(0, 2)
    assert decode_septets(bytes((0x1B, 0x41, 0x1B, 0x09, 0x61)), spanish) == "Áça"
    portuguese = tables_for(3, 3)
    assert decode_septets(bytes((0x04, 0x13, 0x60, 0x1B, 0x7F)), portuguese) == "êÇ~â"


def test_shift_ies_select_tables_and_unknown_languages_are_flagged() -> None:
    tables, warnings = tables_for_udh(((0x25, b"\x01"), (0x24, b"\x01")))
    assert tables is tables_for(1, 1) and warnings == ()
    tables, warnings = tables_for_udh(((0x24, b"\x06"),))  # Hindi: not implemented
    assert tables is tables_for(0, 0)
    assert warnings == ("unsupported-language-shift",)
