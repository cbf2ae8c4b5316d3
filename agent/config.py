"""The agent's one configuration model: strict, typed, frozen, loaded from TOML once.

Every error names the file, the key path and what was expected
(`agent.toml: modems[2].port: expected a string`); unknown keys are rejected so a typo
never silently falls back to a default.
"""

from __future__ import annotations

import errno
import json
import math
import os
import tempfile
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, TypeVar, cast

from agent.grpc_target import TARGET_FORMS, is_grpc_target
from agent.wire.records import AGENT_ID_FORM, AGENT_ID_RE

LogFormat = Literal["auto", "json", "console"]
LOG_LEVELS = ("debug", "info", "warning", "error")
LOG_FORMATS: tuple[LogFormat, ...] = ("auto", "json", "console")
# The id ends up in the certificate's SAN URI smsprobe://agent/ID, in file names and in
# metric labels; `smsprobe-collector certs` issues certificates by the same rule.
# Longest duration any key may hold: 10 years. Durations become int nanoseconds stored in
# SQLite (64-bit), and anything longer only stands for "never", which no key means.
MAX_DURATION_S = 10 * 365 * 86400.0


class ConfigError(Exception):
    """The configuration file is unusable; the message is meant for the operator."""

    def __init__(self, file: str, key: str, expected: str) -> None:
        self.file = file
        self.key = key
        self.expected = expected
        where = f"{file}: {key}: " if key else f"{file}: "
        super().__init__(f"{where}{expected}")


@dataclass(frozen=True, slots=True)
class OutboxConfig:
    path: Path
    max_bytes: int = 512 * 1024 * 1024
    max_age_s: float = 30 * 86400.0
    alarm_fraction: float = 0.8
    retention_s: float = 86400.0  # acked records kept this long, then pruned


@dataclass(frozen=True, slots=True)
class ModemConfig:
    port: str  # pyserial URL or /dev/serial/by-id/... path
    profile: str = "auto"
    imei: str = ""  # expected; used to re-find the modem after re-enumeration
    iccid: str = ""
    msisdn: str = ""
    power_cycle_command: tuple[str, ...] = ()
    expected_sms_interval_s: float = 0.0  # 0 = no traffic hint: no_sms_for_too_long disabled


@dataclass(frozen=True, slots=True)
class ReceiveConfig:
    sweep_interval_s: float = 300.0
    health_interval_s: float = 60.0
    reassembly_timeout_s: float = 120.0  # far inside the collector's 600 s give-up
    command_timeout_s: float = 5.0  # scales the profile's long timeouts (CMGL, CMGS, reset)


@dataclass(frozen=True, slots=True)
class CollectorConfig:
    address: str
    ca_cert: Path | None = None
    cert: Path | None = None
    key: Path | None = None
    insecure: bool = False
    upload: bool = True
    sign_records: bool = True  # with `key`: each record is signed as it is persisted


@dataclass(frozen=True, slots=True)
class LogConfig:
    level: str = "info"
    format: LogFormat = "auto"


@dataclass(frozen=True, slots=True)
class AgentConfig:
    agent_id: str
    site: str
    region: str
    outbox: OutboxConfig
    modems: tuple[ModemConfig, ...]
    receive: ReceiveConfig = ReceiveConfig()
    collector: CollectorConfig | None = None
    metrics_port: int = 0  # 0 = no Prometheus endpoint
    log: LogConfig = LogConfig()
    source: str = ""  # the file this came from, for messages


_RECEIVE = ReceiveConfig()
T = TypeVar("T")


def _shown(value: object) -> str:
    """A value as written in TOML, control characters escaped, for error messages."""
    if isinstance(value, str):
        text = json.dumps(value)
        return text if len(text) <= 60 else text[:56] + '..."'
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, list):
        return "an array"
    return repr(value)


