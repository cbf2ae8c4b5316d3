"""`smsprobe-collector`: thin edge; each subcommand lives with its domain."""

from __future__ import annotations

import click

from agent.lazy_cli import LazyGroup


@click.group(
    cls=LazyGroup,
    lazy={
        "serve": "collector.app:serve_command",
        "agents": "collector.agents_cli:agents_command",
        "certs": "collector.certs:certs_group",
        "sim-vendor": "collector.vendors.sim.cli:sim_vendor_command",
        "demo": "collector.demo:demo_command",
        "timeseries": "collector.timeseries.cli:timeseries_group",
    },
    context_settings={"help_option_names": ["-h", "--help"]},
)
@click.version_option(package_name="smsprobe")
def main() -> None:
    """smsprobe collector: sends probes, ingests agent reports, judges every probe."""


if __name__ == "__main__":
    main()
