"""`smsprobe-collector audit`: the operators' actions kept in the ledger.

    audit --config collector.toml [--since -30d] [--until now] [--kind evidence_export] [--json]

Exit 0 with the entries (none is not an error), 2 for a config or period that cannot be
read, 1 when the ledger cannot be read.
"""

from __future__ import annotations

import json
import sys

import click

from collector.ledger import LedgerError, open_ledger
from collector.ledger.audit import AuditEntry, AuditKind
from collector.reports.config import iso, parse_time
from collector.reports.options import load_settings


def entry_json(e: AuditEntry) -> dict[str, object]:
    return {
        "audit_id": e.audit_id,
        "at_ns": e.at_ns,
        "at": iso(e.at_ns),
        "kind": e.kind,
        "actor": e.actor,
        "host": e.host,
        "summary": e.summary,
        "arguments": dict(e.arguments),
        "outcome": e.outcome,
    }


def entry_line(e: AuditEntry) -> str:
    args = " ".join(f"{k}={json.dumps(v, default=str)}" for k, v in sorted(e.arguments.items()))
    outcome = "" if e.outcome == "ok" else f" [{e.outcome}]"
    return f"{iso(e.at_ns)}  {e.kind:<16} {e.actor:<14} {e.summary}{outcome}  {args}".rstrip()


@click.command("audit")
@click.option(
    "--config", "config_path", required=True, type=click.Path(exists=True, dir_okay=False)
)
@click.option("--since", default=None, help="ISO-8601 (zone-less: [reports].timezone) or -30d.")
@click.option("--until", default="now", show_default=True)
@click.option("--kind", type=click.Choice([k.value for k in AuditKind]), default=None)
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
def audit_command(
    config_path: str, since: str | None, until: str, kind: str | None, as_json: bool
) -> None:
    """Operator actions: exports, reloads, revocations, retention runs, certificates."""
    config, reports = load_settings(config_path)  # exit 2 with the message when bad
    bounds: list[int | None] = []
    for name, text in (("--since", since), ("--until", until)):
        try:
            bounds.append(None if text is None else parse_time(text, reports.tz))
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint=name) from exc
    since_ns, until_ns = bounds[0] or 0, bounds[1]
    try:
        ledger = open_ledger(config.ledger.url)
        try:
            entries = ledger.audit_entries(since_ns=since_ns, until_ns=until_ns, kind=kind)
        finally:
            ledger.close()
    except LedgerError as exc:
        click.echo(f"error: ledger: {exc}", err=True)
        sys.exit(1)
    for e in entries:
        click.echo(json.dumps(entry_json(e), sort_keys=True) if as_json else entry_line(e))
    if not as_json:
        click.echo(f"{len(entries)} entries", err=True)
