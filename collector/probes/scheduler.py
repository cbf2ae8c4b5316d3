"""Which probe to send next: vendor × target SIM × content profile, with the rules vendors enforce.

Pure planning over an injected clock and RNG (no I/O, no sleeping): `due(now)` hands out the
probes whose time has come, `next_wakeup(now)` says when to ask again. Rules:

- each lane (vendor, SIM, profile) sends on average every `interval_s`, scaled per hour band
  (peak, off-peak), with exponential jitter so sends look like traffic, not like probes;
- a token bucket per vendor (`rate_per_s`, `burst`) — never trip the vendor's throttling;
- verification codes: at most `daily_cap_per_number` per vendor and number per local day
  (carriers and vendors cap them; past the cap the vendor rejects and we would measure our
  own schedule instead of the route);
- marketing only inside the allowed local hours (default 8:00–21:00, configurable globally
  or per vendor, collector/probes/bands.py); each suppression is logged, counted and
  handed to the runner (`take_suppressions`) to be kept in the ledger for the report;
- a cost budget per local day (price per billed part) that is never exceeded: a probe whose
  parts would cross it is not sent;
- SIM rotation (`set_rotation`): a vendor suspected of whitelisting test numbers has each
  lane's send go to the next SIM of the lane's carrier in turn: the probed SIMs of that
  carrier and its configured reserve pool. Pool SIMs get no lanes of their own: vendors
  see them only while rotating, so they cannot have learnt them; caps and budget apply
  to the SIM actually used.
"""

from __future__ import annotations

import heapq
import math
import random
from collections import defaultdict
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import structlog

from agent.common.logs import mask_msisdn
from agent.common.numberplan import national
from agent.common.units import NS
from collector.ledger.periods import QuietSuppression
from collector.probes.bands import DEFAULT_BANDS, HourBand, Periods, hours_allow
from collector.probes.content import PROFILES, Category

__all__ = ["DEFAULT_BANDS", "HourBand", "PlannedProbe", "Scheduler", "Target", "VendorPlan"]

log = structlog.get_logger("smsprobe.probes")


@dataclass(frozen=True, slots=True)
class Target:
    msisdn: str
    carrier: str = ""
    region: str = ""
    agent_id: str = ""
    modem_imei: str = ""
    mvno: str = ""
    site: str = ""
    iccid: str = ""


@dataclass(frozen=True, slots=True)
class VendorPlan:
    name: str
    profiles: tuple[str, ...]
    interval_s: float  # mean time between probes of one lane
    signature: str
    rate_per_s: float = 5.0
    burst: int = 5
    price_per_part: float = 0.04
    daily_cap_per_number: int = 8  # verification codes per number per local day
    # (carrier, profile) -> money per part: the vendor's [billing] price table
    # (VendorTerms.price_of, set by BillingConfig.budget_plans); None: price_per_part
    part_price: Callable[[str, str], float] | None = None

    def price(self, carrier: str, profile: str) -> float:
        """What a part of a probe to `carrier` with `profile` costs, as billing prices it."""
        return self.price_per_part if self.part_price is None else self.part_price(carrier, profile)


@dataclass(frozen=True, slots=True)
class PlannedProbe:
    vendor: str
    target: Target
    profile: str
    at_ns: int
    band: str
    estimated_parts: int
    cost: float


@dataclass(order=True, slots=True)
class _Lane:
    next_at_ns: int
    key: tuple[str, str, str] = field(compare=False)  # vendor, msisdn, profile


@dataclass(slots=True)
class _Bucket:
    tokens: float
    updated_ns: int


