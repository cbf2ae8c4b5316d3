"""Compare what arrived with what a faithful route delivers."""

from __future__ import annotations

import difflib
import re
import unicodedata

from collector.correlation.model import ContentVerdict

_SIGNATURE = re.compile(r"【[^【】]{1,20}】")
_TRAILING_SIGNATURE = re.compile(r"【[^【】]{1,20}】$")
_SPACE = re.compile(r"\s+")


def normalise(text: str) -> str:
    """NFKC folds full-width forms; whitespace runs are not a content change."""
    return _SPACE.sub(" ", unicodedata.normalize("NFKC", text)).strip()


def split_signatures(text: str) -> tuple[tuple[str, ...], str, tuple[str, ...]]:
    """(leading 【signature】 blocks, body, trailing blocks): where vendors put signatures."""
    body = text
    lead: list[str] = []
    trail: list[str] = []
    while (m := _SIGNATURE.match(body)) is not None:
        lead.append(m.group())
        body = body[m.end() :].lstrip()
    while (m := _TRAILING_SIGNATURE.search(body)) is not None:
        trail.insert(0, m.group())
        body = body[: m.start()].rstrip()
    return tuple(lead), body, tuple(trail)


def strip_signatures(text: str) -> str:
    return split_signatures(text)[1]


def diff(expected: str, received: str) -> str:
    """Compact, human-readable edit list: `-[removed]` `+[added]` `~[old→new]`."""
    ops = []
    matcher = difflib.SequenceMatcher(a=expected, b=received, autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "delete":
            ops.append(f"-[{expected[i1:i2]}]@{i1}")
        elif tag == "insert":
            ops.append(f"+[{received[j1:j2]}]@{i1}")
        elif tag == "replace":
            ops.append(f"~[{expected[i1:i2]}→{received[j1:j2]}]@{i1}")
    return " ".join(ops)


def classify(expected: str, received: str) -> tuple[ContentVerdict, str]:
    exp, got = normalise(expected), normalise(received)
    if exp == got:
        return ContentVerdict.INTACT, ""
    exp_lead, exp_body, exp_trail = split_signatures(exp)
    got_lead, got_body, got_trail = split_signatures(got)
    if exp_body == got_body and (exp_lead, exp_trail) != (got_lead, got_trail):
        return ContentVerdict.SIGNATURE_CHANGED, diff(exp, got)
    if got_body and len(got_body) < len(exp_body) and exp_body.startswith(got_body):
        return ContentVerdict.TRUNCATED, diff(exp, got)
    return ContentVerdict.MODIFIED, diff(exp, got)
