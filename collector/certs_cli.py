"""`smsprobe-collector certs init|issue-agent`: the CA, the collector's keys and agent
certificates (collector/certs.py)."""

from __future__ import annotations

from pathlib import Path

import click

from collector.certs import CertError, create_ca, issue_agent


@click.group("certs")
def certs_group() -> None:
    """Create the agent-link CA and issue one certificate per agent."""


@certs_group.command("init")
@click.option("--dir", "directory", type=click.Path(path_type=Path), required=True)
@click.option("--hostname", "hostnames", multiple=True, help="Extra server SAN (repeatable).")
@click.option("--days", type=int, default=3650, show_default=True)
@click.option("--force", is_flag=True, help="Replace an existing CA.")
def init_command(directory: Path, hostnames: tuple[str, ...], days: int, force: bool) -> None:
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


@certs_group.command("issue-agent")
@click.argument("agent_id")
@click.option("--dir", "directory", type=click.Path(path_type=Path), required=True)
@click.option("--out", type=click.Path(path_type=Path), default=None, help="Default: DIR/agents")
@click.option("--days", type=int, default=825, show_default=True)
def issue_agent_command(agent_id: str, directory: Path, out: Path | None, days: int) -> None:
    """Issue a client certificate whose CN and SAN URI carry AGENT_ID."""
    try:
        paths = issue_agent(directory, agent_id, out=out, days=days)
    except CertError as exc:
        raise click.ClickException(str(exc)) from exc
    for p in (paths.cert, paths.key, paths.ca_cert):
        click.echo(str(p))
