"""The Ledger contract, a compacted day's values also stored per local day of a zone
(migration 0021), on SQLite and a real PostgreSQL: `rollup_value_sums` gives the same
multisets with the local parts as without them — whole days, the period's edges, skipped
hours, another zone's offset, days compacted without a zone next to days with parts, send
hours after their planned hour (a UTC day's blob then reaches into a third local day) —;
repeats in a local day come as one value with their counts summed, and the figures order
them as before; a zone whose offset changes within a day or is not whole hours gets no
parts; `check_rollups` finds a part that differs from its segments (a value changed, a
part cut an hour off) and `rebuild` recompacts with them; a write drops them with the
day's blobs; the judge's full pass compacts with the zone it is given."""

from __future__ import annotations

import random
from array import array
from collections import Counter
from collections.abc import Collection
from datetime import tzinfo
from typing import Any
from zoneinfo import ZoneInfo

from collector.judging import Judge, JudgingConfig
from collector.ledger.probes import Submission
from collector.ledger.rollups import DAY_NS, HOUR_NS, AscendingValues, Slices
from collector.ledger.sql.rollup_days import (
    BLOB_KEY,
    COMPACT_AFTER_NS,
    pack_local,
    unpack_local,
    unpack_runs,
)
from collector.reports.figures import _ascending
from collector.stats import Ones
from tests.collector.ledger.test_probe_contract import plan
from tests.collector.ledger.test_rollup_days_contract import DAY0, open_ledger_at, verdict

SHANGHAI = ZoneInfo("Asia/Shanghai")
LOCAL = 8 * HOUR_NS  # Shanghai's offset: local midnights at 16:00 UTC
AFTER = DAY0 + 4 * DAY_NS + COMPACT_AFTER_NS  # days 0..3 closed


def fill(ledger: Any, day0: int = DAY0, n: int = 400, seed: int = 21) -> list[str]:
    """Probes planned over three UTC days from `day0`, a third sent up to 30 h after
    their planned time (their send hours in the next UTC or local day)."""
    rng = random.Random(seed)
    ids = []
    for i in range(n):
        at = day0 + rng.randrange(0, 3 * DAY_NS)
        ledger.add_probe(plan(i, planned_at_ns=at, vendor=rng.choice(["acme", "bolt"]),
                              msisdn=rng.choice(["+8613800000001", "+8613900000002"])))  # fmt: skip
        ids.append(f"p{i}")
        if i % 3 == 0:
            sent = at + rng.randrange(0, 30 * HOUR_NS)
            ledger.record_submission(Submission(f"p{i}", "accepted", sent, sent + 1))
    ledger.save_verdicts([verdict(rng, pid) for pid in ids], at_ns=day0)
    return ids


def sums(ledger: Any, **kw: Any) -> Counter[tuple[Any, ...]]:
    """rollup_value_sums as (group, kind, value) -> n; each run marked ascending is so."""
    out: Counter[tuple[Any, ...]] = Counter()
    seen = set()
    for run in ledger.rollup_value_sums(**kw):
        assert (run.group, run.kind) not in seen  # one run a key, kind and local day
        seen.add((run.group, run.kind))
        if isinstance(run.values, AscendingValues):
            assert list(run.values) == sorted(run.values)
        for value, n in zip(run.values, run.counts, strict=True):
            out[(run.group, run.kind, value)] += n
    return out


def hourly(ledger: Any, *, since_ns: int, until_ns: int, slices: Slices,
           skip_hours: Collection[int] = ()) -> Counter[tuple[Any, ...]]:  # fmt: skip
    """The hourly value rows of the hours kept, under the local day of their send hour."""
    out: Counter[tuple[Any, ...]] = Counter()
    for v in ledger.rollup_values(since_ns=since_ns, until_ns=until_ns):
        if v.hour_ns not in skip_hours:
            day = slices.day(v.sent_hour_ns)
            out[((day, day, *v.group()[2:]), v.kind, v.value)] += v.n
    return out


