"""Periods of the day: hour bands and marketing quiet hours, globally or per vendor, in one
stated time zone.

[probes]
timezone = "Asia/Shanghai"            # the zone of every band, quiet hour and local day
marketing_hours = [8, 21]             # marketing probes only from 08:00 to 21:00 local
bands = [                             # default: evening_peak 18–22, day 8–18, night 22–8
  { name = "evening_peak", start_h = 18, end_h = 22 },
  { name = "day", start_h = 8, end_h = 18 },
  { name = "night", start_h = 22, end_h = 8, interval_factor = 3.0 },
]
[probes.vendors.bolt]
bands = [...]                         # this vendor's own bands (same zone)
marketing_hours = [9, 20]

An hour no band covers is in band "other". The scheduler stamps each probe with its band,
the report explains the bands in one sentence each (`describe`), and the vendor simulator
is given the same zone so its peak is the report's peak (docs/periods.md).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from agent.common.tomlconfig import Table

DEFAULT_TIMEZONE = "Asia/Shanghai"
OTHER = "other"


@dataclass(frozen=True, slots=True)
class HourBand:
    name: str
    start_hour: int  # local, inclusive
    end_hour: int  # local, exclusive; may wrap past midnight
    interval_factor: float = 1.0  # probes of a lane come this many times less often

    def contains(self, hour: int) -> bool:
        if self.start_hour <= self.end_hour:
            return self.start_hour <= hour < self.end_hour
        return hour >= self.start_hour or hour < self.end_hour

    def hours_text(self) -> str:
        wrap = " (next day)" if self.end_hour < self.start_hour else ""
        return f"{self.start_hour:02d}:00–{self.end_hour:02d}:00{wrap}"


DEFAULT_BANDS = (
    HourBand("evening_peak", 18, 22, 1.0),
    HourBand("day", 8, 18, 1.0),
    HourBand("night", 22, 8, 3.0),
)
DEFAULT_MARKETING_HOURS = (8, 21)


def hours_allow(hours: tuple[int, int], hour: int) -> bool:
    """Whether local `hour` lies in [start, end) (wrapping past midnight when end < start)."""
    start, end = hours
    return start <= hour < end if start <= end else (hour >= start or hour < end)


@dataclass(frozen=True, slots=True)
class Periods:
    timezone: str = DEFAULT_TIMEZONE
    bands: tuple[HourBand, ...] = DEFAULT_BANDS
    vendor_bands: Mapping[str, tuple[HourBand, ...]] = field(
        default_factory=lambda: MappingProxyType({})
    )
    marketing_hours: tuple[int, int] = DEFAULT_MARKETING_HOURS
    vendor_marketing_hours: Mapping[str, tuple[int, int]] = field(
        default_factory=lambda: MappingProxyType({})
    )

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def bands_for(self, vendor: str) -> tuple[HourBand, ...]:
        return self.vendor_bands.get(vendor, self.bands)

    def band(self, vendor: str, hour: int) -> HourBand:
        return next((b for b in self.bands_for(vendor) if b.contains(hour)), HourBand(OTHER, 0, 24))

    def marketing_for(self, vendor: str) -> tuple[int, int]:
        return self.vendor_marketing_hours.get(vendor, self.marketing_hours)

    def describe(self) -> list[str]:
        """One sentence per band set and for the quiet hours: what a report prints."""
        out = [_bands_sentence("Hour bands", self.bands, self.timezone)]
        for vendor, bands in sorted(self.vendor_bands.items()):
            out.append(_bands_sentence(f"Vendor {vendor}'s hour bands", bands, self.timezone))
        start, end = self.marketing_hours
        out.append(
            f"Marketing probes are sent only from {start:02d}:00 to {end:02d}:00 "
            f"{self.timezone} time; outside those hours they are suppressed and counted."
        )
        for vendor, (s, e) in sorted(self.vendor_marketing_hours.items()):
            out.append(f"Vendor {vendor}: marketing from {s:02d}:00 to {e:02d}:00.")
        return out

    def to_dict(self) -> dict[str, Any]:
        def bands(items: tuple[HourBand, ...]) -> list[dict[str, Any]]:
            return [{"name": b.name, "start_h": b.start_hour, "end_h": b.end_hour} for b in items]

        return {
            "timezone": self.timezone,
            "bands": bands(self.bands),
            "vendor_bands": {v: bands(b) for v, b in sorted(self.vendor_bands.items())},
            "marketing_hours": list(self.marketing_hours),
            "vendor_marketing_hours": {
                v: list(h) for v, h in sorted(self.vendor_marketing_hours.items())
            },
            "explained": self.describe(),
        }


def _bands_sentence(what: str, bands: tuple[HourBand, ...], zone: str) -> str:
    parts = ", ".join(f"{b.name} {b.hours_text()}" for b in bands)
    covered = {h for h in range(24) if any(b.contains(h) for b in bands)}
    rest = "" if len(covered) == 24 else f"; the other hours are in band '{OTHER}'"
    return f"{what}, in {zone} local time: {parts}{rest}."


def parse_timezone(t: Table, key: str = "timezone") -> str:
    zone = t.get_str(key, DEFAULT_TIMEZONE, non_empty=True, expected="an IANA time zone")
    try:
        ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise t.error(key, "an IANA time zone such as Asia/Shanghai", zone) from exc
    return zone


def parse_bands(t: Table, key: str = "bands") -> tuple[HourBand, ...] | None:
    """`key` = a list of {name, start_h, end_h, interval_factor}: non-overlapping, named
    once each. None when the key is absent."""
    if not t.has(key):
        return None
    out: list[HourBand] = []
    taken: dict[int, str] = {}
    for item in t.get_tables(key, min_len=1, expected="a non-empty list of bands"):
        name = item.get_str("name", non_empty=True, expected="a band name")
        band = HourBand(
            name=name,
            start_hour=item.get_int("start_h", min_value=0, max_value=23),
            end_hour=item.get_int("end_h", min_value=0, max_value=24),
            interval_factor=item.get_float("interval_factor", 1.0, min_value=0.01),
        )
        item.finish()
        if band.end_hour % 24 == band.start_hour:
            raise item.error("end_h", f"an hour other than start_h ({band.start_hour})")
        if name == OTHER or any(b.name == name for b in out):
            raise item.error("name", f"a name used once and not '{OTHER}'", name)
        for hour in range(24):
            if band.contains(hour):
                if hour in taken:
                    raise item.error(
                        "start_h", f"hours not already in band '{taken[hour]}' ({hour}:00 is)"
                    )
                taken[hour] = name
        out.append(band)
    return tuple(out)


def parse_marketing_hours(t: Table, key: str = "marketing_hours") -> tuple[int, int] | None:
    if not t.has(key):
        return None
    hours = t.get_int_list(key)
    if len(hours) != 2 or not all(0 <= h <= 24 for h in hours) or hours[0] == hours[1] % 24:
        raise t.error(key, "[start_h, end_h]: two different hours 0..24", list(hours))
    return hours[0], hours[1]


def parse_periods(t: Table, vendor_tables: Mapping[str, Table]) -> Periods:
    """[probes] timezone, bands, marketing_hours and each vendor's own bands/hours.
    Reads only those keys (the caller finishes the tables)."""
    vendor_bands: dict[str, tuple[HourBand, ...]] = {}
    vendor_hours: dict[str, tuple[int, int]] = {}
    for name, vt in vendor_tables.items():
        bands = parse_bands(vt)
        if bands is not None:
            vendor_bands[name] = bands
        hours = parse_marketing_hours(vt)
        if hours is not None:
            vendor_hours[name] = hours
    return Periods(
        timezone=parse_timezone(t),
        bands=parse_bands(t) or DEFAULT_BANDS,
        vendor_bands=MappingProxyType(vendor_bands),
        marketing_hours=parse_marketing_hours(t) or DEFAULT_MARKETING_HOURS,
        vendor_marketing_hours=MappingProxyType(vendor_hours),
    )


def periods_of_config(raw_probes: Mapping[str, Any] | None, *, file: str) -> Periods:
    """The periods of a collector config's [probes] section, for readers that need only them
    (reports): every other key is left to parse_probes."""
    if not raw_probes:
        return Periods()
    t = Table(raw_probes, file=file, path="probes")
    vendors = t.get_table("vendors")
    tables = {} if vendors is None else {n: vendors.section(n) for n in vendors.key_names()}
    return parse_periods(t, tables)
