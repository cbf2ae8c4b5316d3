"""`smsprobe-collector certs init|issue-agent`: the CA, the collector's keys and agent
certificates (collector/certs.py). With --config, each issue is written to that
collector's audit log (who, when, which certificate)."""

from __future__ import annotations

import sys
from pathlib import Path

import click
from cryptography import x509

from agent.common.tomlconfig import ConfigError
from collector.audit.record import entry, record_in
from collector.certs import CertError, cert_fingerprint, create_ca, issue_agent
from collector.config import load_config
from collector.ledger import LedgerError
from collector.ledger.audit import AuditKind

_CONFIG = click.option(
    "--config",
    "config_path",
    type=click.Path(path_type=Path, exists=True, dir_okay=False),
    default=None,
    help="The collector's config: the issue goes into its ledger's audit log.",
)


def _audit(config_path: Path | None, summary: str, arguments: dict[str, object]) -> None:
    """The issue in the audit log; exit 1 when it cannot be written (the files exist)."""
    if config_path is None:
        click.echo("note: not recorded in an audit log (pass --config)", err=True)
        return
    try:
        url = load_config(config_path).ledger.url
        record_in(url, entry(AuditKind.CERT_ISSUE, summary, arguments))
    except ConfigError as exc:
        click.echo(f"error: issued, but NOT in the audit log: {exc}", err=True)
        sys.exit(2)
    except LedgerError as exc:
        click.echo(f"error: issued, but NOT in the audit log: ledger: {exc}", err=True)
        sys.exit(1)


def _fingerprint(path: Path) -> str:
    return cert_fingerprint(x509.load_pem_x509_certificate(path.read_bytes()))


@click.group("certs")
def certs_group() -> None:
    """Create the agent-link CA and issue one certificate per agent."""


@certs_group.command("init")
@click.option("--dir", "directory", type=click.Path(path_type=Path), required=True)
@click.option("--hostname", "hostnames", multiple=True, help="Extra server SAN (repeatable).")
@click.option("--days", type=int, default=3650, show_default=True)
@click.option("--force", is_flag=True, help="Replace an existing CA.")
@_CONFIG
def init_command(
    directory: Path, hostnames: tuple[str, ...], days: int, force: bool, config_path: Path | None
) -> None:
    """CA, collector key/cert (SAN localhost, 127.0.0.1, ::1, --hostname) and signing keys."""
    try:
        paths = create_ca(directory, hostnames=hostnames, days=days, force=force)
    except CertError as exc:
        raise click.ClickException(str(exc)) from exc
    for p in (
        paths.ca_cert,
        paths.ca_key,
        paths.server_cert,
        paths.server_key,
        paths.signing_key,
        paths.signing_pub,
    ):
        click.echo(str(p))
    _audit(
        config_path,
        "certs init: CA, collector certificate and evidence signing key",
        {"dir": str(directory.resolve()), "hostnames": list(hostnames), "days": days,
         "force": force, "ca": _fingerprint(paths.ca_cert),
         "server": _fingerprint(paths.server_cert)},
    )  # fmt: skip


@certs_group.command("issue-agent")
@click.argument("agent_id")
@click.option("--dir", "directory", type=click.Path(path_type=Path), required=True)
@click.option("--out", type=click.Path(path_type=Path), default=None, help="Default: DIR/agents")
@click.option("--days", type=int, default=825, show_default=True)
@_CONFIG
def issue_agent_command(
    agent_id: str, directory: Path, out: Path | None, days: int, config_path: Path | None
) -> None:
    """Issue a client certificate whose CN and SAN URI carry AGENT_ID."""
    try:
        paths = issue_agent(directory, agent_id, out=out, days=days)
    except CertError as exc:
        raise click.ClickException(str(exc)) from exc
    for p in (paths.cert, paths.key, paths.ca_cert):
        click.echo(str(p))
    _audit(
        config_path,
        f"certificate issued to agent {agent_id}",
        {"agent_id": agent_id, "dir": str(directory.resolve()), "cert": str(paths.cert.resolve()),
         "days": days, "fingerprint": _fingerprint(paths.cert)},
    )  # fmt: skip
