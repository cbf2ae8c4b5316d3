"""[coordination]: how long a lease lasts and how often its holder renews it.

    [coordination]
    lease_ttl_s = 10        # a holder not heard from this long is replaced
    renew_interval_s = 2    # renewal period; must leave several tries within the TTL

A kill -9 of a lease holder is taken over within lease_ttl_s + renew_interval_s (the lease
runs out, then a standby's next attempt takes it); a clean stop releases its leases at
once (docs/scale-out.md).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from agent.common.tomlconfig import ConfigError, Table


@dataclass(frozen=True, slots=True)
class CoordinationConfig:
    lease_ttl_s: float = 10.0
    renew_interval_s: float = 2.0

    @property
    def takeover_bound_s(self) -> float:
        """Longest a dead holder's work waits for a successor."""
        return self.lease_ttl_s + self.renew_interval_s


def parse_coordination(raw: Mapping[str, Any], *, file: str) -> CoordinationConfig:
    d = CoordinationConfig()
    if not raw:
        return d
    t = Table(raw, file=file, path="coordination")
    ttl = t.get_float("lease_ttl_s", d.lease_ttl_s, min_value=0.5)
    renew = t.get_float("renew_interval_s", min(d.renew_interval_s, ttl / 3), min_value=0.05)
    t.finish()
    if renew * 2 > ttl:
        raise ConfigError(
            file,
            "coordination.renew_interval_s",
            f"at most half of lease_ttl_s = {ttl:g} (two tries to renew before it expires)",
            renew,
        )
    return CoordinationConfig(lease_ttl_s=ttl, renew_interval_s=renew)
