"""stats.Ordered held as ascending runs (the month report's cells: each tally's values a
run, a coarser cell the runs of its finer ones): every order statistic, count and mean is
the plain sorted list's, bit for bit, and no run is merged, copied or lost."""

from __future__ import annotations

import math
import random
from array import array

from collector.stats import Ordered, percentile, quantile_ci, quantile_test


def _runs(rng: random.Random, runs: int, longest: int) -> list[list[float] | array[float]]:
    """Ascending runs: values at ns-like resolution, coarse ones that repeat within and
    across runs, a few shared constants, empty runs; lists and packed arrays."""
    shared = [rng.random() * 10 for _ in range(5)]
    out: list[list[float] | array[float]] = []
    for _ in range(runs):
        kind = rng.random()
        size = rng.randrange(0, longest)
        if kind < 0.2:
            vs = sorted(rng.choice(shared) for _ in range(size))
        elif kind < 0.5:
            vs = sorted(round(rng.random() * 10, 1) for _ in range(size))
        else:
            vs = sorted(2 + rng.random() * 6 for _ in range(size))
        out.append(array("d", vs) if rng.random() < 0.5 else vs)
    return out


def test_selection_across_runs_equals_the_sorted_list() -> None:
    """at(k) for every rank, at_most, len, the mean, the percentiles with their
    intervals and the quantile test over runs with repeats (within and across runs) equal
    the plain sorted list's; the runs stay as given (nothing merged or copied)."""
    rng = random.Random(7)
    for trial in range(12):
        runs = _runs(rng, *rng.choice([(3, 2500), (40, 300), (300, 40), (60, 800)]))
        listed = sorted(v for vs in runs for v in vs)
        assert len(listed) >= 2000, trial
        ordered = Ordered.of_runs((vs, [1] * len(vs)) for vs in runs)
        plain = Ordered.of(listed)
        assert len(ordered) == len(listed)
        for k in rng.sample(range(len(listed)), 60):  # each on a fresh multiset: selected
            assert Ordered.of_runs((vs, [1] * len(vs)) for vs in runs).at(k) == listed[k]
        assert [ordered.at(k) for k in range(len(listed))] == listed
        for q in (0, 1, 25, 50, 90, 95, 99, 99.9, 100):
            assert percentile(ordered, q) == percentile(plain, q)
        for q in (50, 90, 99):
            assert quantile_ci(ordered, q) == quantile_ci(plain, q)
        cuts = [*rng.sample(listed, 50), -1.0, 0.0, 5.5, 11.0]
        for cut in cuts:
            assert ordered.at_most(cut) == sum(1 for v in listed if v <= cut)
        assert ordered.exact_mean() == math.fsum(listed) / len(listed)
        other = listed[::3]
        assert quantile_test(ordered, other, 90) == quantile_test(plain, other, 90)
        kept = [vs for vs in runs if vs]
        assert len(ordered.runs) == len(kept) and all(
            a is b for a, b in zip(ordered.runs, kept, strict=True)
        )
        assert ordered == listed and ordered.expanded() == listed


def test_counted_runs_equal_their_values_listed() -> None:
    """Runs of (value, count) with repeats — a fixed uncertainty, coarse latencies — next
    to runs of values each once give the listed values' statistics."""
    rng = random.Random(8)
    for _ in range(6):
        chunks: list[tuple[list[float], list[int]]] = []
        for _ in range(rng.randrange(2, 30)):
            values = sorted({round(rng.random() * 4, rng.choice([1, 2, 9])) for _ in range(60)})
            counts = [rng.choice([1, 1, 2, 7]) for _ in values]
            chunks.append((values, counts if rng.random() < 0.6 else [1] * len(values)))
        chunks.append(([0.0035], [4000]))
        listed = sorted(
            v for vs, ks in chunks for v, k in zip(vs, ks, strict=True) for _ in range(k)
        )
        assert len(listed) >= 2000
        ordered = Ordered.of_runs(chunks)
        assert len(ordered) == len(listed)
        assert [ordered.at(k) for k in range(0, len(listed), 7)] == listed[::7]
        for cut in (0.0035, 0.5, 1.0, 3.99, 4.0):
            assert ordered.at_most(cut) == sum(1 for v in listed if v <= cut)
        assert ordered.exact_mean() == math.fsum(listed) / len(listed)
        for q in (50, 99):
            assert quantile_ci(ordered, q) == quantile_ci(listed, q)


def test_a_union_is_its_parts_runs_and_loses_none() -> None:
    """Ordered.union (a coarser cell from its finer cells) holds every run of every part,
    the same objects, and so the multiset of all their values: without any one of the
    runs its length, its values and its order statistics differ."""
    rng = random.Random(9)
    parts = [
        Ordered.of_runs((vs, [1] * len(vs)) for vs in _runs(rng, rng.randrange(1, 20), 300))
        for _ in range(8)
    ]
    whole = Ordered.union(parts)
    listed = sorted(v for part in parts for vs in part.runs for v in vs)
    assert [id(vs) for vs in whole.runs] == [id(vs) for part in parts for vs in part.runs]
    assert len(whole) == len(listed) and whole.expanded() == listed
    assert [whole.at(k) for k in range(0, len(listed), 5)] == listed[::5]
    # a union of parts' runs minus one is a different multiset: what the check above sees
    short = Ordered([vs for part in parts for vs in part.runs][1:])
    assert len(short) < len(listed) and short.expanded() != listed


def test_short_runs_and_raw_probes_merge_into_one() -> None:
    """A cell of one value per probe (raw rows, no rollups) is merged into one sorted run
    on its first order statistic: the same answers."""
    rng = random.Random(10)
    values = [rng.random() for _ in range(3000)]
    ordered = Ordered.of_runs(((v,), (1,)) for v in values)
    assert len(ordered.runs) == 3000
    assert percentile(ordered, 95) == percentile(values, 95)
    assert len(ordered.runs) == 1 and ordered == sorted(values)
