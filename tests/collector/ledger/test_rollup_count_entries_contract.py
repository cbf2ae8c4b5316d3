"""The Ledger contract, a compacted day's counts packed as integers and its marks kept
apart (migration 0022), on SQLite and a real PostgreSQL: `rollup_count_sum_rows` and
`rollup_hour_marks` over packed days (whole, cut by the period's edges and by skipped
hours, per vendor, beside days packed before the migration as text) equal what the hourly
count rows give; the marks are read from rollup_mark_days; `check_rollups` finds a
changed, a cut or a disordered entry and a missing mark, and `rebuild` repacks; a write
into a packed day drops its entries and marks in its own transaction; the migration's SQL
writes the marks of the days already compacted as the compaction does."""

from __future__ import annotations

import random
from array import array
from collections import Counter
from typing import Any

import pytest

from collector.correlation.model import ContentVerdict, DlrClaim, DlrTruth, Outcome, Verdict
from collector.ledger.migrations import load
from collector.ledger.probes import Submission
from collector.ledger.rollups import DAY_NS, HOUR_NS, HourMark, Slices
from collector.ledger.sql.rollup_days import (
    count_entries,
    count_key_text,
    pack_count_entries,
    pack_counts,
    unpack_count_entries,
)
from tests.collector.ledger.test_probe_contract import plan
from tests.collector.ledger.test_rollup_count_days_contract import (
    AFTER,
    ODD,
    hourly_sums,
    packed_days,
    sums,
)
from tests.collector.ledger.test_rollup_days_contract import DAY0, open_ledger_at

DAYS = {DAY0, DAY0 + DAY_NS, DAY0 + 2 * DAY_NS}


