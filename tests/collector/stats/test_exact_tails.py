"""The exact binomial tails, the counts to a decision and the quantile ranks, computed from
tables of lgamma values in batches, against the plain definition written out here: every
term by one lgamma expression, one term at a time, summed from the largest term. Equal
with ==, bit for bit: reports, exported evidence and the offline verifier depend on it."""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from fractions import Fraction

import pytest

from collector import stats
from collector.stats import (
    arrivals_to_confirm,
    losses_to_breach,
    one_sided_p_above,
    one_sided_p_below,
)


def _log_pmf(n: int, k: int, log_p: float, log_q: float) -> float:
    return (
        math.lgamma(n + 1) - math.lgamma(k + 1) - math.lgamma(n - k + 1) + k * log_p
        + (n - k) * log_q
    )  # fmt: skip


def _span(n: int, lo: int, hi: int, log_p: float, log_q: float) -> tuple[int, int]:
    """Out from the (clamped) mode one term at a time, to the first term 800 below it."""
    m = min(max(int((n + 1) * math.exp(log_p)), lo), hi)
    floor = _log_pmf(n, m, log_p, log_q) - 800.0
    low = m
    while low > lo and _log_pmf(n, low - 1, log_p, log_q) >= floor:
        low -= 1
    high = m
    while high < hi and _log_pmf(n, high + 1, log_p, log_q) >= floor:
        high += 1
    return low, high


def _tail(n: int, threshold: float, lo: int, hi: int, every: bool = False) -> float:
    """P(lo <= X <= hi): the span's terms (or, `every`, all of [lo, hi]) summed in order."""
    log_p, log_q = math.log(threshold), math.log1p(-threshold)
    low, high = (lo, hi) if every else _span(n, lo, hi, log_p, log_q)
    terms = [_log_pmf(n, k, log_p, log_q) for k in range(low, high + 1)]
    top = max(terms)
    return min(1.0, math.exp(top) * sum(math.exp(t - top) for t in terms))


def _below(successes: int, n: int, threshold: float) -> float:
    if n == 0:
        return 1.0
    if threshold >= 1.0:
        return 0.0 if successes < n else 1.0
    return _tail(n, threshold, 0, successes)


def _above(successes: int, n: int, threshold: float) -> float:
    if n == 0 or successes <= 0 or threshold >= 1.0:
        return 1.0
    if threshold <= 0.0:
        return 0.0
    return _tail(n, threshold, successes, n)


def _smallest(passes: Callable[[int], bool], limit: int = 10_000_000) -> int | None:
    """Doubling from 1, then bisection: the very k the product probes."""
    high = 1
    while not passes(high):
        if high >= limit:
            return None
        high = min(high * 2, limit)
    low = high // 2
    while high - low > 1:
        mid = (low + high) // 2
        low, high = (low, mid) if passes(mid) else (mid, high)
    return high


def _arrivals(arrived: int, judged: int, t: float, alpha: float) -> int | None:
    if t >= 1.0:
        return None
    return _smallest(lambda k: _above(arrived + k, judged + k, t) < alpha)


def _losses(arrived: int, judged: int, t: float, alpha: float) -> int | None:
    if t <= 0.0:
        return None
    return _smallest(lambda m: _below(arrived, judged + m, t) < alpha)


def _ranks(n: int, q: float, confidence: float) -> tuple[int, int] | None:
    p, tail = q / 100.0, (1 - confidence) / 2
    if n == 0 or p <= 0.0 or p >= 1.0:
        return None
    log_p, log_q = math.log(p), math.log1p(-p)
    cdf, low, high = 0.0, None, None
    for k in range(_span(n, 0, n, log_p, log_q)[0], n + 1):
        cdf += math.exp(_log_pmf(n, k, log_p, log_q))
        if low is None and cdf > tail:
            low = k
        if cdf >= 1 - tail:
            high = k + 1
            break
    if low is None or low < 1 or high is None or high > n:
        return None
    return low, high


def _outcome(f: Callable[..., object], *args: object) -> object:
    """What f returns, or the message of the ValueError it raises (a threshold of 0 has no
    log; successes beyond 0..n reach lgamma's pole)."""
    try:
        return f(*args)
    except ValueError as e:
        return f"ValueError: {e}"


