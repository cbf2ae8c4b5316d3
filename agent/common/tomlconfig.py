"""The one strict config reader of both programs (TOML, and the simulators' JSON).

One error type, one message shape: `<file>: <key path>: expected <what>, got <value>`
(`collector.toml: server.listen: expected "host:port", got 42`,
`agent.toml: modems[2].profile: expected a string, got nothing`). Unknown keys are
refused with the keys that are known there, so a typo never falls back to a default;
NaN and infinities are refused by every number getter (TOML and JSON both have them, and
a NaN interval never compares due). Values are typed at the edge:

    t = Table(data, file="collector.toml", path="probes")
    interval = t.get_float("interval_s", 300.0, min_value=1.0)
    t.finish()  # refuses keys nobody asked for

Pure: no I/O except in `load_toml` / `load_json`.
"""

from __future__ import annotations

import enum
import json
import math
import re
import tomllib
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from types import MappingProxyType
from typing import Any, Final, TypeVar

__all__ = [
    "MAX_DURATION_S",
    "MISSING",
    "ConfigError",
    "Table",
    "check_finite",
    "describe",
    "join_key",
    "load_json",
    "load_toml",
    "parse_json",
]

E = TypeVar("E", bound=enum.Enum)
T = TypeVar("T")


class _Missing(enum.Enum):
    MISSING = "MISSING"


MISSING: Final = _Missing.MISSING
# Longest duration any key may hold: 10 years. Durations become int nanoseconds stored in
# SQLite (64-bit), and anything longer only stands for "never", which no key means.
MAX_DURATION_S: Final = 10 * 365 * 86400.0
_BARE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")
_HOST_PORT = re.compile(r"^(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9_.-]*):(\d{1,5})$")
Scalar = str | int | float | bool


def describe(value: object) -> str:
    """A value as the operator wrote it, control characters escaped, for error messages."""
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
        return "an array" if value else "an empty array"
    return type(value).__name__


def join_key(path: str, key: str) -> str:
    """`path.key`, the key quoted as TOML would need it (`agents."bad id"`)."""
    part = key if _BARE_KEY.match(key) else json.dumps(key, ensure_ascii=False)
    return f"{path}.{part}" if path else part