def ascending_runs(ledger: Any, **kw: Any) -> int:
    return sum(isinstance(r.values, AscendingValues) for r in ledger.rollup_value_sums(**kw))


def recompact(ledger: Any, zone: tzinfo | None, days: Collection[int] | None = None) -> int:
    """Compact these days (all when None) again, with `zone`."""
    with ledger._transaction() as tx:
        if days is None:
            tx.run("DELETE FROM rollup_compacted_days")
        for day in days or ():
            tx.run("DELETE FROM rollup_compacted_days WHERE day_ns = ?", (day,))
    return int(ledger.compact_rollups(before_ns=AFTER, zone=zone))


def offsets(ledger: Any) -> Counter[tuple[int, int | None]]:
    with ledger._transaction(write=False) as tx:
        rows = tx.tuples("SELECT day_ns, local_offset_ns FROM rollup_value_days")
    return Counter((int(d), None if o is None else int(o)) for d, o in rows)


# Shanghai's local days: [DAY0 - 8 h + k days, ...); the month report's 6-hour slices
SH = Slices(6 * HOUR_NS, LOCAL)
WHOLE = dict(since_ns=DAY0 - LOCAL, until_ns=DAY0 + 3 * DAY_NS + 16 * HOUR_NS, slices=SH)
PERIODS: list[dict[str, Any]] = [
    WHOLE,  # days 0..2 whole
    {**WHOLE, "skip_hours": {DAY0 + h * HOUR_NS for h in (5, 15, 16, 64)}},  # days 0, 2 cut
    dict(since_ns=DAY0 + 3 * HOUR_NS, until_ns=DAY0 + 70 * HOUR_NS, slices=SH),  # edges
    dict(
        since_ns=DAY0 - 9 * HOUR_NS, until_ns=DAY0 + 4 * DAY_NS, slices=Slices(HOUR_NS, 9 * HOUR_NS)
    ),
    dict(since_ns=DAY0, until_ns=DAY0 + 4 * DAY_NS, slices=Slices()),  # UTC days, hour by hour
]


def test_value_sums_with_local_parts_equal_those_without(ledger: Any) -> None:
    fill(ledger)
    assert ledger.compact_rollups(before_ns=AFTER) == 3  # no zone: no parts
    assert set(offsets(ledger)) == {(DAY0 + d * DAY_NS, None) for d in range(3)}
    before = [sums(ledger, **p) for p in PERIODS]
    for p, was in zip(PERIODS, before, strict=True):
        assert was == hourly(ledger, **p) and sum(was.values()) > 500
    assert ascending_runs(ledger, **WHOLE) == 0
    # one day with parts next to days without (compacted before the migration)
    assert recompact(ledger, SHANGHAI, [DAY0 + DAY_NS]) == 1
    assert set(offsets(ledger)) == {(DAY0, None), (DAY0 + DAY_NS, LOCAL), (DAY0 + 2 * DAY_NS, None)}
    assert [sums(ledger, **p) for p in PERIODS] == before
    assert ascending_runs(ledger, **WHOLE) > 0
    assert recompact(ledger, SHANGHAI) == 3
    assert set(offsets(ledger)) == {(DAY0 + d * DAY_NS, LOCAL) for d in range(3)}
    assert [sums(ledger, **p) for p in PERIODS] == before
    assert [sums(ledger, **p, vendor="bolt") for p in PERIODS] == [
        Counter({k: n for k, n in was.items() if k[0][2] == "bolt"}) for was in before
    ]
    counts = {type(r.counts) for r in ledger.rollup_value_sums(**WHOLE)}
    assert Ones in counts and len(counts) > 1  # counts all 1 not listed; repeats as stored
    marked = ascending_runs(ledger, **WHOLE)
    assert marked > 30  # whole days' parts taken as stored ...
    assert ascending_runs(ledger, **PERIODS[3]) == ascending_runs(ledger, **PERIODS[4]) == 0
    assert 0 < ascending_runs(ledger, **PERIODS[1]) < marked  # ... not on days with skips
    assert 0 < ascending_runs(ledger, **PERIODS[2]) < marked  # nor on the edges' days 0, 2


