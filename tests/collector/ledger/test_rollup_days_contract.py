"""The Ledger contract, compacted value days (migration 0016), on SQLite and a real
PostgreSQL: a compacted day's blobs hold exactly its hourly value rows, any write into the
day drops them in its own transaction, `check_rollups` compares them and `rebuild`
recompacts; a compaction racing delta writers (PostgreSQL: a writer holding its delta
uncommitted) never leaves a blob that misses a committed delta."""

from __future__ import annotations

import random
import threading
from collections import Counter
from typing import Any

from collector.correlation.model import ContentVerdict, DlrClaim, DlrTruth, Outcome, Verdict
from collector.ledger import open_ledger
from collector.ledger.rollups import DAY_NS, HOUR_NS
from collector.ledger.sql.rollup_days import COMPACT_AFTER_NS
from tests.collector.ledger.test_probe_contract import plan

DAY0 = 1_750_000_000_000_000_000 // DAY_NS * DAY_NS  # 2025-06-15, a UTC day start
AFTER = DAY0 + 4 * DAY_NS + COMPACT_AFTER_NS  # days 0..3 closed


def hourly(ledger: Any, **kw: Any) -> Counter[tuple[Any, ...]]:
    out: Counter[tuple[Any, ...]] = Counter()
    for v in ledger.rollup_values(**kw):
        out[(v.group(), v.kind, v.value)] += v.n
    return out


def runs(ledger: Any, **kw: Any) -> Counter[tuple[Any, ...]]:
    out: Counter[tuple[Any, ...]] = Counter()
    for run in ledger.rollup_value_runs(**kw):
        assert list(run.values) == sorted(run.values)  # ascending within a run
        for value, n in zip(run.values, run.counts, strict=True):
            out[(run.group, run.kind, value)] += n
    return out


def verdict(rng: random.Random, pid: str) -> Verdict:
    return Verdict(
        pid, rng.choice([Outcome.DELIVERED, Outcome.LATE, Outcome.LOST]), DlrTruth.CONSISTENT,
        DlrClaim.SUCCESS, ContentVerdict.INTACT,
        latency_s=rng.choice([3.5, rng.randrange(1, 10**11) / 1e9]),
        latency_uncertainty_s=0.0035, vendor_delay_s=rng.randrange(0, 10**10) / 1e9,
    )  # fmt: skip


def fill(ledger: Any, n: int = 120, seed: int = 16) -> list[str]:
    rng = random.Random(seed)
    ids = []
    for i in range(n):
        ledger.add_probe(
            plan(i, planned_at_ns=DAY0 + rng.randrange(0, 3 * DAY_NS),
                 vendor=rng.choice(["acme", "bolt"]),
                 msisdn=rng.choice(["+8613800000001", "+8613900000002"]))
        )  # fmt: skip
        ids.append(f"p{i}")
    ledger.save_verdicts([verdict(rng, pid) for pid in ids], at_ns=DAY0)
    return ids


def listed(ledger: Any) -> list[int]:
    with ledger._transaction(write=False) as tx:
        return sorted(int(r["day_ns"]) for r in tx.all("SELECT day_ns FROM rollup_compacted_days"))


def blob_days(ledger: Any) -> set[int]:
    with ledger._transaction(write=False) as tx:
        return {int(r["day_ns"]) for r in tx.all("SELECT day_ns FROM rollup_value_days")}


def test_compacted_days_read_as_their_hourly_rows(ledger: Any) -> None:
    fill(ledger)
    want = hourly(ledger)
    assert runs(ledger) == want and sum(want.values()) > 200
    assert ledger.compact_rollups(before_ns=AFTER, max_days=1) == 1  # the newest closed day
    assert listed(ledger) == [DAY0 + 2 * DAY_NS]
    with ledger._transaction() as tx:
        tx.run("DELETE FROM rollup_compacted_days")
        tx.run("DELETE FROM rollup_value_days")
    assert ledger.compact_rollups(before_ns=DAY0 + 2 * DAY_NS + COMPACT_AFTER_NS) == 2
    assert set(listed(ledger)) == blob_days(ledger) == {DAY0, DAY0 + DAY_NS}
    assert ledger.compact_rollups(before_ns=AFTER) == 1  # the third day; none twice
    assert ledger.compact_rollups(before_ns=AFTER) == 0
    assert runs(ledger) == want
    # a period cutting days, one vendor: the same hours and values as the hourly rows
    for kw in ({"since_ns": DAY0 + 30 * HOUR_NS, "until_ns": DAY0 + 50 * HOUR_NS},
               {"since_ns": DAY0 + 5 * HOUR_NS, "vendor": "bolt"},
               {"until_ns": DAY0 + DAY_NS + 7 * HOUR_NS, "vendor": "acme"}):  # fmt: skip
        assert runs(ledger, **kw) == hourly(ledger, **kw) != Counter(), kw
    check = ledger.check_rollups()
    assert check.consistent and check.value_blobs > 10


def test_a_write_into_a_compacted_day_drops_its_blobs_in_the_same_transaction(
    ledger: Any,
) -> None:
    ids = fill(ledger)
    ledger.compact_rollups(before_ns=AFTER)
    assert listed(ledger) == [DAY0, DAY0 + DAY_NS, DAY0 + 2 * DAY_NS]
    day1 = [p.plan.probe_id for p in ledger.probes(probe_ids=ids)
            if DAY0 + DAY_NS <= p.plan.planned_at_ns < DAY0 + 2 * DAY_NS]  # fmt: skip
    rng = random.Random(1)
    ledger.save_verdicts([verdict(rng, pid) for pid in day1[:3]], at_ns=DAY0 + 1)
    assert listed(ledger) == [DAY0, DAY0 + 2 * DAY_NS]
    assert blob_days(ledger) == {DAY0, DAY0 + 2 * DAY_NS}  # the stale blobs are gone
    assert runs(ledger) == hourly(ledger)
    assert ledger.check_rollups().consistent
    assert ledger.compact_rollups(before_ns=AFTER) == 1  # only the day written
    assert runs(ledger) == hourly(ledger) and ledger.check_rollups().consistent


