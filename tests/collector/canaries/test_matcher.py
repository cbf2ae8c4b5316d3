"""Canary judging reads only the received texts some canary could match (`_matcher`): the
pre-filter keeps exactly the texts `_carries` accepts for at least one canary, so the
outcomes are those of judging every SMS received since."""

from __future__ import annotations

import random

from collector.canaries import ReceivedText, SentCanary, _carries, _matcher, canary_token

LETTERS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"


def test_prefilter_keeps_exactly_what_some_canary_carries() -> None:
    rng = random.Random(14)
    tokens = ["".join(rng.choice(LETTERS[:26]) for _ in range(14)) for _ in range(20)]
    sent = [SentCanary(f"c{i}", "a", "i", "+86", i, f"smsprobe canary {t}")
            for i, t in enumerate(tokens)]  # fmt: skip
    sent.append(SentCanary("plain", "a", "i", "+86", 99, "  ping from the other SIM "))
    texts = [
        "Your code is 424242",
        "ping from the other SIM",
        "ping from the other SIM!",
        *(f"fwd: SMSPROBE CANARY {t.upper()}" for t in tokens[:3]),  # folded: carried
        *(f"x{t}y" for t in tokens[3:6]),  # inside a longer run of letters: still carried
        *(t[:13] for t in tokens[6:9]),  # one letter short
        "【验证】您的验证码是 424242",
        "ǅǆabcdefghijklmnopq",
        "ﬁ" * 20,
    ]
    texts += ["".join(rng.choice(LETTERS + " 0ﬁß") for _ in range(rng.randint(0, 40)))
              for _ in range(3000)]  # fmt: skip
    could_match = _matcher(sent)
    kept = 0
    for text in texts:
        received = ReceivedText("+86", text, 0, "u")
        expected = any(_carries(c, canary_token(c.text), received) for c in sent)
        assert could_match(text) == expected, text
        kept += expected
    assert kept == 1 + 3 + 3  # the plain text and six carried tokens
