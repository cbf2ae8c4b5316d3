"""The Ledger contract for the reads of the report command's channel and billing sections
(SQLite and a real PostgreSQL): `route_run_rows` returns exactly the probes a model over
every judged row picks — per vendor × carrier, attempts in submit order (ties broken by
planned time and id, a never-submitted probe at its planned time), the failed ones in
runs of at least two (one) with the attempt before and after, and every failover send —
and `judged_rows(outcomes=...)` exactly the rows of those outcomes."""

from __future__ import annotations

import random
import sqlite3
from typing import Any

import psycopg
import pytest

from collector.correlation.model import ContentVerdict, DlrClaim, DlrTruth, Outcome, Verdict
from collector.ledger import open_ledger
from collector.ledger.channels import FailoverSend
from collector.ledger.migrations import Dialect, load
from collector.ledger.probes import JudgedRow, ProbePlan, Submission
from collector.ledger.sql.route_runs import REACH

NS = 1_000_000_000
T = 1_800_000_000 * NS
OK, FAILED, REFUSED = ("delivered", "partial"), ("late", "lost"), ("other", "rejected:other")
FAILOVER = {"r0005", "r0101", "r0202"}  # sent through a backup: no attempt of their route


def world(ledger: Any, rng: random.Random) -> None:
    verdicts = []
    for i in range(400):
        pid = f"r{i:04d}"
        at = T + rng.randrange(0, 200) * NS  # many ties in planned and submit times
        ledger.add_probe(
            ProbePlan(
                probe_id=pid, vendor=rng.choice(["acme", "bolt"]), msisdn="+8613800000001",
                profile="otp", token=f"{i:06d}", body="b", expected_text="b",
                planned_at_ns=at, carrier=rng.choice(["china_mobile", "china_unicom"]),
            )
        )  # fmt: skip
        if i % 23 == 0:
            continue  # never sent: no attempt
        status = rng.choice(["accepted"] * 6 + ["rejected", "ambiguous"])
        kind = rng.choice(["rejected:other", "rejected:content", "Throttled"])
        sent = 0 if i % 17 == 0 else at + rng.randrange(0, 3) * NS  # 0: at its planned time
        ledger.record_submission(
            Submission(pid, status, sent, sent, ("m",),
                       error_kind=kind if status == "rejected" else "")
        )  # fmt: skip
        if status == "rejected" or i % 11 == 0:
            continue
        outcome = rng.choice([Outcome.DELIVERED] * 3 + [Outcome.LOST, Outcome.LATE,
                             Outcome.PARTIAL, Outcome.INCONCLUSIVE, Outcome.PENDING])  # fmt: skip
        verdicts.append(Verdict(pid, outcome, DlrTruth.CONSISTENT, DlrClaim.SUCCESS,
                                ContentVerdict.NONE, missing_parts=(2,)
                                if outcome is Outcome.PARTIAL else ()))  # fmt: skip
    ledger.save_verdicts(verdicts, at_ns=T)
    for pid in sorted(FAILOVER):
        ledger.record_failover_send(FailoverSend(pid, "g", "acme", "bolt", "china_mobile",
                                                 "otp", T))  # fmt: skip


@pytest.mark.parametrize("min_run", [1, 2])
def test_route_run_rows_are_the_runs_and_their_neighbours(ledger: Any, min_run: int) -> None:
    world(ledger, random.Random(3))
    every = ledger.judged_rows(since_ns=T, until_ns=T + 300 * NS)
    assert {r.probe_id for r in every} >= FAILOVER
    got = ledger.route_run_rows(since_ns=T, until_ns=T + 300 * NS, ok=OK, failed=FAILED,
                                refused=REFUSED, min_run=min_run)  # fmt: skip
    sends = [r.probe_id for r in every if r.probe_id in FAILOVER]
    want = reference(every, None, FAILOVER, min_run)
    assert [r.probe_id for r in got] == want  # the runs in judged_rows' order, then sends
    assert sorted(got) == sorted(r for r in every if r.probe_id in set(want))  # same rows
    assert 0 < len(got) - len(sends) < len(every)
    one = ledger.route_run_rows(since_ns=T, until_ns=T + 300 * NS, vendor="bolt", ok=OK,
                                failed=FAILED, refused=REFUSED, min_run=min_run)  # fmt: skip
    assert [r.probe_id for r in one] == reference(every, "bolt", FAILOVER, min_run)


