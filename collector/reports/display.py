"""How a report shows its numbers and times: percentages, seconds, instants at second
precision in the report's time zone, and the SLA verdict in plain words."""

from __future__ import annotations

from datetime import UTC, datetime, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from agent.common.units import NS
from collector.reports.build import Report
from collector.reports.figures import Cell, Thresholds

TIME_FORMAT = "%Y-%m-%d %H:%M:%S"


def pct(value: float | None, digits: int = 2) -> str:
    return "—" if value is None else f"{value * 100:.{digits}f} %"


def num(value: float | None, unit: str = "") -> str:
    return "—" if value is None else f"{value:.2f}{unit}"


def zone_of(stamp: str) -> tzinfo:
    """The zone an ISO-8601 stamp was written in; UTC when it names none."""
    try:
        zone = datetime.fromisoformat(stamp).tzinfo
    except ValueError:
        zone = None
    return zone or UTC


def report_zone(report: Report) -> tzinfo:
    """[reports] timezone when the report carries it, else the zone of its `since`."""
    if report.timezone:
        try:
            return ZoneInfo(report.timezone)
        except (ZoneInfoNotFoundError, ValueError):
            pass
    return zone_of(report.since)


def zone_label(report: Report) -> str:
    """`Asia/Shanghai (UTC+08:00)`: what every time in the report is in."""
    zone = report_zone(report)
    offset = datetime.fromtimestamp(report.period_ns[0] / NS, zone).strftime("%z")
    name = report.timezone or ("UTC" if zone is UTC else "")
    utc = f"UTC{offset[:3]}:{offset[3:]}" if offset else "UTC"
    return f"{name} ({utc})" if name and name != "UTC" else utc


def when(report: Report, at_ns: int) -> str:
    """An instant at second precision in the report's zone."""
    return datetime.fromtimestamp(at_ns // NS, report_zone(report)).strftime(TIME_FORMAT)


def stamp(report: Report, text: str) -> str:
    """An ISO-8601 stamp (since, until, generated_at) shown like `when`."""
    try:
        dt = datetime.fromisoformat(text)
    except ValueError:
        return text
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=report_zone(report))
    return dt.astimezone(report_zone(report)).strftime(TIME_FORMAT)


def threshold_text(thresholds: Thresholds) -> str:
    return f"{thresholds.arrival_rate * 100:g} %"


def sla_words(cell: Cell, thresholds: Thresholds, *, with_p: bool = True) -> str:
    """The arrival-rate SLA verdict as a sentence a buyer reads without statistics."""
    target = threshold_text(thresholds)
    p = f" (p = {cell.sla_p_value:.3g})" if with_p and cell.sla_p_value is not None else ""
    if cell.sla == "met":
        return f"met: at least {target} confirmed{p}"
    if cell.sla == "breach":
        return f"breached: below {target} confirmed{p}"
    if cell.sla == "no_data":
        return "no judged probes"
    n, m = cell.probes_to_decide, cell.losses_to_breach
    text = f"not yet decided{p}: "
    text += (
        f"needs {n} more probe{'s' if n != 1 else ''} with no loss to confirm {target}"
        if n is not None
        else f"no number of arrivals can confirm {target}"
    )
    if m is not None:
        text += f"; {m} more lost probe{'s' if m != 1 else ''} in a row would confirm a breach"
    return text