class Scheduler:
    def __init__(
        self,
        vendors: list[VendorPlan],
        targets: list[Target],
        *,
        start_ns: int,
        rng: random.Random,
        parts_of: Mapping[tuple[str, str], int],
        daily_budget: float = math.inf,
        bands: tuple[HourBand, ...] = DEFAULT_BANDS,
        timezone: str = "Asia/Shanghai",
        periods: Periods | None = None,
        pools: Mapping[str, Sequence[str]] | None = None,
    ) -> None:
        for plan in vendors:
            unknown = [p for p in plan.profiles if p not in PROFILES]
            if unknown:
                raise ValueError(f"vendor {plan.name}: unknown profiles {unknown}")
        self._vendors = {v.name: v for v in vendors}
        self._rng = rng
        self._parts_of = parts_of  # (vendor, profile) -> billed parts, signature included
        self._budget = daily_budget
        self._periods = periods or Periods(timezone=timezone, bands=bands)
        self._tz = ZoneInfo(self._periods.timezone)
        # (vendor, profile, local day) -> probes held back by marketing quiet hours
        self.suppressed: dict[tuple[str, str, str], int] = defaultdict(int)
        self._held: list[QuietSuppression] = []  # not yet taken by the runner
        self._spent: dict[str, float] = defaultdict(float)  # local day -> money
        self._caps: dict[tuple[str, str, str], int] = defaultdict(int)  # vendor, msisdn, day
        self._buckets = {v.name: _Bucket(float(v.burst), start_ns) for v in vendors}
        self._lanes: list[_Lane] = []
        self._targets: dict[str, Target] = {}
        # national numbers ([probes.rotation] pools), compared with the targets' (+86...)
        self._pools = {c: tuple(national(m) for m in ms) for c, ms in (pools or {}).items()}
        self._rotating: frozenset[str] = frozenset()
        self._turn: dict[tuple[str, str], int] = defaultdict(int)  # (vendor, carrier) -> next
        for target in targets:
            self.add_target(target, start_ns)

    def add_target(self, target: Target, now_ns: int) -> None:
        """A SIM joined (or its details changed): give it lanes; first sends spread out."""
        known = target.msisdn in self._targets
        self._targets[target.msisdn] = target
        if known or self._reserved(target.msisdn):
            return
        for plan in self._vendors.values():
            for profile in plan.profiles:
                first = now_ns + self._gap_ns(plan, now_ns, first=True)
                heapq.heappush(self._lanes, _Lane(first, (plan.name, target.msisdn, profile)))

    def remove_target(self, msisdn: str) -> None:
        self._targets.pop(msisdn, None)
        self._lanes = [lane for lane in self._lanes if lane.key[1] != msisdn]
        heapq.heapify(self._lanes)

    @property
    def targets(self) -> list[Target]:
        return list(self._targets.values())

    def set_rotation(self, vendors: Collection[str]) -> None:
        """The vendors whose probes rotate over their carrier's pool from now on."""
        rotating = frozenset(v for v in vendors if v in self._vendors)
        if rotating != self._rotating:
            log.info("sim_rotation", vendors=sorted(rotating), was=sorted(self._rotating))
        self._rotating = rotating

    @property
    def rotating(self) -> frozenset[str]:
        return self._rotating

    def burst_targets(self, vendor: str) -> list[Target]:
        """The SIMs a burst through `vendor` goes to: the probed ones, and the reserve pool
        only while that vendor rotates (a reserve number stays unknown to vendors)."""
        rotating = vendor in self._rotating
        return sorted(
            (t for m, t in self._targets.items() if rotating or not self._reserved(m)),
            key=lambda t: t.msisdn,
        )

    def _reserved(self, msisdn: str) -> bool:
        return any(national(msisdn) in pool for pool in self._pools.values())

    def pool(self, carrier: str) -> list[str]:
        """The SIMs a rotating vendor's probes for `carrier` go to: every known SIM of that
        carrier, probed ones and the configured reserve alike."""
        reserve = self._pools.get(carrier, ())
        return sorted(
            m for m, t in self._targets.items() if t.carrier == carrier or national(m) in reserve
        )

    def _destination(self, vendor: str, msisdn: str) -> str:
        if vendor not in self._rotating:
            return msisdn
        carrier = self._targets[msisdn].carrier
        pool = self.pool(carrier)
        if not pool:
            return msisdn
        turn = self._turn[(vendor, carrier)]
        self._turn[(vendor, carrier)] = turn + 1
        return pool[turn % len(pool)]

    # -- restoring after a restart: what was already sent today counts against caps/budget
    def record_sent(self, vendor: str, msisdn: str, profile: str, at_ns: int, cost: float) -> None:
        day = self._day(at_ns)
        self._spent[day] += cost
        if PROFILES[profile].category is Category.OTP:
            self._caps[(vendor, msisdn, day)] += 1

    def spent(self, at_ns: int) -> float:
        return self._spent[self._day(at_ns)]

    def affordable(self, at_ns: int, cost: float) -> bool:
        """Whether `cost` more fits in the daily budget of `at_ns`'s local day."""
        return self._spent[self._day(at_ns)] + cost <= self._budget + 1e-9

    @property
    def tz(self) -> ZoneInfo:
        return self._tz

    def next_wakeup(self) -> int:
        return self._lanes[0].next_at_ns if self._lanes else 2**63 - 1

    def due(self, now_ns: int) -> list[PlannedProbe]:
        planned: list[PlannedProbe] = []
        while self._lanes and self._lanes[0].next_at_ns <= now_ns:
            lane = heapq.heappop(self._lanes)
            vendor, own, profile = lane.key
            msisdn = self._destination(vendor, own)
            plan = self._vendors[vendor]
            deferred_to = self._blocked_until(plan, msisdn, profile, lane.next_at_ns, now_ns)
            if deferred_to is not None:
                lane.next_at_ns = deferred_to
            else:
                parts = self._parts_of[(vendor, profile)]
                cost = parts * plan.price(self._targets[msisdn].carrier, profile)
                self.record_sent(vendor, msisdn, profile, now_ns, cost)
                self._buckets[vendor].tokens -= 1
                local = self._local(now_ns)
                planned.append(
                    PlannedProbe(
                        vendor,
                        self._targets[msisdn],
                        profile,
                        now_ns,
                        self.band(local.hour, vendor).name,
                        parts,
                        cost,
                    )
                )
                lane.next_at_ns = now_ns + self._gap_ns(plan, now_ns)
            heapq.heappush(self._lanes, lane)
        return planned

    def extra(self, vendor: str, target: Target, profile: str, now_ns: int) -> PlannedProbe | None:
        """One probe outside the lanes (a route group's failover send through `vendor`),
        under the same caps, budget and rate as the lanes; None when they forbid it now."""
        plan = self._vendors.get(vendor)
        if plan is None or profile not in plan.profiles:
            return None
        if self._blocked_until(plan, target.msisdn, profile, now_ns, now_ns) is not None:
            return None
        parts = self._parts_of[(vendor, profile)]
        cost = parts * plan.price(target.carrier, profile)
        self.record_sent(vendor, target.msisdn, profile, now_ns, cost)
        self._buckets[vendor].tokens -= 1
        band = self.band(self._local(now_ns).hour, vendor).name
        return PlannedProbe(vendor, target, profile, now_ns, band, parts, cost)

    def take_suppressions(self) -> list[QuietSuppression]:
        """The quiet-hour suppressions since the last call (the runner keeps them)."""
        held, self._held = self._held, []
        return held

    def band(self, hour: int, vendor: str = "") -> HourBand:
        return self._periods.band(vendor, hour)

    # ---------------------------------------------------------------- internals
    def _blocked_until(
        self, plan: VendorPlan, msisdn: str, profile: str, due_ns: int, now_ns: int
    ) -> int | None:
        """None when the lane may send now, else when to look at it again."""
        local = self._local(now_ns)
        category = PROFILES[profile].category
        hours = self._periods.marketing_for(plan.name)
        if category is Category.MARKETING and not hours_allow(hours, local.hour):
            resume = self._next_local_time(local, hours[0]) + self._jitter_ns(600)
            self.suppressed[(plan.name, profile, local.date().isoformat())] += 1
            self._held.append(QuietSuppression(plan.name, msisdn, profile, now_ns,
                                               local.date().isoformat(), resume))  # fmt: skip
            log.info("probe_suppressed_quiet_hours", vendor=plan.name, profile=profile,
                     msisdn=mask_msisdn(msisdn), local_time=local.isoformat(timespec="minutes"),
                     allowed=f"{hours[0]:02d}:00-{hours[1]:02d}:00 {self._periods.timezone}",
                     resume_at_ns=resume)  # fmt: skip
            return resume
        day = self._day(now_ns)
        if (
            category is Category.OTP
            and self._caps[(plan.name, msisdn, day)] >= plan.daily_cap_per_number
        ):
            return self._next_local_time(local, 0) + self._jitter_ns(3600)
        target = self._targets.get(msisdn)
        price = plan.price(target.carrier, profile) if target else plan.price_per_part
        cost = self._parts_of[(plan.name, profile)] * price
        if self._spent[day] + cost > self._budget + 1e-9:
            return self._next_local_time(local, 0) + self._jitter_ns(3600)
        bucket = self._buckets[plan.name]
        elapsed = (now_ns - bucket.updated_ns) / NS
        bucket.tokens = min(float(plan.burst), bucket.tokens + elapsed * plan.rate_per_s)
        bucket.updated_ns = now_ns
        if bucket.tokens < 1.0:
            wait_s = (1.0 - bucket.tokens) / plan.rate_per_s
            return now_ns + int(wait_s * NS) + self._jitter_ns(0.05)
        return None

    def _gap_ns(self, plan: VendorPlan, now_ns: int, *, first: bool = False) -> int:
        factor = self.band(self._local(now_ns).hour, plan.name).interval_factor
        mean = plan.interval_s * factor
        if first:  # spread the lanes' first sends over one interval
            return int(self._rng.uniform(0, mean) * NS)
        # Exponential gaps (a Poisson stream) with a floor, so no two sends of a lane cluster.
        return int(max(0.2 * mean, self._rng.expovariate(1.0 / mean)) * NS)

    def _jitter_ns(self, scale_s: float) -> int:
        return int(self._rng.uniform(0, scale_s) * NS)

    def _local(self, at_ns: int) -> datetime:
        return datetime.fromtimestamp(at_ns / NS, self._tz)

    def _day(self, at_ns: int) -> str:
        return self._local(at_ns).date().isoformat()

    def _next_local_time(self, local: datetime, hour: int) -> int:
        candidate = local.replace(hour=hour, minute=0, second=0, microsecond=0)
        if candidate <= local:
            candidate += timedelta(days=1)
        return int(candidate.timestamp()) * NS