def _cases(seed: int, count: int, sizes: list[int]) -> list[tuple[int, int, float]]:
    rng = random.Random(seed)
    thresholds = [0.5, 0.9, 0.97, 0.99, 0.999, 0.9999, 0.01, 1e-6, 1e-300, 5e-324,
                  1 - 2**-52, 0.0, 1.0]  # fmt: skip
    out = []
    for _ in range(count):
        n = rng.choice(sizes)
        t = rng.choice(thresholds) if rng.random() < 0.8 else rng.random()
        centre = int(n * t)
        sd = int(math.sqrt(n * t * (1 - t))) + 1
        k = rng.choice([0, 1, n - 1, n, centre, centre - 40 * sd, centre + 3 * sd,
                        centre - 2 * sd, rng.randrange(n + 1)])  # fmt: skip
        out.append((min(max(k, 0), n), n, t))
    return out


def test_tails_equal_the_one_term_at_a_time_definition() -> None:
    """From no probes to a million, every threshold from 5e-324 to 1 - 2^-52 (and the
    exact 0 and 1), successes at 0, n, the mode and far into either tail; sizes on and
    around the table's block edges (1024)."""
    sizes = [0, 1, 2, 3, 31, 32, 33, 100, 1023, 1024, 1025, 2047, 5000, 40_000, 250_000]
    cases = _cases(11, 1500, sizes) + _cases(12, 40, [1_000_000, 999_999])
    for k, n, t in cases:
        assert _outcome(one_sided_p_below, k, n, t) == _outcome(_below, k, n, t), (k, n, t)
        assert _outcome(one_sided_p_above, k, n, t) == _outcome(_above, k, n, t), (k, n, t)


def test_tails_of_a_million_equal_the_sum_of_every_term() -> None:
    """Where the span around the mode is a small part of a million terms: the same bits as
    summing all of [lo, hi]."""
    n = 1_000_000
    for k, t in ((969_400, 0.97), (970_100, 0.97), (500_300, 0.5)):
        assert one_sided_p_below(k, n, t) == _tail(n, t, 0, k, every=True), (k, t)
        assert one_sided_p_above(k, n, t) == _tail(n, t, k, n, every=True), (k, t)


def test_out_of_range_counts_fail_or_pass_as_the_definition_does() -> None:
    """Successes beyond 0..n reach lgamma's pole in the definition where its walk gets to
    k < 0 or k > n (a ValueError), and give its number where the walk stops before."""
    cases = [(-1, 10, 0.5), (12, 10, 0.5), (11, 10, 0.97), (50_003, 50_000, 0.5), (-3, 5, 0.97)]
    failed = 0
    for k, n, t in cases:
        for ours, theirs in ((one_sided_p_below, _below), (one_sided_p_above, _above)):
            want = _outcome(theirs, k, n, t)
            failed += isinstance(want, str)
            assert _outcome(ours, k, n, t) == want, (k, n, t)
    assert 0 < failed < 2 * len(cases)  # both kinds of outcome were compared


def test_counts_to_a_decision_equal_a_bisection_of_the_definition() -> None:
    """arrivals_to_confirm and losses_to_breach probe tails at neighbouring n; the same
    counts as the same bisection over the one-term-at-a-time tails, None included."""
    sizes = [0, 1, 9, 100, 1000, 1025, 20_000, 120_000]
    for arrived, judged, t in [*_cases(13, 120, sizes), (9, 9, 1.0), (5, 5, 0.0)]:
        for alpha in (0.05, 0.01):
            want_k, want_m = (
                _arrivals(arrived, judged, t, alpha),
                _losses(arrived, judged, t, alpha),
            )
            assert arrivals_to_confirm(arrived, judged, t, alpha) == want_k, (arrived, judged, t)
            assert losses_to_breach(arrived, judged, t, alpha) == want_m, (arrived, judged, t)


def test_quantile_ranks_equal_the_cumulative_sum_of_the_definition() -> None:
    rng = random.Random(14)
    sizes = list(range(0, 70)) + [rng.randrange(70, 300_000) for _ in range(25)]
    for n in [*sizes, 1024, 1_000_000]:
        for q in (0.0, 1.0, 50.0, 90.0, 99.0, 99.9, 100.0):
            for confidence in (0.95, 0.99, 0.5):
                got = stats._quantile_ranks(n, q, confidence)
                assert got == _ranks(n, q, confidence), (n, q, confidence)


