"""agent/common/backoff.py, the one back-off: durations as values, no sleeping."""

from __future__ import annotations

import random

import pytest

from agent.common.backoff import ExponentialBackoff


def test_backoff_grows_to_cap_with_full_jitter_and_resets() -> None:
    b = ExponentialBackoff(base_s=0.1, max_s=1.0, factor=2.0, rng=random.Random(7))
    caps = [0.1, 0.2, 0.4, 0.8, 1.0, 1.0, 1.0]
    delays = [b.next_delay() for _ in caps]
    for d, cap in zip(delays, caps, strict=True):
        assert 0.0 <= d <= cap
    # Full jitter: not a fixed ladder (two agents restarted together spread out).
    assert len({round(d, 6) for d in delays}) == len(delays)
    b.reset()
    assert b.next_delay() <= 0.1


def test_backoff_jitter_differs_between_agents() -> None:
    a = ExponentialBackoff(base_s=1, max_s=1, rng=random.Random(1))
    b = ExponentialBackoff(base_s=1, max_s=1, rng=random.Random(2))
    assert [a.next_delay() for _ in range(5)] != [b.next_delay() for _ in range(5)]


def test_backoff_rejects_nonsense() -> None:
    with pytest.raises(ValueError):
        ExponentialBackoff(base_s=2, max_s=1)


def test_delay_for_a_counted_attempt_stays_between_floor_and_cap() -> None:
    b = ExponentialBackoff(base_s=1.0, max_s=30.0, min_s=0.5, rng=random.Random(3))
    for attempt, cap in [(0, 1.0), (1, 2.0), (3, 8.0), (5, 30.0), (10_000, 30.0)]:
        draws = [b.delay(attempt) for _ in range(200)]
        assert all(0.5 <= d <= cap for d in draws), attempt
        # jittered over the whole range, not pinned to one end
        assert max(draws) - min(draws) > (cap - 0.5) / 2
    # delay() keeps no count: the same attempt draws from the same range forever
    assert b.next_delay() <= 1.0


def test_a_zero_backoff_retries_at_once() -> None:
    b = ExponentialBackoff(base_s=0.0, max_s=0.0)
    assert [b.delay(n) for n in (0, 7, 2000)] == [0.0, 0.0, 0.0]
