"""stats.Ones: n counts of 1 behave as the list [1] * n does wherever counts are read."""

from __future__ import annotations

import itertools

import pytest

from collector.stats import Ones, Ordered, each_once


@pytest.mark.parametrize("n", [0, 1, 2, 7, 100])
def test_ones_read_as_the_list_of_ones(n: int) -> None:
    ones, listed = Ones(n), [1] * n
    assert len(ones) == n and list(ones) == listed and sum(ones) == n
    for i in range(-n - 2, n + 2):
        if -n <= i < n:
            assert ones[i] == listed[i]
        else:
            with pytest.raises(IndexError):
                ones[i]
    for start, stop, step in itertools.product(
        [None, 0, 1, -2, 50], [None, 3, -1, 99], [None, 1, 2, -1, 3]
    ):
        part = ones[start:stop:step]
        assert isinstance(part, Ones) and list(part) == listed[start:stop:step]
    assert ones == listed and listed == list(ones) and each_once(ones)
    assert ones != [*listed, 1] and (not n or ones != [2, *listed[1:]])


def test_ones_as_the_counts_of_a_run() -> None:
    """A run counted with Ones holds each value once, as with a list of ones."""
    values = [0.5, 1.25, 2.0, 2.0, 3.5]
    assert Ordered.of_runs([(values, Ones(5))]).expanded() == values
    assert Ordered.of_runs([(values, [1] * 5)]).expanded() == values
    assert not each_once([1, 2, 1])
