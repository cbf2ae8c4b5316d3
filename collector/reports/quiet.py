"""Marketing sends held back by quiet hours (kept by the scheduler in the ledger,
migration 0012), counted for the report per vendor and profile."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

from collector.ledger.periods import QuietSuppression


def quiet_hour_counts(rows: Iterable[QuietSuppression]) -> dict[str, dict[str, int]]:
    """vendor -> profile -> suppressions, both sorted."""
    counts: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for row in rows:
        counts[row.vendor][row.profile] += 1
    return {v: dict(sorted(by.items())) for v, by in sorted(counts.items())}
