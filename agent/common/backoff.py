"""The one back-off of both programs: delays as values (the caller sleeps, tests just read
the durations), exponential with full jitter so that a fleet of agents, modems or SMPP
binds that failed together does not retry in lockstep."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Protocol


class Backoff(Protocol):
    def next_delay(self) -> float:
        """Seconds to wait before the next attempt."""
        ...

    def reset(self) -> None:
        """It worked again: start over from the base delay."""
        ...


@dataclass(slots=True)
class ExponentialBackoff:
    """Full-jitter exponential backoff (AWS architecture blog, "Exponential Backoff And
    Jitter"): the delay before retry n (0-based) is uniform(min_s, cap_n) with
    cap_n = min(max_s, base_s * factor**n). `min_s` keeps a floor where an immediate retry
    would only hammer the peer.

    Two ways to use it: `next_delay()`/`reset()` keep the count here; `delay(n)` is the
    same draw for a count the caller keeps (one value shared by concurrent retry loops).
    """

    base_s: float = 0.2
    max_s: float = 30.0
    factor: float = 2.0
    min_s: float = 0.0
    rng: random.Random = field(default_factory=random.Random)
    _attempt: int = 0

    def __post_init__(self) -> None:
        if not 0 <= self.min_s <= self.base_s <= self.max_s or self.factor < 1:
            raise ValueError("need 0 <= min_s <= base_s <= max_s and factor >= 1")

    def cap(self, attempt: int) -> float:
        """The largest delay before retry `attempt` (0-based)."""
        try:
            return min(self.max_s, self.base_s * self.factor**attempt)
        except OverflowError:  # factor**attempt beyond a float: long past max_s
            return self.max_s

    def delay(self, attempt: int) -> float:
        return self.rng.uniform(self.min_s, self.cap(attempt))

    def next_delay(self) -> float:
        cap = self.cap(self._attempt)
        if cap < self.max_s:
            self._attempt += 1
        return self.rng.uniform(self.min_s, cap)

    def reset(self) -> None:
        self._attempt = 0


@dataclass(slots=True)
class FixedBackoff:
    """A constant delay; for tests and benchmarks that restart servers on purpose."""

    delay_s: float = 0.05

    def next_delay(self) -> float:
        return self.delay_s

    def delay(self, attempt: int) -> float:
        return self.delay_s

    def reset(self) -> None:
        return None
