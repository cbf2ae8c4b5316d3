"""Correlation tokens: what a real message of each kind carries (a code, an order number).

A token is PRF(secret, probe_id, attempt) mapped into the alphabet the content allows, so it
looks like any other verification code or order number, is never reused, and can be
re-derived by whoever holds the secret (evidence). Collisions with tokens still outstanding
for the same SIM are rejected by drawing the next attempt.
"""

from __future__ import annotations

import enum
import hashlib
import hmac
import itertools
import re
from collections.abc import Container

# Crockford base32: no I, L, O, U — nothing a person (or an OCR'd screenshot) confuses.
CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_CHECK = CROCKFORD + "*~$=U"  # Crockford's mod-37 check symbols


class TokenKind(enum.Enum):
    CODE = "code"  # 6-digit verification code
    ORDER = "order"  # 10 base32 characters + 1 check character


class TokenExhaustedError(RuntimeError):
    """Every attempt collided with an outstanding token (should never happen in practice)."""


def _prf(secret: bytes, probe_id: str, attempt: int) -> int:
    mac = hmac.new(secret, f"{probe_id}/{attempt}".encode(), hashlib.sha256).digest()
    return int.from_bytes(mac[:16], "big")


def _looks_made_up(code: str) -> bool:
    """Codes a spam filter or a person would find suspicious: 111111, 123456, 654321."""
    digits = [int(c) for c in code]
    steps = {b - a for a, b in itertools.pairwise(digits)}
    return len(set(code)) <= 2 or steps in ({1}, {-1}, {0})


def check_char(body: str) -> str:
    value = 0
    for c in body:
        value = value * 32 + CROCKFORD.index(c)
    return _CHECK[value % 37]


def render(kind: TokenKind, value: int) -> str:
    if kind is TokenKind.CODE:
        # No leading zero: vendors that treat numeric params as integers would drop it.
        return str(100000 + value % 900000)
    body = "".join(CROCKFORD[(value >> (5 * i)) & 31] for i in range(10))
    return body + check_char(body)


def make_token(
    secret: bytes, probe_id: str, kind: TokenKind, outstanding: Container[str] = ()
) -> str:
    for attempt in range(64):
        token = render(kind, _prf(secret, probe_id, attempt))
        if kind is TokenKind.CODE and _looks_made_up(token):
            continue
        if not token.isalnum():
            # Crockford's check symbols *~$= would look odd in an order number and some
            # gateways escape or strip them: draw again (about one draw in seven).
            continue
        if token not in outstanding:
            return token
    raise TokenExhaustedError(f"no free {kind.value} token for probe {probe_id}")


_CODE_RE = re.compile(r"(?<![0-9])[1-9][0-9]{5}(?![0-9])")
_ORDER_RE = re.compile(r"(?<![0-9A-Z])[0-9A-Z]{11}(?![0-9A-Z])")


def find_tokens(text: str, kind: TokenKind) -> list[str]:
    """Candidate tokens of `kind` in received text, in order of appearance.

    Full-width digits and letters (some gateways convert) are folded first; an ORDER
    candidate must carry a valid check character, so a rewritten or truncated one is not
    mistaken for another probe's.
    """
    folded = text.translate(_FULLWIDTH).upper()
    if kind is TokenKind.CODE:
        return _CODE_RE.findall(folded)
    return [
        t
        for t in _ORDER_RE.findall(folded)
        if all(c in CROCKFORD for c in t[:10]) and check_char(t[:10]) == t[10]
    ]


_FULLWIDTH = (
    {0xFF10 + i: 0x30 + i for i in range(10)}
    | {0xFF21 + i: 0x41 + i for i in range(26)}
    | {0xFF41 + i: 0x61 + i for i in range(26)}
)
