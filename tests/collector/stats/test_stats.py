from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from collector.stats import one_sided_p_below, percentile, probes_needed, wilson_interval


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


def test_probes_needed_shrinks_as_the_gap_grows() -> None:
    near = probes_needed(0.96, 0.97)
    far = probes_needed(0.90, 0.97)
    assert near is not None and far is not None and near > far > 0
    assert probes_needed(0.97, 0.97) is None


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
