"""`smsprobe-collector report`: the SLA report for a period, from the ledger.

    smsprobe-collector report --config collector.toml --since -24h [--until now]
        [--vendor acme] [--format html|json|csv|md] --out report.html

Exit codes: 0 written; 2 usage or configuration error; 1 the ledger failed.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import click

from agent.common.logs import configure_logging
from collector.ledger import LedgerError, open_ledger
from collector.reports.build import build_report, merge_gaps
from collector.reports.config import iso
from collector.reports.judged import load_judged
from collector.reports.options import Progress, load_settings, parse_period, software_version
from collector.reports.render import render

FORMATS = ("html", "json", "csv", "md")
_SUFFIX_FORMAT = {".html": "html", ".htm": "html", ".json": "json", ".csv": "csv", ".md": "md"}


@click.command("report")
@click.option(
    "--config", "config_path", required=True, type=click.Path(exists=True, dir_okay=False)
)
@click.option("--since", required=True, help="ISO-8601 (zone-less: [reports].timezone), -24h.")
@click.option("--until", default="now", show_default=True, help="Same forms as --since.")
@click.option("--vendor", default=None, help="Only this vendor's probes.")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(FORMATS),
    default=None,
    help="Default: from the --out suffix, else html.",
)
@click.option("--out", required=True, help="File to write; - for stdout.")
def report_command(
    config_path: str, since: str, until: str, vendor: str | None, fmt: str | None, out: str
) -> None:
    """SLA report per vendor × carrier × region × profile × hour band."""
    configure_logging("warning")  # stdout may be the report itself (--out -)
    config, reports = load_settings(config_path)
    since_ns, until_ns = parse_period(since, until, reports)
    if fmt is None:
        fmt = "html" if out == "-" else _SUFFIX_FORMAT.get(Path(out).suffix.lower(), "html")
    progress = Progress("report", 9)
    try:
        try:
            ledger = open_ledger(config.ledger.url)
        except LedgerError as exc:
            raise click.ClickException(f"ledger: {exc}") from exc
        try:
            progress.advance(what="loading probes")
            _, _, judged = load_judged(ledger, since_ns=since_ns, until_ns=until_ns, vendor=vendor)
            spans = ledger.unmeasured_spans(since_ns=since_ns, until_ns=until_ns, vendor=vendor)
        except LedgerError as exc:
            raise click.ClickException(f"ledger: {exc}") from exc
        finally:
            ledger.close()
        report = build_report(
            judged,
            since=iso(since_ns, reports.tz),
            until=iso(until_ns, reports.tz),
            generated_at=datetime.now(UTC).isoformat(timespec="seconds"),
            software_version=software_version(),
            thresholds=reports.thresholds,
            prices=reports.prices,
            progress=lambda what: progress.advance(what=what),
            filters={"vendor": vendor} if vendor else None,
            not_measured=merge_gaps(
                ((s.vendor, s.start_ns, s.end_ns, s.cause) for s in spans),
                since_ns=since_ns,
                until_ns=until_ns,
            ),
            period_ns=(since_ns, until_ns),
        )
        progress.advance(what=f"rendering {fmt}")
        text = render(report, fmt)
    finally:
        progress.close()
    if out == "-":
        click.echo(text, nl=False)
        return
    path = Path(out)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(path)  # a reader never sees half a report
    except OSError as exc:
        raise click.ClickException(f"cannot write {out}: {exc.strerror}") from exc
    click.echo(f"wrote {fmt} report of {len(judged)} probes to {out}", err=True)
