"""Time units. Every timestamp in smsprobe is int64 nanoseconds since the Unix epoch."""

from __future__ import annotations

NS = 1_000_000_000  # nanoseconds per second
NS_PER_MS = 1_000_000