class ConfigError(ValueError):
    """An unusable configuration; the message is meant for the operator.

    str(): `<file>: <key_path>: expected <expected>, got <value>`. `problem` replaces the
    "expected ..., got ..." part only where no value has the wrong form (an unknown key, a
    file that cannot be read, a certificate that does not match its key).
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
        where = "".join(f"{part}: " for part in (file, key_path) if part)
        super().__init__(where + self.problem)


def load_toml(path: str | Path) -> dict[str, Any]:
    """Parse a TOML file; I/O, encoding and syntax errors become ConfigError naming it."""
    p = Path(path)
    text = _read_text(p)
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(p.name, "", "valid TOML", problem=f"invalid TOML: {exc}") from exc


def load_json(path: str | Path) -> Any:
    """Parse a JSON file; non-finite numbers are refused like every other config error."""
    p = Path(path)
    return parse_json(_read_text(p), file=p.name)


def parse_json(text: str, *, file: str) -> Any:
    """One JSON document (a file, or one line of JSONL with `file` = "name:line").

    Python's json reads NaN, Infinity and 1e999; none of them is a time or a parameter,
    so the first one is refused by its key path.
    """
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(file, "", "JSON", problem=f"not JSON ({exc.msg})") from exc
    check_finite(value, file=file)
    return value


def check_finite(value: object, *, file: str, path: str = "") -> None:
    """Refuse the first NaN or infinity anywhere inside `value`, naming its key path."""
    if isinstance(value, float) and not math.isfinite(value):
        raise ConfigError(file, path, "a finite number", value)
    if isinstance(value, Mapping):
        for key, item in value.items():
            check_finite(item, file=file, path=join_key(path, str(key)))
    elif isinstance(value, list | tuple):
        for i, item in enumerate(value):
            check_finite(item, file=file, path=f"{path}[{i}]")


def _read_text(p: Path) -> str:
    try:
        raw = p.read_bytes()
    except OSError as exc:
        raise ConfigError(
            p.name, "", "a readable file", problem=f"cannot read: {exc.strerror}"
        ) from exc
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(p.name, "", "UTF-8 text", problem="expected UTF-8 text") from exc


def _range_text(what: str, lo: float | None, hi: float | None, *, above: bool = False) -> str:
    low = f"> {lo}" if above else f">= {lo}"
    if lo is not None and hi is not None:
        return f"{what} {low} and <= {hi}" if above else f"{what} from {lo} to {hi}"
    if lo is not None:
        return f"{what} {low}"
    if hi is not None:
        return f"{what} <= {hi}"
    return what


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


class Table:
    """Typed, strict reads from one table of a config document.

    Every `get_*` marks its key as known; `finish()` then refuses any other key. A default
    of MISSING makes a key required. Key paths name array items by index
    (`modems[2].profile`).
    """

    def __init__(self, data: object, *, file: str, path: str = "") -> None:
        self.file = file
        self.path = path
        if not isinstance(data, Mapping):
            raise ConfigError(file, path, "a table", data)
        self._data: Mapping[str, Any] = data
        self._known: set[str] = set()

    # ------------------------------------------------------------ plumbing

    def key_path(self, key: str) -> str:
        return join_key(self.path, key)

    def error(self, key: str, expected: str, got: object = MISSING) -> ConfigError:
        """The one-shape error for `key` (this table itself when key is "")."""
        return ConfigError(self.file, self.key_path(key) if key else self.path, expected, got)

    @property
    def data(self) -> Mapping[str, Any]:
        """The table as read, for merging with defaults into a new Table."""
        return self._data

    def has(self, key: str) -> bool:
        return key in self._data

    def key_names(self) -> list[str]:
        return list(self._data)

    def known(self, *keys: str) -> None:
        """Mark keys as known that the caller reads through get_value or not at all."""
        self._known.update(keys)

    def _get(self, key: str, default: object, expected: str) -> object:
        self._known.add(key)
        if key in self._data:
            return self._data[key]
        if default is MISSING:
            raise self.error(key, expected)
        return default

    def finish(self) -> None:
        """Refuse the first key no getter asked for, listing the ones known here."""
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

    def get_value(self, key: str, default: object = None) -> object:
        """An untyped value the caller checks itself (e.g. a table passed on whole)."""
        return self._get(key, default, "a value")

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

    def get_optional_str(self, key: str, *, expected: str = "a string") -> str | None:
        """A string, or None when the key is absent."""
        self._known.add(key)
        return self.get_str(key, expected=expected) if key in self._data else None

    def get_choice(
        self, key: str, choices: Sequence[str], default: str | _Missing = MISSING
    ) -> str:
        expected = "one of " + ", ".join(f'"{c}"' for c in choices)
        value = self._get(key, default, expected)
        if not isinstance(value, str) or value not in choices:
            raise self.error(key, expected, value)
        return value

    def get_enum(self, key: str, enum_type: type[E], default: E | str | _Missing = MISSING) -> E:
        """A member of `enum_type` by its value, written as a string."""
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

    def get_optional_int(self, key: str, *, min_value: int | None = None) -> int | None:
        """An integer, or None when the key is absent."""
        self._known.add(key)
        return self.get_int(key, min_value=min_value) if key in self._data else None

    def get_float(
        self,
        key: str,
        default: float | _Missing = MISSING,
        *,
        min_value: float | None = None,
        max_value: float | None = None,
        above: float | None = None,
        expected: str | None = None,
    ) -> float:
        """A finite number (TOML integers accepted) within the bounds; `above` is an
        exclusive lower bound. `expected` replaces the generated description."""
        lo = above if above is not None else min_value
        expected = expected or _range_text("a number", lo, max_value, above=above is not None)
        value = self._get(key, default, expected)
        if not _is_number(value):
            raise self.error(key, expected, value)
        number = float(value)  # type: ignore[arg-type]  # _is_number: int or float
        if not _within(number, min_value, max_value, above):
            raise self.error(key, expected, value)
        return number

    def get_optional_float(
        self,
        key: str,
        *,
        min_value: float | None = None,
        max_value: float | None = None,
        above: float | None = None,
    ) -> float | None:
        """Like get_float, but None when the key is absent (e.g. "inherit the default")."""
        self._known.add(key)
        if key not in self._data:
            return None
        return self.get_float(key, min_value=min_value, max_value=max_value, above=above)

    def get_duration(
        self,
        key: str,
        default: float | _Missing = MISSING,
        *,
        allow_zero: bool = False,
        max_s: float = MAX_DURATION_S,
    ) -> float:
        """Seconds: finite, > 0 (or >= 0 where 0 means "off"), at most `max_s`."""
        low = ">=" if allow_zero else ">"
        years = f" ({max_s / (365 * 86400.0):g} years)" if max_s >= 365 * 86400.0 else ""
        expected = f"a number of seconds {low} 0 and <= {max_s:.0f}{years}"
        if allow_zero:
            return self.get_float(key, default, min_value=0.0, max_value=max_s, expected=expected)
        return self.get_float(key, default, above=0.0, max_value=max_s, expected=expected)

    def get_host_port(self, key: str, default: str | _Missing = MISSING) -> str:
        """`host:port` (host may be empty or a bracketed IPv6 address), port 0..65535."""
        value = self._get(key, default, '"host:port"')
        m = _HOST_PORT.match(value) if isinstance(value, str) else None
        if m is None or int(m.group(1)) > 65535:
            raise self.error(key, '"host:port"', value)
        return str(value)

    def get_path(
        self,
        key: str,
        default: Path | _Missing | None = MISSING,
        *,
        base_dir: Path,
        expanduser: bool = True,
    ) -> Path | None:
        """A file path; relative paths are relative to the config file's directory."""
        value = self._get(key, default, "a file path")
        if value is None or isinstance(value, Path):
            return value
        if not isinstance(value, str) or not value:
            raise self.error(key, "a file path", value)
        p = Path(value).expanduser() if expanduser else Path(value)
        return p if p.is_absolute() else base_dir / p

    # ------------------------------------------------------------ arrays and maps

    def _list(
        self, key: str, default: Sequence[object] | _Missing, expected: str, lengths: _Lengths
    ) -> list[object] | tuple[object, ...]:
        value = self._get(key, default, expected)
        if key not in self._data:
            return value  # type: ignore[return-value]  # the caller's own default
        if not isinstance(value, list | tuple) or not lengths.ok(len(value)):
            raise self.error(key, expected, value)
        return value

    def get_str_list(
        self,
        key: str,
        default: Sequence[str] | _Missing = MISSING,
        *,
        non_empty_items: bool = True,
        pattern: re.Pattern[str] | None = None,
        choices: Iterable[str] | None = None,
        item_expected: str | None = None,
        min_len: int = 0,
        max_len: int | None = None,
        expected: str | None = None,
    ) -> tuple[str, ...]:
        """An array of strings; each item checked (non-empty, `pattern`, `choices`) and an
        item's error named by its index (`tls.deny_agents[1]`)."""
        allowed = tuple(choices) if choices is not None else None
        if item_expected is None:
            item_expected = "a non-empty string" if non_empty_items else "a string"
            if allowed is not None:
                item_expected = "one of " + ", ".join(f'"{c}"' for c in allowed)
        lengths = _Lengths(min_len, max_len)
        expected = expected or lengths.text("an array of strings")
        items = self._list(key, default, expected, lengths)
        for i, item in enumerate(items):
            if (
                not isinstance(item, str)
                or (non_empty_items and not item)
                or (pattern is not None and not pattern.fullmatch(item))
                or (allowed is not None and item not in allowed)
            ):
                raise ConfigError(self.file, f"{self.key_path(key)}[{i}]", item_expected, item)
        return tuple(str(item) for item in items)

    def get_int_list(
        self,
        key: str,
        default: Sequence[int] | _Missing = MISSING,
        *,
        min_value: int | None = None,
        max_value: int | None = None,
        min_len: int = 0,
        max_len: int | None = None,
    ) -> tuple[int, ...]:
        lengths = _Lengths(min_len, max_len)
        items = self._list(key, default, lengths.text("an array of integers"), lengths)
        item_expected = _range_text("an integer", min_value, max_value)
        for i, item in enumerate(items):
            if not (isinstance(item, int) and not isinstance(item, bool)) or not _within(
                item, min_value, max_value, None
            ):
                raise ConfigError(self.file, f"{self.key_path(key)}[{i}]", item_expected, item)
        return tuple(int(item) for item in items)  # type: ignore[call-overload]

    def get_float_list(
        self,
        key: str,
        default: Sequence[float] | _Missing = MISSING,
        *,
        min_value: float | None = None,
        max_value: float | None = None,
        min_len: int = 0,
        max_len: int | None = None,
    ) -> tuple[float, ...]:
        """An array of finite numbers (integers accepted) within the bounds."""
        lengths = _Lengths(min_len, max_len)
        items = self._list(key, default, lengths.text("an array of numbers"), lengths)
        item_expected = _range_text("a number", min_value, max_value)
        for i, item in enumerate(items):
            if not _is_number(item) or not _within(float(item), min_value, max_value, None):  # type: ignore[arg-type]
                raise ConfigError(self.file, f"{self.key_path(key)}[{i}]", item_expected, item)
        return tuple(float(item) for item in items)  # type: ignore[arg-type]

    def get_str_map(self, key: str) -> Mapping[str, str]:
        """A table of strings (absent: empty), read-only."""
        return self._map(key, "a table of strings", lambda v: isinstance(v, str), "a string")

    def get_scalar_map(self, key: str) -> Mapping[str, Scalar]:
        """A table of strings, finite numbers and booleans (absent: empty), read-only."""
        return self._map(
            key,
            "a table of strings/numbers/booleans",
            lambda v: isinstance(v, str | bool) or (_is_number(v) and math.isfinite(v)),
            "a string, a finite number or true/false",
        )

    def _map(
        self, key: str, expected: str, ok: Callable[[Any], bool], item_expected: str
    ) -> Mapping[str, Any]:
        value = self._get(key, {}, expected)
        if not isinstance(value, Mapping):
            raise self.error(key, expected, value)
        for k, v in value.items():
            if not ok(v):
                raise ConfigError(self.file, join_key(self.key_path(key), k), item_expected, v)
        return MappingProxyType(dict(value))

    # ------------------------------------------------------------ nesting

    def get_table(self, key: str, *, required: bool = False) -> Table | None:
        value = self._get(key, MISSING if required else None, "a table")
        if value is None:
            return None
        return Table(value, file=self.file, path=self.key_path(key))

    def section(self, key: str) -> Table:
        """A sub-table that may be absent (then empty), so its own required keys still
        name their full path (`at.init: ... got nothing`)."""
        value = self._get(key, {}, "a table")
        return Table(value, file=self.file, path=self.key_path(key))

    def get_tables(
        self, key: str, *, required: bool = False, min_len: int = 0, expected: str | None = None
    ) -> list[Table]:
        """An array of tables (`[[key]]`), each its own strict Table at `key[i]`."""
        expected = expected or "an array of tables"
        value = self._get(key, MISSING if required else [], expected)
        if not isinstance(value, list) or len(value) < min_len:
            raise self.error(key, expected, value)
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


class _Lengths:
    def __init__(self, low: int, high: int | None) -> None:
        self.low, self.high = low, high

    def ok(self, n: int) -> bool:
        return n >= self.low and (self.high is None or n <= self.high)

    def text(self, what: str) -> str:
        if self.high is not None:
            return f"{what} with {self.low} to {self.high} items"
        return f"a non-empty {what.removeprefix('an ')}" if self.low == 1 else what


def _within(number: float, lo: float | None, hi: float | None, above: float | None) -> bool:
    if not math.isfinite(number):
        return False
    if above is not None and not number > above:
        return False
    return (lo is None or number >= lo) and (hi is None or number <= hi)
