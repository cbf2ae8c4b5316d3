"""`smsprobe-collector retention run [--dry-run]`: mask and purge what [retention] says.

Exit 0: done (or counted, --dry-run), the counts per kind printed; 1: the ledger failed
(what was done before stays done, the next run goes on from there); 2: the config cannot
be used. A run (not a dry run) is written to the audit log.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import click

from agent.common.logs import configure_logging
from collector.audit.record import entry
from collector.ledger import LedgerError, open_ledger
from collector.retention.run import AUDIT_KIND, audit_arguments, report_lines, run_retention
from collector.validation import check_config, exit_on_config_error


@click.group("retention")
def retention_group() -> None:
    """Storage minimisation: texts, MSISDNs and raw bytes masked or purged by age."""


@retention_group.command("run")
@click.option(
    "--config", "config_path", required=True, type=click.Path(exists=True, dir_okay=False)
)
@click.option("--dry-run", is_flag=True, help="Count what would change; change nothing.")
def run_command(config_path: str, dry_run: bool) -> None:
    """Apply the [retention] policy to the ledger now."""
    configure_logging("warning")
    checked = exit_on_config_error(lambda: check_config(Path(config_path), insecure=True))
    config = checked.retention
    now = time.time_ns()
    try:
        ledger = open_ledger(checked.config.ledger.url)
    except LedgerError as exc:
        click.echo(f"error: ledger: {exc}", err=True)
        sys.exit(1)
    try:
        try:
            outcome = run_retention(ledger, config, now_ns=now, dry_run=dry_run)
        except LedgerError as exc:
            if not dry_run:
                ledger.add_audit(
                    entry(AUDIT_KIND, "retention run failed", {"policy": config.describe()},
                          outcome=f"failed: {exc}")
                )  # fmt: skip
            click.echo(f"error: ledger: {exc}", err=True)
            sys.exit(1)
        if not dry_run:
            ledger.add_audit(
                entry(AUDIT_KIND, f"retention run: {outcome.changed} values masked or purged",
                      audit_arguments(config, outcome))
            )  # fmt: skip
    except LedgerError as exc:
        click.echo(f"error: ledger: audit log: {exc}", err=True)
        sys.exit(1)
    finally:
        ledger.close()
    for line in report_lines(config, outcome):
        click.echo(line)
