"""The [probes] section: what to send through which vendor, and how to judge it.

[probes]
secret = "change-me"               # key of the token PRF (evidence can re-derive tokens)
timezone = "Asia/Shanghai"         # hour bands, caps and marketing hours are local
marketing_hours = [8, 21]          # bands and quiet hours: collector/probes/bands.py
daily_budget = 100.0               # money per local day, never exceeded
webhook_listen = "127.0.0.1:8480"  # DLR push server (/dlr/{vendor})
deadline_s = 60                    # arrival after this: late
give_up_s = 600                    # no arrival by then: lost (or inconclusive)
dlr_due_s = 600                    # a final DLR after this: late; none: missing
dlr_window_s = 259200              # DLRs still revise verdicts for 72 h
judge_interval_s = 5               # hot probes (recent or pending) are judged this often
judge_full_interval_s = 300        # every open probe (late SMS/DLR/health revise them)
poll_interval_s = 30               # DLR pull
health_max_silence_s = 180         # no health record for longer: not measured
seed = 0                           # 0: random send times; else reproducible

[probes.vendors.acme]              # the plan per vendor; the connection is [vendors.acme]
profiles = ["verification_code", "notification", "long_ucs2"]
interval_s = 900                   # mean time between probes of one SIM × profile
signature = "某某科技"
rate_per_s = 5
burst = 5
daily_cap_per_number = 8
# price_per_part = 0.04: older; prices live in [billing] (collector/billing/config.py),
# and the daily budget prices each probe by the vendor's [billing] table (bursts: its highest)
# bands = [...], marketing_hours = [9, 20]: this vendor's own (collector/probes/bands.py)

[probes.bursts.bolt_peak]          # a stress burst: collector/probes/bursts.py
vendor = "bolt"
count = 50
within_s = 60
at = "weekday 20:00"
budget = 2.0

[probes.templates.shop_otp]        # the buyer's own texts: collector/probes/content.py
category = "otp"                   # otp | notification | marketing
text = "{shop}：您的登录验证码{code}，10分钟内有效。详情 {link}"  # {code}/{order}: the token
vars = { shop = "某某商城" }
link_domain = "t.shop.cn"          # {link}: the buyer's own short-link domain
link_path = "a/b"
long = true                        # also "shop_otp_long", a multi-part variant

[probes.rotation]                  # SIM rotation: collector/probes/rotation.py
on_whitelisting = true

[[probes.routes]]                  # failover: collector/channels/routes.py
name = "otp"
profiles = ["verification_code"]
primary = "cheap"
backup = "acme"
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from agent.common.tomlconfig import ConfigError, Table
from collector.channels.routes import RouteGroup, parse_routes
from collector.correlation.model import Policy
from collector.health.supervise import Supervision, parse_supervision
from collector.probes.bands import Periods, parse_periods
from collector.probes.bursts import BurstPlan, parse_bursts
from collector.probes.content import (
    BUILTIN,
    PROFILES,
    Category,
    ProbeProfile,
    from_template,
    long_variant,
    register,
)
from collector.probes.rotation import RotationConfig, parse_rotation
from collector.probes.scheduler import VendorPlan


@dataclass(frozen=True, slots=True)
class ProbesConfig:
    secret: bytes
    timezone: str
    daily_budget: float
    webhook_host: str
    webhook_port: int
    policy: Policy
    judge_interval_s: float
    poll_interval_s: float
    health_max_silence_s: float
    seed: int
    plans: tuple[VendorPlan, ...]
    send_for_s: float | None = None  # stop planning new probes after this (demo, drills)
    judge_full_interval_s: float = 300.0
    supervision: Supervision = field(default_factory=Supervision)  # [probes.supervision]
    periods: Periods = field(default_factory=Periods)  # zone, hour bands, quiet hours
    bursts: tuple[BurstPlan, ...] = ()  # [probes.bursts.NAME]
    routes: tuple[RouteGroup, ...] = ()  # [[probes.routes]]: collector/channels/routes.py
    rotation: RotationConfig = field(default_factory=RotationConfig)  # [probes.rotation]


def _templates(t: Table | None) -> list[ProbeProfile]:
    """[probes.templates.NAME]: the buyer's own texts as probe profiles."""
    if t is None:
        return []
    out = []
    for name in t.key_names():
        x = t.get_table(name, required=True)
        assert x is not None
        if name in BUILTIN:
            raise ConfigError(t.file, t.key_path(name), "", problem="a built-in profile's name")
        category = x.get_enum("category", Category)
        text = x.get_str("text", non_empty=True, expected="the template text")
        try:
            profile = from_template(
                name, category, text, variables=x.get_str_map("vars"),
                link_domain=x.get_str("link_domain", ""), link_path=x.get_str("link_path", ""),
            )  # fmt: skip
            out.append(profile)
            if x.get_bool("long", False):
                out.append(long_variant(profile))
        except ValueError as exc:
            raise ConfigError(t.file, x.key_path("text"), "", problem=str(exc)) from None
        x.finish()
    t.finish()
    return out