def test_judged_rows_of_outcomes_are_those_rows(ledger: Any) -> None:
    world(ledger, random.Random(4))
    every = ledger.judged_rows(since_ns=T, until_ns=T + 300 * NS)

    def outcome(r: JudgedRow) -> str:
        if r.outcome is not None:
            return r.outcome
        return "rejected" if r.submit_status == "rejected" else "pending"

    for wanted in (("lost",), ("lost", "partial"), ("rejected",), ("pending", "late")):
        got = ledger.judged_rows(since_ns=T, until_ns=T + 300 * NS, outcomes=wanted)
        assert got == [r for r in every if outcome(r) in wanted], wanted
        assert got


def routes_world(ledger: Any, rng: random.Random, gaps: tuple[int, ...] = ()) -> set[str]:
    """Per vendor × carrier, attempts whose outcomes come in runs (a failure is likely
    followed by another), on a coarse clock (ties in submit and planned times), some never
    submitted (their planned time counts), some saying nothing of the route (pending,
    inconclusive, refused for the content, throttled), some failover sends, and probes
    planned on both sides of the period with submits across its edges. `gaps`: each
    route's probes planned one of these apart instead (from T - 20 s), sent on time or a
    second late. The failover sends' ids are returned."""
    verdicts, sends = [], set()
    failing = {Outcome.LOST, Outcome.LATE}
    nothing = [Outcome.PENDING, Outcome.INCONCLUSIVE]
    for v, c in [(v, c) for v in ("acme", "bolt") for c in ("china_mobile", "china_unicom")]:
        down = rng.random() < 0.5
        clock = T - 20 * NS
        for i in range(150):
            pid = f"{v}-{c}-{i:03d}"
            planned = T - 20 * NS + rng.randrange(0, 340) * NS // 2  # period: [T, T + 300 s)
            if gaps:
                clock += rng.choice(gaps)
                planned = clock
            if i < 4 or i >= 146:  # failed runs at the very start and end of the ledger
                down = True
            elif rng.random() < 0.25:
                down = not down
            ledger.add_probe(
                ProbePlan(probe_id=pid, vendor=v, msisdn="+8613800000001", profile="otp",
                          token=f"{i:06d}", body="b", expected_text="b", planned_at_ns=planned,
                          carrier=c)
            )  # fmt: skip
            kind = rng.random()
            if kind < 0.03:
                continue  # never handed over: "planned", no attempt
            late = rng.choice((0, 0, NS)) if gaps else rng.randrange(0, 8) * NS
            sent = 0 if kind < 0.08 else planned + late
            if kind < 0.18:  # refused at submit: by the vendor (the route), or for other
                why = rng.choice(["rejected:other", "other", "rejected:content", "Throttled"])
                ledger.record_submission(Submission(pid, "rejected", sent, sent, (),
                                                    error_kind=why))  # fmt: skip
                if kind < 0.11:  # judged after all: its verdict says what it shows
                    outcome = rng.choice([Outcome.REJECTED, Outcome.LOST, Outcome.PENDING])
                    verdicts.append(Verdict(pid, outcome, DlrTruth.CONSISTENT,
                                            DlrClaim.SUCCESS, ContentVerdict.NONE))  # fmt: skip
                continue
            ledger.record_submission(Submission(pid, "accepted", sent, sent, ("m",)))
            if kind < 0.24:
                continue  # no verdict yet
            if kind < 0.3:
                outcome = rng.choice(nothing)
            elif down:
                outcome = rng.choice([*failing, Outcome.LOST])
            else:
                outcome = rng.choice([Outcome.DELIVERED] * 4 + [Outcome.PARTIAL])
            verdicts.append(Verdict(pid, outcome, DlrTruth.CONSISTENT, DlrClaim.SUCCESS,
                                    ContentVerdict.NONE, missing_parts=(2,)
                                    if outcome is Outcome.PARTIAL else ()))  # fmt: skip
            if rng.random() < 0.04:
                sends.add(pid)
    ledger.save_verdicts(verdicts, at_ns=T)
    for pid in sorted(sends):
        vendor, carrier, _ = pid.split("-")
        ledger.record_failover_send(FailoverSend(pid, "g", vendor, "bolt", carrier, "otp", T))
    return sends


def attempts(rows: list[JudgedRow], sends: set[str]) -> list[list[tuple[int, int, str, int]]]:
    """Each route's attempts among `rows` as the episodes read them, in submit order:
    (submit time, else planned; planned time; id; 1 ok, 0 failed)."""
    routes: dict[tuple[str, str], list[tuple[int, int, str, int]]] = {}
    for r in rows:
        if r.probe_id in sends or r.submit_status == "planned":  # not handed over: no attempt
            continue
        if r.outcome in OK:
            k = 1
        elif r.outcome in FAILED or (
            r.outcome is None and r.submit_status == "rejected" and r.error_kind in REFUSED
        ):
            k = 0
        else:
            continue
        at = r.submitted_at_ns if r.submitted_at_ns != 0 else r.planned_at_ns
        routes.setdefault((r.vendor, r.carrier), []).append((at, r.planned_at_ns, r.probe_id, k))
    return [sorted(items) for items in routes.values()]