def merged(runs: Any) -> dict[tuple[Any, ...], tuple[list[float], list[int]]]:
    """Each key's and kind's runs over the local days merged as the figures merge them."""
    chunks: dict[tuple[Any, ...], list[Any]] = {}
    for r in runs:
        chunks.setdefault((r.group[2:], r.kind), []).append((r.values, r.counts))
    return {k: _ascending(c) for k, c in chunks.items()}


def test_a_part_sums_repeats_only_where_its_segments_had_counts() -> None:
    """A value in two hours of one local day: listed twice while every count of the day
    is 1 (the figures then merge it as a list with repeats, as from the segments), one
    entry with the counts summed once some count is above 1 (as the figures merge it)."""
    h = DAY0 + 2 * HOUR_NS
    once = [(h, h, [1.5, 2.5], [1, 1]), (h + HOUR_NS, h + HOUR_NS, [1.5], [1])]
    counted = [(h, h, [1.5, 2.5], [1, 2]), (h + HOUR_NS, h + HOUR_NS, [1.5], [1])]
    late = [(h, h + 20 * HOUR_NS, [0.5], [1])]  # sent in the next Shanghai day
    day = Slices(offset_ns=LOCAL).day(h)
    for segments, parts in (
        (once, [(day, [1.5, 1.5, 2.5], [1, 1, 1])]),
        (counted, [(day, [1.5, 2.5], [2, 2])]),
        (once + late, [(day, [1.5, 1.5, 2.5], [1, 1, 1]), (day + DAY_NS, [0.5], [1])]),
    ):
        got = [
            (d, list(vs), list(ks)) for d, _, vs, ks in unpack_local(*pack_local(segments, LOCAL))
        ]
        assert got == parts
        chunks = [(vs, ks) for _, _, vs, ks in segments]
        stored = [(vs, ks) for _, _, vs, ks in unpack_local(*pack_local(segments, LOCAL))]
        assert _ascending(stored) == _ascending(chunks)


def test_repeats_in_a_local_day_are_counted_once_and_order_as_before(ledger: Any) -> None:
    fill(ledger, seed=22)
    ledger.compact_rollups(before_ns=AFTER)
    plain = ledger.rollup_value_sums(**WHOLE)
    recompact(ledger, SHANGHAI)
    local = ledger.rollup_value_sums(**WHOLE)
    repeats = [r for r in local if isinstance(r.values, AscendingValues) and max(r.counts) > 1]
    assert len(repeats) >= 5  # the fixed uncertainty, the latency 3.5 s: summed in a day
    was, now = merged(plain), merged(local)
    assert now == was and len(was) > 10  # the same values and counts
    assert any(max(ks) > 1 for _, ks in now.values())


def test_a_zone_changing_its_offset_within_a_day_or_not_in_whole_hours_gets_no_parts(
    ledger: Any,
) -> None:
    # 2025-03-09 07:00 UTC, day0 + 31 h: New York goes from UTC-5 to UTC-4
    day0 = 1_741_392_000_000_000_000
    assert day0 % DAY_NS == 0
    fill(ledger, day0=day0, n=150, seed=3)
    done = ledger.compact_rollups(before_ns=day0 + 4 * DAY_NS + COMPACT_AFTER_NS,
                                  zone=ZoneInfo("America/New_York"))  # fmt: skip
    assert done == 3
    got = offsets(ledger)
    # the day of the change and the day before (sends reach past it) have none
    assert {d for d, o in got if o is not None} == {day0 + 2 * DAY_NS}
    assert {o for _, o in got} == {None, -4 * HOUR_NS}
    recompact(ledger, ZoneInfo("Asia/Kolkata"))  # UTC+5:30
    assert {o for _, o in offsets(ledger)} == {None}


