"""Long-message splitting boundaries (TS 23.040 §9.2.3.24.1; docs/sms-pdu.md)."""

from __future__ import annotations

import pytest

from agent.sms import EncodeError, Encoding, split_text


def test_gsm7_single_part_holds_160_septets() -> None:
    assert split_text("a" * 160) == (Encoding.GSM7, ["a" * 160])
    assert split_text("€" * 80) == (Encoding.GSM7, ["€" * 80])  # 80 escapes = 160 septets


def test_gsm7_161_septets_split_153_plus_rest() -> None:
    # ModemManager test_text_split_two_pdu: 161 chars -> 153 + 8.
    text = ("0123456789" * 17)[:161]
    enc, parts = split_text(text)
    assert enc is Encoding.GSM7
    assert [len(p) for p in parts] == [153, 8]
    assert "".join(parts) == text


def test_gsm7_exact_multiple_of_153() -> None:
    _enc, parts = split_text("x" * 306)
    assert [len(p) for p in parts] == [153, 153]


def test_gsm7_escape_pair_is_never_split() -> None:
    # 152 plain septets then '€' (2 septets) would straddle the 153 boundary.
    text = "a" * 152 + "€" + "b" * 10
    _, parts = split_text(text)
    assert parts[0] == "a" * 152
    assert parts[1] == "€" + "b" * 10


def test_gsm7_16_bit_reference_leaves_152_septets() -> None:
    _, parts = split_text("y" * 161, ref_bits=16)
    assert [len(p) for p in parts] == [152, 9]


def test_ucs2_single_part_holds_70_units() -> None:
    text = "你好" * 35
    assert split_text(text) == (Encoding.UCS2, [text])


def test_ucs2_71_units_split_67_plus_rest() -> None:
    # ModemManager test_text_split_two_pdu_ucs2: 71 chars -> 67 + 4.
    text = "你好" * 35 + "好"
    _, parts = split_text(text)
    assert [len(p) for p in parts] == [67, 4]


def test_ucs2_surrogate_pair_is_never_split() -> None:
    text = "中" * 66 + "😀" + "文" * 10  # the emoji would occupy units 67 and 68
    _, parts = split_text(text)
    assert parts[0] == "中" * 66
    assert parts[1].startswith("😀")


def test_emoji_counts_two_units_for_the_single_part_limit() -> None:
    assert len(split_text("😀" * 35)[1]) == 1
    assert len(split_text("😀" * 36)[1]) == 2


def test_auto_picks_gsm7_when_every_char_fits_else_ucs2() -> None:
    assert split_text("Hello [world] €5")[0] is Encoding.GSM7
    assert split_text("Hello 世界")[0] is Encoding.UCS2
    assert split_text("`")[0] is Encoding.UCS2


def test_explicit_encodings() -> None:
    assert split_text("abc", Encoding.UCS2) == (Encoding.UCS2, ["abc"])
    assert split_text("é" * 141, Encoding.EIGHT_BIT)[1] == ["é" * 134, "é" * 7]
    with pytest.raises(EncodeError):
        split_text("你好", Encoding.GSM7)
    with pytest.raises(EncodeError):
        split_text("你好", Encoding.EIGHT_BIT)


def test_empty_text_is_one_empty_part() -> None:
    assert split_text("") == (Encoding.GSM7, [""])


def test_more_than_255_parts_is_refused() -> None:
    with pytest.raises(EncodeError, match="segments"):
        split_text("z" * (153 * 255 + 1))


@pytest.mark.parametrize(
    ("char", "per_part", "ref_bits"),
    [("A", 153, 8), ("A", 152, 16), ("Ж", 67, 8), ("Ж", 66, 16)],
)
def test_255_segment_limits_from_ofono(char: str, per_part: int, ref_bits: int) -> None:
    # rilmodem/ofono unit/test-sms.c test_prepare_limits: exactly 255 full segments fit,
    # one more character does not.
    _, parts = split_text(char * (255 * per_part), ref_bits=ref_bits)
    assert len(parts) == 255 and {len(p) for p in parts} == {per_part}
    with pytest.raises(EncodeError):
        split_text(char * (255 * per_part + 1), ref_bits=ref_bits)
