"""Points checked against the schema, and their InfluxDB line protocol. Pure."""

from __future__ import annotations

import functools
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from collector.timeseries.schema import MEASUREMENTS

FieldValue = float | int | str


class SchemaError(ValueError):
    """A point that does not fit the schema: a programming error, never written."""


@dataclass(frozen=True, slots=True)
class Point:
    measurement: str
    tags: tuple[tuple[str, str], ...]
    fields: tuple[tuple[str, FieldValue], ...]
    time_ns: int


def make_point(
    measurement: str,
    tags: Mapping[str, str],
    fields: Mapping[str, FieldValue | None],
    time_ns: int,
) -> Point:
    """Build a point, dropping empty tags and None/NaN fields, enforcing the field types."""
    schema = MEASUREMENTS.get(measurement)
    if schema is None:
        raise SchemaError(f"unknown measurement {measurement!r}")
    unknown_tags = set(tags) - set(schema.tags)
    if unknown_tags:
        raise SchemaError(f"{measurement}: unknown tags {sorted(unknown_tags)}")
    clean: list[tuple[str, FieldValue]] = []
    for name, value in fields.items():
        kind = schema.fields.get(name)
        if kind is None:
            raise SchemaError(f"{measurement}: unknown field {name!r}")
        if value is None or (isinstance(value, float) and math.isnan(value)):
            continue
        if kind == "int":
            if isinstance(value, bool):
                value = int(value)
            elif not isinstance(value, int):
                raise SchemaError(f"{measurement}.{name}: expected int, got {value!r}")
        elif kind == "float":
            if isinstance(value, str | bool):
                raise SchemaError(f"{measurement}.{name}: expected float, got {value!r}")
            value = float(value)
        elif not isinstance(value, str):
            raise SchemaError(f"{measurement}.{name}: expected str, got {value!r}")
        clean.append((name, value))
    if not clean:
        raise SchemaError(f"{measurement}: a point needs at least one field")
    return Point(
        measurement,
        tuple(sorted((k, v) for k, v in tags.items() if v)),
        tuple(clean),
        time_ns,
    )


_TAG_ESCAPE = str.maketrans({",": r"\,", "=": r"\=", " ": r"\ ", "\n": r"\n"})
_MEAS_ESCAPE = str.maketrans({",": r"\,", " ": r"\ ", "\n": r"\n"})


@functools.lru_cache(maxsize=8192)
def _head(measurement: str, tags: tuple[tuple[str, str], ...]) -> str:
    # Series repeat (a few vendors × carriers × agents): escape each series key once.
    head = measurement.translate(_MEAS_ESCAPE)
    for k, v in tags:
        head += f",{k.translate(_TAG_ESCAPE)}={v.translate(_TAG_ESCAPE)}"
    return head + " "


@functools.lru_cache(maxsize=1024)
def _key(name: str) -> str:
    return name.translate(_TAG_ESCAPE) + "="


def _field(value: FieldValue) -> str:
    kind = type(value)
    if kind is float:
        return repr(value)
    if kind is int:
        return f"{value}i"
    text = str(value)
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def to_line(point: Point) -> str:
    body = ",".join(_key(k) + _field(v) for k, v in point.fields)
    return f"{_head(point.measurement, point.tags)}{body} {point.time_ns}"


def to_lines(points: Iterable[Point]) -> bytes:
    return "\n".join(map(to_line, points)).encode()
