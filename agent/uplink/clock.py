"""NTP-style clock offset estimate between the agent and the collector (RFC 5905 §8).

One exchange gives four stamps: t1 (agent, sent), t2 (collector, received), t3 (collector,
sent), t4 (agent, received). Then

    offset = ((t2 - t1) + (t3 - t4)) / 2      # collector_time ≈ agent_time + offset
    delay  = (t4 - t1) - (t3 - t2)            # network round trip, collector time excluded

and the true offset lies within offset ± delay/2 (whatever the path asymmetry). Like NTP's
clock filter (RFC 5905 §10) we keep the last few samples and trust the one whose bound is
tightest *now*: its delay/2 plus what the two clocks may have drifted apart since it was
taken (`max_drift_ppm`, a crystal's tolerance on both ends).
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass

from agent.common.units import NS_PER_MS
from agent.wire.records import ClockEstimate


@dataclass(frozen=True, slots=True)
class ClockSample:
    t1_ns: int
    t2_ns: int
    t3_ns: int
    t4_ns: int

    @property
    def offset_ms(self) -> float:
        return ((self.t2_ns - self.t1_ns) + (self.t3_ns - self.t4_ns)) / 2 / NS_PER_MS

    @property
    def delay_ms(self) -> float:
        # A collector that stamps t3 < t2 or a clock step mid-exchange can make this
        # negative; clamp so the bound never becomes tighter than zero.
        return max(0.0, ((self.t4_ns - self.t1_ns) - (self.t3_ns - self.t2_ns)) / NS_PER_MS)


class ClockFilter:
    """Keeps the `size` most recent samples and answers the best current estimate."""

    def __init__(self, *, size: int = 8, max_drift_ppm: float = 100.0) -> None:
        if size < 1:
            raise ValueError("size must be >= 1")
        self._samples: deque[ClockSample] = deque(maxlen=size)
        self._drift_ppm = max_drift_ppm

    def fresh(self) -> ClockFilter:
        """An empty filter with the same parameters (for another collector's clock)."""
        return ClockFilter(size=self._samples.maxlen or 1, max_drift_ppm=self._drift_ppm)

    def add(self, sample: ClockSample) -> None:
        if sample.t4_ns < sample.t1_ns:
            raise ValueError("t4 before t1: the agent clock stepped back mid-exchange")
        self._samples.append(sample)

    def __len__(self) -> int:
        return len(self._samples)

    def _bound_ms(self, sample: ClockSample, now_ns: int) -> float:
        age_ms = max(0, now_ns - sample.t4_ns) / NS_PER_MS
        return sample.delay_ms / 2 + age_ms * self._drift_ppm * 1e-6

    def estimate(self, now_ns: int) -> ClockEstimate:
        """The estimate in force at agent time `now_ns`; uncertainty grows with drift."""
        if not self._samples:
            return ClockEstimate(offset_ms=0.0, uncertainty_ms=math.inf, measured_at_ns=0)
        best = min(self._samples, key=lambda s: self._bound_ms(s, now_ns))
        return ClockEstimate(
            offset_ms=best.offset_ms,
            uncertainty_ms=self._bound_ms(best, now_ns),
            measured_at_ns=best.t4_ns,
        )