def reference(
    every: list[JudgedRow], vendor: str | None, sends: set[str], min_run: int
) -> list[str]:
    """route_run_rows as it was computed from every attempt's row: each route's attempts
    (of `vendor`) sorted by (submit time, else planned; planned time; id), runs of
    failures at least `min_run` long (2; any run below) with the attempt before and after,
    in judged_rows' order; then the failover sends (of any vendor)."""
    rows = [r for r in every if vendor in (None, r.vendor)]
    keep: set[tuple[int, str]] = set()
    for items in attempts(rows, sends):
        n, i = len(items), 0
        while i < n:
            if items[i][3]:
                i += 1
                continue
            j = i
            while j < n and not items[j][3]:
                j += 1
            if j - i >= min(max(min_run, 1), 2):
                keep.update((a[1], a[2]) for a in items[max(i - 1, 0) : min(j + 1, n)])
            i = j
    kept = {probe_id for _, probe_id in keep}
    return [r.probe_id for r in rows if r.probe_id in kept] + [
        r.probe_id for r in every if r.probe_id in sends
    ]


def assert_the_reference(
    ledger: Any, sends: set[str], periods: list[tuple[int, int]], vendor: str
) -> None:
    """route_run_rows over each period, of every vendor and of `vendor`, with runs of 1, 2
    and 3: the reference's rows, whole as judged_rows has them, in its order."""
    for since, until in periods:
        every = ledger.judged_rows(since_ns=since, until_ns=until)
        row_of = {r.probe_id: r for r in every}
        for one, min_run in [(v, m) for v in (None, vendor) for m in (1, 2, 3)]:
            got = ledger.route_run_rows(since_ns=since, until_ns=until, vendor=one,
                                        ok=OK, failed=FAILED, refused=REFUSED,
                                        min_run=min_run)  # fmt: skip
            want = reference(every, one, sends, min_run)
            assert [r.probe_id for r in got] == want, (since, until, one, min_run)
            assert got == [row_of[p] for p in want]


@pytest.mark.parametrize("seed", [11, 12])
def test_route_run_rows_equal_the_reference_over_every_attempt(ledger: Any, seed: int) -> None:
    """Read from the failed attempts and their neighbours only (migration 0019), the same
    rows in the same order as found over every attempt of the period."""
    sends = routes_world(ledger, random.Random(seed))
    # periods whose edges cut the routes' runs, one wider than the ledger, one second
    periods = [(T, T + 100 * NS), (T - 30 * NS, T + 400 * NS), (T, T + NS)]
    assert_the_reference(ledger, sends, periods, "acme")
    whole = ledger.route_run_rows(since_ns=T, until_ns=T + 300 * NS, ok=OK, failed=FAILED,
                                  refused=REFUSED, min_run=2)  # fmt: skip
    assert len(whole) < len(ledger.judged_rows(since_ns=T, until_ns=T + 300 * NS))


