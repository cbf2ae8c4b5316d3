from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from collector.correlation.tokens import TokenKind, check_char, find_tokens, make_token
from collector.probes.content import PROFILES, expected_text

SECRET = b"test-secret"


@given(st.text(min_size=1, max_size=20))
def test_code_tokens_look_like_real_codes(probe_id: str) -> None:
    token = make_token(SECRET, probe_id, TokenKind.CODE)
    assert len(token) == 6 and token.isdigit() and token[0] != "0"
    assert len(set(token)) > 2


def test_tokens_are_deterministic_and_distinct() -> None:
    a = make_token(SECRET, "p1", TokenKind.ORDER)
    assert a == make_token(SECRET, "p1", TokenKind.ORDER)
    assert a != make_token(SECRET, "p2", TokenKind.ORDER)
    assert a != make_token(b"other", "p1", TokenKind.ORDER)


def test_outstanding_tokens_are_never_reused() -> None:
    first = make_token(SECRET, "p1", TokenKind.CODE)
    second = make_token(SECRET, "p1", TokenKind.CODE, outstanding={first})
    assert second != first


@given(st.text(max_size=12), st.sampled_from(sorted(PROFILES)), st.text(max_size=12))
def test_token_survives_prefix_signature_and_suffix(prefix: str, profile: str, suffix: str) -> None:
    p = PROFILES[profile]
    token = make_token(SECRET, profile, p.token_kind)
    text = prefix + " " + expected_text(p, token, "某某科技") + " " + suffix
    assert token in find_tokens(text, p.token_kind)


def test_full_width_rewrite_is_still_found() -> None:
    token = make_token(SECRET, "fw", TokenKind.CODE)
    full_width = "".join(chr(0xFF10 + int(c)) for c in token)
    assert find_tokens(f"验证码{full_width}。", TokenKind.CODE) == [token]


def test_order_token_with_a_corrupted_character_is_not_found() -> None:
    token = make_token(SECRET, "x", TokenKind.ORDER)
    assert check_char(token[:10]) == token[10]
    corrupted = ("1" if token[3] != "1" else "2").join([token[:3], token[4:]])
    assert find_tokens(f"订单{corrupted}已发货", TokenKind.ORDER) == []


def test_code_inside_a_longer_number_is_not_a_token() -> None:
    assert find_tokens("call 4001234567 now", TokenKind.CODE) == []
    assert find_tokens("code 482913, phone 4001234567", TokenKind.CODE) == ["482913"]


@given(st.text(min_size=1, max_size=40))
def test_every_order_token_is_alphanumeric_and_found_again(probe_id: str) -> None:
    # Found in a real demo run: a check symbol (=) made the token unfindable.
    token = make_token(SECRET, probe_id, TokenKind.ORDER)
    assert token.isalnum() and len(token) == 11
    assert find_tokens(f"保单{token}：续期成功。单号{token}", TokenKind.ORDER) == [token, token]