def corrupt_a_part(ledger: Any, day: int, shift_ns: int, bump: float = 0.0) -> None:
    """An edit no ledger method made: a latency blob of `day` gets parts cut at local
    midnights `shift_ns` off (labelled as the true ones; a blob with a send hour that
    moves) and its first value moved by `bump`."""
    cols = ", ".join(BLOB_KEY)
    with ledger._transaction() as tx:
        rows = tx.tuples(
            f"SELECT {cols}, local_offset_ns, segments, vals, counts FROM rollup_value_days"
            f" WHERE day_ns = ? AND kind = 'latency' ORDER BY {cols}",
            (day,),
        )

        def moves(row: Any) -> bool:
            offset, moved = int(row[-4]), Slices(offset_ns=int(row[-4]) + shift_ns)
            return any(moved.day(s) + shift_ns != Slices(offset_ns=offset).day(s)
                       for _, s, _, _ in unpack_runs(*map(bytes, row[-3:])))  # fmt: skip

        *key, offset, segments, vals, counts = next(filter(moves, rows), rows[0])
        runs = list(unpack_runs(bytes(segments), bytes(vals), bytes(counts)))
        heads, values, ns = array("q"), array("d"), array("q")
        for d, _, vs, ks in unpack_local(*pack_local(runs, offset + shift_ns)):
            values.extend(vs)
            ns.extend(ks)
            heads.extend((d + shift_ns, len(values)))
        values[0] += bump
        tx.run(
            "UPDATE rollup_value_days SET local_days = ?, local_vals = ?, local_counts = ?"
            f" WHERE day_ns = ? AND {' AND '.join(f'{c} = ?' for c in BLOB_KEY)}",
            (heads.tobytes(), values.tobytes(), ns.tobytes(), day, *key),
        )


def test_check_finds_a_part_unlike_its_segments_and_rebuild_recompacts_with_them(
    ledger: Any,
) -> None:
    fill(ledger, seed=24)
    ledger.compact_rollups(before_ns=AFTER, zone=SHANGHAI)
    assert ledger.check_rollups().consistent
    want = sums(ledger, **WHOLE)
    corrupt_a_part(ledger, DAY0 + DAY_NS, -HOUR_NS)  # an hour after midnight: the day before
    check = ledger.check_rollups()
    assert not check.consistent
    assert {d[0] for d in check.differences} == {"rollup_value_days"}
    assert all(d[1][0] == DAY0 + DAY_NS and "local" in d[1] for d in check.differences)
    assert sums(ledger, **WHOLE) != want  # what the check guards: the reports read the parts
    recompact(ledger, SHANGHAI, [DAY0 + DAY_NS])
    corrupt_a_part(ledger, DAY0 + 2 * DAY_NS, 0, bump=1e-9)  # a value changed
    check = ledger.check_rollups()
    assert all(d[1][0] == DAY0 + 2 * DAY_NS and "local" in d[1] for d in check.differences)
    assert [d[2:] for d in check.differences if d[1][-1] not in ("order",) and d[2] > d[3]] == [
        (1, 0)
    ]  # the value moved, once
    rebuilt = open_ledger_at(ledger, AFTER).check_rollups(rebuild=True, zone=SHANGHAI)
    assert rebuilt.compacted_days == 3
    assert ledger.check_rollups().consistent
    assert {o for _, o in offsets(ledger)} == {LOCAL}
    assert sums(ledger, **WHOLE) == want


