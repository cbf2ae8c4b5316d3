"""The Ledger contract, count rows packed per day and vendor (migration 0020), on SQLite and
a real PostgreSQL: `rollup_count_sum_rows` over packed days (whole, cut by the period's
edges and by skipped hours) equals the hourly count rows summed; keys whose text holds the
packing's own separators read back exactly; any write into a packed day drops its texts in
its own transaction; `check_rollups` finds a changed text and `rebuild` repacks; the
migration's SQL packs the days already compacted as the compaction does. The compaction
now packs integers (migration 0022, test_rollup_count_entries_contract.py); a text these
tests write stands for a day packed before it (`entries` NULL), read as before."""

from __future__ import annotations

import random
from collections import Counter
from typing import Any

from collector.ledger.migrations import load
from collector.ledger.rollups import DAY_NS, HOUR_NS, Slices
from collector.ledger.sql.rollup_days import (
    COMPACT_AFTER_NS,
    count_entries,
    count_key_of_text,
    count_key_text,
    pack_counts,
    unpack_counts,
)
from tests.collector.ledger.test_probe_contract import plan
from tests.collector.ledger.test_rollup_days_contract import DAY0, open_ledger_at, verdict
from tests.collector.ledger.test_rollup_sums_contract import summed

AFTER = DAY0 + 3 * DAY_NS + COMPACT_AFTER_NS  # days 0..2 closed
# keys holding the packing's separators (':' ',' tab, newline, digits) and non-ASCII text
ODD = ["china_mobile", "12:3,\t4", "a\nb", "移动:联通", ""]


