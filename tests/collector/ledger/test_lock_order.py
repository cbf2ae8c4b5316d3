"""Two collectors on one real PostgreSQL writing the same probes at once: `mark_final` and
retention batches (one connection) against verdict writes (another), many rounds. Every
multi-row writer locks probe rows in probe_id order (SqlCore._lock_probes), so none waits
on the other in a cycle: the server's own deadlock counter (pg_stat_database.deadlocks)
stays 0. And a deadlock the ledger cannot prevent (a foreign transaction locking in the
opposite order) aborts mark_final's transaction, which is run again: the call succeeds."""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable

import psycopg

from collector.correlation.model import ContentVerdict, DlrClaim, DlrTruth, Outcome, Verdict
from collector.ledger import Ledger, open_ledger
from collector.ledger.retention import Action, Cutoff, DataKind, Minimisation
from tests.collector.ledger.test_probe_contract import plan

PROBES = 120
ROUNDS = 12  # retention rounds; a block of PROBES // ROUNDS probes ages past each cutoff
BLOCK = PROBES // ROUNDS
OUTCOMES = (Outcome.DELIVERED, Outcome.LOST, Outcome.LATE)


def _verdict(pid: str, outcome: Outcome) -> Verdict:
    return Verdict(pid, outcome, DlrTruth.CONSISTENT, DlrClaim.SUCCESS, ContentVerdict.INTACT,
                   latency_s=3.0, sender="+8613700000001")  # fmt: skip


def _deadlocks(url: str) -> int:
    """The server's count for this database, once every other session has ended (a
    backend flushes its statistics when it exits)."""
    with psycopg.connect(url, autocommit=True) as conn:
        for _ in range(500):
            others = conn.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                " AND pid <> pg_backend_pid()"
            ).fetchone()
            if others is not None and others[0] == 0:
                break
            time.sleep(0.02)
        conn.execute("SELECT pg_stat_clear_snapshot()")
        row = conn.execute(
            "SELECT deadlocks FROM pg_stat_database WHERE datname = current_database()"
        ).fetchone()
    assert row is not None
    return int(row[0])


def _run_together(*work: Callable[[], None]) -> list[BaseException]:
    errors: list[BaseException] = []
    start = threading.Barrier(len(work))

    def body(fn: Callable[[], None]) -> None:
        start.wait()
        try:
            fn()
        except BaseException as exc:  # reported by the test
            errors.append(exc)

    threads = [threading.Thread(target=body, args=(fn,)) for fn in work]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return errors


def test_final_marks_and_retention_beside_verdict_writes_never_deadlock(
    postgres_url: str,
) -> None:
    setup = open_ledger(postgres_url)
    ids = [f"p{i}" for i in range(PROBES)]
    for i in range(PROBES):
        setup.add_probe(plan(i))
    setup.save_verdicts([_verdict(p, Outcome.DELIVERED) for p in ids], at_ns=1)
    setup.close()
    first = plan(0).planned_at_ns
    judge: Ledger = open_ledger(postgres_url)  # collector A: the judge's verdict writes
    other: Ledger = open_ledger(postgres_url)  # collector B: final marks and retention
    writes = {"verdicts": 0, "final": 0, "retention": 0}

    def verdict_writes() -> None:
        rng = random.Random(1)
        for n in range(ROUNDS * 4):
            chosen = rng.sample(ids, PROBES // 2)  # any order: the writer sorts its locks
            judge.save_verdicts(
                [_verdict(p, OUTCOMES[(n + i) % 3]) for i, p in enumerate(chosen)], at_ns=n + 2
            )
            writes["verdicts"] += 1

    def finals_and_retention() -> None:
        rng = random.Random(2)
        for r in range(ROUNDS):
            for _ in range(3):
                shuffled = rng.sample(ids, PROBES)  # the order the judge happens to list them
                other.mark_final(shuffled)
                writes["final"] += 1
            cut = Minimisation(
                (Cutoff(DataKind.MSISDN, Action.MASK, first + (r + 1) * BLOCK),
                 Cutoff(DataKind.TEXT, Action.MASK, first + (r + 1) * BLOCK))
            )  # fmt: skip
            counts, _ = other.minimise(cut, at_ns=r + 2, limit=PROBES)
            writes["retention"] += counts["verdicts.sender"]

    try:
        errors = _run_together(verdict_writes, finals_and_retention)
    finally:
        judge.close()
        other.close()
    assert errors == []
    assert writes == {"verdicts": ROUNDS * 4, "final": ROUNDS * 3, "retention": PROBES}
    assert _deadlocks(postgres_url) == 0


def test_a_deadlock_aborting_mark_final_is_run_again(postgres_url: str) -> None:
    ledger = open_ledger(postgres_url)
    for i in (1, 2):
        ledger.add_probe(plan(i))
    errors: list[BaseException] = []
    with psycopg.connect(postgres_url) as foreign:
        # The foreign session waits long before checking for deadlocks, so the check runs in
        # mark_final's session: it is the one PostgreSQL aborts.
        foreign.execute("SET deadlock_timeout = '30s'")
        foreign.execute("SELECT 1 FROM probes WHERE probe_id = 'p2' FOR UPDATE")

        def mark() -> None:
            try:
                ledger.mark_final(["p1", "p2"])  # locks p1, then waits for p2
            except BaseException as exc:  # reported by the test
                errors.append(exc)

        worker = threading.Thread(target=mark)
        worker.start()
        with psycopg.connect(postgres_url, autocommit=True) as watch:
            for _ in range(1000):  # until mark_final waits on the foreign lock
                waiting = watch.execute(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                    " AND wait_event_type = 'Lock'"
                ).fetchone()
                if waiting is not None and waiting[0] == 1:
                    break
                time.sleep(0.01)
        # The opposite order: a cycle. PostgreSQL aborts mark_final's transaction (p1 freed),
        # this one gets p1 and commits, mark_final's second attempt succeeds.
        foreign.execute("SELECT 1 FROM probes WHERE probe_id = 'p1' FOR UPDATE")
        foreign.commit()
        worker.join()
    assert errors == []
    assert [p.final for p in ledger.probes(probe_ids=["p1", "p2"])] == [True, True]
    ledger.close()
    assert _deadlocks(postgres_url) == 1  # a real deadlock happened, and was survived
