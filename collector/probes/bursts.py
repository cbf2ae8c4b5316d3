"""Stress bursts: N probes through one vendor within T seconds, at a chosen time, capped by a
budget — what a vendor does under load (accepted rate, throttling, arrival, latency) against
its own baseline in the same period (collector/reports/bursts.py measures it).

[probes.bursts.bolt_peak]
vendor = "bolt"
count = 50                  # probes in the burst (fewer when the budget caps it)
within_s = 60               # spread evenly over this many seconds
at = "weekday 20:00"        # "HH:MM" (next), "weekday HH:MM" (next Monday–Friday),
                            # an ISO time, or "+30s"/"+5m" after the collector starts
budget = 2.0                # money for the whole burst; never exceeded
profile = "verification_code"
max_attempts = 1            # 1: a throttled submit is measured as refused, not retried

Burst probes are ordinary probes (planned in the ledger first, judged the same way) whose
probe id says which burst they belong to: `burst-<name>-<start second>-<index>`. The
daily budget of [probes] still applies: a burst never spends past it.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import structlog

from agent.common.tomlconfig import Table
from agent.common.units import NS
from collector.probes.content import PROFILES
from collector.probes.scheduler import PlannedProbe, Scheduler

log = structlog.get_logger("smsprobe.probes")

BURST_PREFIX = "burst-"
_ID = re.compile(r"^burst-(?P<name>[A-Za-z0-9_]+)-(?P<start>\d+)-(?P<index>\d+)$")
_AT = re.compile(r"^(?:(?P<weekday>weekday)\s+)?(?P<h>\d{1,2}):(?P<m>\d{2})$")
_AFTER = re.compile(r"^\+(?P<n>\d+(?:\.\d+)?)(?P<unit>[smh])$")
_NAME = re.compile(r"[A-Za-z0-9_]+")
_UNIT_S = {"s": 1.0, "m": 60.0, "h": 3600.0}


@dataclass(frozen=True, slots=True)
class BurstPlan:
    name: str
    vendor: str
    count: int
    within_s: float
    at: str
    budget: float
    profile: str = "verification_code"
    max_attempts: int = 1


def burst_probe_id(name: str, start_ns: int, index: int) -> str:
    return f"{BURST_PREFIX}{name}-{start_ns // NS}-{index:05d}"


def burst_of(probe_id: str) -> str | None:
    """`name-start` of the burst a probe belongs to; None for a scheduled probe."""
    m = _ID.match(probe_id)
    return f"{m['name']}-{m['start']}" if m else None


def check_at(text: str) -> str | None:
    """None when `at` is a form next_start understands, else what is expected."""
    value = text.strip()
    m = _AT.match(value)
    if m:
        return None if int(m["h"]) < 24 and int(m["m"]) < 60 else "hours 0–23, minutes 0–59"
    if _AFTER.match(value):
        return None
    try:
        datetime.fromisoformat(value)
    except ValueError:
        return '"HH:MM", "weekday HH:MM", an ISO-8601 time or "+30s"/"+5m"/"+1h"'
    return None


def next_start(at: str, now_ns: int, *, started_ns: int, tz: ZoneInfo) -> int:
    """When a burst with this `at` starts, seen at `now_ns` (local times in `tz`)."""
    value = at.strip()
    after = _AFTER.match(value)
    if after:
        return started_ns + int(float(after["n"]) * _UNIT_S[after["unit"]] * NS)
    m = _AT.match(value)
    if m is None:
        when = datetime.fromisoformat(value)
        when = when if when.tzinfo else when.replace(tzinfo=tz)
        return int(when.timestamp() * NS)
    local = datetime.fromtimestamp(now_ns / NS, tz)
    candidate = local.replace(hour=int(m["h"]), minute=int(m["m"]), second=0, microsecond=0)
    while candidate < local or (m["weekday"] and candidate.weekday() >= 5):
        candidate += timedelta(days=1)
    return int(candidate.timestamp() * NS)


def parse_bursts(t: Table | None, vendors: set[str]) -> tuple[BurstPlan, ...]:
    if t is None:
        return ()
    out = []
    for name in t.key_names():
        b = t.section(name)
        if not _NAME.fullmatch(name):
            raise b.error("", "a burst name of letters, digits and _", name)
        vendor = b.get_str("vendor", non_empty=True, expected="a vendor of [probes.vendors]")
        if vendor not in vendors:
            raise b.error("vendor", f"one of {', '.join(sorted(vendors))}", vendor)
        at = b.get_str("at", non_empty=True, expected="a start time")
        problem = check_at(at)
        if problem:
            raise b.error("at", problem, at)
        profile = b.get_str("profile", "verification_code")
        if profile not in PROFILES:
            raise b.error("profile", f"one of {', '.join(PROFILES)}", profile)
        out.append(
            BurstPlan(
                name=name,
                vendor=vendor,
                count=b.get_int("count", min_value=1, max_value=100_000),
                within_s=b.get_float("within_s", min_value=0.0),
                at=at,
                budget=b.get_float("budget", min_value=0.0),
                profile=profile,
                max_attempts=b.get_int("max_attempts", 1, min_value=1, max_value=10),
            )
        )
        b.finish()
    t.finish()
    return tuple(out)


Send = Callable[[PlannedProbe, str, int], Awaitable[object]]


async def run_burst(
    plan: BurstPlan,
    scheduler: Scheduler,
    send: Send,
    *,
    price_per_part: float,
    parts: int,
    clock: Callable[[], int],
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> int:
    """Fire one burst now: `count` probes round-robin over the probed SIMs, evenly within
    `within_s`, each sent by `send(planned, probe_id, max_attempts)` without waiting for the
    previous answer (that is the load). Stops where the next probe would cross the burst's
    budget or the daily budget. Returns the number of probes sent."""
    targets = scheduler.burst_targets(plan.vendor)  # reserve SIMs only when rotating
    if not targets:
        log.warning("burst_skipped_no_sims", burst=plan.name, vendor=plan.vendor)
        return 0
    cost = parts * price_per_part
    start = clock()
    gap_s = plan.within_s / plan.count
    tasks: list[asyncio.Task[object]] = []
    spent = 0.0
    sent = 0
    for i in range(plan.count):
        if spent + cost > plan.budget + 1e-9 or not scheduler.affordable(clock(), cost):
            log.warning("burst_capped_by_budget", burst=plan.name, vendor=plan.vendor,
                        sent=sent, wanted=plan.count, spent=round(spent, 4),
                        budget=plan.budget)  # fmt: skip
            break
        due = start + int(i * gap_s * NS)
        wait = (due - clock()) / NS
        if wait > 0:
            await sleep(wait)
        now = clock()
        target = targets[i % len(targets)]
        local = datetime.fromtimestamp(now / NS, scheduler.tz)
        planned = PlannedProbe(
            vendor=plan.vendor,
            target=target,
            profile=plan.profile,
            at_ns=now,
            band=scheduler.band(local.hour, plan.vendor).name,
            estimated_parts=parts,
            cost=cost,
        )
        scheduler.record_sent(plan.vendor, target.msisdn, plan.profile, now, cost)
        spent += cost
        sent += 1
        probe_id = burst_probe_id(plan.name, start, i)
        tasks.append(asyncio.ensure_future(send(planned, probe_id, plan.max_attempts)))
    if tasks:
        await asyncio.gather(*tasks, return_exceptions=True)
    log.info("burst_done", burst=plan.name, vendor=plan.vendor, sent=sent,
             seconds=round((clock() - start) / NS, 3), spent=round(spent, 4))  # fmt: skip
    return sent
