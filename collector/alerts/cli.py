"""`smsprobe-collector alerts list|show`: the alert history from the ledger, with each
alert's sentence (summary.py), figures and every delivery attempt.

    alerts list --config c.toml [--kind K]... [--vendor V] [--since T] [--until T] [--open]
                [--format text|json]
    alerts show ID --config c.toml [--format text|json]

--since/--until select the alerts active in that period (started before --until, not
ended before --since); times as `report` takes them (ISO, `-24h`, `now`; zone-less in
[reports] timezone). Exit 0; 1 when the ledger cannot be read or ID does not exist; 2 on
a config error (a bad --kind or time is a usage error: 2 as well).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import click

from agent.common.tomlconfig import ConfigError
from agent.common.units import NS
from collector.alerts.config import parse_alerts
from collector.alerts.engine import AlertEvent, AlertKind, AlertRules
from collector.alerts.service import evidence_url
from collector.alerts.summary import AlertText, duration, summarize, when
from collector.ledger import LedgerError, open_ledger
from collector.ledger.base import Ledger
from collector.ledger.leases import DeliveryRow
from collector.ledger.probes import AlertRow
from collector.reports.config import ReportsConfig, iso
from collector.reports.options import load_settings, parse_period

_FORMAT = click.option(
    "--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True
)
_CONFIG = click.option(
    "--config",
    "config_path",
    type=click.Path(exists=True, dir_okay=False),
    required=True,
    help="The collector's config (its [ledger], [alerts] and [reports]).",
)


@dataclass(frozen=True, slots=True)
class _Settings:
    ledger_url: str
    rules: AlertRules
    reports: ReportsConfig


def _settings(config_path: str) -> _Settings:
    config, reports = load_settings(config_path)  # exits 2 on a config error
    try:
        rules = parse_alerts(config.raw_section("alerts"), file=config.source).rules
    except ConfigError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)
    return _Settings(config.ledger.url, rules, reports)


@contextmanager
def _ledger(url: str) -> Iterator[Ledger]:
    try:
        ledger = open_ledger(url)
    except LedgerError as exc:
        raise click.ClickException(f"ledger: {exc}") from exc
    try:
        yield ledger
    except LedgerError as exc:
        raise click.ClickException(f"ledger: {exc}") from exc
    finally:
        ledger.close()


def texts(row: AlertRow, s: _Settings) -> list[AlertText]:
    """The start's sentence, and the end's when it ended (as the channels got them)."""
    try:
        kind = AlertKind(row.kind)
    except ValueError:
        return []
    out = []
    for phase, at, figures in (("start", row.started_at_ns, row.figures),
                               ("end", row.ended_at_ns, row.end_figures)):  # fmt: skip
        if phase == "end" and not row.ended_at_ns:
            break
        event = AlertEvent(phase, kind, dict(row.subject), at, figures)
        since = at - int(s.rules.window_s * NS)
        out.append(
            summarize(
                event,
                tz=s.reports.tz,
                rules=s.rules,
                started_at_ns=row.started_at_ns,
                evidence_url=evidence_url(s.reports.evidence_base_url, event, since_ns=since),
            )
        )
    return out


def alert_json(row: AlertRow, s: _Settings, deliveries: list[DeliveryRow]) -> dict[str, Any]:
    said = texts(row, s)
    return {
        "alert_id": row.alert_id,
        "kind": row.kind,
        "subject": dict(row.subject),
        "open": row.ended_at_ns == 0,
        "started_at": iso(row.started_at_ns, s.reports.tz),
        "ended_at": iso(row.ended_at_ns, s.reports.tz) if row.ended_at_ns else None,
        "figures": row.figures,
        "end_figures": row.end_figures if row.ended_at_ns else None,
        "title": said[0].title if said else "",
        "summary": said[0].summary if said else "",
        "end_summary": said[1].summary if len(said) > 1 else None,
        "evidence_url": said[0].evidence_url if said else "",
        "deliveries": [
            {
                "phase": d.phase,
                "target": d.url,
                "state": d.state,
                "claims": d.attempts,
                "claimed_by": d.claimed_by,
            }
            for d in deliveries
        ],
        "attempts": [line for line in row.notified.splitlines() if line],
    }


def _state(row: AlertRow, tz: Any, now_ns: int | None = None) -> str:
    if row.ended_at_ns:
        span = duration((row.ended_at_ns - row.started_at_ns) / NS)
        return f"{when(row.started_at_ns, tz)} .. {when(row.ended_at_ns, tz)} ({span})"
    return f"open since {when(row.started_at_ns, tz)}"


@click.group("alerts")
def alerts_group() -> None:
    """Alert history: what started and ended, the sentence sent, every delivery attempt."""


@alerts_group.command("list")
@_CONFIG
@click.option(
    "--kind",
    "kinds",
    multiple=True,
    type=click.Choice([k.value for k in AlertKind]),
    help="Only these kinds (repeatable).",
)
@click.option("--vendor", default=None, help="Only alerts about this vendor.")
@click.option("--since", default="1970-01-01T00:00Z", help="Active at or after (default: all).")
@click.option("--until", default="now", show_default=True, help="Started before.")
@click.option("--open", "open_only", is_flag=True, help="Only alerts still open.")
@_FORMAT
def list_command(
    config_path: str,
    kinds: tuple[str, ...],
    vendor: str | None,
    since: str,
    until: str,
    open_only: bool,
    fmt: str,
) -> None:
    """The alerts active in a period, newest first, each with its sentence."""
    s = _settings(config_path)
    since_ns, until_ns = parse_period(since, until, s.reports)
    with _ledger(s.ledger_url) as ledger:
        rows = [
            r
            for r in ledger.alerts(open_only=open_only)
            if (not kinds or r.kind in kinds)
            and (vendor is None or r.subject.get("vendor") == vendor)
            and r.started_at_ns < until_ns
            and (r.ended_at_ns == 0 or r.ended_at_ns >= since_ns)
        ]
        rows.sort(key=lambda r: (r.started_at_ns, r.alert_id), reverse=True)
        deliveries: dict[int, list[DeliveryRow]] = {r.alert_id: [] for r in rows}
        for d in ledger.deliveries():
            if d.alert_id in deliveries:
                deliveries[d.alert_id].append(d)
    if fmt == "json":
        doc = {"alerts": [alert_json(r, s, deliveries[r.alert_id]) for r in rows]}
        click.echo(json.dumps(doc, indent=2, ensure_ascii=False, sort_keys=True, default=str))
        return
    if not rows:
        click.echo("no alerts")
        return
    for r in rows:
        said = texts(r, s)
        sent = deliveries[r.alert_id]
        ok = sum(1 for d in sent if d.state == "delivered")
        click.echo(
            f"#{r.alert_id}  {r.kind}  {' '.join(f'{k}={v}' for k, v in sorted(r.subject.items()))}"
            f"  {_state(r, s.reports.tz)}  delivered {ok}/{len(sent)}"
        )
        if said:
            click.echo(f"    {said[-1].summary}")


@alerts_group.command("show")
@click.argument("alert_id", type=click.IntRange(min=1))
@_CONFIG
@_FORMAT
def show_command(alert_id: int, config_path: str, fmt: str) -> None:
    """One alert: its figures, sentences, evidence link and every delivery attempt."""
    s = _settings(config_path)
    with _ledger(s.ledger_url) as ledger:
        row = next((r for r in ledger.alerts() if r.alert_id == alert_id), None)
        if row is None:
            raise click.ClickException(f"no alert {alert_id} in the ledger")
        deliveries = ledger.deliveries(alert_id)
    doc = alert_json(row, s, deliveries)
    if fmt == "json":
        click.echo(json.dumps(doc, indent=2, ensure_ascii=False, sort_keys=True, default=str))
        return
    lines = [
        f"alert #{row.alert_id}: {doc['title'] or row.kind}",
        f"  state:    {_state(row, s.reports.tz)}",
        f"  summary:  {doc['summary']}",
    ]
    if doc["end_summary"]:
        lines.append(f"  ended:    {doc['end_summary']}")
    if doc["evidence_url"]:
        lines.append(f"  evidence: {doc['evidence_url']}")
    lines.append("  figures:")
    lines += [f"    {k}: {v}" for k, v in sorted(row.figures.items())]
    if row.ended_at_ns:
        lines.append("  figures at the end:")
        lines += [f"    {k}: {v}" for k, v in sorted(row.end_figures.items())]
    lines.append("  deliveries:" if deliveries else "  deliveries: none configured")
    lines += [
        f"    {d.phase:<5} {d.url}  {d.state}  (claimed {d.attempts}x"
        + (f" by {d.claimed_by})" if d.claimed_by else ")")
        for d in deliveries
    ]
    if doc["attempts"]:
        lines.append("  attempts:")
        lines += [f"    {line}" for line in doc["attempts"]]
    click.echo("\n".join(lines))
