"""Periods: configurable hour bands and quiet hours in a stated zone, the holiday/campaign
calendar, and the two-sample tests `report --compare` and bursts use."""

from __future__ import annotations

import random
from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest

from agent.common.tomlconfig import ConfigError, Table
from collector.probes.bands import Periods, parse_periods, periods_of_config
from collector.probes.bursts import burst_of, burst_probe_id, next_start, parse_bursts
from collector.probes.scheduler import Scheduler, Target, VendorPlan
from collector.reports.calendar import parse_calendar
from collector.stats import fisher_exact_p, quantile_test, two_proportion_test

NS = 1_000_000_000
SH = ZoneInfo("Asia/Shanghai")


def at(text: str, tz: ZoneInfo = SH) -> int:
    return int(datetime.fromisoformat(text).replace(tzinfo=tz).timestamp()) * NS


def test_bands_per_vendor_in_the_stated_zone_and_explained() -> None:
    raw = {
        "timezone": "Europe/Berlin",
        "bands": [{"name": "evening_peak", "start_h": 19, "end_h": 23}],
        "marketing_hours": [9, 20],
        "vendors": {"bolt": {"bands": [{"name": "lunch", "start_h": 11, "end_h": 14}]}},
    }
    p = periods_of_config(raw, file="c.toml")
    assert p.timezone == "Europe/Berlin"
    assert p.band("acme", 20).name == "evening_peak" and p.band("acme", 12).name == "other"
    assert p.band("bolt", 12).name == "lunch" and p.band("bolt", 20).name == "other"
    text = " ".join(p.describe())
    assert "evening_peak 19:00–23:00" in text and "Europe/Berlin" in text
    assert "bolt's hour bands" in text and "from 09:00 to 20:00" in text


