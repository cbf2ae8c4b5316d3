"""`smsprobe-collector status`: collector health from the ledger (collector/health/status.py)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import click

from collector.config import ConfigError, load_config
from collector.health.status import render_text, status_doc
from collector.ledger import LedgerError, open_ledger


@click.command("status")
@click.option(
    "--config",
    "config_path",
    type=click.Path(path_type=Path, exists=True, dir_okay=False),
    required=True,
)
@click.option("--json", "as_json", is_flag=True, help="One JSON document on stdout.")
@click.option(
    "--stale-after",
    type=float,
    default=30.0,
    show_default=True,
    help="Seconds without a heartbeat after which an instance counts as not running.",
)
def status_command(config_path: Path, as_json: bool, stale_after: float) -> None:
    """Which vendors are being probed, which services run, since when, and which
    collector holds which lease (from the ledger)."""
    try:
        config = load_config(config_path)
    except ConfigError as exc:
        click.echo(f"config error: {exc}", err=True)
        raise SystemExit(2) from exc
    try:
        ledger = open_ledger(config.ledger.url)
    except LedgerError as exc:
        click.echo(f"ledger: {exc}", err=True)
        raise SystemExit(1) from exc
    try:
        units = ledger.collector_units()
        spans = ledger.unmeasured_spans(since_ns=time.time_ns())
        leases = ledger.leases()
        ledger_now = ledger.ledger_now_ns()
    finally:
        ledger.close()
    doc = status_doc(
        units,
        spans,
        now_ns=time.time_ns(),
        stale_after_s=stale_after,
        leases=leases,
        ledger_now_ns=ledger_now,
    )
    click.echo(json.dumps(doc, indent=2) if as_json else render_text(doc))
    raise SystemExit(0 if doc["healthy"] else 1)
