"""Numbered, portable SQL migrations: `NNNN_name.sql`, applied in order, each once.

To extend the schema (probes, DLRs, verdicts, high-water marks, alerts...), add the next
numbered file; never edit one that has shipped. Files use the tokens below so one text
serves SQLite and PostgreSQL; statements are split at a ";" that ends a line, and one
prefixed "@sqlite " or "@postgresql " runs on that backend only.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass
from importlib import resources


class Dialect(enum.StrEnum):
    SQLITE = "sqlite"
    POSTGRESQL = "postgresql"


_TOKENS: dict[Dialect, dict[str, str]] = {
    Dialect.SQLITE: {
        "autoid": "INTEGER PRIMARY KEY AUTOINCREMENT",
        "idkey": "INTEGER PRIMARY KEY",
        "blob": "BLOB",
        "double": "DOUBLE PRECISION",
        "string_agg": "group_concat",  # (text, separator): the same arguments
        "chr": "char",  # a character by its code
    },
    Dialect.POSTGRESQL: {
        "autoid": "BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY",
        "idkey": "BIGINT PRIMARY KEY",
        "blob": "BYTEA",
        "double": "DOUBLE PRECISION",
        "string_agg": "string_agg",
        "chr": "chr",
    },
}

_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")
_TOKEN = re.compile(r"\{(\w+)\}")
_ONLY = re.compile(r"^@(sqlite|postgresql)\s+")


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    name: str
    statements: tuple[str, ...]


def _strip_comments(sql: str) -> str:
    return "\n".join(line.split("--", 1)[0].rstrip() for line in sql.splitlines())


def render(sql: str, dialect: Dialect) -> tuple[str, ...]:
    tokens = _TOKENS[dialect]
    body = _TOKEN.sub(lambda m: tokens[m.group(1)], _strip_comments(sql))
    parts = (p.strip() for p in re.split(r";[ \t]*$", body, flags=re.MULTILINE))
    out = []
    for part in parts:
        m = _ONLY.match(part)
        if m:
            if m.group(1) != dialect.value:
                continue
            part = part[m.end() :]
        if part:
            out.append(part)
    return tuple(out)


def load(dialect: Dialect) -> tuple[Migration, ...]:
    found: list[Migration] = []
    for entry in resources.files(__package__).iterdir():
        m = _NAME.match(entry.name)
        if m:
            statements = render(entry.read_text(encoding="utf-8"), dialect)
            found.append(Migration(int(m.group(1)), m.group(2), statements))
    found.sort(key=lambda mig: mig.version)
    versions = [mig.version for mig in found]
    if versions != list(range(1, len(found) + 1)):
        raise ValueError(f"migrations must be numbered 1..n without holes, found {versions}")
    return tuple(found)
