"""`smsprobe-collector config check`: the config checked as `serve` would
(collector/validation.py)."""

from __future__ import annotations

from pathlib import Path

import click

from collector.validation import check_config, exit_on_config_error, summary


@click.group("config")
def config_group() -> None:
    """Collector configuration."""


@config_group.command("check")
@click.option(
    "--config",
    "config_path",
    type=click.Path(path_type=Path, dir_okay=False),
    required=True,
    help="The collector TOML file.",
)
@click.option(
    "--insecure",
    is_flag=True,
    help="Check for `serve --insecure` (no TLS files needed).",
)
def check_command(config_path: Path, insecure: bool) -> None:
    """Validate every section as `serve` does, without starting anything.

    Exit 0 with a summary when valid; 2 with one line naming the file, the key and what
    was expected when not.
    """
    checked = exit_on_config_error(lambda: check_config(config_path, insecure=insecure))
    for line in summary(checked, insecure=insecure):
        click.echo(line)
