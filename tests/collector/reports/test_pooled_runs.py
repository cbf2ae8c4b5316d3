"""The month report's cells hold their tallies' value runs (figures.pool, Pools: a coarser
cell the union of its finer cells' runs): each cell of each breakdown holds exactly the
values of the tallies in it — a run dropped, doubled or copied while pooling fails here."""

from __future__ import annotations

import random
from collections import defaultdict

from collector.reports.build import _FINER_FIRST, BREAKDOWNS, build_report
from collector.reports.figures import (
    VALUE_KINDS,
    JudgedProbe,
    Pools,
    Tally,
    aggregate,
    merge_times,
)


def _tallies(rng: random.Random) -> list[Tally]:
    """Counted tallies as the rollups give them: many keys per vendor (SIMs, bands,
    calendar days), each hour's values a run, latencies at ns resolution with a few coarse
    ones repeating across keys, a fixed uncertainty counted."""
    out = []
    for i in range(900):
        vendor = rng.choice("abcd")
        arrived = rng.random() < 0.9
        p = JudgedProbe(
            probe_id="", vendor=vendor, carrier=rng.choice("xy"), region=rng.choice("ns"),
            profile=rng.choice(["otp", "ad"]), band=rng.choice(["peak", "night"]),
            submitted_at_ns=rng.randrange(0, 96) * 3600, accepted=True,
            outcome="delivered" if arrived else "lost", dlr="consistent",
            dlr_claim="success", content="intact", sim=rng.choice("12345678"),
            line=rng.choice(["home", "mvno"]), calendar=rng.choice(["workday", "weekend"]),
        )  # fmt: skip
        k = rng.randrange(1, 12)
        values: list[tuple[str, tuple[float, ...], tuple[int, ...]]] = []
        if arrived:
            coarse = i % 7 == 0
            lat = sorted(round(rng.uniform(2, 8), 1 if coarse else 9) for _ in range(k))
            values.append(("latency", tuple(lat), (1,) * k))
            values.append(("vendor_delay", tuple(sorted(rng.random() for _ in range(k))), (1,) * k))
        values.append(("uncertainty", (0.0035,), (k,)))
        out.append(Tally(p, k, tuple(values)))
    return out


def test_every_cell_holds_exactly_its_tallies_runs() -> None:
    rng = random.Random(21)
    tallies = _tallies(rng)
    merged = merge_times(tallies)
    pools = Pools()
    for name in _FINER_FIRST:
        dims = BREAKDOWNS[name]
        aggregate(merged, group_by=dims, pools=pools)
        listed: dict[tuple[str, ...], dict[str, list[float]]] = defaultdict(
            lambda: defaultdict(list)
        )
        for t in tallies:
            for kind, vs, ks in t.values:
                key = tuple(getattr(t.probe, d) for d in dims)
                listed[key][kind] += [v for v, n in zip(vs, ks, strict=True) for _ in range(n)]
        cells = pools.cells[tuple(dims)]
        assert set(cells) == set(listed), name
        for key, kinds in cells.items():
            for kind in VALUE_KINDS:
                values = sorted(listed[key].get(kind, []))
                ordered = kinds[kind]
                assert len(ordered) == len(values), (name, key, kind)
                assert ordered.expanded() == values, (name, key, kind)
    report = build_report(tallies, since="s", until="u", generated_at="g", software_version="t")
    for vendor, latencies in report.latencies.items():
        want = sorted(v for t in tallies if t.probe.vendor == vendor
                      for kind, vs, ks in t.values if kind == "latency"
                      for v, n in zip(vs, ks, strict=True) for _ in range(n))  # fmt: skip
        assert len(latencies) == len(want) and list(latencies) == want
        assert latencies[-1] == want[-1] and latencies[len(want) // 2] == want[len(want) // 2]
