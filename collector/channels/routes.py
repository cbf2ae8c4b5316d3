"""Route groups: a primary and a backup vendor per carrier and profile, and the buyer's
failover between them.

    [[probes.routes]]
    name = "otp"
    carriers = ["china_mobile", "china_unicom"]   # empty or absent: every carrier
    profiles = ["verification_code", "notification"]
    primary = "cheap"
    backup = "acme"
    degraded_after = 2        # consecutive failed probes of the primary (per carrier)

While the primary is judged degraded for a carrier — its last `degraded_after` probes of the
group's profiles to that carrier failed: lost, late, refused other than for content, or
still not arrived past the deadline — every probe the scheduler plans for the primary in
that group is also sent through the backup (a failover send, kept in the ledger), as a
sending platform's failover would route its traffic. The primary keeps being probed, so its
recovery is seen; the first on-time arrival through the primary ends the failover.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from agent.common.tomlconfig import Table
from agent.common.units import NS
from collector.reports.figures import JudgedProbe

_CONTENT = ("rejected:template", "rejected:signature", "rejected:content")


@dataclass(frozen=True, slots=True)
class RouteGroup:
    name: str
    profiles: tuple[str, ...]
    primary: str
    backup: str
    carriers: tuple[str, ...] = ()  # empty: every carrier
    degraded_after: int = 2

    def covers(self, vendor: str, carrier: str, profile: str) -> bool:
        return (
            vendor == self.primary
            and profile in self.profiles
            and (not self.carriers or carrier in self.carriers)
        )


def parse_routes(
    tables: Sequence[Table], profiles_of: Mapping[str, Sequence[str]]
) -> tuple[RouteGroup, ...]:
    """`[[probes.routes]]`; `profiles_of`: the profiles each vendor is probed with."""
    out: list[RouteGroup] = []
    for t in tables:
        group = RouteGroup(
            name=t.get_str("name", non_empty=True, expected="a route group name"),
            profiles=tuple(t.get_str_list("profiles")),
            primary=t.get_str("primary"),
            backup=t.get_str("backup"),
            carriers=tuple(t.get_str_list("carriers", [])),
            degraded_after=t.get_int("degraded_after", 2, min_value=1),
        )
        for key in ("primary", "backup"):
            vendor = getattr(group, key)
            if vendor not in profiles_of:
                known = ", ".join(sorted(profiles_of)) or "none"
                raise t.error(key, f"a vendor of [probes.vendors] ({known})", vendor)
        if group.backup == group.primary:
            raise t.error("backup", "a vendor other than the primary", group.backup)
        for key in ("primary", "backup"):
            missing = [p for p in group.profiles if p not in profiles_of[getattr(group, key)]]
            if missing or not group.profiles:
                raise t.error("profiles", f"profiles the {key} is probed with "
                              f"({', '.join(profiles_of[getattr(group, key)])})",
                              list(group.profiles))  # fmt: skip
        if any(g.name == group.name for g in out):
            raise t.error("name", "a name not used by another route group", group.name)
        t.finish()
        out.append(group)
    return tuple(out)


def failed(p: JudgedProbe, now_ns: int, deadline_s: float, error_kind: str = "") -> bool | None:
    """True: a failure of the route; False: an on-time arrival; None: says nothing yet."""
    if p.outcome in ("delivered", "partial"):
        return False
    if p.outcome in ("lost", "late"):
        return True
    if p.outcome == "pending":
        return True if now_ns - p.submitted_at_ns > deadline_s * NS else None
    if p.outcome == "rejected" and error_kind not in _CONTENT:
        return True
    return None


class RouteBook:
    """Which (group, carrier) routes are failed over now, from the primaries' latest probes."""

    def __init__(self, groups: Iterable[RouteGroup], *, deadline_s: float) -> None:
        self.groups = tuple(groups)
        self._deadline_s = deadline_s
        self.degraded: set[tuple[str, str]] = set()  # (group, carrier)

    def refresh(
        self,
        probes: Iterable[JudgedProbe],
        now_ns: int,
        error_kinds: Mapping[str, str] | None = None,
        exclude: Iterable[str] = (),
    ) -> tuple[set[tuple[str, str]], set[tuple[str, str]]]:
        """Recompute from judged probes (failover sends in `exclude` are not the primary's
        own); returns (routes that failed over, routes that came back)."""
        kinds = error_kinds or {}
        skip = set(exclude)
        lanes: dict[tuple[str, str], list[tuple[int, bool]]] = defaultdict(list)
        for p in probes:
            if p.probe_id in skip:
                continue
            for g in self.groups:
                if g.covers(p.vendor, p.carrier, p.profile):
                    verdict = failed(p, now_ns, self._deadline_s, kinds.get(p.probe_id, ""))
                    if verdict is not None:
                        lanes[(g.name, p.carrier)].append((p.submitted_at_ns, verdict))
        now_degraded = set()
        for g in self.groups:
            for (name, carrier), items in lanes.items():
                if name != g.name:
                    continue
                latest = [bad for _, bad in sorted(items)[-g.degraded_after :]]
                if len(latest) >= g.degraded_after and all(latest):
                    now_degraded.add((name, carrier))
                elif (name, carrier) in self.degraded and latest and latest[-1]:
                    now_degraded.add((name, carrier))  # still failing: stay failed over
        started, ended = now_degraded - self.degraded, self.degraded - now_degraded
        self.degraded = now_degraded
        return started, ended

    def backup_for(self, vendor: str, carrier: str, profile: str) -> RouteGroup | None:
        return next(
            (
                g
                for g in self.groups
                if g.covers(vendor, carrier, profile) and (g.name, carrier) in self.degraded
            ),
            None,
        )