def fill(ledger: Any, n: int = 300, seed: int = 22) -> list[str]:
    """Probes over three closed days and the open one with every part of a mark varied:
    bursts, billed parts above, at and below the rule's or none, a send hour up to two
    hours after the planned one (a day's last hours send into the next), outcomes and
    contents; keys holding the text packing's separators."""
    rng = random.Random(seed)
    ids = []
    for i in range(n):
        pid = f"burst-x-{i}-0" if rng.random() < 0.2 else f"p{i}"
        planned = DAY0 + rng.randrange(0, 3 * DAY_NS + 5 * HOUR_NS)
        ledger.add_probe(
            plan(i, probe_id=pid, planned_at_ns=planned, vendor=rng.choice(["acme", "bolt"]),
                 carrier=rng.choice(ODD), parts=rng.choice([1, 2]))
        )  # fmt: skip
        if rng.random() < 0.8:
            sent = planned + rng.randrange(0, 2 * HOUR_NS)
            billed = rng.choice([None, 1, 2, 3])
            ledger.record_submission(
                Submission(pid, "accepted", sent, sent + 1, (f"m{i}",), billed_parts=billed,
                           billed_from="" if billed is None else "submit:fee")
            )  # fmt: skip
        ids.append(pid)
    verdicts = [
        Verdict(pid, rng.choice([Outcome.DELIVERED, Outcome.LATE, Outcome.LOST]),
                DlrTruth.CONSISTENT, DlrClaim.SUCCESS,
                rng.choice([ContentVerdict.INTACT, ContentVerdict.MODIFIED]), latency_s=3.5)
        for pid in ids[: n * 2 // 3]
    ]  # fmt: skip
    ledger.save_verdicts(verdicts, at_ns=DAY0)
    return ids


def hourly_marks(ledger: Any, **kw: Any) -> set[HourMark]:
    """The marks the hourly count rows give (rollup_hour_marks' definition), in Python."""
    return {
        HourMark(r.hour_ns, r.sent_hour_ns, r.burst,
                 r.billed_parts is not None and r.billed_parts > r.parts, r.outcome, r.content)
        for r in ledger.rollup_counts(**kw)
    }  # fmt: skip


def marks(ledger: Any, **kw: Any) -> set[HourMark]:
    got = ledger.rollup_hour_marks(**kw)
    assert len(got) == len(set(got))  # distinct
    return set(got)


def repack_as_text(ledger: Any, day: int) -> None:
    """The day's entries as migration 0020's text, as a day packed before 0022 holds them."""
    with ledger._transaction() as tx:
        for vendor, keys, entries in tx.tuples(
            "SELECT vendor, counts, entries FROM rollup_count_days WHERE day_ns = ?", (day,)
        ):
            rows = [(*key, *t) for key, *cols in count_entries(keys, bytes(entries), {})
                    for t in zip(*cols, strict=True)]  # fmt: skip
            tx.run(
                "UPDATE rollup_count_days SET counts = ?, entries = NULL"
                " WHERE day_ns = ? AND vendor = ?",
                (pack_counts(rows), day, vendor),
            )


PERIODS: list[dict[str, int]] = [
    dict(since_ns=DAY0, until_ns=DAY0 + 4 * DAY_NS),  # whole packed days and the open one
    dict(since_ns=DAY0 + 3 * HOUR_NS, until_ns=DAY0 + 70 * HOUR_NS),  # cut packed days
    dict(since_ns=DAY0 + DAY_NS, until_ns=DAY0 + 2 * DAY_NS),  # one whole day
    dict(since_ns=DAY0 + 30 * HOUR_NS, until_ns=DAY0 + 31 * HOUR_NS),  # an hour
]


def test_entries_read_back_exactly_and_a_malformed_one_is_an_error() -> None:
    rng = random.Random(3)
    rows = []
    for _ in range(200):
        key = tuple(rng.choice([0, 1, -1, 12]) if i in (7, 8, 9, 16) else rng.choice(ODD)
                    for i in range(18))  # fmt: skip
        hour = DAY0 + rng.randrange(24) * HOUR_NS
        rows.append((*key, hour, hour + rng.randrange(3) * HOUR_NS, rng.randrange(1, 9)))
    keys, packed = pack_count_entries(rows)
    got: Counter[tuple[Any, ...]] = Counter()
    order: dict[tuple[Any, ...], list[tuple[int, int]]] = {}
    for key, hours, sents, ns in unpack_count_entries(keys, packed, {}):
        assert len(hours) == len(sents) == len(ns) and key not in order  # an entry a key
        order[key] = list(zip(hours, sents, strict=True))
        for t in zip(hours, sents, ns, strict=True):
            got[(*key, *t)] += 1
    assert got == Counter(rows)
    for key, pairs in order.items():  # the rows' order kept within an entry
        assert pairs == [(r[-3], r[-2]) for r in rows if r[:-3] == key]
    assert keys == "".join(map(count_key_text, order))  # keys once, in entry order
    a = array("q", packed)
    for bad_keys, bad in (
        (keys, packed[:-8]),  # cut short
        (keys[:-1], packed),  # a key's text cut
        (keys + "x", packed),  # keys without entries
        (keys, array("q", [a[0], 0, *a[2:]]).tobytes()),  # an entry of no rows
        (keys, array("q", [len(keys) + 5, *a[1:]]).tobytes()),  # a key ending past the text
    ):
        with pytest.raises(ValueError):
            list(unpack_count_entries(bad_keys, bad, {}))


def test_sums_and_marks_over_packed_days_equal_the_hourly_rows(ledger: Any) -> None:
    fill(ledger)
    slices = Slices(6 * HOUR_NS, 8 * HOUR_NS)  # 6-hour steps cut at 16:00 UTC
    skip = {DAY0 + h * HOUR_NS for h in (6, 7, 20, 24, 39, 40, 73)}
    want_marks = [hourly_marks(ledger, **p) for p in PERIODS]
    assert ledger.compact_rollups(before_ns=AFTER) == 3
    assert packed_days(ledger) == DAYS
    with ledger._transaction(write=False) as tx:
        assert all(e is not None for (e,) in tx.tuples("SELECT entries FROM rollup_count_days"))
    for packed_before in (False, True):
        if packed_before:  # day 1 as a day packed before 0022: text, marks from its SQL
            repack_as_text(ledger, DAY0 + DAY_NS)
        for p, want in zip(PERIODS, want_marks, strict=True):
            assert marks(ledger, **p) == want == hourly_marks(ledger, **p)
            assert marks(ledger, **p, vendor="bolt") == {
                m for m in want if m in hourly_marks(ledger, **p, vendor="bolt")
            }
            for s in (slices, Slices()):
                for cut in (skip, set()):
                    want_sums = hourly_sums(ledger, **p, slices=s, skip_hours=cut)
                    got = sums(ledger, **p, slices=s, skip_hours=cut)
                    assert got == want_sums
                    assert sums(ledger, **p, slices=s, skip_hours=cut, vendor="bolt") == Counter(
                        {k: n for k, n in want_sums.items() if k[1][0] == "bolt"}
                    )
        assert ledger.check_rollups().consistent
    whole = want_marks[0]
    assert {m.burst for m in whole} == {m.over_billed for m in whole} == {True, False}
    assert sum(hourly_sums(ledger, **PERIODS[0], slices=slices, skip_hours=set()).values()) == 300
    assert any(m.hour_ns != m.sent_hour_ns for m in whole)
    assert {k[1][1] for k in sums(ledger, **PERIODS[0], slices=slices)} == set(ODD)


def test_marks_are_read_from_the_packed_days_and_checked(ledger: Any) -> None:
    fill(ledger, seed=5)
    ledger.compact_rollups(before_ns=AFTER)
    period = PERIODS[0]
    want = hourly_marks(ledger, **period)
    with ledger._transaction() as tx:  # an edit no ledger method made: a mark row removed
        row = tx.tuples(
            "SELECT vendor, hour_ns, sent_hour_ns, burst, over_billed, outcome, content"
            " FROM rollup_mark_days WHERE day_ns = ? ORDER BY hour_ns, vendor LIMIT 1",
            (DAY0 + DAY_NS,),
        )[0]
        tx.run(
            "DELETE FROM rollup_mark_days WHERE day_ns = ? AND vendor = ? AND hour_ns = ?"
            " AND sent_hour_ns = ? AND burst = ? AND over_billed = ? AND outcome = ?"
            " AND content = ?",
            (DAY0 + DAY_NS, *row),
        )
    gone = HourMark(int(row[1]), int(row[2]), bool(row[3]), bool(row[4]), row[5], row[6])
    others = hourly_marks(ledger, **period, vendor="bolt" if row[0] == "acme" else "acme")
    assert (marks(ledger, **period) == want - {gone}) is (gone not in others)
    own = hourly_marks(ledger, **period, vendor=row[0])
    assert marks(ledger, **period, vendor=row[0]) == own - {gone}
    check = ledger.check_rollups()
    assert check.differences == [("rollup_mark_days", (DAY0 + DAY_NS, *row), 0, 1)]
    assert open_ledger_at(ledger, AFTER).check_rollups(rebuild=True).compacted_days == 3
    assert ledger.check_rollups().consistent
    assert marks(ledger, **period) == want


def test_check_finds_a_changed_cut_or_disordered_entry_and_rebuild_repacks(ledger: Any) -> None:
    fill(ledger, seed=7)
    ledger.compact_rollups(before_ns=AFTER)
    period: dict[str, Any] = dict(since_ns=DAY0, until_ns=DAY0 + 4 * DAY_NS,
                                  slices=Slices(6 * HOUR_NS, 8 * HOUR_NS))  # fmt: skip
    want = hourly_sums(ledger, **period, skip_hours=set())
    with ledger._transaction() as tx:
        (vendor, keys, packed), *_ = tx.tuples(
            "SELECT vendor, counts, entries FROM rollup_count_days WHERE day_ns = ?"
            " ORDER BY vendor",
            (DAY0,),
        )
    a = array("q", bytes(packed))
    entries = list(unpack_count_entries(keys, bytes(packed), {}))
    key, _, _, ns = entries[0]
    m = a[1]  # the first entry's rows: its last n is at 2 + 3m - 1
    changed = array("q", a)
    changed[2 + 3 * m - 1] += 1
    # a two-row entry reversed: its send hours no longer ascend (when they differ)
    at = next(j for j, e in enumerate(entries) if e[2][0] != e[2][-1])
    turned, size = entries[at][0], len(entries[at][1])
    i = sum(2 + 3 * len(e[1]) for e in entries[:at])  # where its int64s begin
    disordered = array("q", a)
    for col in range(3):
        lo = i + 2 + col * size
        disordered[lo : lo + size] = array("q", reversed(a[lo : lo + size]))
    for bad, found in (
        (changed, [("rollup_count_days", (DAY0, *key, entries[0][1][-1], entries[0][2][-1]),
                    ns[-1] + 1, ns[-1])]),
        (a[:-1], [("rollup_count_days", (DAY0, "unreadable", vendor), 1, 0)]),
        (disordered, [("rollup_count_days", (DAY0, "order", *turned), 1, 0)]),
    ):  # fmt: skip
        with ledger._transaction() as tx:
            tx.run(
                "UPDATE rollup_count_days SET counts = ?, entries = ?"
                " WHERE day_ns = ? AND vendor = ?",  # the keys with it: a rebuild may reorder
                (keys, bad.tobytes(), DAY0, vendor),
            )
        check = ledger.check_rollups()
        if found[0][1][1] == "unreadable":  # the rows it held are missing too
            assert check.differences[-1] == found[0] and len(check.differences) > 1
        else:
            assert check.differences == found
        if bad is disordered:  # read triple by triple: the same sums
            assert sums(ledger, **period) == want
        assert open_ledger_at(ledger, AFTER).check_rollups(rebuild=True).compacted_days == 3
        assert ledger.check_rollups().consistent
        assert sums(ledger, **period) == want


def test_a_write_into_a_packed_day_drops_its_entries_and_marks(ledger: Any) -> None:
    ids = fill(ledger, seed=9)
    ledger.compact_rollups(before_ns=AFTER)
    day1 = [p.plan.probe_id for p in ledger.probes(probe_ids=ids)
            if DAY0 + DAY_NS <= p.plan.planned_at_ns < DAY0 + 2 * DAY_NS]  # fmt: skip
    ledger.save_verdicts(
        [Verdict(pid, Outcome.LOST, DlrTruth.CONSISTENT, DlrClaim.SUCCESS,
                 ContentVerdict.TRUNCATED) for pid in day1[-3:]], at_ns=DAY0 + 1,
    )  # fmt: skip
    with ledger._transaction(write=False) as tx:
        left = {int(d) for (d,) in tx.tuples("SELECT DISTINCT day_ns FROM rollup_mark_days")}
    assert packed_days(ledger) == left == DAYS - {DAY0 + DAY_NS}
    for p in PERIODS:
        assert marks(ledger, **p) == hourly_marks(ledger, **p)
    assert any(m.content == "truncated" for m in marks(ledger, **PERIODS[2]))
    assert ledger.check_rollups().consistent


def test_the_migration_writes_the_marks_of_the_days_already_compacted(ledger: Any) -> None:
    fill(ledger, seed=11)
    ledger.compact_rollups(before_ns=AFTER)
    want = [marks(ledger, **p) for p in PERIODS]
    cols = "day_ns, vendor, hour_ns, sent_hour_ns, burst, over_billed, outcome, content"
    with ledger._transaction() as tx:  # the ledger as migration 0022 finds it
        made = Counter(tx.tuples(f"SELECT {cols} FROM rollup_mark_days"))
        tx.run("DELETE FROM rollup_mark_days")
        tx.run(load(ledger.dialect)[21].statements[-1])
        migrated = Counter(tx.tuples(f"SELECT {cols} FROM rollup_mark_days"))
    assert migrated == made and len(made) > 100
    assert [marks(ledger, **p) for p in PERIODS] == want
    assert ledger.check_rollups().consistent
