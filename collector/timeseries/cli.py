"""`smsprobe-collector timeseries backfill --since T`: rebuild the series from the ledger."""

from __future__ import annotations

import asyncio
import sys
import time
from datetime import datetime

import click

from agent.logs import configure_logging
from collector.configlib import ConfigError


def parse_since(value: str) -> int:
    """ISO-8601 (with zone; UTC when none) or a relative `-24h` / `-7d` / `-30m`."""
    text = value.strip()
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400}
    if text.startswith("-") and text[-1:] in units and text[1:-1].isdigit():
        return time.time_ns() - int(text[1:-1]) * units[text[-1]] * 1_000_000_000
    try:
        dt = datetime.fromisoformat(text)
    except ValueError as exc:
        raise click.BadParameter(f"{value!r}: expected ISO-8601 or -24h/-7d") from exc
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=datetime.now().astimezone().tzinfo)
    return int(dt.timestamp() * 1e9)


@click.group("timeseries")
def timeseries_group() -> None:
    """Time series in InfluxDB, derived from the ledger."""


@timeseries_group.command("backfill")
@click.option(
    "--config", "config_path", required=True, type=click.Path(exists=True, dir_okay=False)
)
@click.option("--since", required=True, help="ISO-8601 time or relative (-24h, -7d).")
def backfill_command(config_path: str, since: str) -> None:
    """Rewrite every series since SINCE from the ledger (idempotent)."""
    from collector.config import load_config
    from collector.ledger import open_ledger
    from collector.timeseries.config import parse_timeseries
    from collector.timeseries.writer import TimeSeriesWriter, WriterSettings

    configure_logging("warning")
    since_ns = parse_since(since)
    try:
        config = load_config(config_path)
        ts = parse_timeseries(config.raw_section("timeseries"), file=config.source)
    except ConfigError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)
    if ts is None:
        click.echo(f"error: {config_path}: [timeseries] is not configured", err=True)
        sys.exit(2)
    ledger = open_ledger(config.ledger.url)
    ledger.migrate()

    async def go() -> int:
        sink = ts.make_sink()
        try:
            writer = TimeSeriesWriter(ledger, sink, WriterSettings(), clock=time.time_ns)
            return await writer.backfill(since_ns)
        finally:
            await sink.close()

    from collector.timeseries.sinks import SinkError

    try:
        written = asyncio.run(go())
    except SinkError as exc:
        click.echo(f"error: time-series server: {exc}", err=True)
        sys.exit(1)
    finally:
        ledger.close()
    click.echo(f"wrote {written} points")
