"""The statistics a report makes per cell, on cells of distinct sizes as a real month has
them, against their definitions in the same run.

    python bench/cell_stats.py [--cells 545] [--runs 3] [--seed 1]

`bench/year_ledger.py` gives every SIM the same probe rate, so a generated month's cells
share a few sizes and the cached computations answer almost every call; a real month's
cells (SIMs probed at different rates, vendors and carriers of different volumes) each
have their own. The cells here: sizes drawn log-uniform from 2,000 to 900,000 probes
(a SIM's month to a vendor's), arrival rates within 1.5 points of the 97 % threshold,
alpha 0.05. Each step is timed with every cache cleared (the lgamma tables included), the
product's path and the definition's alternating, `--runs` times:

- quantile_ranks: the order statistics bounding p50, p95 and p99 at 95 % confidence
  (`stats._quantile_ranks`); definition: the binomial cdf summed term by term from its
  first term that is not 0.0 (`stats._ranks_summed` over the whole span);
- decisions: for the cells the test leaves undecided, the arrivals to confirm the SLA and
  the losses to a breach (`stats.arrivals_to_confirm`, `stats.losses_to_breach`);
  definition: the same search comparing each exact tail (`one_sided_p_above`/`below`)
  with alpha;
- sla: every cell's verdict and p-value to 9 digits (`stats.sla_test`); definition: both
  exact tails (`one_sided_p_above`/`below`) compared with alpha and rounded.

`equal`: both paths gave the same answers. Prints one JSON line.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT)]

from collector import stats  # noqa: E402

THRESHOLD, ALPHA = 0.97, 0.05
QUANTILES = (50.0, 95.0, 99.0)


def cells(count: int, seed: int) -> list[tuple[int, int]]:
    """(arrived, judged) of `count` cells of distinct sizes (module doc)."""
    rng = random.Random(seed)
    out: dict[int, int] = {}
    while len(out) < count:
        n = int(math.exp(rng.uniform(math.log(2_000), math.log(900_000))))
        out[n] = min(n, int(n * (THRESHOLD + rng.uniform(-0.015, 0.015))))
    return [(a, n) for n, a in out.items()]


def clear() -> None:
    for cached in (stats._quantile_ranks, stats.one_sided_p_above, stats.one_sided_p_below,
                   stats.arrivals_to_confirm, stats.losses_to_breach):  # fmt: skip
        cached.cache_clear()
    stats._blocks.clear()


def definition_ranks(n: int, q: float, confidence: float) -> tuple[int, int] | None:
    p, tail = q / 100.0, (1 - confidence) / 2
    log_p, log_q = math.log(p), math.log1p(-p)
    k, terms = stats._span_terms(n, 0, n, log_p, log_q, upward=False)
    low, high, _ = stats._ranks_summed(n, k, terms, tail, log_p, log_q)
    if low is None or low < 1 or high is None or high > n:
        return None
    return low, high


def decision(arrived: int, judged: int) -> tuple[int | None, int | None]:
    return (stats.arrivals_to_confirm(arrived, judged, THRESHOLD, ALPHA),
            stats.losses_to_breach(arrived, judged, THRESHOLD, ALPHA))  # fmt: skip


def definition_decision(arrived: int, judged: int) -> tuple[int | None, int | None]:
    guess = stats._normal_guess(arrived - THRESHOLD * judged, 1 - THRESHOLD, THRESHOLD, ALPHA,
                                judged)  # fmt: skip
    confirm = stats._smallest(
        lambda k: stats.one_sided_p_above(arrived + k, judged + k, THRESHOLD) < ALPHA,
        10_000_000, guess,
    )  # fmt: skip
    guess = stats._normal_guess(THRESHOLD * judged - arrived, THRESHOLD, THRESHOLD, ALPHA, judged)
    breach = stats._smallest(
        lambda m: stats.one_sided_p_below(arrived, judged + m, THRESHOLD) < ALPHA, 10_000_000,
        guess,
    )  # fmt: skip
    return confirm, breach


def definition_sla(arrived: int, judged: int) -> tuple[str, float]:
    below = stats.one_sided_p_below(arrived, judged, THRESHOLD)
    above = stats.one_sided_p_above(arrived, judged, THRESHOLD)
    if below < ALPHA:
        return "breach", round(below, 9)
    if above < ALPHA:
        return "met", round(above, 9)
    return "undecided", round(min(below, above), 9)


def timed(step: Callable[[], Any]) -> tuple[Any, float]:
    clear()
    start = time.perf_counter()
    out = step()
    return out, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--cells", type=int, default=545, help="cells (default 545)")
    parser.add_argument("--runs", type=int, default=3, help="runs of each (default 3)")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    made = cells(args.cells, args.seed)
    clear()
    undecided = [
        (a, n) for a, n in made
        if stats.one_sided_p_above(a, n, THRESHOLD) >= ALPHA
        and stats.one_sided_p_below(a, n, THRESHOLD) >= ALPHA
    ]  # fmt: skip
    steps: dict[str, tuple[Callable[[], Any], Callable[[], Any]]] = {
        "quantile_ranks": (
            lambda: [stats._quantile_ranks(n, q, 0.95) for _, n in made for q in QUANTILES],
            lambda: [definition_ranks(n, q, 0.95) for _, n in made for q in QUANTILES],
        ),
        "decisions": (
            lambda: [decision(a, n) for a, n in undecided],
            lambda: [definition_decision(a, n) for a, n in undecided],
        ),
        "sla": (
            lambda: [stats.sla_test(a, n, THRESHOLD, ALPHA) for a, n in made],
            lambda: [definition_sla(a, n) for a, n in made],
        ),
    }
    out: dict[str, Any] = {"bench": "cell_stats", "cells": len(made), "undecided": len(undecided)}
    equal = True
    for _ in range(args.runs):
        for name, (ours, definition) in steps.items():
            got, ours_s = timed(ours)
            want, definition_s = timed(definition)
            equal = equal and got == want
            out.setdefault(f"{name}_s", []).append(round(ours_s, 3))
            out.setdefault(f"{name}_definition_s", []).append(round(definition_s, 3))
    out["equal"] = equal
    print(json.dumps(out))


if __name__ == "__main__":
    main()