def test_check_finds_a_changed_or_missing_blob_and_rebuild_recompacts(ledger: Any) -> None:
    fill(ledger)
    ledger.compact_rollups(before_ns=AFTER)
    with ledger._transaction() as tx:  # edits no ledger method made
        row = tx.all(
            "SELECT vendor, msisdn, kind, vals FROM rollup_value_days"
            " WHERE day_ns = ? AND kind = 'latency' ORDER BY vendor, msisdn",
            (DAY0,),
        )[0]
        vals = bytes(row["vals"])
        tx.run("UPDATE rollup_value_days SET vals = ? WHERE day_ns = ? AND vendor = ?"
               " AND msisdn = ? AND kind = 'latency'",
               (vals[:-8] + bytes(8), DAY0, row["vendor"], row["msisdn"]))  # fmt: skip
        tx.run("DELETE FROM rollup_value_days WHERE day_ns = ? AND kind = 'vendor_delay'",
               (DAY0 + DAY_NS,))  # fmt: skip
    check = ledger.check_rollups()
    found = [(t, k[0], have, want) for t, k, have, want in check.differences]
    assert ("rollup_value_days", DAY0, 1, 0) in found  # the value written as 0.0
    assert ("rollup_value_days", DAY0, 0, 1) in found  # the value it replaced
    assert any(k[0] == DAY0 + DAY_NS and k[10] == "vendor_delay" and have == 0
               for t, k, have, _ in check.differences)  # fmt: skip
    assert {t for t, *_ in check.differences} == {"rollup_value_days"}
    wrong = runs(ledger)
    assert wrong != hourly(ledger)  # what a report would have read
    rebuilt = open_ledger_at(ledger, AFTER).check_rollups(rebuild=True)
    assert rebuilt.compacted_days == 3
    assert ledger.check_rollups().consistent and runs(ledger) == hourly(ledger)


def open_ledger_at(ledger: Any, now_ns: int) -> Any:
    """The same ledger whose clock reads `now_ns` (compaction after a rebuild uses it)."""
    ledger._clock = lambda: now_ns
    return ledger


def test_compaction_racing_verdict_writers_keeps_blobs_exact(open_ledgers: Any) -> None:
    """Two connections: one compacts the days over and over while the other rejudges
    probes of those days; after each step the blobs of every listed day equal its rows."""
    writer, compactor = open_ledgers(), open_ledgers()
    ids = fill(writer, n=80, seed=5)
    rng = random.Random(9)
    failures: list[BaseException] = []
    done = threading.Event()

    def compact() -> None:
        try:
            while not done.is_set():
                compactor.compact_rollups(before_ns=AFTER)
        except BaseException as exc:  # reported by the main thread
            failures.append(exc)

    thread = threading.Thread(target=compact)
    thread.start()
    try:
        for _ in range(25):
            batch = rng.sample(ids, k=4)
            writer.save_verdicts([verdict(rng, pid) for pid in batch], at_ns=DAY0 + 2)
    finally:
        done.set()
        thread.join()
    assert not failures
    compactor.compact_rollups(before_ns=AFTER)
    assert len(listed(writer)) == 3
    assert writer.check_rollups().consistent and runs(writer) == hourly(writer)


def test_postgresql_compaction_waits_for_an_uncommitted_delta(postgres_url: str) -> None:
    """A writer's delta is upserted but not committed when a compaction starts: the
    compaction waits for it (SHARE lock) and its blob holds the delta, where reading
    before the commit would have left a blob without it."""
    writer, compactor = open_ledger(postgres_url), open_ledger(postgres_url)
    watcher = open_ledger(postgres_url)
    try:
        fill(writer, n=20)
        (row,) = [v for v in writer.rollup_values() if v.kind == "latency"][:1]
        from collector.ledger.sql.rollups import _VALUE_COLS

        key = (row.hour_ns, row.vendor, row.sent_hour_ns, row.carrier, row.mvno, row.region,
               row.profile, row.band, row.msisdn, int(row.burst), row.submit_status,
               "latency", 1234.5)  # fmt: skip
        compacted: list[int] = []
        with writer._transaction() as tx:
            writer._rollup_add(tx, "rollup_values", _VALUE_COLS, {key: 1})
            thread = threading.Thread(
                target=lambda: compacted.append(compactor.compact_rollups(before_ns=AFTER))
            )
            thread.start()
            for _ in range(600):  # until the compaction waits on the lock (or 60 s: fail)
                with watcher._transaction(write=False) as wtx:
                    waiting = wtx.all("SELECT count(*) AS n FROM pg_stat_activity"
                                      " WHERE wait_event_type = 'Lock'")[0]["n"]  # fmt: skip
                if waiting:
                    break
                threading.Event().wait(0.1)
            assert waiting, "the compaction did not wait for the uncommitted delta"
            assert thread.is_alive()
        thread.join()
        assert compacted == [3]
        assert (row.group(), "latency", 1234.5) in runs(writer)
        assert runs(writer) == hourly(writer)
    finally:
        for ledger in (writer, compactor, watcher):
            ledger.close()
