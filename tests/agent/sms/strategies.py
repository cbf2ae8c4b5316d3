"""Hypothesis strategies shared by the codec property tests."""

from __future__ import annotations

import os
from datetime import datetime, timedelta, timezone

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from agent.sms.gsm7 import DEFAULT_ALPHABET, DEFAULT_EXTENSION

GSM7_CHARS = "".join(ch for ch in DEFAULT_ALPHABET if ch != "\x1b") + "".join(
    DEFAULT_EXTENSION.values()
)
CHINESE = "".join(chr(c) for c in range(0x4E00, 0x4E00 + 400)) + "，。：！（）“”【】"
EMOJI = "😀😁🎉👍🚀🀄" + "\U00020000\U0002a6d6"  # plus CJK Ext-B (also beyond the BMP)

gsm7_text = st.text(alphabet=GSM7_CHARS, max_size=400)
ucs2_text = st.text(alphabet=GSM7_CHARS[:60] + CHINESE + EMOJI, max_size=200)
any_text = st.one_of(gsm7_text, ucs2_text)

zones = st.integers(min_value=-79, max_value=79).map(lambda q: timezone(timedelta(minutes=15 * q)))
scts = st.builds(
    lambda naive, tz: naive.replace(tzinfo=tz),
    st.datetimes(min_value=datetime(1990, 1, 1), max_value=datetime(2089, 12, 31)).map(
        lambda d: d.replace(microsecond=0)
    ),
    zones,
)
international = st.from_regex(r"\+[1-9][0-9]{4,14}", fullmatch=True)
national = st.from_regex(r"[0-9]{3,20}", fullmatch=True)
alphanumeric = st.text(
    alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz ", min_size=1, max_size=11
).filter(lambda s: not s.strip(" ").isdigit())
senders = st.one_of(international, national, alphanumeric)


# Deterministic by default so a rare peer disagreement cannot block an unrelated commit;
# SMSPROBE_CODEC_FUZZ=1 explores randomly with 20x the examples.
FUZZ = bool(os.environ.get("SMSPROBE_CODEC_FUZZ"))


def codec_settings(examples: int) -> settings:
    """Hypothesis settings for the codec property tests."""
    return settings(
        max_examples=examples * (20 if FUZZ else 1),
        deadline=None,
        derandomize=not FUZZ,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
    )
