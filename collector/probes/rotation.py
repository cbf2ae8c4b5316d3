"""SIM rotation: spread a vendor's probes over more numbers when it may know the test ones.

[probes.rotation]
on_whitelisting = true             # rotate a vendor while whitelisting_suspected is open
vendors = ["cheap"]                # always rotate these
check_interval_s = 60              # how often the runner looks at the open alerts
[probes.rotation.pools]            # per carrier (the IMSI's); default: every known SIM
china_mobile = ["13800000001", "13800000002", "13900000003"]

The scheduler does the rotating (Scheduler.set_rotation); the runner asks `rotating()`
which vendors rotate now, from the config and the ledger's open alerts.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from agent.common.numberplan import national
from agent.common.tomlconfig import ConfigError, Table
from collector.ledger.probes import AlertRow

WHITELISTING_ALERT = "whitelisting_suspected"  # collector/alerts/engine.py AlertKind
CARRIERS = ("china_mobile", "china_unicom", "china_telecom", "china_broadnet", "other")


@dataclass(frozen=True, slots=True)
class RotationConfig:
    on_whitelisting: bool = True
    vendors: frozenset[str] = frozenset()
    check_interval_s: float = 60.0
    pools: Mapping[str, tuple[str, ...]] = field(
        default_factory=lambda: MappingProxyType({})
    )  # carrier -> national MSISDNs


def parse_rotation(t: Table | None, vendor_names: Iterable[str]) -> RotationConfig:
    if t is None:
        return RotationConfig()
    known = set(vendor_names)
    vendors = t.get_str_list("vendors", ())
    for i, name in enumerate(vendors):
        if name not in known:
            expected = f"one of the probed vendors ({', '.join(sorted(known))})"
            raise ConfigError(t.file, f"{t.key_path('vendors')}[{i}]", expected, name)
    pools: dict[str, tuple[str, ...]] = {}
    pt = t.get_table("pools")
    if pt is not None:
        for carrier in pt.key_names():
            if carrier not in CARRIERS:
                raise pt.error(carrier, f"a carrier: one of {', '.join(CARRIERS)}", carrier)
            numbers = pt.get_str_list(carrier)
            bad = [n for n in numbers if len(national(n)) != 11 or not national(n).isdigit()]
            if bad or not numbers:
                raise pt.error(carrier, "a non-empty list of 11-digit MSISDNs", numbers)
            pools[carrier] = tuple(national(n) for n in numbers)
        pt.finish()
    config = RotationConfig(
        on_whitelisting=t.get_bool("on_whitelisting", True),
        vendors=frozenset(vendors),
        check_interval_s=t.get_float("check_interval_s", 60.0, min_value=1.0),
        pools=MappingProxyType(pools),
    )
    t.finish()
    return config


def rotating(config: RotationConfig, open_alerts: Iterable[AlertRow]) -> frozenset[str]:
    """The vendors that rotate now: the configured ones, plus (with on_whitelisting) every
    vendor with an open whitelisting_suspected alert."""
    suspected = (
        {a.subject.get("vendor", "") for a in open_alerts if a.kind == WHITELISTING_ALERT}
        if config.on_whitelisting
        else set()
    )
    return frozenset(config.vendors | (suspected - {""}))
