"""`smsprobe-agent run`: the agent's main command (agent/app.py does the work)."""

from __future__ import annotations

import asyncio
import sys

import click
import structlog

from agent.app import EXIT_CONFIG, EXIT_FATAL, check_profiles, record_signer, run_agent
from agent.common.logs import configure_logging
from agent.config import ConfigError, load_config

_log = structlog.get_logger("agent.app")


@click.command("run")
@click.option(
    "--config",
    "config_path",
    required=True,
    type=click.Path(dir_okay=False),
    help="agent.toml (see agent/agent.example.toml).",
)
@click.option("--no-upload", is_flag=True, help="Run standalone: persist only, never upload.")
def run_command(config_path: str, no_upload: bool) -> None:
    """Read every SMS off the configured modems into the outbox (and upload it)."""
    try:
        config = load_config(config_path)
        configure_logging(config.log.level, config.log.format)
        check_profiles(config)
        record_signer(config)
    except ConfigError as exc:  # the agent's file or a broken firmware profile
        click.echo(f"config error: {exc}", err=True)
        sys.exit(EXIT_CONFIG)
    try:
        code = asyncio.run(run_agent(config, upload=not no_upload))
    except Exception:
        _log.exception("agent_failed")
        code = EXIT_FATAL
    sys.exit(code)
