"""The holiday and campaign calendar: which kind of day a probe was sent on, as a report
dimension ("calendar") and as named periods for `report --compare`.

Shipped data: calendar_cn.toml beside this file (China's public holidays with their
adjusted working days, and the 618 / Double 11 campaigns). The collector config edits it:

[reports.calendar]
shipped = true                      # false: only what is listed here
[[reports.calendar.campaigns]]
name = "spring_sale"                # a campaign of your own (or a shipped name: replaced)
start = 2026-03-01                  # local dates (the report's zone), inclusive
end = 2026-03-08
[[reports.calendar.holidays]]
name = "company_day"
start = 2026-07-01
end = 2026-07-01
workdays = []                       # weekend days worked instead

A day's label: the campaign it is in, else the holiday, else "weekend" (Saturday or
Sunday not worked) or "workday" (including adjusted working days).
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta, tzinfo
from importlib.resources import files
from typing import Any

from agent.common.tomlconfig import Table
from agent.common.units import NS

WORKDAY = "workday"
WEEKEND = "weekend"


@dataclass(frozen=True, slots=True)
class Entry:
    kind: str  # holiday | campaign
    name: str
    label: str
    start: date
    end: date  # inclusive
    workdays: tuple[date, ...] = ()
    provisional: bool = False  # statutory days only: the official notice is not out yet

    def covers(self, day: date) -> bool:
        return self.start <= day <= self.end


@dataclass(frozen=True, slots=True)
class Calendar:
    entries: tuple[Entry, ...] = ()

    def label(self, day: date) -> str:
        for kind in ("campaign", "holiday"):
            hit = next((e for e in self.entries if e.kind == kind and e.covers(day)), None)
            if hit is not None:
                return hit.name
        if day.weekday() >= 5 and not any(day in e.workdays for e in self.entries):
            return WEEKEND
        return WORKDAY

    def label_at(self, at_ns: int, tz: tzinfo) -> str:
        return self.label(datetime.fromtimestamp(at_ns / NS, tz).date())

    def find(self, name: str) -> list[Entry]:
        """Entries named `name` (or labelled so), oldest first; `name@2026` picks a year."""
        base, _, year = name.partition("@")
        hits = [e for e in self.entries if base in (e.name, e.label)]
        if year:
            hits = [e for e in hits if str(e.start.year) == year]
        return sorted(hits, key=lambda e: e.start)

    def window_ns(self, entry: Entry, tz: tzinfo) -> tuple[int, int]:
        """The entry's days as [first midnight, the midnight after the last day)."""
        start = datetime.combine(entry.start, datetime.min.time(), tz)
        end = datetime.combine(entry.end + timedelta(days=1), datetime.min.time(), tz)
        return int(start.timestamp()) * NS, int(end.timestamp()) * NS

    def describe(self) -> list[str]:
        out = []
        for e in sorted(self.entries, key=lambda e: e.start):
            days = e.start.isoformat() if e.start == e.end else f"{e.start}–{e.end}"
            worked = f", worked instead: {', '.join(d.isoformat() for d in e.workdays)}"
            note = " (provisional: statutory days only)" if e.provisional else ""
            out.append(f"{e.kind} {e.name} ({e.label}): {days}{worked if e.workdays else ''}{note}")
        return out


def _date(t: Table, key: str) -> date:
    value = t.get_value(key)
    if isinstance(value, datetime) or not isinstance(value, date):
        raise t.error(key, "a date such as 2026-10-01", value)
    return value


def _entries(t: Table, key: str, kind: str) -> list[Entry]:
    out = []
    for item in t.get_tables(key):
        name = item.get_str("name", non_empty=True, expected="a name")
        start, end = _date(item, "start"), _date(item, "end")
        if end < start:
            raise item.error("end", f"a date on or after start ({start})", end)
        worked: list[date] = []
        if item.has("workdays"):
            raw = item.get_value("workdays")
            if not isinstance(raw, list) or not all(
                isinstance(d, date) and not isinstance(d, datetime) for d in raw
            ):
                raise item.error("workdays", "a list of dates", raw)
            worked = list(raw)
        out.append(
            Entry(
                kind=kind,
                name=name,
                label=item.get_str("label", name),
                start=start,
                end=end,
                workdays=tuple(worked),
                provisional=item.get_bool("provisional", False),
            )
        )
        item.finish()
    return out


def parse_calendar_doc(t: Table) -> list[Entry]:
    return _entries(t, "holidays", "holiday") + _entries(t, "campaigns", "campaign")


def shipped_calendar() -> list[Entry]:
    text = files("collector.reports").joinpath("calendar_cn.toml").read_text(encoding="utf-8")
    t = Table(tomllib.loads(text), file="collector/reports/calendar_cn.toml")
    entries = parse_calendar_doc(t)
    t.finish()
    return entries


def parse_calendar(raw: Mapping[str, Any] | None, *, file: str) -> Calendar:
    """[reports.calendar]: the shipped entries (unless shipped = false) with the config's;
    an entry of the config replaces shipped ones of the same kind, name and year."""
    t = Table(raw or {}, file=file, path="reports.calendar")
    mine = parse_calendar_doc(t)
    base = shipped_calendar() if t.get_bool("shipped", True) else []
    t.finish()
    replaced = {(e.kind, e.name, e.start.year) for e in mine}
    kept = [e for e in base if (e.kind, e.name, e.start.year) not in replaced]
    return Calendar(tuple(kept + mine))
