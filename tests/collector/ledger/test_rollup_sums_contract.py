"""The Ledger contract, counts summed per slice (`rollup_count_sum_rows`), on SQLite and a real
PostgreSQL: equal to the hourly count rows summed per key and slice in Python, skipped
hours left out, each sum timed at the first send hour it holds (not its slice's start,
which may lie in hours skipped for a not-measured span: reports/judged.py); the values
summed per key and local day (`rollup_value_sums`) equal to the hourly value rows."""

from __future__ import annotations

import dataclasses
import random
from collections import Counter
from collections.abc import Callable, Collection
from typing import Any

from collector.ledger.rollups import DAY_NS, HOUR_NS, RollupCount, Slices
from collector.ledger.sql.rollup_days import COMPACT_AFTER_NS
from tests.collector.ledger.test_rollup_days_contract import DAY0, fill


def keyed(r: RollupCount, slices: Slices) -> tuple[Any, ...]:
    """A count row's key without its hours and n, with its slice's start."""
    step = r.sent_hour_ns // slices.step_ns * slices.step_ns
    start = max(step, slices.day(r.sent_hour_ns))
    return dataclasses.astuple(dataclasses.replace(r, hour_ns=0, n=0, sent_hour_ns=start))


Sums = Counter[tuple[Any, ...]]


def summed(ledger: Any, *, since_ns: int, until_ns: int, slices: Slices,
           skip_hours: Collection[int]) -> tuple[Sums, dict[tuple[Any, ...], int]]:  # fmt: skip
    """The hourly count rows of the hours kept summed in Python per `keyed` key, and the
    first send hour each sum holds."""
    total: Sums = Counter()
    first: dict[tuple[Any, ...], int] = {}
    for r in ledger.rollup_counts(since_ns=since_ns, until_ns=until_ns):
        if r.hour_ns in skip_hours:
            continue
        key = keyed(r, slices)
        total[key] += r.n
        first[key] = min(first.get(key, r.sent_hour_ns), r.sent_hour_ns)
    return total, first


def test_count_sums_per_slice_equal_the_hourly_rows_summed(ledger: Any) -> None:
    fill(ledger, n=400, seed=21)
    slices = Slices(6 * HOUR_NS, 8 * HOUR_NS)  # 6-hour steps cut at 16:00 UTC
    since, until = DAY0 + 3 * HOUR_NS, DAY0 + 70 * HOUR_NS
    rng = random.Random(5)
    # skipped: a slice's first hours, a middle hour, a whole slice, hours at a midnight
    skip = {DAY0 + h * HOUR_NS for h in (6, 7, 20, 24, 25, 26, 27, 28, 29, 39, 40)}
    skip |= {DAY0 + rng.randrange(3, 70) * HOUR_NS for _ in range(5)}
    want, first = summed(ledger, since_ns=since, until_ns=until, slices=slices, skip_hours=skip)
    got: Counter[tuple[Any, ...]] = Counter()
    for c in ledger.rollup_count_sum_rows(since_ns=since, until_ns=until, slices=slices,
                                          skip_hours=skip):  # fmt: skip
        made: Callable[..., RollupCount] = RollupCount  # positional, from the key's fields
        s = made(c.first_sent_ns, c.first_sent_ns, *c.key, c.n)
        assert s.hour_ns == s.sent_hour_ns
        key = keyed(s, slices)
        assert key not in got  # one sum a key and slice
        assert s.sent_hour_ns == first[key]  # the first send hour held
        got[key] = s.n
    assert got == want and sum(want.values()) > 250
    # some sums do not start at their slice's start (its first hours skipped or empty)
    assert sum(1 for k, at in first.items() if at != k[1]) > 10


def test_value_sums_per_local_day_equal_the_hourly_rows(ledger: Any) -> None:
    """`rollup_value_sums` (compacted days cut into local days as byte slices of their
    arrays, the open day from hourly rows) holds exactly the hourly value rows of the
    hours kept, each under the local day of its send hour."""
    fill(ledger, n=400, seed=23)
    assert ledger.compact_rollups(before_ns=DAY0 + 2 * DAY_NS + COMPACT_AFTER_NS) == 2
    slices = Slices(6 * HOUR_NS, 8 * HOUR_NS)  # local midnights at 16:00 UTC
    since, until = DAY0 + 3 * HOUR_NS, DAY0 + 70 * HOUR_NS  # cuts packed and open days
    # skipped: a local midnight's hours, a UTC midnight's, single hours in each day
    skip = {DAY0 + h * HOUR_NS for h in (5, 15, 16, 23, 24, 30, 39, 40, 50, 64)}
    want: Counter[tuple[Any, ...]] = Counter()
    for v in ledger.rollup_values(since_ns=since, until_ns=until):
        if v.hour_ns not in skip:
            day = slices.day(v.sent_hour_ns)
            want[((day, day, *v.group()[2:]), v.kind, v.value)] += v.n
    got: Counter[tuple[Any, ...]] = Counter()
    seen = set()
    for run in ledger.rollup_value_sums(since_ns=since, until_ns=until, slices=slices,
                                        skip_hours=skip):  # fmt: skip
        assert (run.group, run.kind) not in seen  # one run a key, kind and local day
        seen.add((run.group, run.kind))
        for value, n in zip(run.values, run.counts, strict=True):
            got[(run.group, run.kind, value)] += n
    assert got == want and sum(want.values()) > 300
