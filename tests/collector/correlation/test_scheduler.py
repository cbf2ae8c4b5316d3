"""Scheduler rules over a simulated clock: rates, caps, marketing hours, budget, jitter."""

from __future__ import annotations

import itertools
import random
import statistics
from collections import Counter
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from agent.common.units import NS
from collector.probes.scheduler import PlannedProbe, Scheduler, Target, VendorPlan

TZ = ZoneInfo("Asia/Shanghai")
TARGETS = [Target(f"86138000000{i:02d}", carrier="china_mobile") for i in range(4)]


def at_local(day: int, hour: int, minute: int = 0) -> int:
    return int(datetime(2026, 11, day, hour, minute, tzinfo=TZ).timestamp()) * NS


def run(s: Scheduler, start: int, seconds: float, step_s: float = 1.0) -> list[PlannedProbe]:
    out: list[PlannedProbe] = []
    now = start
    while now < start + int(seconds * NS):
        out.extend(s.due(now))
        now = max(now + int(step_s * NS), min(s.next_wakeup(), start + int(seconds * NS)))
    return out


def make(plans: list[VendorPlan], start: int, **kw: object) -> Scheduler:
    parts = {
        (p.name, prof): (3 if prof == "long_ucs2" else 1) for p in plans for prof in p.profiles
    }
    return Scheduler(plans, TARGETS, start_ns=start, rng=random.Random(7), parts_of=parts, **kw)  # type: ignore[arg-type]


def test_every_lane_sends_at_about_its_interval_with_jitter() -> None:
    plan = VendorPlan("v", ("notification",), interval_s=60, signature="S", rate_per_s=100)
    start = at_local(24, 10)
    sent = run(make([plan], start), start, 6 * 3600)
    per_lane = Counter(p.target.msisdn for p in sent)
    assert all(300 <= n <= 420 for n in per_lane.values()), per_lane  # ~360 each
    times = sorted(p.at_ns for p in sent if p.target.msisdn == TARGETS[0].msisdn)
    gaps = [(b - a) / NS for a, b in itertools.pairwise(times)]
    assert min(gaps) >= 12 - 1  # floor at 0.2 × mean (1 s step)
    assert statistics.pstdev(gaps) > 20  # not a fixed cadence


def test_vendor_rate_limit_is_never_exceeded() -> None:
    plan = VendorPlan(
        "v", ("notification", "link"), interval_s=1, signature="S", rate_per_s=2, burst=2
    )
    start = at_local(24, 10)
    sent = run(make([plan], start), start, 120, step_s=0.05)
    per_second = Counter((p.at_ns - start) // NS for p in sent)
    assert max(per_second.values()) <= 3  # burst 2 plus refill within the same second
    assert 200 <= len(sent) <= 245  # ~2/s over 120 s (+ burst)


def test_daily_cap_on_verification_codes_per_number() -> None:
    plan = VendorPlan(
        "v",
        ("verification_code",),
        interval_s=60,
        signature="S",
        rate_per_s=100,
        daily_cap_per_number=5,
    )
    start = at_local(24, 9)
    sent = run(make([plan], start), start, 10 * 3600, step_s=5)
    per_number = Counter(p.target.msisdn for p in sent)
    assert set(per_number.values()) == {5}
    # The next local day opens the cap again.
    more = run(make([plan], start), start, 26 * 3600, step_s=30)
    assert all(n == 10 for n in Counter(p.target.msisdn for p in more).values())


def test_marketing_only_inside_allowed_hours() -> None:
    plan = VendorPlan("v", ("marketing",), interval_s=600, signature="S", rate_per_s=100)
    start = at_local(24, 0)
    sent = run(make([plan], start), start, 48 * 3600, step_s=30)
    hours = {datetime.fromtimestamp(p.at_ns / NS, TZ).hour for p in sent}
    assert sent and hours <= set(range(8, 21))


@pytest.mark.parametrize("budget", [1.0, 2.5])
def test_budget_is_never_exceeded(budget: float) -> None:
    plan = VendorPlan(
        "v",
        ("long_ucs2", "notification"),
        interval_s=30,
        signature="S",
        rate_per_s=100,
        price_per_part=0.1,
    )
    start = at_local(24, 12)
    s = make([plan], start, daily_budget=budget)
    sent = run(s, start, 3600 * 5, step_s=2)
    spent = sum(p.cost for p in sent)
    assert spent <= budget + 1e-9
    assert spent >= budget - 0.3 - 1e-9  # it does spend what it may (a 3-part probe may not fit)
    assert s.spent(start) == pytest.approx(spent)


def test_unknown_profile_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="unknown profiles"):
        make([VendorPlan("v", ("nope",), 60, "S")], at_local(24, 1))


def test_targets_join_and_leave() -> None:
    plan = VendorPlan("v", ("notification",), interval_s=60, signature="S", rate_per_s=100)
    start = at_local(24, 10)
    s = make([plan], start)
    s.remove_target(TARGETS[0].msisdn)
    newcomer = Target("8613912345678", carrier="china_telecom")
    s.add_target(newcomer, start)
    sent = run(s, start, 1800)
    numbers = {p.target.msisdn for p in sent}
    assert TARGETS[0].msisdn not in numbers and newcomer.msisdn in numbers
    assert {t.msisdn for t in s.targets} == numbers