@pytest.mark.parametrize(
    ("bands", "key"),
    [
        ([{"name": "a", "start_h": 8, "end_h": 12}, {"name": "b", "start_h": 11, "end_h": 13}],
         "bands[1].start_h"),
        ([{"name": "a", "start_h": 8, "end_h": 8}], "bands[0].end_h"),
        ([{"name": "other", "start_h": 8, "end_h": 9}], "bands[0].name"),
        ([{"name": "a", "start_h": 25, "end_h": 9}], "bands[0].start_h"),
    ],
)  # fmt: skip
def test_a_bad_band_names_file_and_key(bands: list[dict[str, object]], key: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse_periods(Table({"bands": bands}, file="c.toml", path="probes"), {})
    assert "c.toml" in str(err.value) and f"probes.{key}" in str(err.value)


def _scheduler(periods: Periods, start_ns: int) -> Scheduler:
    plan = VendorPlan("acme", ("marketing", "notification"), interval_s=600, signature="S",
                      rate_per_s=100, burst=100)  # fmt: skip
    parts = {("acme", "marketing"): 1, ("acme", "notification"): 1}
    return Scheduler([plan], [Target("+8613800000001")], start_ns=start_ns,
                     rng=random.Random(3), parts_of=parts, periods=periods)  # fmt: skip


def test_marketing_quiet_hours_suppress_and_count_and_bands_stamp_probes() -> None:
    periods = Periods(marketing_hours=(9, 20))
    start = at("2026-11-24T17:00")
    s = _scheduler(periods, start)
    sent = []
    now = start
    while now < start + 8 * 3600 * NS:  # 17:00 to 01:00 local
        sent += s.due(now)
        now += 30 * NS
    marketing = [p for p in sent if p.profile == "marketing"]
    hours = {datetime.fromtimestamp(p.at_ns / NS, SH).hour for p in marketing}
    assert marketing and hours <= set(range(9, 20))
    held = sum(n for (v, prof, _), n in s.suppressed.items() if prof == "marketing")
    assert held == 1  # the one marketing lane, held once at 20:00 until 09:00
    by_band = {p.band for p in sent if p.profile == "notification"}
    assert {"day", "evening_peak", "night"} <= by_band
    for p in sent:
        assert p.band == periods.band("acme", datetime.fromtimestamp(p.at_ns / NS, SH).hour).name


def test_calendar_labels_holidays_adjusted_workdays_weekends_and_campaigns() -> None:
    cal = parse_calendar(None, file="c.toml")
    label = cal.label
    assert label(date(2026, 10, 1)) == "national_day"
    assert label(date(2026, 10, 10)) == "workday"  # a Saturday worked instead (调休)
    assert label(date(2026, 10, 11)) == "weekend"
    assert label(date(2026, 2, 14)) == "workday" and label(date(2026, 2, 16)) == "spring_festival"
    assert label(date(2026, 11, 11)) == "double11" and label(date(2027, 6, 18)) == "618"
    assert label(date(2026, 11, 24)) == "workday"  # a Tuesday
    assert all(e.provisional for e in cal.entries if e.kind == "holiday" and e.start.year == 2027)
    mine = parse_calendar(
        {"campaigns": [{"name": "double11", "start": date(2026, 11, 10),
                        "end": date(2026, 11, 11)}],
         "holidays": [{"name": "company_day", "start": date(2026, 11, 24),
                       "end": date(2026, 11, 24)}]},
        file="c.toml",
    )  # fmt: skip
    assert (
        mine.label(date(2026, 11, 5)) == "workday" and mine.label(date(2026, 11, 10)) == "double11"
    )
    assert mine.label(date(2026, 11, 24)) == "company_day"
    with pytest.raises(ConfigError, match=r"reports\.calendar\.campaigns\[0\]\.end"):
        parse_calendar({"campaigns": [{"name": "x", "start": date(2026, 1, 2),
                                       "end": date(2026, 1, 1)}]}, file="c.toml")  # fmt: skip


def test_two_proportion_and_quantile_tests() -> None:
    # Known values: Fisher 10/10 vs 5/10 (two-sided) = 0.0325; 3/3 vs 0/3 = 0.1.
    assert fisher_exact_p(10, 10, 5, 10) == pytest.approx(0.0325, abs=1e-4)
    assert two_proportion_test(3, 3, 0, 3) == (pytest.approx(0.1), "fisher_exact")
    p, method = two_proportion_test(950, 1000, 900, 1000)
    assert method == "z_test" and p < 1e-4  # z = 4.28
    assert two_proportion_test(500, 1000, 498, 1000)[0] > 0.9
    rng = random.Random(5)
    same = [rng.lognormvariate(1.0, 0.5) for _ in range(400)]
    slower = [rng.lognormvariate(1.7, 0.5) for _ in range(400)]
    slow_result = quantile_test(same[:200], slower, 50)
    same_result = quantile_test(same[:200], same[200:], 50)
    assert slow_result is not None and slow_result[0] < 1e-6
    assert same_result is not None and same_result[0] > 0.01
    assert quantile_test([], same, 95) is None


def test_burst_schedule_and_ids() -> None:
    t = Table({"peak": {"vendor": "bolt", "count": 5, "within_s": 2, "at": "weekday 20:00",
                        "budget": 1.0}}, file="c.toml", path="probes.bursts")  # fmt: skip
    (plan,) = parse_bursts(t, {"bolt"})
    saturday = at("2026-11-28T21:00")
    start = next_start(plan.at, saturday, started_ns=0, tz=SH)
    assert start == at("2026-11-30T20:00")  # the next weekday evening (Monday)
    assert next_start("+30s", saturday, started_ns=saturday, tz=SH) == saturday + 30 * NS
    pid = burst_probe_id("peak", start, 3)
    assert burst_of(pid) == f"peak-{start // NS}" and burst_of("0b1c-uuid") is None
    for bad, key in (({"vendor": "nope"}, "vendor"), ({"at": "25:00"}, "at")):
        raw = {"vendor": "bolt", "count": 5, "within_s": 2, "at": "20:00", "budget": 1.0} | bad
        with pytest.raises(ConfigError, match=rf"probes\.bursts\.x\.{key}"):
            parse_bursts(Table({"x": raw}, file="c.toml", path="probes.bursts"), {"bolt"})
