"""`smsprobe-collector serve`: check the config, then run the collector (collector/app.py)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import click

from collector.app import serve
from collector.validation import preflight


@click.command("serve")
@click.option(
    "--config",
    "config_path",
    type=click.Path(path_type=Path, exists=True, dir_okay=False),
    required=True,
)
@click.option(
    "--insecure",
    is_flag=True,
    help="Plaintext gRPC without client certificates. Agent ids are trusted blindly: tests only.",
)
@click.option(
    "--port-file",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="Write the bound gRPC port here once serving (for supervisors and tests).",
)
@click.option(
    "--log-level",
    type=click.Choice(["debug", "info", "warning", "error"]),
    default=None,
    help="Override [log] level.",
)
def serve_command(
    config_path: Path, insecure: bool, port_file: Path | None, log_level: str | None
) -> None:
    """Serve the agent gRPC API (mTLS) and ingest into the ledger."""
    # The whole config and every listen address, before the ledger opens: exit 2, one line.
    preflight(config_path, insecure=insecure)
    asyncio.run(serve(config_path, insecure=insecure, port_file=port_file, log_level=log_level))