def fill(ledger: Any, n: int = 300, seed: int = 20) -> list[str]:
    rng = random.Random(seed)
    ids = []
    for i in range(n):
        ledger.add_probe(
            plan(i, planned_at_ns=DAY0 + rng.randrange(0, 3 * DAY_NS + 5 * HOUR_NS),
                 vendor=rng.choice(["acme", "bolt"]), carrier=rng.choice(ODD),
                 region=rng.choice(ODD), parts=rng.choice([1, 2, 10]),
                 msisdn=rng.choice(["+8613800000001", "+8613900000002"]))
        )  # fmt: skip
        ids.append(f"p{i}")
    ledger.save_verdicts([verdict(rng, pid) for pid in ids[: n * 2 // 3]], at_ns=DAY0)
    return ids


def sums(ledger: Any, **kw: Any) -> Counter[tuple[Any, ...]]:
    out: Counter[tuple[Any, ...]] = Counter()
    for c in ledger.rollup_count_sum_rows(**kw):
        assert (c.first_sent_ns, c.key) not in out  # one sum a key and slice
        out[(c.first_sent_ns, c.key)] = c.n
    return out


def hourly_sums(ledger: Any, *, since_ns: int, until_ns: int, slices: Slices,
                skip_hours: set[int]) -> Counter[tuple[Any, ...]]:  # fmt: skip
    """The hourly count rows summed per key and slice, each sum timed at its first send
    hour (what rollup_count_sum_rows gives), computed here from `rollup_counts`."""
    total, first = summed(ledger, since_ns=since_ns, until_ns=until_ns, slices=slices,
                          skip_hours=skip_hours)  # fmt: skip
    return Counter({(first[k], k[2:20]): n for k, n in total.items()})


def packed_days(ledger: Any) -> set[int]:
    with ledger._transaction(write=False) as tx:
        return {int(r["day_ns"]) for r in tx.all("SELECT day_ns FROM rollup_count_days")}


def test_the_key_text_is_read_back_exactly_and_no_prefix_of_it_is_a_key() -> None:
    rng = random.Random(4)
    for _ in range(300):
        key = tuple(
            rng.choice([0, 1, -1, 12]) if i in (7, 8, 9, 16) else rng.choice(ODD) for i in range(18)
        )
        text = count_key_text(key)
        assert count_key_of_text(text) == (key, len(text))
        for cut in range(len(text)):  # a proper prefix is never a whole key's text
            try:
                got, end = count_key_of_text(text[:cut])
            except ValueError:
                continue
            assert end != cut, (key, cut, got)
    rows = [(*key, 7 * HOUR_NS, 8 * HOUR_NS, 3), (*key, 9 * HOUR_NS, 9 * HOUR_NS, 1)]
    assert list(unpack_counts(pack_counts(rows), {})) == [
        (key, [7 * HOUR_NS, 8 * HOUR_NS, 3, 9 * HOUR_NS, 9 * HOUR_NS, 1])
    ]


def test_sums_over_packed_days_equal_the_hourly_rows(ledger: Any) -> None:
    fill(ledger)
    slices = Slices(6 * HOUR_NS, 8 * HOUR_NS)  # 6-hour steps cut at 16:00 UTC
    skip = {DAY0 + h * HOUR_NS for h in (6, 7, 20, 24, 39, 40, 73)}
    periods = [
        dict(since_ns=DAY0, until_ns=DAY0 + 4 * DAY_NS),  # whole packed days and the open one
        dict(since_ns=DAY0 + 3 * HOUR_NS, until_ns=DAY0 + 70 * HOUR_NS),  # cut packed days
    ]
    before = [sums(ledger, **p, slices=slices, skip_hours=skip) for p in periods]
    assert ledger.compact_rollups(before_ns=AFTER) == 3
    assert packed_days(ledger) == {DAY0, DAY0 + DAY_NS, DAY0 + 2 * DAY_NS}
    for p, was in zip(periods, before, strict=True):
        for s in (slices, Slices()):
            for cut in (skip, set()):
                want = hourly_sums(ledger, **p, slices=s, skip_hours=cut)
                got = sums(ledger, **p, slices=s, skip_hours=cut)
                assert got == want and sum(want.values()) > 150
                assert sums(ledger, **p, slices=s, skip_hours=cut, vendor="bolt") == Counter(
                    {k: n for k, n in want.items() if k[1][0] == "bolt"}
                )
        assert sums(ledger, **p, slices=slices, skip_hours=skip) == was  # as before packing
    # the odd keys were packed and read back
    assert {k[1][1] for k in sums(ledger, **periods[0], slices=slices)} >= set(ODD)


def test_a_write_into_a_packed_day_drops_its_texts_and_check_finds_a_changed_one(
    ledger: Any,
) -> None:
    ids = fill(ledger)
    ledger.compact_rollups(before_ns=AFTER)
    period: dict[str, Any] = dict(since_ns=DAY0, until_ns=DAY0 + 4 * DAY_NS, slices=Slices())
    day1 = [p.plan.probe_id for p in ledger.probes(probe_ids=ids)
            if DAY0 + DAY_NS <= p.plan.planned_at_ns < DAY0 + 2 * DAY_NS]  # fmt: skip
    rng = random.Random(2)
    ledger.save_verdicts([verdict(rng, pid) for pid in day1[-3:]], at_ns=DAY0 + 1)
    assert packed_days(ledger) == {DAY0, DAY0 + 2 * DAY_NS}  # the stale texts are gone
    assert sums(ledger, **period) == hourly_sums(ledger, **period, skip_hours=set())
    assert ledger.check_rollups().consistent
    assert ledger.compact_rollups(before_ns=AFTER) == 1
    with ledger._transaction() as tx:  # an edit no ledger method made: a row's n + 1
        vendor, text, entries = tx.tuples(
            "SELECT vendor, counts, entries FROM rollup_count_days WHERE day_ns = ?"
            " ORDER BY vendor",
            (DAY0,),
        )[0]
        rows = [(*key, *t) for key, *r in count_entries(text, bytes(entries), {})
                for t in zip(*r, strict=True)]  # fmt: skip
        rows[0] = (*rows[0][:-1], rows[0][-1] + 1)
        tx.run("UPDATE rollup_count_days SET counts = ?, entries = NULL"
               " WHERE day_ns = ? AND vendor = ?", (pack_counts(rows), DAY0, vendor))  # fmt: skip
    check = ledger.check_rollups()
    n = rows[0][-1]
    assert check.differences == [("rollup_count_days", (DAY0, *rows[0][:-1]), n, n - 1)]
    rebuilt = open_ledger_at(ledger, AFTER).check_rollups(rebuild=True)
    assert rebuilt.compacted_days == 3
    assert ledger.check_rollups().consistent
    assert sums(ledger, **period) == hourly_sums(ledger, **period, skip_hours=set())


def test_the_migration_packs_the_days_already_compacted_as_compaction_does(ledger: Any) -> None:
    fill(ledger)
    ledger.compact_rollups(before_ns=AFTER)
    period: dict[str, Any] = dict(since_ns=DAY0 + 5 * HOUR_NS, until_ns=DAY0 + 80 * HOUR_NS,
                  slices=Slices(3 * HOUR_NS, 8 * HOUR_NS))  # fmt: skip
    packed = sums(ledger, **period)
    with ledger._transaction() as tx:  # the ledger as migration 0020 finds it
        made = stored_rows(tx, DAY0)
        tx.run("DELETE FROM rollup_count_days")
        (statement,) = load(ledger.dialect)[19].statements[1:]
        tx.run(statement)
        migrated = stored_rows(tx, DAY0)
    assert packed_days(ledger) == {DAY0, DAY0 + DAY_NS, DAY0 + 2 * DAY_NS}
    assert made.keys() == migrated.keys() == {"acme", "bolt"}
    assert made == migrated  # the same rows, in whatever order
    assert ledger.check_rollups().consistent
    assert sums(ledger, **period) == packed == hourly_sums(ledger, **period, skip_hours=set())


def stored_rows(tx: Any, day: int) -> dict[str, Counter[tuple[Any, ...]]]:
    """A day's packed rows as its rows per vendor."""
    rows = tx.tuples(
        "SELECT vendor, counts, entries FROM rollup_count_days WHERE day_ns = ?", (day,)
    )
    return {v: rows_of(text, entries) for v, text, entries in rows}


def rows_of(text: str, entries: bytes | None) -> Counter[tuple[Any, ...]]:
    """A day and vendor's packed row as its rows (entries and triples in any order)."""
    out: Counter[tuple[Any, ...]] = Counter()
    for key, hours, sents, ns in count_entries(text, entries and bytes(entries), {}):
        for h, s, n in zip(hours, sents, ns, strict=True):
            out[(key, h, s)] += n
    return out


def test_a_packed_entry_whose_send_hours_do_not_ascend_sums_the_same(ledger: Any) -> None:
    """The compaction packs an entry's triples with their send hours ascending and a whole
    day's entries are summed a slice at a time; an entry packed in another order (the
    migration's SQL promises none) is summed triple by triple: the same sums."""
    fill(ledger, seed=31)
    ledger.compact_rollups(before_ns=AFTER)
    period: dict[str, Any] = dict(since_ns=DAY0, until_ns=DAY0 + 3 * DAY_NS,
                                  slices=Slices(6 * HOUR_NS, 8 * HOUR_NS))  # fmt: skip
    want = hourly_sums(ledger, **period, skip_hours=set())
    assert sums(ledger, **period) == want
    with ledger._transaction() as tx:
        texts = tx.tuples("SELECT day_ns, vendor, counts, entries FROM rollup_count_days")
        reordered = 0
        for day, vendor, text, packed in texts:
            entries = []
            for key, *r in count_entries(text, bytes(packed), {}):
                triples = list(zip(*r, strict=True))
                if len({t[1] for t in triples}) > 1:
                    reordered += 1
                entries.append(count_key_text(key) + "\t"
                               + ",".join(f"{h},{s},{n}" for h, s, n in triples[::-1]))  # fmt: skip
            tx.run(
                "UPDATE rollup_count_days SET counts = ?, entries = NULL"
                " WHERE day_ns = ? AND vendor = ?",
                ("\n".join(entries), day, vendor),
            )
    assert reordered >= 10
    assert sums(ledger, **period) == want and sum(want.values()) > 150
    assert ledger.check_rollups().consistent
