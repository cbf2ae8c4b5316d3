"""The collector's one configuration model: strict, typed, frozen, loaded from TOML once.

    [server]   listen = "0.0.0.0:7443"        max_message_bytes = 16777216
               instance = ""  (names this collector in the ledger; "" = <hostname>:<port>)
    [tls]      ca_cert, cert, key (paths, relative to this file; all three or none:
               the server refuses to start without them unless --insecure)   insecure = false
               deny_agents = ["agent-7", "sha256:<cert fingerprint>"]
    [ledger]   url = "ledger.db" | "sqlite:///path" | "postgresql://..."
    [metrics]  listen = "127.0.0.1:9464"      ("" = no Prometheus endpoint)
    [log]      level = "info"  format = "auto" | "json" | "console"
    [agents]   health_interval_s, clock_sync_interval_s, offline_after_s  (defaults)
               backlog_grace_s = 1800 (an agent down this long gives up its queued gaps)
               canary_interval_s = 900 (0 = no canaries), canary_deadline_s = 300
    [agents.<agent_id>]  site, region, health_interval_s, clock_sync_interval_s,
                         expected_modems = [{imei = "...", iccid = "...", msisdn = "..."}]

Optional sections owned by other modules are kept raw (`Mapping[str, Any]`) and validated
there with agent/common/tomlconfig.py: [vendors] [probes] [timeseries] [alerts] [reports]
[retention] [coordination] [billing] (collector/billing/config.py).
Unknown top-level keys are rejected; every error names file, key path and expectation.
"""

from __future__ import annotations

import re
import socket
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

from agent.common.tomlconfig import ConfigError, Table, load_toml

__all__ = [
    "AgentDefaults",
    "AgentSpec",
    "CollectorSettings",
    "ConfigError",
    "LedgerConfig",
    "LogSettings",
    "MetricsConfig",
    "ModemSpec",
    "ServerConfig",
    "TlsConfig",
    "load_config",
    "parse_config",
]

RAW_SECTIONS = (
    "vendors",
    "probes",
    "timeseries",
    "alerts",
    "reports",
    "retention",
    "coordination",
    "billing",
)
LOG_LEVELS = ("debug", "info", "warning", "error")
LOG_FORMATS = ("auto", "json", "console")
_AGENT_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
_DIGITS = re.compile(r"\d{6,20}")
_EMPTY: Mapping[str, Any] = MappingProxyType({})
_AGENT_DEFAULT_KEYS = (
    "health_interval_s",
    "clock_sync_interval_s",
    "offline_after_s",
    "backlog_grace_s",
    "canary_interval_s",
    "canary_deadline_s",
)


@dataclass(frozen=True, slots=True)
class ServerConfig:
    listen: str = "0.0.0.0:7443"
    max_message_bytes: int = 16 * 1024 * 1024
    instance: str = ""  # names this collector in the ledger; "" = <hostname>:<port>

    def instance_name(self) -> str:
        return self.instance or f"{socket.gethostname()}:{self.listen.rsplit(':', 1)[-1]}"


@dataclass(frozen=True, slots=True)
class TlsConfig:
    ca_cert: Path | None = None
    cert: Path | None = None
    key: Path | None = None
    insecure: bool = False  # plaintext, agent ids trusted blindly: tests only
    deny_agents: tuple[str, ...] = ()  # agent ids or "sha256:<cert fingerprint>"


@dataclass(frozen=True, slots=True)
class LedgerConfig:
    url: str


@dataclass(frozen=True, slots=True)
class MetricsConfig:
    listen: str = ""  # "" = not served


@dataclass(frozen=True, slots=True)
class LogSettings:
    level: str = "info"
    format: str = "auto"


@dataclass(frozen=True, slots=True)
class AgentDefaults:
    health_interval_s: float = 60.0
    clock_sync_interval_s: float = 300.0
    offline_after_s: float = 180.0  # not seen this long: the agent counts as down
    # Down this much longer: the backlog it announced and never delivered (queued gaps) is
    # reported missing (collector/ledger/lost_backlog.py).
    backlog_grace_s: float = 1800.0
    # SIM-to-SIM canaries (collector/canaries.py): each SIM gets one from another SIM this
    # often; 0 = off. A canary not received within canary_deadline_s fails its receiver.
    canary_interval_s: float = 0.0
    canary_deadline_s: float = 300.0


