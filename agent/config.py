"""The agent's one configuration model: strict, typed, frozen, loaded from TOML once.

Read with the one strict reader (agent/common/tomlconfig.py): every error names the file,
the key path, what was expected and what was found
(`agent.toml: modems[2].port: expected a non-empty string, got 42`); unknown keys are
refused, so a typo never silently falls back to a default.
"""

from __future__ import annotations

import errno
import os
import re
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, TypeVar, cast

from agent.common.tomlconfig import MAX_DURATION_S, ConfigError, Table, load_toml
from agent.grpc_target import TARGET_FORMS, is_grpc_target
from agent.wire.records import AGENT_ID_FORM, AGENT_ID_RE

__all__ = [
    "MAX_DURATION_S",
    "AgentConfig",
    "CollectorConfig",
    "ConfigError",
    "LogConfig",
    "ModemConfig",
    "OutboxConfig",
    "ReceiveConfig",
    "load_config",
    "outbox_path_problem",
    "parse_config",
]

LogFormat = Literal["auto", "json", "console"]
LOG_LEVELS = ("debug", "info", "warning", "error")
LOG_FORMATS: tuple[LogFormat, ...] = ("auto", "json", "console")
# A port or profile name of only blanks is as good as none.
_NOT_BLANK = re.compile(r".*\S.*", re.DOTALL)


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
    """`addresses` are the collectors to fail over between, in order (docs/scale-out.md);
    `address` is the first of them. Built with only `address`, `addresses` is that one."""

    address: str = ""
    ca_cert: Path | None = None
    cert: Path | None = None
    key: Path | None = None
    insecure: bool = False
    upload: bool = True
    sign_records: bool = True  # with `key`: each record is signed as it is persisted
    addresses: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not self.addresses:
            object.__setattr__(self, "addresses", (self.address,) if self.address else ())
        elif not self.address:
            object.__setattr__(self, "address", self.addresses[0])
        if not self.addresses or self.address != self.addresses[0]:
            raise ValueError("CollectorConfig: address must be the first of addresses")


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


def _section(root: Table, name: str, build: Callable[[Table], T], default: T) -> T:
    sub = root.get_table(name)
    if sub is None:
        return default
    result = build(sub)
    sub.finish()
    return result


def _path(t: Table, key: str, base: Path) -> Path | None:
    return t.get_path(key, None, base_dir=base, expanduser=False)


def _modems(root: Table, base: Path) -> tuple[ModemConfig, ...]:
    modems: list[ModemConfig] = []
    tables = root.get_tables(
        "modems", required=True, min_len=1, expected="a non-empty array of tables ([[modems]])"
    )
    for m in tables:
        port = m.get_str("port", pattern=_NOT_BLANK, expected="a non-empty string")
        for j, earlier in enumerate(modems):
            if earlier.port == port:
                expected = "a port not used by another modem"
                raise ConfigError(
                    root.file,
                    m.key_path("port"),
                    expected,
                    problem=f"expected {expected}, got the port of modems[{j}]",
                )
        modems.append(
            ModemConfig(
                port=port,
                profile=m.get_str(
                    "profile", "auto", pattern=_NOT_BLANK, expected="a non-empty string"
                ),
                imei=m.get_str("imei", ""),
                iccid=m.get_str("iccid", ""),
                msisdn=m.get_str("msisdn", ""),
                power_cycle_command=m.get_str_list(
                    "power_cycle_command",
                    (),
                    non_empty_items=False,
                    min_len=1,
                    expected="a non-empty list of strings (argv)",
                ),
                expected_sms_interval_s=m.get_duration(
                    "expected_sms_interval_s", 0.0, allow_zero=True
                ),
            )
        )
        m.finish()
    return tuple(modems)