def test_a_write_into_a_compacted_day_drops_its_parts(ledger: Any) -> None:
    ids = fill(ledger, seed=25)
    ledger.compact_rollups(before_ns=AFTER, zone=SHANGHAI)
    day1 = [p.plan.probe_id for p in ledger.probes(probe_ids=ids)
            if DAY0 + DAY_NS <= p.plan.planned_at_ns < DAY0 + 2 * DAY_NS]  # fmt: skip
    ledger.save_verdicts([verdict(random.Random(2), pid) for pid in day1[-3:]], at_ns=DAY0 + 1)
    assert {d for d, _ in offsets(ledger)} == {DAY0, DAY0 + 2 * DAY_NS}
    for p in PERIODS:
        assert sums(ledger, **p) == hourly(ledger, **p)
    assert ledger.compact_rollups(before_ns=AFTER, zone=SHANGHAI) == 1
    assert set(offsets(ledger)) == {(DAY0 + d * DAY_NS, LOCAL) for d in range(3)}
    for p in PERIODS:
        assert sums(ledger, **p) == hourly(ledger, **p)
    assert ledger.check_rollups().consistent


def test_the_judges_full_pass_compacts_with_the_reports_zone(ledger: Any) -> None:
    ledger.mark_final(fill(ledger, n=60, seed=26))  # nothing left to judge: no revision
    judge = Judge(ledger, JudgingConfig(rollup_zone=SHANGHAI), lambda: AFTER)
    judge.judge_once(full=True)  # one day a pass, the newest closed first
    assert set(offsets(ledger)) == {(DAY0 + 2 * DAY_NS, LOCAL)}
    Judge(ledger, JudgingConfig(), lambda: AFTER).judge_once(full=True)  # no zone: no parts
    assert set(offsets(ledger)) == {(DAY0 + DAY_NS, None), (DAY0 + 2 * DAY_NS, LOCAL)}


def test_counts_all_one_are_stored_empty_and_days_packed_with_them_read_alike(
    ledger: Any,
) -> None:
    """A blob (and a local part) whose counts are all 1 stores no counts; one with a
    repeat stores them. A day packed with its ones listed (as before) next to days packed
    without reads the same multisets over every period, and the check finds nothing."""
    fill(ledger, seed=25)
    ledger.compact_rollups(before_ns=AFTER, zone=SHANGHAI)
    want = [sums(ledger, **p) for p in PERIODS]
    with ledger._transaction() as tx:
        rows = tx.tuples("SELECT day_ns, kind, vals, counts, local_vals, local_counts"
                         " FROM rollup_value_days")  # fmt: skip
    lengths = {(len(bytes(r[3])) > 0, len(bytes(r[5])) > 0) for r in rows}
    assert (False, False) in lengths  # the usual blob: each value once
    assert any(c for c, _ in lengths) and any(c for _, c in lengths)  # some with repeats
    for _, _, vals, counts, local_vals, local_counts in rows:
        for vs, ks in ((vals, counts), (local_vals, local_counts)):
            if len(bytes(ks)):  # stored: not every count is 1
                assert set(array("q", bytes(ks))) != {1}
                assert len(bytes(ks)) == len(bytes(vs))
    day = DAY0 + DAY_NS  # as packed before: every count listed
    listed = 0
    with ledger._transaction() as tx:
        for r in tx.tuples("SELECT vendor, carrier, mvno, region, profile, band, msisdn,"
                           " burst, submit_status, kind, vals, local_vals FROM rollup_value_days"
                           " WHERE day_ns = ? AND length(counts) = 0", (day,)):  # fmt: skip
            ones = array("q", [1]) * (len(bytes(r[-2])) // 8)
            local = array("q", [1]) * (len(bytes(r[-1])) // 8)
            tx.run(
                "UPDATE rollup_value_days SET counts = ?, local_counts = ?"
                f" WHERE day_ns = ? AND {' AND '.join(f'{c} = ?' for c in BLOB_KEY)}",
                (ones.tobytes(), local.tobytes(), day, *r[:-2]),
            )
            listed += 1
    assert listed > 5
    assert [sums(ledger, **p) for p in PERIODS] == want
    assert [sums(ledger, **p, vendor="acme") for p in PERIODS] == [
        Counter({k: n for k, n in was.items() if k[0][2] == "acme"}) for was in want
    ]
    assert ledger.check_rollups().consistent
