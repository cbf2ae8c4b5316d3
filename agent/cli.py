"""`smsprobe-agent`: thin edge; each subcommand lives with its domain."""

from __future__ import annotations

import click

from agent.lazy_cli import LazyGroup


@click.group(
    cls=LazyGroup,
    lazy={
        "run": (
            "agent.app:run_command",
            "Run the agent: read every SMS off the modems and report it.",
        ),
        "discover": (
            "agent.discovery:discover_command",
            "Find the serial ports that answer AT and identify modem and SIM.",
        ),
        "outbox": ("agent.outbox_cli:outbox_group", "Inspect what the agent's outbox holds."),
        "pdu": ("agent.pdu_cli:pdu_group", "Decode and encode SMS PDUs (TS 23.040)."),
        "sim-modem": (
            "agent.modem.sim.cli:sim_modem_command",
            "Run simulated modems on pseudo-terminals.",
        ),
    },
    context_settings={"help_option_names": ["-h", "--help"]},
)
@click.version_option(package_name="smsprobe")
def main() -> None:
    """smsprobe field agent: reads every SMS off USB modems and reports it."""


if __name__ == "__main__":
    main()