def _addresses(r: Table) -> tuple[str, ...]:
    """`address = "h:p"` (one collector) or `addresses = ["h:p", ...]` (several, failed
    over between in order); exactly one of the two keys."""
    r.known("address", "addresses")
    if r.has("address") and r.has("addresses"):
        expected = "either address or addresses"
        raise ConfigError(
            r.file, r.key_path("addresses"), expected, problem=f"expected {expected}, got both"
        )
    if not r.has("addresses"):
        if not r.has("address"):
            raise r.error("address", "a collector address (address) or a list (addresses)")
        address = r.get_str("address")
        if not is_grpc_target(address):
            raise r.error("address", TARGET_FORMS, address)
        return (address,)
    addresses = r.get_str_list(
        "addresses", min_len=1, expected="a non-empty array of collector addresses"
    )
    for i, address in enumerate(addresses):
        if not is_grpc_target(address):
            raise ConfigError(r.file, f"{r.key_path('addresses')}[{i}]", TARGET_FORMS, address)
        if address in addresses[:i]:
            j = addresses.index(address)
            expected = "an address not listed before"
            raise ConfigError(
                r.file,
                f"{r.key_path('addresses')}[{i}]",
                expected,
                problem=f"expected {expected}, got the address of addresses[{j}]",
            )
    return addresses


def parse_config(data: Mapping[str, Any], file: str, base: Path) -> AgentConfig:
    """Validate an already-parsed TOML document (pure; no file system access)."""
    root = Table(data, file=file)
    agent = root.get_table("agent", required=True)
    assert agent is not None
    agent_id = agent.get_str("id", pattern=AGENT_ID_RE, expected=AGENT_ID_FORM)
    site = agent.get_str("site", "")
    region = agent.get_str("region", "")
    agent.finish()

    out = root.get_table("outbox", required=True)
    assert out is not None
    out_path = out.get_path("path", base_dir=base, expanduser=False)
    assert out_path is not None  # required: no default
    outbox = OutboxConfig(
        path=out_path,
        max_bytes=out.get_int("max_bytes", 512 * 1024 * 1024, min_value=65536),
        max_age_s=out.get_duration("max_age_s", 30 * 86400.0),
        # A share of the outbox, > 0 (0 would mean "always") and <= 1.
        alarm_fraction=out.get_float(
            "alarm_fraction", 0.8, above=0.0, max_value=1.0, expected="a fraction > 0 and <= 1"
        ),
        retention_s=out.get_duration("retention_s", 86400.0, allow_zero=True),
    )
    out.finish()

    modems = _modems(root, base)

    def build_receive(r: Table) -> ReceiveConfig:
        return ReceiveConfig(
            sweep_interval_s=r.get_duration("sweep_interval_s", _RECEIVE.sweep_interval_s),
            health_interval_s=r.get_duration("health_interval_s", _RECEIVE.health_interval_s),
            reassembly_timeout_s=r.get_duration(
                "reassembly_timeout_s", _RECEIVE.reassembly_timeout_s
            ),
            command_timeout_s=r.get_duration("command_timeout_s", _RECEIVE.command_timeout_s),
        )

    def build_collector(r: Table) -> CollectorConfig:
        addresses = _addresses(r)
        collector = CollectorConfig(
            addresses=addresses,
            ca_cert=_path(r, "ca_cert", base),
            cert=_path(r, "cert", base),
            key=_path(r, "key", base),
            insecure=r.get_bool("insecure", False),
            upload=r.get_bool("upload", True),
            sign_records=r.get_bool("sign_records", True),
        )
        if not collector.insecure and (collector.cert is None or collector.key is None):
            missing = "cert" if collector.cert is None else "key"
            raise r.error(missing, "cert and key paths (mTLS) unless insecure = true")
        return collector

    def build_metrics(r: Table) -> int:
        return r.get_int("port", 0, min_value=0, max_value=65535)

    def build_log(r: Table) -> LogConfig:
        return LogConfig(
            level=r.get_choice("level", LOG_LEVELS, "info"),
            format=cast(LogFormat, r.get_choice("format", LOG_FORMATS, "auto")),
        )

    config = AgentConfig(
        agent_id=agent_id,
        site=site,
        region=region,
        outbox=outbox,
        modems=modems,
        receive=_section(root, "receive", build_receive, ReceiveConfig()),
        collector=_section(root, "collector", build_collector, None),
        metrics_port=_section(root, "metrics", build_metrics, 0),
        log=_section(root, "log", build_log, LogConfig()),
        source=file,
    )
    root.finish()
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
    config = parse_config(load_toml(path), path.name, path.parent.resolve())
    if check_outbox:
        problem = outbox_path_problem(config.outbox.path)
        if problem is not None:
            raise ConfigError(path.name, "outbox.path", "", problem=problem)
    return config
