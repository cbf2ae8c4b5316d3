"""The collector's whole config checked before anything starts.

`serve` runs `check_config` before it opens the ledger or binds a port, and
`smsprobe-collector config check` runs the same function: every section ([server] [tls]
[ledger] [metrics] [log] [agents] [vendors] [probes] [timeseries] [alerts] [reports]
[retention]) is
parsed by the module that owns it, and the TLS files are read and matched (PEM, the key
belongs to the certificate). The first problem is one ConfigError naming the file, the key
and what was expected; the CLI prints it as one line and exits 2.

Listen addresses are checked apart (`check_listen_free`): a port taken by another process
is a fact of this host at start time, not of the file, so `config check` does not fail on
a host where the collector already runs.
"""

from __future__ import annotations

import socket
import sys
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar

import click
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from agent.common.tomlconfig import ConfigError
from collector.alerts.config import channel_names, parse_alerts
from collector.billing.config import billing_of
from collector.config import CollectorSettings, load_config
from collector.correlation.model import Policy
from collector.probes.config import parse_probes
from collector.reports.config import parse_reports
from collector.retention.config import RetentionConfig, parse_retention
from collector.timeseries.config import parse_timeseries
from collector.vendors.config import HttpVendorConfig
from collector.vendors.registry import parse_vendors

if TYPE_CHECKING:
    from cryptography import x509

    from collector.alerts.config import AlertsConfig
    from collector.probes.config import ProbesConfig
    from collector.reports.config import ReportsConfig
    from collector.timeseries.config import TimeSeriesConfig
    from collector.vendors.cngw.config import GatewayVendorConfig
    from collector.vendors.config import HttpVendorConfig
    from collector.vendors.smpp.adapter import SmppVendorConfig

__all__ = [
    "CheckedConfig",
    "check_config",
    "check_listen_free",
    "exit_on_config_error",
    "listen_addresses",
    "summary",
]

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class CheckedConfig:
    """Every section of one collector config, typed."""

    config: CollectorSettings
    vendors: Mapping[str, HttpVendorConfig | SmppVendorConfig | GatewayVendorConfig]
    probes: ProbesConfig | None
    timeseries: TimeSeriesConfig | None
    alerts: AlertsConfig | None  # None: no [alerts], no alerting
    reports: ReportsConfig
    retention: RetentionConfig = field(default_factory=RetentionConfig)


def check_config(path: str | Path, *, insecure: bool) -> CheckedConfig:
    """Parse and check every section of the collector config at `path` (no network, no
    ledger). `insecure` is serve's --insecure: without it [tls] must name usable files."""

    config = load_config(path)
    file = config.source
    check_tls(config, insecure=insecure)
    vendors = parse_vendors(config.raw_section("vendors"), file=file)
    probes = parse_probes(config.raw_section("probes"), file=file, vendor_names=set(vendors))
    timeseries = parse_timeseries(config.raw_section("timeseries"), file=file)
    raw_alerts = config.raw_section("alerts")
    alerts = parse_alerts(raw_alerts, file=file) if raw_alerts else None
    reports = parse_reports(config.raw_section("reports"), file=file, base_dir=config.base_dir)
    billing_of(config)  # [billing], and no vendor priced there and in an older key
    retention = retention_of(config, probes)
    return CheckedConfig(
        config=config,
        vendors=vendors,
        probes=probes,
        timeseries=timeseries,
        alerts=alerts,
        reports=reports,
        retention=retention,
    )


def retention_of(config: CollectorSettings, probes: ProbesConfig | None) -> RetentionConfig:
    """[retention], no age shorter than the DLR window [probes] judges with."""
    window = (probes.policy if probes is not None else Policy()).dlr_window_s
    return parse_retention(config.raw_section("retention"), file=config.source,
                           dlr_window_s=window)  # fmt: skip


# --------------------------------------------------------------------------- TLS


