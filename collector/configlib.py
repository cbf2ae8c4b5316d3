"""Strict TOML reading for every collector config section.

One error type, one message shape (`collector.toml: server.listen: expected "host:port",
got 42`), unknown keys rejected, values typed at the edge. `collector/config.py` uses
these for its own sections; modules that own an optional raw section ([vendors],
[probes], [timeseries], [alerts], [reports]) validate it with the same helpers:

    t = Table(config.probes, file=config.source, path="probes")
    interval = t.get_float("interval_s", 300.0, min_value=1.0)
    t.finish()  # rejects keys nobody asked for
"""

from __future__ import annotations

import enum
import json
import re
import tomllib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Final, TypeVar

__all__ = [
    "MISSING",
    "ConfigError",
    "Table",
    "describe",
    "load_toml",
]

E = TypeVar("E", bound=enum.Enum)


class _Missing(enum.Enum):
    MISSING = "MISSING"


MISSING: Final = _Missing.MISSING
_BARE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")
_HOST_PORT = re.compile(r"^(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9_.-]*):(\d{1,5})$")


def describe(value: object) -> str:
    """A value as the operator wrote it in TOML, for error messages."""
    if value is MISSING:
        return "nothing"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        text = json.dumps(value, ensure_ascii=False)
        return text if len(text) <= 60 else text[:57] + '..."'
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, Mapping):
        return "a table"
    if isinstance(value, list | tuple):
        return "an array"
    return type(value).__name__


class ConfigError(ValueError):
    """An unusable configuration; the message is meant for the operator.

    str(): `<file>: <key_path>: expected <expected>, got <value>`; `problem` replaces
    the "expected ..., got ..." part when that does not fit (an unknown key).
    """

    def __init__(
        self,
        file: str,
        key_path: str,
        expected: str,
        got: object = MISSING,
        *,
        problem: str | None = None,
    ) -> None:
        self.file = file
        self.key_path = key_path
        self.expected = expected
        self.got = got
        self.problem = problem or f"expected {expected}, got {describe(got)}"
        where = f"{file}: {key_path}: " if key_path else f"{file}: "
        super().__init__(where + self.problem)


def load_toml(path: str | Path) -> dict[str, Any]:
    """Parse a TOML file; syntax and I/O errors become ConfigError naming the file."""
    p = Path(path)
    try:
        with p.open("rb") as f:
            return tomllib.load(f)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(p.name, "", "valid TOML", problem=f"invalid TOML: {exc}") from exc
    except OSError as exc:
        raise ConfigError(
            p.name, "", "a readable file", problem=f"cannot read: {exc.strerror}"
        ) from exc


def _join(path: str, key: str) -> str:
    part = key if _BARE_KEY.match(key) else json.dumps(key, ensure_ascii=False)
    return f"{path}.{part}" if path else part