class _Reader:
    """Walks one TOML table, remembering the key path for error messages."""

    def __init__(self, file: str, table: Mapping[str, Any], path: str) -> None:
        self.file = file
        self.table = table
        self.path = path
        self.used: set[str] = set()

    def _key(self, name: str) -> str:
        return f"{self.path}.{name}" if self.path else name

    def fail(self, name: str, expected: str) -> ConfigError:
        return ConfigError(self.file, self._key(name), expected)

    def _get(self, name: str, required: bool) -> Any:
        self.used.add(name)
        if name not in self.table:
            if required:
                raise self.fail(name, "required key is missing")
            return None
        return self.table[name]

    def string(self, name: str, default: str | None = None, nonempty: bool = False) -> str:
        value = self._get(name, default is None)
        if value is None:
            return cast(str, default)
        if not isinstance(value, str):
            raise self.fail(name, "expected a string")
        if nonempty and not value.strip():
            raise self.fail(name, "expected a non-empty string")
        return value

    def choice(self, name: str, options: tuple[str, ...], default: str) -> str:
        value = self.string(name, default)
        if value not in options:
            raise self.fail(name, "expected one of " + ", ".join(options))
        return value

    def boolean(self, name: str, default: bool) -> bool:
        value = self._get(name, False)
        if value is None:
            return default
        if not isinstance(value, bool):
            raise self.fail(name, "expected true or false")
        return value

    def integer(self, name: str, default: int, minimum: int = 0, maximum: int | None = None) -> int:
        value = self._get(name, False)
        if value is None:
            return default
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.fail(name, "expected an integer")
        if value < minimum or (maximum is not None and value > maximum):
            upper = "" if maximum is None else f" and <= {maximum}"
            raise self.fail(name, f"expected an integer >= {minimum}{upper}")
        return value

    def _finite(
        self, name: str, default: float, expected: str, ok: Callable[[float], bool]
    ) -> float:
        # TOML has nan/inf literals: a nan interval never compares due, so it must not pass.
        value = self._get(name, False)
        if value is None:
            return default
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self.fail(name, f"expected {expected}, got {_shown(value)}")
        number = float(value)
        if not math.isfinite(number) or not ok(number):
            raise self.fail(name, f"expected {expected}, got {_shown(value)}")
        return number

    def duration(self, name: str, default: float, allow_zero: bool = False) -> float:
        """Seconds: finite, > 0 (or >= 0 where 0 means "off"), at most MAX_DURATION_S."""
        low = ">=" if allow_zero else ">"
        expected = f"a number of seconds {low} 0 and <= {MAX_DURATION_S:.0f} (10 years)"
        return self._finite(
            name,
            default,
            expected,
            lambda n: (n >= 0 if allow_zero else n > 0) and n <= MAX_DURATION_S,
        )

    def fraction(self, name: str, default: float) -> float:
        """A share of something, > 0 and <= 1 (0 would mean "always")."""
        return self._finite(name, default, "a fraction > 0 and <= 1", lambda n: 0 < n <= 1)

    def path_value(self, name: str, base: Path) -> Path | None:
        value = self._get(name, False)
        if value is None:
            return None
        if not isinstance(value, str) or not value:
            raise self.fail(name, "expected a path string")
        path = Path(value)
        return path if path.is_absolute() else base / path

    def argv(self, name: str) -> tuple[str, ...]:
        value = self._get(name, False)
        if value is None:
            return ()
        if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
            raise self.fail(name, "expected a non-empty list of strings (argv)")
        return tuple(value)

    def table_(self, name: str, required: bool = False) -> _Reader | None:
        value = self._get(name, required)
        if value is None:
            return None
        if not isinstance(value, dict):
            raise self.fail(name, "expected a table")
        return _Reader(self.file, value, self._key(name))

    def tables(self, name: str) -> list[_Reader]:
        value = self._get(name, True)
        if not isinstance(value, list) or not value:
            raise self.fail(name, "expected a non-empty array of tables ([[modems]])")
        readers = []
        for i, item in enumerate(value):
            key = f"{self._key(name)}[{i}]"
            if not isinstance(item, dict):
                raise ConfigError(self.file, key, "expected a table")
            readers.append(_Reader(self.file, item, key))
        return readers

    def done(self) -> None:
        unknown = sorted(set(self.table) - self.used)
        if unknown:
            raise self.fail(unknown[0], "unknown key")


def _section(reader: _Reader, name: str, build: Callable[[_Reader], T], default: T) -> T:
    sub = reader.table_(name)
    if sub is None:
        return default
    result = build(sub)
    sub.done()
    return result


