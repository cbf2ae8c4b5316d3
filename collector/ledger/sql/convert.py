"""Column values <-> Python values, the same on both backends (pure)."""

from __future__ import annotations

import json
import math

from agent.wire.records import ClockEstimate
from collector.ledger.model import GapSpan
from collector.ledger.sql.query import Row

GAP_COLUMNS = "agent_id, first_seq, last_seq, start_ns, end_ns, detected_at_ns, seq_epoch, queued"


def opt_float(x: float) -> float | None:
    """NaN/inf are stored as NULL (SQLite turns NaN into NULL anyway; keep both alike)."""
    return None if math.isnan(x) or math.isinf(x) else x


def nan(x: float | None) -> float:
    return float("nan") if x is None else float(x)


def inf(x: float | None) -> float:
    return float("inf") if x is None else float(x)


def ints(text: str) -> tuple[int, ...]:
    """A comma-separated list of integers ("" is none)."""
    return tuple(int(v) for v in text.split(",") if v)


def strs(text: str, sep: str = ",") -> tuple[str, ...]:
    return tuple(v for v in text.split(sep) if v)


def attrs(text: str) -> dict[str, str]:
    loaded = json.loads(text)
    return {str(k): str(v) for k, v in loaded.items()}


def clock_of(row: Row) -> ClockEstimate:
    """The record's clock estimate (columns clock_offset_ms, clock_uncertainty_ms,
    clock_measured_at_ns of `records`)."""
    return ClockEstimate(
        offset_ms=float(row["clock_offset_ms"]),
        uncertainty_ms=inf(row["clock_uncertainty_ms"]),
        measured_at_ns=int(row["clock_measured_at_ns"]),
    )


def gap_of(row: Row) -> GapSpan:
    """A row of `gaps` with GAP_COLUMNS."""
    return GapSpan(
        agent_id=row["agent_id"],
        first_seq=int(row["first_seq"]),
        last_seq=int(row["last_seq"]),
        start_ns=int(row["start_ns"]),
        end_ns=int(row["end_ns"]),
        detected_at_ns=int(row["detected_at_ns"]),
        epoch=int(row["seq_epoch"]),
        queued=bool(row["queued"]),
    )