def check_tls(config: CollectorSettings, *, insecure: bool) -> None:
    """The files gRPC will load, loaded now: readable, PEM, and the key is the
    certificate's. gRPC itself would only say "cannot read TLS material" or fail the first
    handshake."""

    tls, file = config.tls, config.source
    if tls.insecure and not insecure:
        raise ConfigError(
            file,
            "tls.insecure",
            "",
            problem="true needs the --insecure flag too: plaintext is never a default",
        )
    if insecure:
        return  # the files are not used
    if tls.ca_cert is None or tls.cert is None or tls.key is None:
        raise ConfigError(
            file,
            "tls",
            "",
            problem="ca_cert, cert and key are required (make them with `smsprobe-collector "
            "certs init`), or serve --insecure (plaintext: tests only)",
        )
    _certificates(file, "tls.ca_cert", tls.ca_cert)
    cert = _certificates(file, "tls.cert", tls.cert)[0]
    key_pem = _read(file, "tls.key", tls.key)
    try:
        key: Any = serialization.load_pem_private_key(key_pem, password=None)
    except TypeError:
        raise ConfigError(
            file, "tls.key", "", problem=f"{tls.key} is encrypted; gRPC needs an unencrypted key"
        ) from None
    except ValueError:
        raise ConfigError(
            file, "tls.key", "", problem=f"{tls.key} is not a PEM private key"
        ) from None
    spki = (serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    if key.public_key().public_bytes(*spki) != cert.public_key().public_bytes(*spki):
        raise ConfigError(
            file,
            "tls.key",
            "",
            problem=f"{tls.key} is not the key of the certificate in tls.cert ({tls.cert})",
        )


def _read(file: str, key: str, path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise ConfigError(
            file, key, "", problem=f"cannot read {path}: {exc.strerror or exc}"
        ) from None


def _certificates(file: str, key: str, path: Path) -> list[x509.Certificate]:

    data = _read(file, key, path)
    try:
        certs = x509.load_pem_x509_certificates(data)
    except ValueError:
        raise ConfigError(file, key, "", problem=f"{path} is not a PEM certificate") from None
    return certs


# --------------------------------------------------------------------------- ports


def listen_addresses(checked: CheckedConfig) -> list[tuple[str, str]]:
    """(key, "host:port") of every port `serve` binds, in the order it binds them."""
    config = checked.config
    out = [("server.listen", config.server.listen)]
    if config.metrics.listen:
        out.append(("metrics.listen", config.metrics.listen))
    if checked.probes is not None:
        host = checked.probes.webhook_host
        host = f"[{host}]" if ":" in host else host
        out.append(("probes.webhook_listen", f"{host}:{checked.probes.webhook_port}"))
    return out


def check_listen_free(file: str, key: str, address: str) -> None:
    """Bind `address` the way a server does (SO_REUSEADDR: a socket in TIME_WAIT does not
    count) and let go: a port another process listens on is one ConfigError naming the key
    and the address. Port 0 (the kernel picks) always binds."""
    host, _, port_text = address.rpartition(":")
    port = int(port_text)
    if port == 0:
        return
    try:
        infos = socket.getaddrinfo(
            host.strip("[]") or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )
    except socket.gaierror as exc:
        raise ConfigError(
            file, key, "", problem=f"cannot listen on {address}: {exc.strerror}"
        ) from None
    for family, kind, proto, _, sockaddr in infos:
        with socket.socket(family, kind, proto) as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                sock.bind(sockaddr)
                sock.listen(1)
            except OSError as exc:
                raise ConfigError(
                    file, key, "", problem=f"cannot listen on {address}: {exc.strerror or exc}"
                ) from None


# --------------------------------------------------------------------------- CLI


def exit_on_config_error(check: Callable[[], T]) -> T:
    """Run `check`; a ConfigError is one line on stderr and exit 2, no traceback."""
    try:
        return check()
    except ConfigError as exc:
        fail(exc)


def fail(exc: ConfigError) -> NoReturn:
    click.echo(f"error: {exc}", err=True)
    sys.exit(2)


def preflight(config_path: Path, *, insecure: bool) -> CheckedConfig:
    """What `serve` does before it opens the ledger: the whole config, then every listen
    address bound once."""

    def run() -> CheckedConfig:
        checked = check_config(config_path, insecure=insecure)
        for key, address in listen_addresses(checked):
            check_listen_free(checked.config.source, key, address)
        return checked

    return exit_on_config_error(run)


def summary(checked: CheckedConfig, *, insecure: bool) -> Iterator[str]:
    """A few lines saying what the config sets up."""

    c, p, ts, a = checked.config, checked.probes, checked.timeseries, checked.alerts
    canaries = c.agent_defaults.canary_interval_s
    vendors = ", ".join(
        f"{name} ({'http' if isinstance(v, HttpVendorConfig) else getattr(v, 'kind', 'smpp')})"
        for name, v in checked.vendors.items()  # a gateway's kind: cmpp | sgip | smgp
    )
    rows = [
        ("server", f"listen {c.server.listen}, instance {c.server.instance_name()}"),
        ("tls", "plaintext (--insecure)" if insecure else f"mTLS, certificate {c.tls.cert}"),
        ("ledger", c.ledger.url),
        ("metrics", c.metrics.listen or "off"),
        (
            "agents",
            f"{len(c.agents)} configured, canaries "
            + (f"every {canaries:g} s" if canaries else "off"),
        ),
        ("vendors", vendors or "none"),
        (
            "probes",
            "off (ingest only)"
            if p is None
            else f"{len(p.plans)} vendor plans, zone {p.timezone}, "
            f"DLR webhooks {p.webhook_host}:{p.webhook_port}",
        ),
        ("timeseries", "off" if ts is None else ts.sink.url),
        (
            "alerts",
            "off"
            if a is None
            else f"{len(a.notifiers)} channels ({channel_names(a)}), every "
            f"{a.evaluate_interval_s:g} s",
        ),
        ("reports", f"zone {checked.reports.timezone}"),
        ("retention", checked.retention.describe()),
    ]
    yield f"{c.source}: valid"
    for label, text in rows:
        yield f"  {label:<11}{text}"
