"""`smsprobe-agent`: thin edge; each subcommand lives with its domain."""

from __future__ import annotations

import click

from agent.lazy_cli import LazyGroup


@click.group(
    cls=LazyGroup,
    lazy={
        "run": "agent.app:run_command",
        "discover": "agent.discovery:discover_command",
        "outbox": "agent.outbox_cli:outbox_group",
        "pdu": "agent.pdu_cli:pdu_group",
        "sim-modem": "agent.modem.sim.cli:sim_modem_command",
    },
    context_settings={"help_option_names": ["-h", "--help"]},
)
@click.version_option(package_name="smsprobe")
def main() -> None:
    """smsprobe field agent: reads every SMS off USB modems and reports it."""


if __name__ == "__main__":
    main()
