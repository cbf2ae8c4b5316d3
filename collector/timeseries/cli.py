"""`smsprobe-collector timeseries backfill --since T`: rebuild the series from the ledger."""

from __future__ import annotations

import asyncio
import sys
import time

import click

from agent.common.logs import configure_logging
from agent.common.tomlconfig import ConfigError
from collector.config import load_config
from collector.ledger import open_ledger
from collector.reports.config import parse_reports, parse_time
from collector.timeseries.config import parse_timeseries
from collector.timeseries.sinks import SinkError
from collector.timeseries.writer import TimeSeriesWriter, WriterSettings

# Points a page: a year is tens of millions of probe points; InfluxDB 1.x takes a body of
# 20,000 (≈ 6 MB, under its 25 MB default max-body-size) in one write.
BACKFILL_BATCH = 20_000
PROGRESS_EVERY_S = 10.0


class _Progress:
    """A line on stderr at most every PROGRESS_EVERY_S while a long series is written."""

    def __init__(self) -> None:
        self._started = self._shown = time.monotonic()

    def __call__(self, series: str, points: int) -> None:
        now = time.monotonic()
        if now - self._shown >= PROGRESS_EVERY_S:
            self._shown = now
            click.echo(f"{series}: {points} points ({now - self._started:.0f} s)", err=True)


@click.group("timeseries")
def timeseries_group() -> None:
    """Time series in InfluxDB, derived from the ledger."""


@timeseries_group.command("backfill")
@click.option(
    "--config", "config_path", required=True, type=click.Path(exists=True, dir_okay=False)
)
@click.option(
    "--since", required=True, help="ISO-8601 (zone-less: [reports].timezone), a date, or -24h/-7d."
)
def backfill_command(config_path: str, since: str) -> None:
    """Rewrite every series since SINCE from the ledger (idempotent)."""

    configure_logging("warning")
    try:
        config = load_config(config_path)
        # The same time forms (and zone) as `report` and `evidence export`.
        reports = parse_reports(config.raw_section("reports"), file=config.source)
        ts = parse_timeseries(
            config.raw_section("timeseries"), file=config.source, lines=reports.lines
        )
    except ConfigError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)
    try:
        since_ns = parse_time(since, reports.tz)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--since") from exc
    if ts is None:
        click.echo(f"error: {config_path}: [timeseries] is not configured", err=True)
        sys.exit(2)
    ledger = open_ledger(config.ledger.url)
    ledger.migrate()

    async def go() -> int:
        sink = ts.make_sink()
        try:
            # The live writer's settings: `up` of the agent series follows offline_after_s.
            settings = WriterSettings(
                offline_after_s=config.agent_defaults.offline_after_s,
                lines=ts.lines,
                batch=BACKFILL_BATCH,
            )
            writer = TimeSeriesWriter(
                ledger, sink, settings, clock=time.time_ns, progress=_Progress()
            )
            return await writer.backfill(since_ns)
        finally:
            await sink.close()

    try:
        written = asyncio.run(go())
    except SinkError as exc:
        click.echo(f"error: time-series server: {exc}", err=True)
        sys.exit(1)
    finally:
        ledger.close()
    click.echo(f"wrote {written} points")
