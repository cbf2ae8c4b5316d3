from __future__ import annotations

import math
import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from collector.stats import (
    arrivals_to_confirm,
    losses_to_breach,
    one_sided_p_above,
    one_sided_p_below,
    percentile,
    quantile_ci,
    wilson_interval,
)


def test_wilson_closed_forms_at_the_edges() -> None:
    z2 = 1.959963984540054**2
    assert wilson_interval(0, 10) == pytest.approx((0.0, z2 / (10 + z2)))
    assert wilson_interval(10, 10) == pytest.approx((10 / (10 + z2), 1.0))
    assert wilson_interval(0, 0) == (0.0, 1.0)


@given(st.integers(1, 5000), st.data())
def test_wilson_contains_the_point_estimate(n: int, data: st.DataObject) -> None:
    k = data.draw(st.integers(0, n))
    low, high = wilson_interval(k, n)
    assert 0 <= low <= k / n <= high <= 1


def test_wilson_narrows_with_more_probes() -> None:
    small = wilson_interval(97, 100)
    large = wilson_interval(9700, 10000)
    assert large[1] - large[0] < (small[1] - small[0]) / 5


def test_percentile_is_linear_interpolation() -> None:
    assert percentile([], 50) is None
    assert percentile([3.0], 95) == 3.0
    assert percentile([1, 2, 3, 4], 50) == pytest.approx(2.5)
    assert percentile([10, 20, 30, 40, 50], 95) == pytest.approx(48.0)


@pytest.mark.parametrize(("k", "n", "p"), [(0, 5, 0.9), (3, 10, 0.5), (95, 100, 0.97)])
def test_one_sided_p_equals_the_exact_binomial_tail(k: int, n: int, p: float) -> None:
    exact = sum(math.comb(n, i) * p**i * (1 - p) ** (n - i) for i in range(k + 1))
    assert one_sided_p_below(k, n, p) == pytest.approx(exact, rel=1e-9)


def test_arrivals_to_confirm_is_the_smallest_passing_count() -> None:
    # 8 of 9 arrived at 97 %: after k more arrivals (one loss in 9 + k) the upper tail is
    # 0.97^n + n·0.03·0.97^(n-1) with n = 9 + k; it first drops below 0.05 at n = 157.
    def tail(n: int) -> float:
        return 0.97**n + n * 0.03 * 0.97 ** (n - 1)

    assert tail(156) >= 0.05 > tail(157)
    assert arrivals_to_confirm(8, 9, 0.97) == 148
    # No loss yet: 0.97^n < 0.05 first at n = 99 (0.97^98 = 0.0506, 0.97^99 = 0.0491).
    assert arrivals_to_confirm(0, 0, 0.97) == 99 and arrivals_to_confirm(5, 5, 0.97) == 94
    # Minimal: one fewer arrival does not pass, the count itself does.
    for arrived, judged in ((29, 30), (95, 100), (480, 500)):
        k = arrivals_to_confirm(arrived, judged, 0.97)
        assert k is not None
        assert one_sided_p_above(arrived + k, judged + k, 0.97) < 0.05
        assert one_sided_p_above(arrived + k - 1, judged + k - 1, 0.97) >= 0.05
    assert arrivals_to_confirm(9, 9, 1.0) is None  # nothing confirms 100 %


def test_losses_to_breach_is_the_smallest_failing_count() -> None:
    # 8 of 9: one more loss makes 8 of 10, P(X <= 8 | 10, 0.97) = 0.0345 < 0.05.
    assert losses_to_breach(8, 9, 0.97) == 1
    assert one_sided_p_below(8, 10, 0.97) == pytest.approx(0.03451, abs=1e-5)
    for arrived, judged in ((29, 30), (120, 122), (1000, 1030)):
        m = losses_to_breach(arrived, judged, 0.97)
        assert m is not None and m >= 1
        assert one_sided_p_below(arrived, judged + m, 0.97) < 0.05
        assert m == 1 or one_sided_p_below(arrived, judged + m - 1, 0.97) >= 0.05
    assert losses_to_breach(5, 5, 0.0) is None


def test_upper_tail_is_one_minus_the_lower_one() -> None:
    for k, n, p in ((8, 9, 0.97), (150, 157, 0.97), (3, 10, 0.5), (0, 4, 0.9)):
        assert one_sided_p_above(k, n, p) == pytest.approx(
            1.0 - (one_sided_p_below(k - 1, n, p) if k else 0.0), abs=1e-12
        )


def test_quantile_ci_order_statistics() -> None:
    from collector.stats import quantile_ci

    assert quantile_ci(list(range(1, 101)), 50) == (40, 61)  # the textbook ranks for n=100
    assert quantile_ci(list(range(1, 11)), 50) == (2, 9)
    assert quantile_ci(list(range(1, 11)), 95) is None  # too few values for a bounded interval
    low, high = quantile_ci([float(i) for i in range(20000)], 99) or (0, 0)
    assert low < 19800 < high


