"""Per-SIM outlier test: does a vendor treat some test numbers better than its others?

Vendors that learn a buyer's test numbers can whitelist them (route them on a premium
channel, never drop them) while everyday traffic does worse. For each vendor and each of
its SIMs, the SIM's arrivals are compared with those of the vendor's other SIMs by a
one-sided Fisher exact test (H1: this SIM's arrival rate is higher), and the p-values of
one vendor's SIMs are Holm-adjusted (several SIMs are tested at once, each would be an
alarm). A SIM is flagged when its adjusted p is below alpha.

Small samples decide nothing: one SIM at 16/16 against 57/72 on three others gives
p = 0.036, 0.146 after adjustment for four SIMs; the test says so instead of guessing.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Any

from collector.reports.figures import JudgedProbe, Tally, tallies_of
from collector.stats import fisher_greater_p, holm_adjust

ARRIVED = ("delivered", "late")
JUDGED = (*ARRIVED, "lost")


@dataclass(frozen=True, slots=True)
class SimOutlier:
    vendor: str
    sim: str
    line: str
    arrived: int
    judged: int
    rest_arrived: int  # the vendor's other SIMs together
    rest_judged: int
    p_value: float  # one-sided Fisher exact, this SIM better than the rest
    p_adjusted: float  # Holm over the vendor's SIMs
    flagged: bool

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def sim_outliers(probes: Iterable[JudgedProbe | Tally], *, alpha: float = 0.05) -> list[SimOutlier]:
    """One row per vendor and SIM with judged probes (one by one or counted), sorted by
    vendor then SIM; vendors with a single SIM have nothing to compare with: no rows."""
    counts: dict[str, dict[str, list[int]]] = defaultdict(lambda: defaultdict(lambda: [0, 0]))
    lines: dict[tuple[str, str], str] = {}
    for t in tallies_of(probes):
        p = t.probe
        if p.outcome in JUDGED and p.sim:
            slot = counts[p.vendor][p.sim]
            slot[0] += t.n * (p.outcome in ARRIVED)
            slot[1] += t.n
            lines[(p.vendor, p.sim)] = p.line
    rows: list[SimOutlier] = []
    for vendor in sorted(counts):
        sims = counts[vendor]
        if len(sims) < 2:
            continue
        total_a = sum(a for a, _ in sims.values())
        total_n = sum(n for _, n in sims.values())
        names = sorted(sims)
        raw = [
            fisher_greater_p(sims[s][0], sims[s][1], total_a - sims[s][0], total_n - sims[s][1])
            for s in names
        ]
        for sim, p_raw, adj in zip(names, raw, holm_adjust(raw), strict=True):
            a, n = sims[sim]
            rows.append(
                SimOutlier(
                    vendor=vendor,
                    sim=sim,
                    line=lines[(vendor, sim)],
                    arrived=a,
                    judged=n,
                    rest_arrived=total_a - a,
                    rest_judged=total_n - n,
                    p_value=round(p_raw, 9),
                    p_adjusted=round(adj, 9),
                    flagged=adj < alpha,
                )
            )
    return rows


def whitelisting_suspects(rows: Iterable[SimOutlier]) -> dict[str, list[SimOutlier]]:
    """Vendor -> its flagged SIMs (only vendors with at least one)."""
    out: dict[str, list[SimOutlier]] = defaultdict(list)
    for row in rows:
        if row.flagged:
            out[row.vendor].append(row)
    return dict(out)
