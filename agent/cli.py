"""`smsprobe-agent`: registers every subcommand. Each lives in a module named `*_cli.py`
beside its domain module (run_cli, discovery_cli, pdu_cli) or `cli.py` inside its package
(agent/outbox/cli.py, agent/modem/simulator/cli.py), imported only when run."""

from __future__ import annotations

import click

from agent.common.lazy_cli import LazyGroup


@click.group(
    cls=LazyGroup,
    lazy={
        "run": (
            "agent.run_cli:run_command",
            "Run the agent: read every SMS off the modems and report it.",
        ),
        "discover": (
            "agent.discovery_cli:discover_command",
            "Find the serial ports that answer AT and identify modem and SIM.",
        ),
        "outbox": ("agent.outbox.cli:outbox_group", "Inspect what the agent's outbox holds."),
        "pdu": ("agent.pdu_cli:pdu_group", "Decode and encode SMS PDUs (TS 23.040)."),
        "sim-modem": (
            "agent.modem.simulator.cli:modem_simulator_command",
            "Run the modem simulator: simulated modems on pseudo-terminals.",
        ),
    },
    context_settings={"help_option_names": ["-h", "--help"]},
)
@click.version_option(package_name="smsprobe")
def main() -> None:
    """smsprobe field agent: reads every SMS off USB modems and reports it."""


if __name__ == "__main__":
    main()