def test_fisher_greater_is_the_hypergeometric_upper_tail() -> None:
    from collector.stats import fisher_greater_p

    def brute(a: int, n1: int, b: int, n2: int) -> float:
        k = a + b
        return sum(
            math.comb(n1, x) * math.comb(n2, k - x) for x in range(a, min(k, n1) + 1)
        ) / math.comb(n1 + n2, k)

    for a, n1, b, n2 in ((16, 16, 57, 72), (3, 10, 7, 10), (0, 5, 5, 5), (10, 10, 0, 10)):
        assert math.isclose(fisher_greater_p(a, n1, b, n2), brute(a, n1, b, n2), rel_tol=1e-9)
    assert fisher_greater_p(1, 0, 5, 5) == 1.0


def test_holm_adjusts_in_rank_order_and_stays_monotone() -> None:
    from collector.stats import holm_adjust

    # m = 4: 0.01*4, 0.02*3, 0.03*2 -> max(0.06, 0.06), 0.5*1
    assert holm_adjust([0.03, 0.01, 0.5, 0.02]) == pytest.approx([0.06, 0.04, 0.5, 0.06])
    assert holm_adjust([]) == []


def _naive_tail(n: int, threshold: float, lo: int, hi: int) -> float:
    """Every term of [lo, hi], as the tails were summed before they skipped the zeros."""
    log_p, log_q = math.log(threshold), math.log1p(-threshold)
    terms = [
        math.lgamma(n + 1) - math.lgamma(k + 1) - math.lgamma(n - k + 1) + k * log_p
        + (n - k) * log_q
        for k in range(lo, hi + 1)
    ]  # fmt: skip
    top = max(terms)
    return min(1.0, math.exp(top) * sum(math.exp(t - top) for t in terms))


def _naive_ranks(n: int, p: float, tail: float = 0.025) -> tuple[int | None, int | None]:
    log_p, log_q = math.log(p), math.log1p(-p)
    cdf, low = 0.0, None
    for k in range(n + 1):
        cdf += math.exp(
            math.lgamma(n + 1) - math.lgamma(k + 1) - math.lgamma(n - k + 1) + k * log_p
            + (n - k) * log_q
        )  # fmt: skip
        if low is None and cdf > tail:
            low = k
        if cdf >= 1 - tail:
            return low, k + 1
    return low, None


def test_tails_and_intervals_skip_only_terms_that_add_exactly_nothing() -> None:
    """The tails and the quantile interval sum O(sqrt n) terms around the mode instead of
    all of them; every figure stays bit for bit what summing all terms gives, from a
    handful of probes to a year's (n up to 300,000), at SLA-like and median thresholds,
    with the successes below, at and above the mode."""
    rng = random.Random(7)
    cases = [(0, 1, 0.97), (1, 1, 0.97), (5, 10, 0.5), (3000, 3000, 0.97)]
    for _ in range(40):
        n = rng.choice([2, 17, 400, 5000, 60_000, 300_000])
        threshold = rng.choice([0.5, 0.9, 0.97, 0.999, 0.01])
        centre = int(n * threshold)
        for k in (0, n, centre, max(centre - 3 * int(math.sqrt(n) + 1), 0),
                  min(centre + 2, n), rng.randrange(n + 1)):  # fmt: skip
            cases.append((k, n, threshold))
    for k, n, threshold in cases:
        assert one_sided_p_below(k, n, threshold) == _naive_tail(n, threshold, 0, k), (k, n)
        if k > 0:
            assert one_sided_p_above(k, n, threshold) == _naive_tail(n, threshold, k, n), (k, n)
    for n in (1, 5, 60, 999, 20_000, 150_000):
        values = sorted(rng.random() for _ in range(n))
        for q in (50, 90, 99):
            low, high = _naive_ranks(n, q / 100)
            want = None
            if low is not None and low >= 1 and high is not None and high <= n:
                want = (values[low - 1], values[high - 1])
            assert quantile_ci(values, q) == want, (n, q)


def test_fisher_greater_p_skips_only_terms_that_add_nothing() -> None:
    """fisher_greater_p sums only the terms around the mode whose exp() is not exactly
    0.0: bit for bit the sum of every term from a up (a SIM's month: thousands of probes
    against 800,000), also where it is exactly 0 or 1."""
    from collector.stats import _log_comb, fisher_greater_p

    def every_term(a: int, n1: int, b: int, n2: int) -> float:
        total, k = n1 + n2, a + b
        log_total = _log_comb(total, k)
        p = sum(
            math.exp(_log_comb(n1, x) + _log_comb(n2, k - x) - log_total)
            for x in range(a, min(k, n1) + 1)
        )
        return min(1.0, p)

    rng = random.Random(12)
    cases = [(8000, 8200, 780_000, 820_000), (0, 8200, 780_000, 820_000), (8200, 8200, 0, 9)]
    for _ in range(300):
        n1, n2 = rng.randrange(1, 9000), rng.randrange(1, 900_000)
        rate = rng.random()
        a = min(n1, max(0, int(n1 * (rate + rng.uniform(-0.05, 0.05)))))
        cases.append((a, n1, min(n2, int(n2 * rate)), n2))
    # every table of small margins (the walk's batches start and end within the support)
    cases += [(a, n1, b, n2) for n1 in range(1, 14) for n2 in range(1, 14)
              for a in range(n1 + 1) for b in range(n2 + 1)]  # fmt: skip
    for case in cases:
        assert fisher_greater_p(*case) == every_term(*case), case
