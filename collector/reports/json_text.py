"""The report's JSON text: json.dumps(doc, indent=1, ensure_ascii=False), byte for byte,
in a fraction of its time.

json.dumps takes its pure-Python encoder whenever it indents; a month's priced report is
40 MB, mostly flat objects (the over-charged probes, 10^5), and took 2 s to write. Here
the nesting is walked in Python and every container holding only scalars is encoded by
the C encoder in one call, its item separator carrying the newline and indentation the
indented form puts between items (an encoded string holds no raw newline, so the text is
the same).
"""

from __future__ import annotations

import functools
import itertools
import json
from collections.abc import Iterable
from typing import Any

# exact types (a subclass takes the walk, where json.dumps treats it as its base type)
_SCALARS = frozenset({str, int, float, bool, type(None)})


def indented(doc: Any, indent: int = 1) -> str:
    """json.dumps(doc, indent=indent, ensure_ascii=False)."""
    out: list[str] = []
    _write(doc, 0, " " * indent, out)
    return "".join(out)


@functools.cache
def _flat_encoder(depth: int, step: str) -> json.JSONEncoder:
    """A C encoder whose item separator is the indented form's at `depth`."""
    return json.JSONEncoder(ensure_ascii=False, separators=(",\n" + step * depth, ": "))


_KEY = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))


def _key(key: Any) -> str:
    """A key as json.dumps writes it (a number, true, false or null as a string)."""
    return _KEY.encode({key: 0})[1:-3]


def _scalars(values: Iterable[Any]) -> bool:
    return set(map(type, values)) <= _SCALARS


def _objects_of_scalars(items: list[Any] | tuple[Any, ...]) -> bool:
    """Whether every item is a non-empty dict of scalars (checked in C: 10^6 values)."""
    if set(map(type, items)) != {dict} or not all(items):
        return False
    return _scalars(itertools.chain.from_iterable(map(dict.values, items)))


def _flat_objects(o: list[Any] | tuple[Any, ...], depth: int, step: str) -> str:
    """A list of non-empty objects of scalars in one C call: encoded with the item
    separator of their members' depth, the separators between the objects (the only
    "},\n" followed by that indentation and "{") get their own indentation back."""
    sep = ",\n" + step * (depth + 2)
    text = _flat_encoder(depth + 2, step).encode(o)
    outer, inner = "\n" + step * (depth + 1), "\n" + step * (depth + 2)
    body = text[2:-2].replace("}" + sep + "{", outer + "}," + outer + "{" + inner)
    return "[" + outer + "{" + inner + body + outer + "}\n" + step * depth + "]"


def _write(o: Any, depth: int, step: str, out: list[str]) -> None:
    values: Iterable[Any]
    if isinstance(o, dict):
        values = o.values()
    elif isinstance(o, list | tuple):
        values = o
    else:
        out.append(_flat_encoder(0, step).encode(o))
        return
    if not o:
        out.append("{}" if isinstance(o, dict) else "[]")
        return
    inner = "\n" + step * (depth + 1)
    if _scalars(values):
        text = _flat_encoder(depth + 1, step).encode(o)
        out += (text[0], inner, text[1:-1], "\n", step * depth, text[-1])
        return
    if isinstance(o, list | tuple) and _objects_of_scalars(o):
        out.append(_flat_objects(o, depth, step))
        return
    if isinstance(o, dict):
        out.append("{")
        for i, (k, v) in enumerate(o.items()):
            out += ("," if i else "", inner, _key(k), ": ")
            _write(v, depth + 1, step, out)
        out += ("\n", step * depth, "}")
        return
    out.append("[")
    for i, v in enumerate(o):
        out += ("," if i else "", inner)
        _write(v, depth + 1, step, out)
    out += ("\n", step * depth, "]")