class Table:
    """Typed, strict reads from one TOML table.

    Every `get_*` marks its key as known; `finish()` then rejects any other key, so a
    typo never silently falls back to a default. A default of MISSING makes a key
    required.
    """

    def __init__(self, data: object, *, file: str, path: str = "") -> None:
        self.file = file
        self.path = path
        if not isinstance(data, Mapping):
            raise self.error("", "a table", data)
        self._data: Mapping[str, Any] = data
        self._known: set[str] = set()

    # ------------------------------------------------------------ plumbing

    def key_path(self, key: str) -> str:
        return _join(self.path, key)

    def error(self, key: str, expected: str, got: object = MISSING) -> ConfigError:
        return ConfigError(self.file, self.key_path(key) if key else self.path, expected, got)

    def has(self, key: str) -> bool:
        return key in self._data

    def key_names(self) -> list[str]:
        return list(self._data)

    def _get(self, key: str, default: object, expected: str) -> object:
        self._known.add(key)
        if key in self._data:
            return self._data[key]
        if default is MISSING:
            raise self.error(key, expected)
        return default

    def finish(self) -> None:
        unknown = [k for k in self._data if k not in self._known]
        if unknown:
            known = ", ".join(sorted(self._known)) or "none"
            raise ConfigError(
                self.file,
                self.key_path(unknown[0]),
                "",
                problem=f"unknown key (known here: {known})",
            )

    # ------------------------------------------------------------ scalars

    def get_str(
        self,
        key: str,
        default: str | _Missing = MISSING,
        *,
        non_empty: bool = False,
        pattern: re.Pattern[str] | None = None,
        expected: str = "a string",
    ) -> str:
        value = self._get(key, default, expected)
        if not isinstance(value, str):
            raise self.error(key, expected, value)
        if (non_empty and not value) or (pattern is not None and not pattern.fullmatch(value)):
            raise self.error(key, expected, value)
        return value

    def get_choice(
        self, key: str, choices: Sequence[str], default: str | _Missing = MISSING
    ) -> str:
        expected = "one of " + ", ".join(f'"{c}"' for c in choices)
        value = self._get(key, default, expected)
        if not isinstance(value, str) or value not in choices:
            raise self.error(key, expected, value)
        return value

    def get_enum(self, key: str, enum_type: type[E], default: E | _Missing = MISSING) -> E:
        choices = [str(m.value) for m in enum_type]
        expected = "one of " + ", ".join(f'"{c}"' for c in choices)
        value = self._get(key, default, expected)
        if isinstance(value, enum_type):
            return value
        for member in enum_type:
            if isinstance(value, str) and value == str(member.value):
                return member
        raise self.error(key, expected, value)

    def get_bool(self, key: str, default: bool | _Missing = MISSING) -> bool:
        value = self._get(key, default, "true or false")
        if not isinstance(value, bool):
            raise self.error(key, "true or false", value)
        return value

    def get_int(
        self,
        key: str,
        default: int | _Missing = MISSING,
        *,
        min_value: int | None = None,
        max_value: int | None = None,
    ) -> int:
        expected = _range_text("an integer", min_value, max_value)
        value = self._get(key, default, expected)
        if not isinstance(value, int) or isinstance(value, bool):
            raise self.error(key, expected, value)
        if (min_value is not None and value < min_value) or (
            max_value is not None and value > max_value
        ):
            raise self.error(key, expected, value)
        return value

    def get_float(
        self,
        key: str,
        default: float | _Missing = MISSING,
        *,
        min_value: float | None = None,
        max_value: float | None = None,
    ) -> float:
        """A number (TOML integers accepted); NaN and infinities rejected."""
        expected = _range_text("a number", min_value, max_value)
        value = self._get(key, default, expected)
        if not isinstance(value, int | float) or isinstance(value, bool):
            raise self.error(key, expected, value)
        number = float(value)
        if number != number or number in (float("inf"), float("-inf")):
            raise self.error(key, expected, value)
        if (min_value is not None and number < min_value) or (
            max_value is not None and number > max_value
        ):
            raise self.error(key, expected, value)
        return number

    def get_optional_float(
        self, key: str, *, min_value: float | None = None, max_value: float | None = None
    ) -> float | None:
        """Like get_float, but None when the key is absent (e.g. "inherit the default")."""
        self._known.add(key)
        if key not in self._data:
            return None
        return self.get_float(key, min_value=min_value, max_value=max_value)

    def get_host_port(self, key: str, default: str | _Missing = MISSING) -> str:
        """`host:port` (host may be empty or a bracketed IPv6 address), port 0..65535."""
        value = self._get(key, default, '"host:port"')
        m = _HOST_PORT.match(value) if isinstance(value, str) else None
        if m is None or int(m.group(1)) > 65535:
            raise self.error(key, '"host:port"', value)
        return str(value)

    def get_path(
        self, key: str, default: Path | _Missing | None = MISSING, *, base_dir: Path
    ) -> Path | None:
        """A file path; relative paths are relative to the config file's directory."""
        value = self._get(key, default, "a file path")
        if value is None or isinstance(value, Path):
            return value
        if not isinstance(value, str) or not value:
            raise self.error(key, "a file path", value)
        p = Path(value).expanduser()
        return p if p.is_absolute() else base_dir / p

    def get_str_list(
        self, key: str, default: Sequence[str] | _Missing = MISSING, *, non_empty_items: bool = True
    ) -> tuple[str, ...]:
        value = self._get(key, default, "an array of strings")
        if not isinstance(value, list | tuple):
            raise self.error(key, "an array of strings", value)
        for i, item in enumerate(value):
            if not isinstance(item, str) or (non_empty_items and not item):
                raise ConfigError(
                    self.file, f"{self.key_path(key)}[{i}]", "a non-empty string", item
                )
        return tuple(value)

    # ------------------------------------------------------------ nesting

    def get_table(self, key: str, *, required: bool = False) -> Table | None:
        value = self._get(key, MISSING if required else None, "a table")
        if value is None:
            return None
        return Table(value, file=self.file, path=self.key_path(key))

    def get_tables(self, key: str) -> list[Table]:
        """An array of tables (`[[key]]`), each its own strict Table."""
        value = self._get(key, [], "an array of tables")
        if not isinstance(value, list):
            raise self.error(key, "an array of tables", value)
        return [
            Table(item, file=self.file, path=f"{self.key_path(key)}[{i}]")
            for i, item in enumerate(value)
        ]

    def get_raw(self, key: str) -> Mapping[str, Any] | None:
        """A table kept unvalidated for the module that owns it."""
        value = self._get(key, None, "a table")
        if value is None:
            return None
        if not isinstance(value, Mapping):
            raise self.error(key, "a table", value)
        return value


def _range_text(what: str, lo: float | None, hi: float | None) -> str:
    if lo is not None and hi is not None:
        return f"{what} from {lo} to {hi}"
    if lo is not None:
        return f"{what} >= {lo}"
    if hi is not None:
        return f"{what} <= {hi}"
    return what
