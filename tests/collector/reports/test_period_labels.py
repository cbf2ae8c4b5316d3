"""period.labelled_probe is dataclasses.replace(p, calendar=...) for every field of
JudgedProbe, whatever fields it has (each set to a value of its own here)."""

from __future__ import annotations

from dataclasses import fields, replace
from typing import Any

from collector.reports.figures import JudgedProbe
from collector.reports.period import labelled_probe


def test_labelled_probe_keeps_every_other_field() -> None:
    values: dict[str, Any] = {}
    for i, f in enumerate(fields(JudgedProbe)):
        kind = str(f.type)
        if "bool" in kind:
            values[f.name] = True
        elif "float" in kind:
            values[f.name] = i + 0.5
        elif "int" in kind:
            values[f.name] = 1000 + i
        else:
            values[f.name] = f"{f.name}-{i}"
    p = JudgedProbe(**values)
    got = labelled_probe(p, "holiday")
    assert got == replace(p, calendar="holiday") and got.calendar == "holiday"
    for f in fields(JudgedProbe):
        if f.name != "calendar":
            assert getattr(got, f.name) == values[f.name] != f.default, f.name
