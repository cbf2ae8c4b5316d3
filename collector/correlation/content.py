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


# What a vendor did to a message, each kind on its own (one message can show several):
CHANGE_KINDS = (
    "signature_added",  # a 【signature】 where the expected text had none, or a second one
    "signature_changed",  # the expected signature replaced, or moved to the other end
    "link_rewritten",  # a URL of the expected text replaced by another (a short-link domain)
    "truncated",  # the text stops early: what arrived is a prefix of what was sent
    "characters_replaced",  # same-length substitutions (look-alikes, full-width, masked words)
    "text_added",  # words added (an unsubscribe suffix, an advert)
    "text_removed",  # words dropped from inside the text
)
_URL = re.compile(r"https?://[^\s，。、】]+")
_LINK_MARK = "\x00"


def _links_marked(text: str) -> tuple[str, list[str]]:
    """The text with each URL replaced by one mark, and the URLs in order."""
    return _URL.sub(_LINK_MARK, text), _URL.findall(text)


def content_changes(expected: str, received: str) -> tuple[str, ...]:
    """The kinds of change (CHANGE_KINDS, in that order) between what a faithful route
    delivers and what arrived; () when intact after normalisation."""
    exp, got = normalise(expected), normalise(received)
    if exp == got:
        return ()
    kinds: set[str] = set()
    exp_lead, exp_body, exp_trail = split_signatures(exp)
    got_lead, got_body, got_trail = split_signatures(got)
    exp_sigs, got_sigs = set(exp_lead + exp_trail), set(got_lead + got_trail)
    if got_sigs - exp_sigs:
        kinds.add("signature_added" if exp_sigs <= got_sigs else "signature_changed")
    elif exp_sigs == got_sigs and (exp_lead, exp_trail) != (got_lead, got_trail):
        kinds.add("signature_changed")  # moved
    elif exp_sigs - got_sigs and got_body == exp_body:
        kinds.add("signature_changed")  # dropped
    exp_marked, exp_links = _links_marked(exp_body)
    got_marked, got_links = _links_marked(got_body)
    # A URL cut off at the end of a truncated text is not a rewrite.
    cut = got_links[-1:] if got_body.endswith(tuple(got_links[-1:])) else []
    if any(
        g not in exp_links
        for g in got_links
        if not (g in cut and any(e.startswith(g) for e in exp_links))
    ):
        kinds.add("link_rewritten")
    if len(got_marked) < len(exp_marked) and exp_marked.startswith(got_marked):
        kinds.add("truncated")
    elif exp_marked != got_marked:
        # A cut-off trailing URL is no longer a URL: compare the cut text as it arrived.
        tail_cut = len(got) < len(exp) and exp.startswith(got)
        ops = difflib.SequenceMatcher(a=exp_marked, b=got_marked, autojunk=False).get_opcodes()
        for tag, i1, i2, j1, j2 in ops:
            if tag == "equal":
                continue
            if tag == "replace" and i2 - i1 == j2 - j1:
                kinds.add("characters_replaced")
            elif tag == "delete" and i2 == len(exp_marked) and tail_cut:
                kinds.add("truncated")
            elif tag == "insert" or (tag == "replace" and j2 - j1 > i2 - i1):
                kinds.add("text_added")
            else:
                kinds.add("text_removed")
    return tuple(k for k in CHANGE_KINDS if k in kinds)
