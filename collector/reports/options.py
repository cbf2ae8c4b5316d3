"""What the `report` and `evidence` commands share: their settings (the collector config and
its [reports] section), the --since/--until period, progress on stderr, the version stamp."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from importlib.metadata import PackageNotFoundError, version
from typing import Any, TextIO

import click

from agent.common.tomlconfig import ConfigError
from collector.config import CollectorSettings, load_config
from collector.reports.config import ReportsConfig, parse_reports, parse_time


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
    try:
        return version("smsprobe")
    except PackageNotFoundError:
        return "unknown"


def load_settings(config_path: str) -> tuple[CollectorSettings, ReportsConfig]:
    """The collector config and its [reports] section; exit 2 with the message when bad."""
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