def parse_probes(
    raw: Mapping[str, Any], *, file: str, vendor_names: set[str]
) -> ProbesConfig | None:
    """None when the section is absent (the collector only ingests)."""
    if not raw:
        return None
    t = Table(raw, file=file, path="probes")
    secret = t.get_str("secret", non_empty=True, expected="a non-empty secret string")
    listen = t.get_host_port("webhook_listen", "127.0.0.1:0")
    host, _, port = listen.rpartition(":")
    policy = Policy(
        deadline_s=t.get_float("deadline_s", 60.0, min_value=0.1),
        give_up_s=t.get_float("give_up_s", 600.0, min_value=0.1),
        dlr_due_s=t.get_float("dlr_due_s", 600.0, min_value=0.1),
        dlr_window_s=t.get_float("dlr_window_s", 72 * 3600.0, min_value=0.1),
        read_resolution_s=t.get_float("read_resolution_s", 1.0, min_value=0.0),
    )
    if policy.give_up_s < policy.deadline_s:
        raise t.error("give_up_s", f"at least deadline_s ({policy.deadline_s})", policy.give_up_s)
    register(_templates(t.get_table("templates")))  # before the vendors name them
    plans = []
    vendors = t.get_table("vendors", required=True)
    assert vendors is not None
    vendor_tables = {}
    for name in vendors.key_names():
        v = vendors.get_table(name, required=True)
        assert v is not None
        vendor_tables[name] = v
        if name not in vendor_names:
            defined = ", ".join(sorted(vendor_names)) or "none"
            raise ConfigError(
                t.file,
                vendors.key_path(name),
                "",
                problem=f"no [vendors.{name}] table to send through (defined: {defined})",
            )
        profiles = tuple(v.get_str_list("profiles"))
        unknown = [p for p in profiles if p not in PROFILES]
        if unknown or not profiles:
            raise v.error("profiles", f"a non-empty list of {', '.join(PROFILES)}", list(profiles))
        plans.append(
            VendorPlan(
                name=name,
                profiles=profiles,
                interval_s=v.get_float("interval_s", min_value=0.05),
                signature=v.get_str("signature", ""),
                rate_per_s=v.get_float("rate_per_s", 5.0, min_value=0.001),
                burst=v.get_int("burst", 5, min_value=1),
                price_per_part=v.get_float("price_per_part", 0.0, min_value=0.0),
                daily_cap_per_number=v.get_int("daily_cap_per_number", 8, min_value=1),
            )
        )
    periods = parse_periods(t, vendor_tables)
    for v in vendor_tables.values():
        v.finish()
    vendors.finish()
    # No budget key: no budget (an infinite default would fail the finite-number check).
    budget = t.get_float("daily_budget", min_value=0.0) if t.has("daily_budget") else math.inf
    config = ProbesConfig(
        secret=secret.encode(),
        timezone=periods.timezone,
        daily_budget=budget,
        webhook_host=host.strip("[]"),
        webhook_port=int(port),
        policy=policy,
        judge_interval_s=t.get_float("judge_interval_s", 5.0, min_value=0.05),
        judge_full_interval_s=t.get_float("judge_full_interval_s", 300.0, min_value=0.0),
        poll_interval_s=t.get_float("poll_interval_s", 30.0, min_value=0.1),
        health_max_silence_s=t.get_float("health_max_silence_s", 180.0, min_value=1.0),
        seed=t.get_int("seed", 0, min_value=0),
        send_for_s=t.get_optional_float("send_for_s", min_value=0.0),
        plans=tuple(plans),
        supervision=parse_supervision(t.get_table("supervision")),
        periods=periods,
        bursts=parse_bursts(t.get_table("bursts"), set(vendor_tables)),
        routes=parse_routes(t.get_tables("routes"), {p.name: p.profiles for p in plans}),
        rotation=parse_rotation(t.get_table("rotation"), (p.name for p in plans)),
    )
    t.finish()
    return config
