"""Routing advice: per carrier × profile, which vendor delivers best now, with what
confidence. Pure.

Over the window's judged probes, each vendor's on-time rate (delivered by the deadline /
delivered + late + lost) is ranked by its Wilson lower bound (collector/stats.py), so a
vendor with few probes does not win on luck; ties go to the lower median latency. The
confidence is the probability that the advised vendor's true on-time rate exceeds the
runner-up's (`stats.p_better`); with one candidate there is nothing to compare (None).

`AdviceWatch` turns advice into changes: the advice for a carrier × profile "changes" when
another vendor is advised with at least `min_confidence` than the one advised before; the
change is an alert condition (collector/alerts) until it has been taken as the new advice.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from collector.reports.figures import JudgedProbe
from collector.stats import p_better, percentile, wilson_interval


@dataclass(frozen=True, slots=True)
class Candidate:
    vendor: str
    judged: int
    on_time: int
    rate: float
    ci_low: float
    ci_high: float
    p50_latency_s: float | None

    def to_dict(self) -> dict[str, Any]:
        return {"vendor": self.vendor, "judged": self.judged, "on_time": self.on_time,
                "on_time_rate": round(self.rate, 4), "ci_low": round(self.ci_low, 4),
                "ci_high": round(self.ci_high, 4), "p50_latency_s": self.p50_latency_s}  # fmt: skip


@dataclass(frozen=True, slots=True)
class Advice:
    carrier: str
    profile: str
    vendor: str
    confidence: float | None  # P(advised beats the runner-up); None: the only candidate
    candidates: tuple[Candidate, ...]  # best first

    def to_dict(self) -> dict[str, Any]:
        return {"carrier": self.carrier, "profile": self.profile, "vendor": self.vendor,
                "confidence": None if self.confidence is None else round(self.confidence, 4),
                "candidates": [c.to_dict() for c in self.candidates]}  # fmt: skip


def advise(
    probes: Iterable[JudgedProbe], *, since_ns: int, until_ns: int, min_judged: int = 1
) -> list[Advice]:
    cells: dict[tuple[str, str, str], list[JudgedProbe]] = defaultdict(list)
    for p in probes:
        if since_ns <= p.submitted_at_ns < until_ns and p.outcome in ("delivered", "late", "lost"):
            cells[(p.carrier, p.profile, p.vendor)].append(p)
    routes: dict[tuple[str, str], list[Candidate]] = defaultdict(list)
    for (carrier, profile, vendor), items in cells.items():
        if len(items) < min_judged:
            continue
        on_time = sum(p.outcome == "delivered" for p in items)
        low, high = wilson_interval(on_time, len(items))
        latencies = [p.latency_s for p in items if p.latency_s is not None]
        routes[(carrier, profile)].append(
            Candidate(
                vendor,
                len(items),
                on_time,
                on_time / len(items),
                low,
                high,
                percentile(latencies, 50),
            )
        )
    out = []
    for (carrier, profile), found in sorted(routes.items()):
        ranked = sorted(
            found,
            key=lambda c: (-c.ci_low, c.p50_latency_s if c.p50_latency_s is not None else 1e9,
                           c.vendor),
        )  # fmt: skip
        best = ranked[0]
        confidence = None
        if len(ranked) > 1:
            second = ranked[1]
            confidence = p_better(best.on_time, best.judged, second.on_time, second.judged)
        out.append(Advice(carrier, profile, best.vendor, confidence, tuple(ranked)))
    return out


@dataclass(frozen=True, slots=True)
class AdviceChange:
    carrier: str
    profile: str
    from_vendor: str
    to_vendor: str
    confidence: float | None


@dataclass
class AdviceWatch:
    """The advice in force per carrier × profile; a confident different advice is a change
    until `settle` takes it (the alert engine's start). The first advice seen for a route
    is taken as in force."""

    min_confidence: float = 0.9
    held: dict[tuple[str, str], str] = field(default_factory=dict)

    def changes(self, advice: Iterable[Advice]) -> tuple[list[AdviceChange], set[tuple[str, str]]]:
        """Changes pending now, and the routes whose advice agrees with the one in force
        (evidence that a change has cleared)."""
        changes, agreeing = [], set()
        for a in advice:
            route = (a.carrier, a.profile)
            held = self.held.setdefault(route, a.vendor)
            if a.vendor == held:
                agreeing.add(route)
            elif a.confidence is not None and a.confidence >= self.min_confidence:
                changes.append(AdviceChange(a.carrier, a.profile, held, a.vendor, a.confidence))
        return changes, agreeing

    def settle(self, carrier: str, profile: str, vendor: str) -> None:
        self.held[(carrier, profile)] = vendor
