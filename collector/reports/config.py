"""The [reports] section and the time arguments of `report` / `evidence export`.

[reports]
timezone = "Asia/Shanghai"          # zone of since/until written without one
evidence_base_url = "https://probe.example/evidence"   # alert links ("" = none)
signing_key = "certs/signing.key"   # Ed25519 key from `certs init` (relative to file)
give_up_s = 600                     # a probe's window, for receiver health in evidence
[reports.thresholds]
arrival_rate = 0.97                 # SLA: share of judged probes that must arrive
p95_latency_s = 60
alpha = 0.05                        # one-sided test level
[reports.prices]                    # older: money per part, per vendor; use [billing]
acme = 0.045                        # (collector/billing/config.py, docs/billing.md)
[reports.lines]                     # kind of line per test SIM, over the derived one
"13800000001" = "ported"            # home | mvno | ported (national MSISDN)
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, tzinfo
from pathlib import Path
from types import MappingProxyType
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from agent.common.numberplan import national
from agent.common.tomlconfig import Table
from agent.common.units import NS
from collector.reports.calendar import Calendar, parse_calendar
from collector.reports.figures import Thresholds

DEFAULT_TIMEZONE = "Asia/Shanghai"
_RELATIVE = re.compile(r"^-(\d+)([smhdw])$")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


@dataclass(frozen=True, slots=True)
class ReportsConfig:
    thresholds: Thresholds = field(default_factory=Thresholds)
    prices: Mapping[str, float] = field(default_factory=lambda: MappingProxyType({}))
    timezone: str = DEFAULT_TIMEZONE
    evidence_base_url: str = ""
    signing_key: Path | None = None
    give_up_s: float = 600.0
    calendar: Calendar = field(default_factory=Calendar)  # holidays and campaigns
    lines: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))

    @property
    def tz(self) -> tzinfo:
        return ZoneInfo(self.timezone)


def parse_reports(
    raw: Mapping[str, Any] | None, *, file: str, base_dir: Path = Path(".")
) -> ReportsConfig:
    """Validate [reports]; raises ConfigError naming file and key path."""
    t = Table(raw or {}, file=file, path="reports")
    timezone = t.get_str("timezone", DEFAULT_TIMEZONE, non_empty=True, expected="an IANA zone")
    try:
        ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise t.error("timezone", 'an IANA time zone such as "Asia/Shanghai"', timezone) from exc
    base_url = t.get_str("evidence_base_url", "")
    if base_url and not base_url.startswith(("http://", "https://")):
        raise t.error("evidence_base_url", "an http(s) URL", base_url)
    signing_key = t.get_path("signing_key", None, base_dir=base_dir)
    give_up_s = t.get_float("give_up_s", 600.0, min_value=1.0)
    d = Thresholds()
    thresholds = d
    th = t.get_table("thresholds")
    if th is not None:
        thresholds = Thresholds(
            arrival_rate=th.get_float("arrival_rate", d.arrival_rate, min_value=0.0, max_value=1.0),
            p95_latency_s=th.get_float("p95_latency_s", d.p95_latency_s, min_value=0.0),
            alpha=th.get_float("alpha", d.alpha, min_value=1e-9, max_value=0.5),
        )
        th.finish()
    calendar = parse_calendar(t.get_raw("calendar"), file=file)
    prices: dict[str, float] = {}
    pt = t.get_table("prices")
    if pt is not None:
        for vendor in pt.key_names():
            prices[vendor] = pt.get_float(vendor, min_value=0.0)
        pt.finish()
    lines: dict[str, str] = {}
    lt = t.get_table("lines")
    if lt is not None:
        for number in lt.key_names():
            if not (number.isascii() and number.isdigit() and len(national(number)) == 11):
                raise lt.error(number, "an 11-digit national MSISDN as the key", number)
            lines[national(number)] = lt.get_choice(number, ("home", "mvno", "ported"))
        lt.finish()
    t.finish()
    return ReportsConfig(
        thresholds=thresholds,
        prices=MappingProxyType(prices),
        timezone=timezone,
        evidence_base_url=base_url.rstrip("/"),
        signing_key=signing_key,
        give_up_s=give_up_s,
        calendar=calendar,
        lines=MappingProxyType(lines),
    )


def parse_time(text: str, tz: tzinfo, *, now_ns: Callable[[], int] = time.time_ns) -> int:
    """`now`, relative `-24h` / `-30m` / `-7d` / `-2w`, or ISO-8601 (zone-less = `tz`).

    A bare date (`2026-11-24`) is midnight in `tz`. Raises ValueError with what was
    expected.
    """
    value = text.strip()
    if value == "now":
        return now_ns()
    m = _RELATIVE.match(value)
    if m:
        return now_ns() - int(m.group(1)) * _UNITS[m.group(2)] * NS
    try:
        dt = datetime.fromisoformat(value)
    except ValueError as exc:
        raise ValueError(
            f"{text!r}: expected ISO-8601 (2026-11-24T08:00, zone optional), now or -24h/-7d"
        ) from exc
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=tz)
    delta = dt - _EPOCH  # exact integer arithmetic; float timestamps lose nanoseconds
    return (delta.days * 86400 + delta.seconds) * NS + delta.microseconds * 1000


def at_second(at_ns: int, tz: tzinfo = UTC) -> str:
    """An instant for people: ISO-8601 at second precision in `tz` (the fraction is cut)."""
    return datetime.fromtimestamp(at_ns // NS, tz).isoformat(timespec="seconds")


def iso(at_ns: int, tz: tzinfo = UTC) -> str:
    """An instant as ISO-8601 in `tz`, seconds precision unless it has a fraction."""
    dt = datetime.fromtimestamp(at_ns // NS, tz).replace(microsecond=(at_ns % NS) // 1000)
    return dt.isoformat(timespec="microseconds" if dt.microsecond else "seconds")
