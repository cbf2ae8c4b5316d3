"""`smsprobe-collector report`: the SLA report for a period, from the ledger.

    smsprobe-collector report --config collector.toml --since -24h [--until now]
        [--vendor acme] [--format html|json|csv|md] --out report.html

Exit codes: 0 written; 2 usage or configuration error; 1 the ledger failed.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, TextIO, cast

import click

from agent.logs import configure_logging
from collector.ledger.probes import StoredProbe, StoredVerdict
from collector.reports.figures import JudgedProbe

if TYPE_CHECKING:
    from collector.config import CollectorConfig
    from collector.reports.config import ReportsConfig

FORMATS = ("html", "json", "csv", "md")
_SUFFIX_FORMAT = {".html": "html", ".htm": "html", ".json": "json", ".csv": "csv", ".md": "md"}


class ProbeSource(Protocol):
    """The part of the ledger a report reads (both SQLite and PostgreSQL ledgers)."""

    def probes(
        self,
        *,
        open_only: bool = ...,
        since_ns: int = ...,
        until_ns: int | None = ...,
        vendor: str | None = ...,
        probe_ids: Sequence[str] | None = ...,
    ) -> list[StoredProbe]: ...

    def verdicts(self, probe_ids: Sequence[str] | None = ...) -> dict[str, StoredVerdict]: ...


def as_probe_source(ledger: object) -> ProbeSource:
    """`open_ledger` is typed as the agent-facing `Ledger`; both implementations (SqlLedger)
    also carry the probe side (ProbeLedgerMixin)."""
    from collector.ledger.probes import ProbeLedgerMixin

    if not isinstance(ledger, ProbeLedgerMixin):
        raise TypeError(f"{type(ledger).__name__} has no probe storage")
    return cast(ProbeSource, ledger)


def load_judged(
    ledger: ProbeSource, *, since_ns: int, until_ns: int, vendor: str | None = None
) -> tuple[list[StoredProbe], dict[str, StoredVerdict], list[JudgedProbe]]:
    """Probes planned in [since, until) with their current verdicts, as the figures see them."""
    from collector.views import judged_probe

    probes = [
        p
        for p in ledger.probes(since_ns=since_ns, until_ns=until_ns, vendor=vendor)
        if p.submit_status != "planned"  # never handed to the vendor: not "sent"
    ]
    verdicts = ledger.verdicts([p.plan.probe_id for p in probes])
    judged = [judged_probe(p, verdicts.get(p.plan.probe_id)) for p in probes]
    return probes, verdicts, judged


class Progress:
    """Progress on stderr: a click bar on a terminal, plain periodic lines otherwise.

    Plain lines (for logs and CI) come at each new step label and at most every
    `every_s` seconds in between, so a long export neither floods nor goes quiet.
    """

    def __init__(
        self,
        label: str,
        total: int,
        *,
        stream: TextIO | None = None,
        clock: Callable[[], float] = time.monotonic,
        every_s: float = 2.0,
        tty: bool | None = None,
    ) -> None:
        self._stream = stream if stream is not None else sys.stderr
        self._label = label
        self._total = max(total, 1)
        self._done = 0
        self._clock = clock
        self._every_s = every_s
        self._last_line = -float("inf")
        self._last_what = ""
        is_tty = tty if tty is not None else self._stream.isatty()
        self._bar: Any = None
        if is_tty:
            self._bar = click.progressbar(
                length=self._total, label=label, file=self._stream, show_pos=True
            )
            self._bar.__enter__()

    def advance(self, n: int = 1, what: str = "") -> None:
        self._done = min(self._done + n, self._total)
        if self._bar is not None:
            self._bar.label = f"{self._label}: {what}" if what else self._label
            self._bar.update(n)
            return
        now = self._clock()
        if (what and what != self._last_what) or now - self._last_line >= self._every_s:
            self._last_line = now
            self._last_what = what
            detail = f" {what}" if what else ""
            click.echo(f"{self._label}:{detail} ({self._done}/{self._total})", file=self._stream)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.__exit__(None, None, None)
            self._bar = None


def software_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("smsprobe")
    except PackageNotFoundError:
        return "unknown"


def load_settings(config_path: str) -> tuple[CollectorConfig, ReportsConfig]:
    """The collector config and its [reports] section; exit 2 with the message when bad."""
    from collector.config import load_config
    from collector.configlib import ConfigError
    from collector.reports.config import parse_reports

    try:
        config = load_config(config_path)
        reports = parse_reports(
            config.raw_section("reports"), file=config.source, base_dir=config.base_dir
        )
    except ConfigError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)
    return config, reports


def parse_period(since: str, until: str, reports: ReportsConfig) -> tuple[int, int]:
    from collector.reports.config import parse_time

    try:
        since_ns = parse_time(since, reports.tz)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--since") from exc
    try:
        until_ns = parse_time(until, reports.tz)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--until") from exc
    if until_ns <= since_ns:
        raise click.BadParameter("must be after --since", param_hint="--until")
    return since_ns, until_ns


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
    from collector.ledger import LedgerError, open_ledger
    from collector.reports.build import build_report, merge_gaps
    from collector.reports.config import iso
    from collector.reports.render import render

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
            _, _, judged = load_judged(
                as_probe_source(ledger), since_ns=since_ns, until_ns=until_ns, vendor=vendor
            )
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
