"""The report's JSON text equals json.dumps(indent=1, ensure_ascii=False) byte for byte:
random nested documents, lists of flat objects with strings that look like the
separators, every scalar json writes its own way, keys of every type."""

from __future__ import annotations

import enum
import json
import random
from typing import Any

import pytest

from collector.reports.json_text import indented


class Kind(enum.StrEnum):
    LOST = "lost"


TRICKY = ["", "},\n {", '"}, {"', "a\nb", "国庆节", "\\", "\u2028", "\x00", "{", "}", ","]
SCALARS: list[Any] = [
    0, -1, 10**30, True, False, None, 1.5, -0.0, 1e-300, float("inf"), float("-inf"),
    float("nan"), Kind.LOST, *TRICKY,
]  # fmt: skip
KEYS: list[Any] = [*TRICKY, 7, 2.5, True, False, None, "k"]


def scalar(rng: random.Random) -> Any:
    return rng.choice(SCALARS)


def flat_object(rng: random.Random) -> dict[Any, Any]:
    return {rng.choice(KEYS): scalar(rng) for _ in range(rng.randint(1, 6))}


def nested(rng: random.Random, depth: int) -> Any:
    kind = rng.randrange(6) if depth < 5 else 0
    if kind == 0:
        return scalar(rng)
    if kind == 1:  # the over-charged probes' shape: a list of flat objects
        return [flat_object(rng) for _ in range(rng.randint(1, 8))]
    if kind == 2:
        return {rng.choice(KEYS): nested(rng, depth + 1) for _ in range(rng.randint(0, 5))}
    if kind == 3:
        return tuple(nested(rng, depth + 1) for _ in range(rng.randint(0, 4)))
    return [nested(rng, depth + 1) for _ in range(rng.randint(0, 5))]


@pytest.mark.parametrize("indent", [1, 0, 3])
def test_equals_json_dumps_indented_on_random_documents(indent: int) -> None:
    rng = random.Random(indent)
    for _ in range(400):
        doc = nested(rng, 0)
        assert indented(doc, indent) == json.dumps(doc, indent=indent, ensure_ascii=False)


def test_lists_of_flat_objects_mixed_with_others() -> None:
    docs: list[Any] = [
        [{"a": 1}], [{"a": "},\n  {"}, {"b": 2}], [{"a": 1}, {}], [{"a": 1}, [1]],
        [{"a": 1}, {"b": {"c": 1}}], [{"a": Kind.LOST}, {"b": 1}], {"x": [{"a": None}] * 3},
        [], {}, [[]], [{}], "s", 3, None, ([1], (2,)),
    ]  # fmt: skip
    for doc in docs:
        assert indented(doc) == json.dumps(doc, indent=1, ensure_ascii=False), doc


def test_what_json_cannot_write_is_refused_the_same_way() -> None:
    for doc in ({"a": [{"b": object()}]}, {(1, 2): 3}, [{1j: 1}]):
        with pytest.raises(TypeError):
            json.dumps(doc, indent=1, ensure_ascii=False)
        with pytest.raises(TypeError):
            indented(doc)