def test_ranks_from_the_short_sum_are_the_definitions_or_none() -> None:
    """_ranks_near (the cdf summed from where the Chernoff bound leaves at most e^-36 of
    the mass below) gives the definition's ranks wherever it answers, answers for the
    report-sized n it is for (it is the path taken), and refuses when the margin is wider
    than what separates its cdfs from the thresholds (then the definition is summed)."""
    rng = random.Random(16)
    answered = 0
    for n in [
        *(rng.randrange(2, 70) for _ in range(20)),
        *(rng.randrange(70, 400_000) for _ in range(40)),
    ]:
        for q in (1.0, 50.0, 90.0, 99.0, 99.9):
            for confidence in (0.95, 0.99):
                p, tail = q / 100.0, (1 - confidence) / 2
                log_p, log_q = math.log(p), math.log1p(-p)
                got = stats._ranks_near(n, p, tail, log_p, log_q)
                if got is not None:
                    answered += 1
                    want = _ranks(n, q, confidence)
                    assert want is None or got == want, (n, q, confidence)
                    if want is None:  # only the ends: a rank outside 1..n
                        low, high = got
                        assert low is None or high is None or low < 1 or high > n
                    if n >= 1000:
                        assert stats._ranks_near(n, p, tail, log_p, log_q, margin=0.6) is None
    assert answered > 300


def test_p_values_whose_bounds_straddle_a_rounding_step_are_summed_whole() -> None:
    """Where a cell's p-value bounds fall on both sides of a 9-digit rounding step,
    sla_test sums the tails whole and prints the definition's value (cells of 200,000 to
    400,000 probes near the threshold: bounds ~1.5e-11 wide, so ~1.5 % of them)."""
    rng = random.Random(24)
    straddling: list[tuple[int, int]] = []
    for _ in range(5_000):  # at ~1.5 %, four are found within a few hundred cells
        if len(straddling) == 4:
            break
        judged = rng.randrange(200_000, 400_000)
        arrived = int(judged * rng.uniform(0.9695, 0.9705))
        below = stats._p_bounds(False, arrived, judged, 0.97)
        above = stats._p_bounds(True, arrived, judged, 0.97)
        p = below if below[0] <= above[0] else above
        if round(p[0], 9) != round(p[1], 9):
            assert stats._verdict(below, above, 0.05, 9) is None
            straddling.append((arrived, judged))
    assert len(straddling) == 4
    for arrived, judged in straddling:
        assert stats.sla_test(arrived, judged, 0.97, 0.05) == _sla(arrived, judged, 0.97, 0.05)


def test_tail_bounds_hold_the_definitions_tail() -> None:
    """_tail_bounds (the terms within e^-40 of the largest, and a bound on what the rest
    and the rounding add) hold the definition's tail, at most ~3e-11 apart; the
    comparisons with alpha made from them are the definition's, at alpha equal to the
    tail and one float either side of it too (where the bounds straddle alpha and the
    definition's tail is compared)."""
    checked = 0
    for successes, n, t in _cases(21, 150, [1, 9, 100, 1000, 1025, 20_000, 120_000]):
        if not 0.0 < t < 1.0:
            continue
        for lo, hi, exact in (
            (successes, n, _above(successes, n, t)),
            (0, successes, _below(successes, n, t)),
        ):
            if lo == 0 and hi == n:
                continue  # the whole mass
            low, high = stats._tail_bounds(n, t, lo, hi)
            assert low <= exact <= high and high - low < 1e-10, (successes, n, t, lo, hi)
            if 0.0 < exact < 1.0:  # a margin either side: the short sum mostly equals it
                assert low < exact < high, (successes, n, t, lo, hi)
            checked += 1
            for alpha in (exact * 0.5, exact * 2 + 1e-9, 0.05, exact, math.nextafter(exact, 0.0),
                          math.nextafter(exact, 1.0)):  # fmt: skip
                got = stats._p_under(lo > 0, successes, n, t, alpha)
                assert got == (exact < alpha), (successes, n, t, alpha)
    assert checked > 150


def _sla(arrived: int, judged: int, t: float, alpha: float) -> tuple[str, float]:
    """The definition: both exact tails, breach before met, the p-value to 9 digits."""
    below, above = _below(arrived, judged, t), _above(arrived, judged, t)
    if below < alpha:
        return "breach", round(below, 9)
    if above < alpha:
        return "met", round(above, 9)
    return "undecided", round(min(below, above), 9)