def test_verdicts_written_before_their_submission_follow_it(ledger: Any) -> None:
    """Verdicts saved while their probes are still planned (no attempt yet), then most of
    the submissions recorded, some twice with another time (an ambiguous answer settled
    later): the channel read takes each attempt at its last recorded time, and none of
    the probes still planned, as the reference over every attempt has them (the copies of
    migration 0025 follow the probe's row)."""
    sends = routes_world(ledger, random.Random(31))
    rng = random.Random(32)
    early = []
    for i in range(160):
        pid = f"early-{i:03d}"
        route = (("acme", "bolt")[i % 2], ("china_mobile", "china_unicom")[i // 2 % 2])
        ledger.add_probe(ProbePlan(probe_id=pid, vendor=route[0], msisdn="+8613800000001",
                                   profile="otp", token="000000", body="b", expected_text="b",
                                   planned_at_ns=T + rng.randrange(0, 300) * NS,
                                   carrier=route[1]))  # fmt: skip
        early.append(pid)
    ledger.save_verdicts([Verdict(pid, rng.choice([Outcome.LOST, Outcome.LATE,
                                                   Outcome.DELIVERED]), DlrTruth.CONSISTENT,
                                  DlrClaim.SUCCESS, ContentVerdict.NONE)
                          for pid in early], at_ns=T)  # fmt: skip
    period = [(T - 30 * NS, T + 400 * NS)]
    assert_the_reference(ledger, sends, period, "acme")  # all still planned: none read
    for i, pid in enumerate(early):
        if i % 9 == 0:
            continue  # stays planned
        first = T + rng.randrange(0, 300) * NS
        status = "ambiguous" if i % 3 == 0 else "accepted"
        ledger.record_submission(Submission(pid, status, first, first, ("m",)))
        if status == "ambiguous":  # settled later, at another time (or at its planned one)
            again = 0 if i % 4 == 0 else T + rng.randrange(0, 300) * NS
            ledger.record_submission(Submission(pid, "accepted", again, again, ("m",)))
    every = ledger.judged_rows(since_ns=T - 30 * NS, until_ns=T + 400 * NS)
    moved = [r for r in every if r.probe_id in early and r.submit_status != "planned"]
    assert len(moved) > 100 and any(r.submitted_at_ns == 0 for r in moved)
    assert_the_reference(ledger, sends, period, "bolt")
    got = ledger.route_run_rows(since_ns=T - 30 * NS, until_ns=T + 400 * NS, ok=OK,
                                failed=FAILED, refused=REFUSED, min_run=1)  # fmt: skip
    assert {r.probe_id for r in got} & set(early)  # the early verdicts are read


def far_failures(every: list[JudgedRow], sends: set[str]) -> tuple[int, set[int]]:
    """Ground truth of the world: how many failed attempts have their route's next attempt
    more than REACH later though a failure follows (the lookups `route_run_rows` makes
    again, bounded by the next failure), and the lengths of the runs of failures."""
    far, lengths = 0, set()
    for items in attempts(every, sends):
        failed = [not x[3] for x in items]
        for k, (at, _, _, ok) in enumerate(items[:-1]):
            far += not ok and items[k + 1][0] - at > REACH and any(failed[k + 1 :])
        run = 0
        for f in [*failed, False]:
            if not f and run:
                lengths.add(run)
            run = run + 1 if f else 0
    return far, lengths


@pytest.mark.parametrize("seed", [21, 22, 23])
def test_route_run_rows_with_attempts_further_apart_than_the_reach(ledger: Any, seed: int) -> None:
    """Routes whose probes are seconds to several REACHes apart (planned and sent exactly
    REACH apart too): a failure whose next attempt is beyond REACH is looked up again up
    to the next failure, through stretches of probes that are no attempt; the rows are the
    reference's over every attempt, on periods cutting the routes."""
    gaps = (0, NS, REACH - NS, REACH, REACH + NS, 3 * REACH)
    sends = routes_world(ledger, random.Random(seed), gaps)
    end = T + 150 * 3 * REACH
    whole = ledger.judged_rows(since_ns=T - 30 * NS, until_ns=end)
    far, lengths = far_failures(whole, sends)
    assert far > 0  # the second lookup is exercised
    assert {1, 2, 3} <= lengths  # runs of exactly each min_run
    assert_the_reference(
        ledger, sends, [(T - 30 * NS, end), (T + 20 * REACH, T + 70 * REACH)], "bolt"
    )
    got = ledger.route_run_rows(since_ns=T - 30 * NS, until_ns=end, ok=OK, failed=FAILED,
                                refused=REFUSED, min_run=2)  # fmt: skip
    assert len(got) > len(sends)  # runs found, not only the failover sends


def failures_outside(ledger: Any, since: int, until: int, n: int) -> None:
    """`n` failed attempts on every route planned outside [since, until): days before and
    after, and just outside each edge submitted inside it (in the route's submit order
    among the period's attempts, but not attempts of the period)."""
    plans = []
    for i in range(n):
        before = i % 2 == 0
        near = i % 5 == 0
        if near:
            planned = since - 1 - i * NS if before else until + i * NS
            sent = since + (i % 90) * NS
        else:
            planned = since - (1 + i) * 86_400 * NS if before else until + i * 3_600 * NS
            sent = planned + NS
        v, c = ("acme", "bolt")[i % 2], ("china_mobile", "china_unicom")[i // 2 % 2]
        plans.append((f"out-{i:05d}", v, c, planned, sent))
    for pid, v, c, planned, sent in plans:
        ledger.add_probe(ProbePlan(probe_id=pid, vendor=v, msisdn="+8613800000001",
                                   profile="otp", token="000000", body="b", expected_text="b",
                                   planned_at_ns=planned, carrier=c))  # fmt: skip
        ledger.record_submission(Submission(pid, "accepted", sent, sent, ("m",)))
    ledger.save_verdicts([Verdict(pid, (Outcome.LOST, Outcome.LATE)[i % 2], DlrTruth.CONSISTENT,
                                  DlrClaim.SUCCESS, ContentVerdict.NONE)
                          for i, (pid, *_) in enumerate(plans)], at_ns=T)  # fmt: skip


def test_failures_planned_outside_the_period_change_nothing(ledger: Any) -> None:
    """The failed verdicts are read by their probe's planned time (migration 0019): many
    failures planned before and after the period, some submitted inside it, leave the
    period's rows as they were and as the reference over its attempts has them; the same
    for judged_rows filtered by verdict outcomes (the over-charged listing's read)."""
    sends = routes_world(ledger, random.Random(13))
    since, until = T, T + 100 * NS
    params = [(v, m) for v in (None, "bolt") for m in (1, 2)]

    def read() -> list[list[JudgedRow]]:
        return [ledger.route_run_rows(since_ns=since, until_ns=until, vendor=v, ok=OK,
                                      failed=FAILED, refused=REFUSED, min_run=m)
                for v, m in params]  # fmt: skip

    alone = read()
    every = ledger.judged_rows(since_ns=since, until_ns=until)
    failures_outside(ledger, since, until, 600)
    assert ledger.judged_rows(since_ns=since, until_ns=until) == every
    assert read() == alone
    failed = [r for r in every if r.outcome in ("late", "lost")]  # the listing's read too
    assert ledger.judged_rows(since_ns=since, until_ns=until, outcomes=("late", "lost")) == failed
    assert failed
    for (vendor, min_run), got in zip(params, alone, strict=True):
        assert [r.probe_id for r in got] == reference(every, vendor, sends, min_run)
    wider = ledger.judged_rows(since_ns=since - 86_400 * NS, until_ns=until + 86_400 * NS)
    assert sum(r.outcome in FAILED and r.probe_id.startswith("out-") for r in wider) > 100


def test_a_ledger_migrated_from_18_gets_its_verdicts_planned_times(ledger_url: str) -> None:
    """Migration 0019 on a ledger with verdicts (written at version 18, without the
    column): each gets its probe's planned time, so the channel read finds them."""
    dialect = Dialect.SQLITE if ledger_url.startswith("sqlite") else Dialect.POSTGRESQL
    statements = [s for m in load(dialect) if m.version <= 18 for s in m.statements]
    statements += [
        "CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL,"
        " applied_at_ns BIGINT NOT NULL)",
        *(f"INSERT INTO schema_migrations VALUES ({v}, 'm{v}', 0)" for v in range(1, 19)),
    ]
    for i in range(6):  # probes 0-5: a run of 4 failures between two deliveries
        statements.append(
            "INSERT INTO probes (probe_id, vendor, msisdn, carrier, region, site, agent_id,"
            " modem_imei, iccid, profile, token, body, expected_text, planned_at_ns,"
            " submit_status, submitted_at_ns, answered_at_ns, vendor_message_ids, final)"
            f" VALUES ('m{i}', 'acme', '+8613800000001', 'china_mobile', 'cn', 's', 'a1',"
            f" '860000000000001', '8986', 'otp', 't', 'b', 'b', {T + i * NS}, 'accepted',"
            f" {T + i * NS}, 0, 'm', 1)"
        )
        outcome = "delivered" if i in (0, 5) else ("lost", "late")[i % 2]
        statements.append(
            "INSERT INTO verdicts (probe_id, revision, judged_at_ns, outcome, dlr, dlr_claim,"
            f" content, change_seq) VALUES ('m{i}', 1, 0, '{outcome}', 'consistent',"
            f" 'success', 'none', {i + 1})"
        )
    if dialect is Dialect.SQLITE:
        with sqlite3.connect(ledger_url.removeprefix("sqlite:///")) as conn:
            for s in statements:
                conn.execute(s)
    else:
        with psycopg.connect(ledger_url, autocommit=True) as pg:
            for s in statements:
                pg.execute(s)
    ledger = open_ledger(ledger_url)  # migrates 18 -> newest
    try:
        assert ledger.schema_version() == len(load(dialect))
        with ledger._transaction(write=False) as tx:
            rows = tx.all("SELECT probe_id, planned_at_ns FROM verdicts ORDER BY probe_id")
        assert [(r["probe_id"], int(r["planned_at_ns"])) for r in rows] == [
            (f"m{i}", T + i * NS) for i in range(6)
        ]
        got = ledger.route_run_rows(since_ns=T, until_ns=T + 10 * NS, ok=OK, failed=FAILED,
                                    refused=REFUSED, min_run=2)  # fmt: skip
        assert [r.probe_id for r in got] == [f"m{i}" for i in range(6)]
    finally:
        ledger.close()