@dataclass(frozen=True, slots=True)
class ModemSpec:
    imei: str
    iccid: str = ""
    msisdn: str = ""


@dataclass(frozen=True, slots=True)
class AgentSpec:
    agent_id: str
    site: str = ""
    region: str = ""
    expected_modems: tuple[ModemSpec, ...] = ()
    health_interval_s: float | None = None  # None: AgentDefaults
    clock_sync_interval_s: float | None = None


@dataclass(frozen=True, slots=True)
class CollectorSettings:
    source: str  # file name, for error messages of sections validated later
    base_dir: Path  # relative paths in the file are relative to this
    ledger: LedgerConfig
    server: ServerConfig = ServerConfig()
    tls: TlsConfig = TlsConfig()
    metrics: MetricsConfig = MetricsConfig()
    log: LogSettings = LogSettings()
    agent_defaults: AgentDefaults = AgentDefaults()
    agents: Mapping[str, AgentSpec] = field(default_factory=lambda: _EMPTY)
    vendors: Mapping[str, Any] = field(default_factory=lambda: _EMPTY)
    probes: Mapping[str, Any] = field(default_factory=lambda: _EMPTY)
    timeseries: Mapping[str, Any] = field(default_factory=lambda: _EMPTY)
    alerts: Mapping[str, Any] = field(default_factory=lambda: _EMPTY)
    reports: Mapping[str, Any] = field(default_factory=lambda: _EMPTY)
    retention: Mapping[str, Any] = field(default_factory=lambda: _EMPTY)
    coordination: Mapping[str, Any] = field(default_factory=lambda: _EMPTY)
    billing: Mapping[str, Any] = field(default_factory=lambda: _EMPTY)

    def raw_section(self, name: str) -> Mapping[str, Any]:
        if name not in RAW_SECTIONS:
            raise KeyError(name)
        value: Mapping[str, Any] = getattr(self, name)
        return value


# gRPC's own default. Above an agent's default batch (2 MiB) and far above the largest record
# an agent can write (255 parts of the longest line the AT reader accepts; tests/grpc/
# test_record_bounds.py), so no record can be refused for its size and block its agent.
MIN_MESSAGE_BYTES = 4 * 1024 * 1024


def _server(t: Table | None) -> ServerConfig:
    if t is None:
        return ServerConfig()
    d = ServerConfig()
    cfg = ServerConfig(
        listen=t.get_host_port("listen", d.listen),
        max_message_bytes=t.get_int(
            "max_message_bytes",
            d.max_message_bytes,
            min_value=MIN_MESSAGE_BYTES,
            max_value=2**31 - 1,
        ),
        instance=t.get_str("instance", ""),
    )
    t.finish()
    return cfg


def _tls(t: Table | None, base_dir: Path) -> TlsConfig:
    if t is None:
        return TlsConfig()
    insecure = t.get_bool("insecure", False)
    ca_cert = t.get_path("ca_cert", None, base_dir=base_dir)
    cert = t.get_path("cert", None, base_dir=base_dir)
    key = t.get_path("key", None, base_dir=base_dir)
    given = [k for k, v in (("ca_cert", ca_cert), ("cert", cert), ("key", key)) if v is not None]
    if given and len(given) < 3:
        # mTLS needs all three; the server refuses to start without them unless --insecure.
        missing = next(k for k in ("ca_cert", "cert", "key") if k not in given)
        raise t.error(missing, f"a file path (given with {', '.join(given)})")
    deny = t.get_str_list("deny_agents", ())
    t.finish()
    return TlsConfig(ca_cert=ca_cert, cert=cert, key=key, insecure=insecure, deny_agents=deny)


def _ledger(t: Table | None, base_dir: Path) -> LedgerConfig:
    if t is None:
        return LedgerConfig(url=str(base_dir / "ledger.db"))
    url = t.get_str(
        "url",
        str(base_dir / "ledger.db"),
        non_empty=True,
        expected='a file path, "sqlite:///path" or "postgresql://..."',
    )
    t.finish()
    if url.startswith(("postgresql://", "postgres://")):
        return LedgerConfig(url=url)
    if "://" in url and not url.startswith("sqlite:///"):
        raise t.error("url", 'a file path, "sqlite:///path" or "postgresql://..."', url)
    path = url.removeprefix("sqlite:///")
    if not path:
        raise t.error("url", "a database file", url)
    p = Path(path).expanduser()
    return LedgerConfig(url=str(p if p.is_absolute() else base_dir / p))