def test_the_sla_test_is_the_definitions_and_sums_few_tails_whole() -> None:
    """sla_test equals the definition for cells of many sizes and rates, thresholds at
    the ends included, and at alpha equal to either exact tail; over cells of a month's
    sizes near the threshold it sums hardly any tail whole (the bounds decide)."""
    rng = random.Random(22)
    for arrived, judged, t in _cases(23, 200, [1, 9, 100, 1000, 1025, 20_000, 120_000]):
        if judged == 0:
            continue
        alphas = [0.05, 0.01, rng.random()]
        if t > 0.0:  # a threshold of 0 has no log: both raise ValueError
            for tail in (_below(arrived, judged, t), _above(arrived, judged, t)):
                alphas += [tail, math.nextafter(tail, 1.0)]
        for alpha in alphas:
            assert _outcome(stats.sla_test, arrived, judged, t, alpha) == _outcome(
                _sla, arrived, judged, t, alpha), (arrived, judged, t, alpha)  # fmt: skip
    stats.one_sided_p_below.cache_clear()
    stats.one_sided_p_above.cache_clear()
    cells = [(n, int(n * rng.uniform(0.955, 0.985))) for n in range(2_000, 400_000, 997)]
    for judged, arrived in cells:
        assert stats.sla_test(arrived, judged, 0.97, 0.05) == _sla(arrived, judged, 0.97, 0.05)
    whole = [f.cache_info().misses for f in (stats.one_sided_p_below, stats.one_sided_p_above)]
    assert len(cells) > 390 and sum(whole) < len(cells) // 50


@pytest.mark.parametrize(("n", "p"), [(60, 0.5), (300, 0.9), (400, 0.5), (300, 0.99), (500, 0.02)])
def test_the_short_sum_leaves_out_at_most_e_minus_36_of_the_mass(n: int, p: float) -> None:
    """_negligible_below: the mass below its k, summed exactly (fractions), is at most
    e^-36, and one k more would not be sure to be (its Chernoff bound exceeds it)."""
    k = stats._negligible_below(n, p)
    exact = Fraction(p)
    mass = sum(math.comb(n, i) * exact**i * (1 - exact) ** (n - i) for i in range(k))
    assert mass <= Fraction(math.exp(-36))
    if k:
        a = (k + 1) / n
        assert (
            k + 1 >= n * p or n * (a * math.log(a / p) + (1 - a) * math.log((1 - a) / (1 - p))) < 36
        )


def test_a_table_started_over_gives_the_same_bits(monkeypatch: pytest.MonkeyPatch) -> None:
    """With room for two blocks the tables start over all the time; nothing changes."""
    monkeypatch.setattr(stats, "_BLOCKS_KEPT", 2)
    monkeypatch.setattr(stats, "_blocks", {})
    for k, n, t in _cases(15, 60, [3, 1500, 70_000]):
        if 0.0 < t < 1.0:
            assert stats._tail(n, t, 0, k) == _tail(n, t, 0, k), (k, n, t)
            assert stats._tail(n, t, k, n) == _tail(n, t, k, n), (k, n, t)
    assert len(stats._blocks) <= 2


def test_the_search_from_a_guess_finds_the_same_smallest_k() -> None:
    """stats._smallest looks outwards from a guess (the normal approximation's k) before
    bisecting: for a monotone test the same k as doubling from 1, from any guess — below,
    at, above the answer, past the limit — and None when even the limit fails."""
    rng = random.Random(15)
    for _ in range(400):
        limit = rng.choice([1, 2, 7, 1000, 10_000_000])
        answer = rng.randrange(1, limit + 2)  # limit + 1: no k passes

        def passes(k: int, answer: int = answer, limit: int = limit) -> bool:
            assert 1 <= k <= limit, k  # only k within 1..limit is ever tested
            return k >= answer

        want = answer if answer <= limit else None
        for guess in {1, answer - 1, answer, answer + 1, limit, limit * 3, -5,
                      rng.randrange(1, limit + 1)}:  # fmt: skip
            assert stats._smallest(passes, limit, guess) == want, (answer, limit, guess)
        assert _smallest(passes, limit) == want


def test_counts_to_a_decision_at_any_alpha_equal_the_definition() -> None:
    """The guesses arrivals_to_confirm and losses_to_breach start from (the normal
    approximation where 0 < alpha < 0.5; doubling from 1 as before elsewhere: near 1 the
    computed tails are not monotone in k) change no count."""
    rng = random.Random(16)
    for _ in range(60):
        judged = rng.choice([0, 1, 3, 40, 700, 30_000, 400_000])
        t = rng.choice([0.0, 0.3, 0.9, 0.97, 0.999, 1.0, rng.random()])
        arrived = min(judged, max(0, int(judged * (t + rng.uniform(-0.02, 0.02)))))
        for alpha in (0.0, 1e-6, 0.001, 0.05, 0.2, 0.49, 0.5, 0.9, 1.0):
            assert arrivals_to_confirm(arrived, judged, t, alpha) == _arrivals(
                arrived, judged, t, alpha), (arrived, judged, t, alpha)  # fmt: skip
            assert losses_to_breach(arrived, judged, t, alpha) == _losses(
                arrived, judged, t, alpha), (arrived, judged, t, alpha)  # fmt: skip
