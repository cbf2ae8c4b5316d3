"""`smsprobe-collector report`: the SLA report for a period, from the ledger.

    smsprobe-collector report --config collector.toml --since -24h [--until now]
        [--vendor acme] [--format html|json|csv|md] --out report.html

Exit codes: 0 written; 2 usage or configuration error; 1 the ledger failed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import click

from agent.common.logs import configure_logging
from collector.billing.settings import load_billing
from collector.ledger import LedgerError, open_ledger
from collector.probes.bands import periods_of_config
from collector.probes.bursts import burst_of
from collector.reports.compare import compare_periods, render_comparison
from collector.reports.config import ReportsConfig, iso
from collector.reports.judged import load_judged
from collector.reports.options import Progress, load_settings, parse_period
from collector.reports.period import period_report
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
@click.option(
    "--compare",
    "compare",
    default=None,
    metavar="PERIOD",
    help="Put the period beside PERIOD: SINCE..UNTIL (same forms as --since) or a calendar "
    "entry (national_day, double11, 国庆节; name@2026 for one year). Output: the comparison.",
)
def report_command(
    config_path: str,
    since: str,
    until: str,
    vendor: str | None,
    fmt: str | None,
    out: str,
    compare: str | None = None,
) -> None:
    """SLA report per vendor × carrier × region × profile × hour band × calendar day."""
    configure_logging("warning")  # stdout may be the report itself (--out -)
    config, reports = load_settings(config_path)
    billing = load_billing(config)  # exit 2 on an error, like [reports]
    since_ns, until_ns = parse_period(since, until, reports)
    if fmt is None:
        fmt = "html" if out == "-" else _SUFFIX_FORMAT.get(Path(out).suffix.lower(), "html")
    periods = periods_of_config(config.raw_section("probes"), file=config.source)
    tz = periods.tz

    def day_kind(at_ns: int) -> str:
        return reports.calendar.label_at(at_ns, tz)

    if compare is not None:
        other = compare_window(compare, reports, until_ns)
        text = comparison_text(config.ledger.url, (since_ns, until_ns, since, until),
                               other, vendor, reports, day_kind, fmt)  # fmt: skip
        write_out(text, out, fmt, "comparison")
        return
    progress = Progress("report", 9)
    try:
        try:
            ledger = open_ledger(config.ledger.url)
        except LedgerError as exc:
            raise click.ClickException(f"ledger: {exc}") from exc
        try:
            report, probes = period_report(
                ledger, since_ns=since_ns, until_ns=until_ns, vendor=vendor, reports=reports,
                billing=billing, periods=periods,
                generated_at=datetime.now(UTC).isoformat(timespec="seconds"),
                progress=lambda what: progress.advance(what=what), url=config.ledger.url,
            )  # fmt: skip
        except LedgerError as exc:
            raise click.ClickException(f"ledger: {exc}") from exc
        finally:
            ledger.close()
        progress.advance(what=f"rendering {fmt}")
        text = render(report, fmt)
    finally:
        progress.close()
    write_out(text, out, fmt, f"report of {probes} probes")


def write_out(text: str, out: str, fmt: str, what: str) -> None:
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
    click.echo(f"wrote {fmt} {what} to {out}", err=True)


def compare_window(spec: str, reports: ReportsConfig, until_ns: int) -> tuple[int, int, str]:
    """--compare PERIOD as (since, until, name)."""
    if ".." in spec:
        first, _, second = spec.partition("..")
        try:
            lo, hi = parse_period(first, second, reports)
        except click.BadParameter as exc:
            raise click.BadParameter(str(exc.message), param_hint="--compare") from exc
        return lo, hi, spec
    hits = reports.calendar.find(spec)
    if not hits:
        names = sorted({e.name for e in reports.calendar.entries})
        raise click.BadParameter(
            f"{spec!r}: neither SINCE..UNTIL nor a calendar entry ({', '.join(names)})",
            param_hint="--compare",
        )
    # The latest occurrence that began before the end of the main period, else the first.
    before = [e for e in hits if reports.calendar.window_ns(e, reports.tz)[0] < until_ns]
    entry = (before or hits)[-1]
    lo, hi = reports.calendar.window_ns(entry, reports.tz)
    return lo, hi, f"{entry.name} {entry.start.year}"


def comparison_text(
    ledger_url: str,
    main: tuple[int, int, str, str],
    other: tuple[int, int, str],
    vendor: str | None,
    reports: ReportsConfig,
    day_kind: Callable[[int], str],
    fmt: str,
) -> str:
    since_ns, until_ns, since, until = main
    try:
        ledger = open_ledger(ledger_url)
    except LedgerError as exc:
        raise click.ClickException(f"ledger: {exc}") from exc
    try:
        sides = []
        for lo, hi in ((since_ns, until_ns), (other[0], other[1])):
            _, _, judged = load_judged(ledger, since_ns=lo, until_ns=hi, vendor=vendor)
            sides.append(
                [
                    replace(j, calendar=day_kind(j.submitted_at_ns))
                    for j in judged
                    if burst_of(j.probe_id) is None
                ]
            )
    except LedgerError as exc:
        raise click.ClickException(f"ledger: {exc}") from exc
    finally:
        ledger.close()
    alpha = reports.thresholds.alpha
    doc = {
        "a": {"since": since, "until": until, "name": "period", "probes": len(sides[0])},
        "b": {"since": iso(other[0], reports.tz), "until": iso(other[1], reports.tz),
              "name": other[2], "probes": len(sides[1])},
        "alpha": alpha,
        "tests": {"arrival": "two-sided two-proportion z-test (Fisher's exact when an "
                             "expected count is below 5)",
                  "latency": "Mood's quantile test at p50 and p95 (two-sided)"},
        "breakdowns": {
            "vendor": compare_periods(*sides, group_by=("vendor",), alpha=alpha),
            "vendor_band": compare_periods(*sides, group_by=("vendor", "band"), alpha=alpha),
            "vendor_carrier": compare_periods(*sides, group_by=("vendor", "carrier"),
                                              alpha=alpha),
        },
    }  # fmt: skip
    return render_comparison(doc, fmt)
