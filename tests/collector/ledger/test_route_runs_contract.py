"""The Ledger contract for the reads of the report command's channel and billing sections
(SQLite and a real PostgreSQL): `route_run_rows` returns exactly the probes a model over
every judged row picks — per vendor × carrier, attempts in submit order (ties broken by
planned time and id, a never-submitted probe at its planned time), the failed ones in
runs of at least two (one) with the attempt before and after, and every failover send —
and `judged_rows(outcomes=...)` exactly the rows of those outcomes."""

from __future__ import annotations

import random
from typing import Any

import pytest

from collector.correlation.model import ContentVerdict, DlrClaim, DlrTruth, Outcome, Verdict
from collector.ledger.channels import FailoverSend
from collector.ledger.probes import JudgedRow, ProbePlan, Submission

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


def model(rows: list[JudgedRow], failover: set[str], min_run: int) -> list[str]:
    """What route_run_rows promises, from every row in Python."""
    routes: dict[tuple[str, str], list[tuple[tuple[int, int, str], int]]] = {}
    for r in rows:
        if r.probe_id in failover:
            continue
        if r.outcome in OK:
            ok = 1
        elif r.outcome in FAILED or (
            r.outcome is None and r.submit_status == "rejected" and r.error_kind in REFUSED
        ):
            ok = 0
        else:
            continue
        key = (r.submitted_at_ns or r.planned_at_ns, r.planned_at_ns, r.probe_id)
        routes.setdefault((r.vendor, r.carrier), []).append((key, ok))
    keep = set()
    for items in routes.values():
        items.sort()
        oks = [None, None, *(ok for _, ok in items), None, None]  # padded: no attempt
        for i, (key, ok) in enumerate(items, start=2):
            before, after = oks[i - 2 : i], oks[i + 1 : i + 3]
            if min_run >= 2:
                pick = (ok == 0 and 0 in (before[1], after[0])) or (
                    ok == 1 and (before == [0, 0] or after == [0, 0])
                )
            else:
                pick = ok == 0 or 0 in (before[1], after[0])
            if pick:
                keep.add(key[2])
    return [r.probe_id for r in rows if r.probe_id in keep]  # then the failover sends


@pytest.mark.parametrize("min_run", [1, 2])
def test_route_run_rows_are_the_runs_and_their_neighbours(ledger: Any, min_run: int) -> None:
    world(ledger, random.Random(3))
    every = ledger.judged_rows(since_ns=T, until_ns=T + 300 * NS)
    assert {r.probe_id for r in every} >= FAILOVER
    got = ledger.route_run_rows(since_ns=T, until_ns=T + 300 * NS, ok=OK, failed=FAILED,
                                refused=REFUSED, min_run=min_run)  # fmt: skip
    sends = [r.probe_id for r in every if r.probe_id in FAILOVER]
    want = model(every, FAILOVER, min_run) + sends
    assert [r.probe_id for r in got] == want  # the runs in judged_rows' order, then sends
    assert sorted(got) == sorted(r for r in every if r.probe_id in set(want))  # same rows
    assert 0 < len(got) - len(sends) < len(every)
    one = ledger.route_run_rows(since_ns=T, until_ns=T + 300 * NS, vendor="bolt", ok=OK,
                                failed=FAILED, refused=REFUSED, min_run=min_run)  # fmt: skip
    bolt = [r for r in every if r.vendor == "bolt"]
    assert [r.probe_id for r in one] == model(bolt, FAILOVER, min_run) + sends


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
