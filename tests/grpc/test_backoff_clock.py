"""The NTP-style clock filter: pure values, no sleeping."""

from __future__ import annotations

import math

import pytest

from agent.uplink.clock import ClockFilter, ClockSample

MS = 1_000_000
S = 1_000_000_000


def test_sample_offset_and_delay_follow_rfc5905() -> None:
    # Collector 500 ms ahead; 20 ms each way; collector holds the request 1 ms.
    t1 = 1_000 * S
    s = ClockSample(t1, t1 + 520 * MS, t1 + 521 * MS, t1 + 41 * MS)
    assert s.offset_ms == pytest.approx(500.0)
    assert s.delay_ms == pytest.approx(40.0)


def test_asymmetric_path_stays_within_half_delay() -> None:
    # True offset 0; outbound 30 ms, return 2 ms: the estimate is off, but the bound holds.
    t1 = 1_000 * S
    s = ClockSample(t1, t1 + 30 * MS, t1 + 30 * MS, t1 + 32 * MS)
    f = ClockFilter()
    f.add(s)
    est = f.estimate(s.t4_ns)
    assert abs(est.offset_ms - 0.0) <= est.uncertainty_ms
    assert est.uncertainty_ms == pytest.approx(16.0)


def test_filter_prefers_min_rtt_sample_and_drift_grows_uncertainty() -> None:
    f = ClockFilter(size=4, max_drift_ppm=100)
    base = 10_000 * S
    # A congested exchange (200 ms RTT, queueing skews its offset) and a clean one.
    f.add(ClockSample(base, base + 150 * MS, base + 150 * MS, base + 200 * MS))
    f.add(ClockSample(base + S, base + S + 2 * MS, base + S + 2 * MS, base + S + 4 * MS))
    est = f.estimate(base + S + 4 * MS)
    assert est.offset_ms == pytest.approx(0.0)
    assert est.uncertainty_ms == pytest.approx(2.0)
    assert est.measured_at_ns == base + S + 4 * MS
    # 1000 s later at 100 ppm: +100 ms of possible drift.
    later = f.estimate(base + S + 4 * MS + 1000 * S)
    assert later.uncertainty_ms == pytest.approx(102.0)


def test_filter_forgets_old_samples_and_never_measured_is_infinite() -> None:
    f = ClockFilter(size=2)
    assert math.isinf(f.estimate(0).uncertainty_ms)
    assert f.estimate(0).measured_at_ns == 0
    base = 10_000 * S
    f.add(ClockSample(base, base, base, base))  # perfect, zero RTT
    for i in range(1, 3):
        t = base + i * S
        f.add(ClockSample(t, t + 60 * MS, t + 60 * MS, t + 100 * MS))
    assert len(f) == 2
    assert f.estimate(base + 3 * S).uncertainty_ms >= 50.0


def test_filter_rejects_clock_stepping_back() -> None:
    with pytest.raises(ValueError):
        ClockFilter().add(ClockSample(10, 0, 0, 5))