def parse_config(data: Mapping[str, Any], file: str, base: Path) -> AgentConfig:
    """Validate an already-parsed TOML document (pure; no file system access)."""
    root = _Reader(file, data, "")
    agent = root.table_("agent", required=True)
    assert agent is not None
    agent_id = agent.string("id")
    if not AGENT_ID_RE.fullmatch(agent_id):
        raise agent.fail("id", f"expected {AGENT_ID_FORM}, got {_shown(agent_id)}")
    site = agent.string("site", "")
    region = agent.string("region", "")
    agent.done()

    out = root.table_("outbox", required=True)
    assert out is not None
    out_path = out.path_value("path", base)
    if out_path is None:
        raise out.fail("path", "required key is missing")
    outbox = OutboxConfig(
        path=out_path,
        max_bytes=out.integer("max_bytes", 512 * 1024 * 1024, minimum=65536),
        max_age_s=out.duration("max_age_s", 30 * 86400.0),
        alarm_fraction=out.fraction("alarm_fraction", 0.8),
        retention_s=out.duration("retention_s", 86400.0, allow_zero=True),
    )
    out.done()

    modems = []
    seen_ports: set[str] = set()
    for m in root.tables("modems"):
        port = m.string("port", nonempty=True)
        if port in seen_ports:
            raise m.fail("port", "expected a port not used by another modem")
        seen_ports.add(port)
        modems.append(
            ModemConfig(
                port=port,
                profile=m.string("profile", "auto", nonempty=True),
                imei=m.string("imei", ""),
                iccid=m.string("iccid", ""),
                msisdn=m.string("msisdn", ""),
                power_cycle_command=m.argv("power_cycle_command"),
                expected_sms_interval_s=m.duration("expected_sms_interval_s", 0.0, allow_zero=True),
            )
        )
        m.done()

    def build_receive(r: _Reader) -> ReceiveConfig:
        return ReceiveConfig(
            sweep_interval_s=r.duration("sweep_interval_s", _RECEIVE.sweep_interval_s),
            health_interval_s=r.duration("health_interval_s", _RECEIVE.health_interval_s),
            reassembly_timeout_s=r.duration("reassembly_timeout_s", _RECEIVE.reassembly_timeout_s),
            command_timeout_s=r.duration("command_timeout_s", _RECEIVE.command_timeout_s),
        )

    def build_collector(r: _Reader) -> CollectorConfig:
        address = r.string("address")
        if not is_grpc_target(address):
            raise r.fail("address", f"expected {TARGET_FORMS}, got {_shown(address)}")
        collector = CollectorConfig(
            address=address,
            ca_cert=r.path_value("ca_cert", base),
            cert=r.path_value("cert", base),
            key=r.path_value("key", base),
            insecure=r.boolean("insecure", False),
            upload=r.boolean("upload", True),
            sign_records=r.boolean("sign_records", True),
        )
        if not collector.insecure and (collector.cert is None or collector.key is None):
            raise r.fail("cert", "expected cert and key paths (mTLS) unless insecure = true")
        return collector

    def build_metrics(r: _Reader) -> int:
        return r.integer("port", 0, minimum=0, maximum=65535)

    def build_log(r: _Reader) -> LogConfig:
        return LogConfig(
            level=r.choice("level", LOG_LEVELS, "info"),
            format=cast(LogFormat, r.choice("format", LOG_FORMATS, "auto")),
        )

    config = AgentConfig(
        agent_id=agent_id,
        site=site,
        region=region,
        outbox=outbox,
        modems=tuple(modems),
        receive=_section(root, "receive", build_receive, ReceiveConfig()),
        collector=_section(root, "collector", build_collector, None),
        metrics_port=_section(root, "metrics", build_metrics, 0),
        log=_section(root, "log", build_log, LogConfig()),
        source=file,
    )
    root.done()
    return config


# Errors that say the disk is in trouble (full, remounted read-only after an error, failing)
# rather than that the path is wrong; the running agent treats them as a storage state.
_DISK_STATES = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EIO})


def outbox_path_problem(path: Path) -> str | None:
    """Why the outbox cannot live at `path`, or None if it can.

    SQLite needs its directory writable too (the journal and WAL files sit beside the
    database), and the outbox creates a missing directory on open, so the nearest
    existing ancestor must take a new file. That is tried, not read off mode bits: root
    passes every mode-bit check yet cannot create a file in /sys. A path that is wrong
    (a directory, not writable, under a file) is a config error; a disk that is full or
    failing right now is not, as the agent must start and report it.
    """
    ancestor = path.parent
    try:
        if path.is_dir():
            return f"expected a database file path, got a directory ({path})"
        if path.exists() and not path.is_file():
            return f"expected a regular file ({path} is not one)"
        if path.exists() and not os.access(path, os.R_OK | os.W_OK):
            return f"expected a writable file ({path} is not writable)"
        while not ancestor.exists() and ancestor != ancestor.parent:
            ancestor = ancestor.parent
        if not ancestor.is_dir():
            return f"expected a path whose directory can be created ({ancestor} is not a directory)"
        fd, probe = tempfile.mkstemp(prefix=".smsprobe-probe-", dir=ancestor)
    except OSError as exc:
        if exc.errno in _DISK_STATES:
            return None  # the disk's trouble, not the config's: the agent reports and retries
        return f"expected a directory the agent can write ({ancestor}: {exc.strerror})"
    os.close(fd)
    os.unlink(probe)
    return None


def load_config(path: str | Path, check_outbox: bool = True) -> AgentConfig:
    """Read and validate `path`; raises ConfigError naming the file and key.

    With `check_outbox` the outbox path is also checked against the file system, so an
    unusable one is a config error before any modem port is opened.
    """
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ConfigError(str(path), "", f"cannot read: {exc.strerror}") from exc
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise ConfigError(path.name, "", "expected UTF-8 text") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(path.name, "", f"invalid TOML: {exc}") from exc
    config = parse_config(data, path.name, path.parent.resolve())
    if check_outbox:
        problem = outbox_path_problem(config.outbox.path)
        if problem is not None:
            raise ConfigError(path.name, "outbox.path", problem)
    return config
