"""[billing] for the commands that read it (cost, invoice, report, evidence export)."""

from __future__ import annotations

import sys

import click

from agent.common.tomlconfig import ConfigError
from collector.billing.config import BillingConfig, billing_of
from collector.config import CollectorSettings
from collector.probes.config import parse_probes


def load_billing(config: CollectorSettings) -> BillingConfig:
    """[billing] of the config, exit 2 on an error; registers the buyer's templates
    ([probes.templates]) so their channel grade is known to the price rules."""
    try:
        if config.raw_section("probes"):
            parse_probes(config.raw_section("probes"), file=config.source,
                         vendor_names=set(config.vendors))  # fmt: skip
        return billing_of(config)
    except ConfigError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)
