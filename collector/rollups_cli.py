"""`smsprobe-collector rollups`: the ledger's hourly rollups against its raw rows.

    rollups check   --config collector.toml [--json]   recompute, list every difference
    rollups rebuild --config collector.toml            replace them with the recomputation
    rollups compact --config collector.toml            pack closed days' values (0016)

The rollups (migration 0015) are kept in the transaction of every write, so `check` finds
nothing unless something wrote the ledger behind the collector's back (a hand edit, a
restore of one table). Hours holding probes retention minimised are left out of both: their
rollups keep the SIMs the masked rows no longer show. `check` also compares every packed
day of values (migration 0016) with the hourly rows it holds; `rebuild` packs the closed
days again; `compact` packs the closed days not packed yet (the judge's full pass does it
for the last two months), each day's values also per local day of [reports] timezone
(migration 0021).

Exit codes: 0 consistent (check) or rebuilt; 1 differences found, or the ledger failed;
2 the config cannot be read.
"""

from __future__ import annotations

import json
import sys
from datetime import tzinfo

import click

from agent.common.logs import configure_logging
from collector.config import CollectorSettings, load_config
from collector.ledger import LedgerError, open_ledger
from collector.ledger.rollups import RollupCheck
from collector.reports.config import parse_reports
from collector.validation import exit_on_config_error

_SHOWN = 20  # differences listed in text; --json lists all


@click.group("rollups")
def rollups_group() -> None:
    """The hourly rollups reports read: check them against the raw rows, or rebuild."""


_config = click.option(
    "--config", "config_path", required=True, type=click.Path(exists=True, dir_okay=False)
)


@rollups_group.command("check")
@_config
@click.option("--json", "as_json", is_flag=True, help="One JSON object.")
def check_command(config_path: str, as_json: bool) -> None:
    """Recompute the rollups from the raw rows and list every difference (exit 1 if any)."""
    outcome = _run(config_path, rebuild=False)
    if as_json:
        click.echo(json.dumps(_json(outcome)))
    else:
        click.echo(
            f"{outcome.count_rows} count rows, {outcome.value_rows} value rows,"
            f" {outcome.value_blobs} packed value days,"
            f" {len(outcome.differences)} differences"
            f" ({outcome.minimised_hours} minimised hours left out)"
        )
        for table, key, kept, want in outcome.differences[:_SHOWN]:
            click.echo(f"  {table} {list(key)}: kept {kept}, raw rows give {want}")
        if len(outcome.differences) > _SHOWN:
            click.echo(f"  ... {len(outcome.differences) - _SHOWN} more (--json lists all)")
    sys.exit(0 if outcome.consistent else 1)


@rollups_group.command("rebuild")
@_config
def rebuild_command(config_path: str) -> None:
    """Replace the rollups with a recomputation from the raw rows (a week per transaction)."""
    outcome = _run(config_path, rebuild=True)
    click.echo(
        f"rebuilt {outcome.count_rows} count rows and {outcome.value_rows} value rows"
        f" ({outcome.minimised_hours} minimised hours kept), packed {outcome.compacted_days}"
        " closed days"
    )


@rollups_group.command("compact")
@_config
def compact_command(config_path: str) -> None:
    """Pack the value rows of every closed day not packed yet (or written since)."""
    configure_logging("warning")
    config, zone = exit_on_config_error(lambda: _load(config_path))
    try:
        ledger = open_ledger(config.ledger.url)
        try:
            days = ledger.compact_rollups(zone=zone)
        finally:
            ledger.close()
    except LedgerError as exc:
        raise click.ClickException(f"ledger: {exc}") from exc
    click.echo(f"packed {days} closed days")


def _load(config_path: str) -> tuple[CollectorSettings, tzinfo]:
    """The config and the reports' zone, whose local days a packed day's values are also
    stored by (migration 0021)."""
    config = load_config(config_path)
    reports = parse_reports(config.raw_section("reports"), file=config.source)
    return config, reports.tz


def _run(config_path: str, *, rebuild: bool) -> RollupCheck:
    configure_logging("warning")
    config, zone = exit_on_config_error(lambda: _load(config_path))
    try:
        ledger = open_ledger(config.ledger.url)
        try:
            return ledger.check_rollups(rebuild=rebuild, zone=zone)
        finally:
            ledger.close()
    except LedgerError as exc:
        raise click.ClickException(f"ledger: {exc}") from exc


def _json(outcome: RollupCheck) -> dict[str, object]:
    return {
        "consistent": outcome.consistent,
        "count_rows": outcome.count_rows,
        "value_rows": outcome.value_rows,
        "value_blobs": outcome.value_blobs,
        "minimised_hours": outcome.minimised_hours,
        "differences": [
            {"table": t, "key": list(k), "kept": kept, "recomputed": want}
            for t, k, kept, want in outcome.differences
        ],
    }