def _metrics(t: Table | None) -> MetricsConfig:
    if t is None:
        return MetricsConfig()
    listen = t.get_str("listen", "")
    if listen:
        listen = t.get_host_port("listen")
    t.finish()
    return MetricsConfig(listen=listen)


def _log(t: Table | None) -> LogSettings:
    if t is None:
        return LogSettings()
    cfg = LogSettings(
        level=t.get_choice("level", LOG_LEVELS, "info"),
        format=t.get_choice("format", LOG_FORMATS, "auto"),
    )
    t.finish()
    return cfg


def _agents(t: Table | None) -> tuple[AgentDefaults, Mapping[str, AgentSpec]]:
    if t is None:
        return AgentDefaults(), _EMPTY
    d = AgentDefaults()
    # Scalar keys are defaults; a table under [agents] is one agent, named by its key.
    defaults = AgentDefaults(
        health_interval_s=t.get_float("health_interval_s", d.health_interval_s, min_value=1.0),
        clock_sync_interval_s=t.get_float(
            "clock_sync_interval_s", d.clock_sync_interval_s, min_value=1.0
        ),
        offline_after_s=t.get_float("offline_after_s", d.offline_after_s, min_value=1.0),
        backlog_grace_s=t.get_float("backlog_grace_s", d.backlog_grace_s, min_value=0.0),
        canary_interval_s=t.get_float("canary_interval_s", d.canary_interval_s, min_value=0.0),
        canary_deadline_s=t.get_float("canary_deadline_s", d.canary_deadline_s, min_value=1.0),
    )
    if 0 < defaults.canary_interval_s < 1.0:
        raise t.error("canary_interval_s", "0 (off) or a number >= 1", defaults.canary_interval_s)
    specs: dict[str, AgentSpec] = {}
    for agent_id in t.key_names():
        if agent_id in _AGENT_DEFAULT_KEYS:
            continue
        if not _AGENT_ID.fullmatch(agent_id):
            raise ConfigError(
                t.file,
                t.key_path(agent_id),
                "",
                problem="not an agent id (letters, digits, '.', '_', '-'; at most 128)",
            )
        a = t.get_table(agent_id, required=True)
        assert a is not None
        modems = []
        imeis: set[str] = set()
        for m in a.get_tables("expected_modems"):
            imei = m.get_str("imei", pattern=_DIGITS, expected="an IMEI (digits)")
            if imei in imeis:
                raise m.error("imei", "an IMEI not listed before", imei)
            imeis.add(imei)
            modems.append(
                ModemSpec(
                    imei=imei,
                    iccid=m.get_str("iccid", "", expected="an ICCID (digits)"),
                    msisdn=m.get_str("msisdn", ""),
                )
            )
            m.finish()
        spec = AgentSpec(
            agent_id=agent_id,
            site=a.get_str("site", ""),
            region=a.get_str("region", ""),
            expected_modems=tuple(modems),
            health_interval_s=a.get_optional_float("health_interval_s", min_value=1.0),
            clock_sync_interval_s=a.get_optional_float("clock_sync_interval_s", min_value=1.0),
        )
        a.finish()
        specs[agent_id] = spec
    t.finish()
    return defaults, MappingProxyType(specs)


def parse_config(data: Mapping[str, Any], *, file: str, base_dir: Path) -> CollectorSettings:
    """Build the typed config from parsed TOML; raises ConfigError."""
    top = Table(data, file=file)
    server = _server(top.get_table("server"))
    tls = _tls(top.get_table("tls"), base_dir)
    ledger = _ledger(top.get_table("ledger"), base_dir)
    metrics = _metrics(top.get_table("metrics"))
    log = _log(top.get_table("log"))
    agent_defaults, agents = _agents(top.get_table("agents"))
    raw = {name: top.get_raw(name) for name in RAW_SECTIONS}
    top.finish()
    return CollectorSettings(
        source=file,
        base_dir=base_dir,
        server=server,
        tls=tls,
        ledger=ledger,
        metrics=metrics,
        log=log,
        agent_defaults=agent_defaults,
        agents=agents,
        **{name: MappingProxyType(dict(value or {})) for name, value in raw.items()},
    )


def load_config(path: str | Path) -> CollectorSettings:
    """Read and validate a collector TOML file; raises ConfigError (a ValueError)."""
    p = Path(path)
    return parse_config(load_toml(p), file=p.name, base_dir=p.resolve().parent)
