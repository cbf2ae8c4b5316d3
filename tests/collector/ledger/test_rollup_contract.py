"""The Ledger contract, rollups (migration 0015), on SQLite and a real PostgreSQL: the hourly
rollups follow every write that changes what they count — plans, submissions, billed parts
from DLRs, verdicts judged and judged again — and equal a recomputation from the raw rows."""

from __future__ import annotations

import random
from collections import Counter
from typing import Any

from collector.correlation.model import ContentVerdict, DlrClaim, DlrTruth, Outcome, Verdict
from collector.ledger.migrations import load
from collector.ledger.probes import Submission
from collector.ledger.rollups import HOUR_NS
from tests.collector.ledger.test_probe_contract import T, plan

OUTCOMES = list(Outcome)
HOUR0 = T - T % HOUR_NS


def model(ledger: Any) -> tuple[Counter[tuple[Any, ...]], Counter[tuple[Any, ...]]]:
    """What the rollups must hold, computed here from the raw rows the ledger returns
    (independently of the ledger's SQL): counts by (hour, vendor, msisdn, submit status,
    billed parts, outcome, dlr, content) and the latency/uncertainty multisets."""
    verdicts = ledger.verdicts()
    counts: Counter[tuple[Any, ...]] = Counter()
    values: Counter[tuple[Any, ...]] = Counter()
    for p in ledger.probes():
        stored = verdicts.get(p.plan.probe_id)
        v = stored.verdict if stored else None
        hour = p.plan.planned_at_ns - p.plan.planned_at_ns % HOUR_NS
        counts[(hour, p.plan.vendor, p.plan.msisdn, p.submit_status, p.billed_parts,
                v.outcome.value if v else "", v.dlr.value if v else "",
                v.content.value if v else "")] += 1  # fmt: skip
        if v is None:
            continue
        if v.latency_s is not None and v.outcome in (Outcome.DELIVERED, Outcome.LATE):
            values[(hour, p.plan.vendor, "latency", v.latency_s)] += 1
        if v.latency_uncertainty_s is not None:
            values[(hour, p.plan.vendor, "uncertainty", v.latency_uncertainty_s)] += 1
    return counts, values


def kept(ledger: Any) -> tuple[Counter[tuple[Any, ...]], Counter[tuple[Any, ...]]]:
    counts: Counter[tuple[Any, ...]] = Counter()
    for r in ledger.rollup_counts():
        counts[(r.hour_ns, r.vendor, r.msisdn, r.submit_status, r.billed_parts, r.outcome,
                r.dlr, r.content)] += r.n  # fmt: skip
    values: Counter[tuple[Any, ...]] = Counter()
    for v in ledger.rollup_values():
        if v.kind in ("latency", "uncertainty"):
            values[(v.hour_ns, v.vendor, v.kind, v.value)] += v.n
    return counts, values


def random_verdict(rng: random.Random, pid: str) -> Verdict:
    outcome = rng.choice(OUTCOMES)
    # A few distinct latencies (repeats share a value row) and arbitrary ns-resolution ones.
    latency = rng.choice([3.5, 12.25, rng.randrange(1, 10**11) / 1e9, None])
    return Verdict(
        pid, outcome, rng.choice(list(DlrTruth)), rng.choice(list(DlrClaim)),
        rng.choice(list(ContentVerdict)), latency_s=latency,
        latency_uncertainty_s=rng.choice([0.0035, 0.25, None]),
        vendor_delay_s=rng.choice([1.0, None]), carrier_delay_s=rng.choice([2.5, None]),
        duplicates=rng.choice([0, 0, 1]), missing_parts=rng.choice([(), (2,)]),
    )  # fmt: skip


def test_rollups_follow_random_writes_and_rewrites(ledger: Any) -> None:
    """Property-style: random plans over several hours, vendors and SIMs, submissions,
    billed parts from DLRs and verdicts written and rewritten in batches: after every step
    the rollups equal the model computed from the raw rows, and the ledger's own check
    finds no difference."""
    rng = random.Random(14)
    planned: list[str] = []
    for step in range(60):
        action = rng.random()
        if action < 0.3 or not planned:
            i = len(planned)
            ledger.add_probe(
                plan(i, planned_at_ns=T + rng.randrange(0, 5 * HOUR_NS),
                     vendor=rng.choice(["acme", "bolt"]),
                     msisdn=rng.choice(["+8613800000001", "+8613900000002"]))
            )  # fmt: skip
            planned.append(f"p{i}")
        elif action < 0.45:
            pid = rng.choice(planned)
            status = rng.choice(["accepted", "rejected", "ambiguous"])
            billed = rng.choice([None, 1, 3])
            ledger.record_submission(
                Submission(pid, status, T + rng.randrange(0, 6 * HOUR_NS), T, ("M",), b"",
                           b"", "", "", billed_parts=billed, billed_from="test" if billed else "")
            )  # fmt: skip
        elif action < 0.55:
            pid = rng.choice(planned)
            dlr, _ = ledger.store_dlr(
                vendor="acme", message_id=f"m{step}", status="DELIVRD", received_at_ns=T,
                raw=b"r", dedupe_key=f"k{step}", billed_parts=rng.choice([None, 2]),
                billed_from="dlr",
            )  # fmt: skip
            ledger.attribute_dlrs([(dlr.dlr_id, pid, "id")])
        else:
            batch = rng.sample(planned, k=min(len(planned), rng.randrange(1, 6)))
            ledger.save_verdicts([random_verdict(rng, pid) for pid in batch], at_ns=T + step)
        assert kept(ledger) == model(ledger), f"after step {step}"
    check = ledger.check_rollups()
    assert check.consistent and check.differences == []
    assert check.count_rows == len(ledger.rollup_counts()) > 5
    assert sum(r.n for r in ledger.rollup_counts()) == len(planned)


def test_a_rejudged_verdict_moves_between_rows(ledger: Any) -> None:
    for i in (1, 2):
        ledger.add_probe(plan(i))
    lost = Verdict("p1", Outcome.LOST, DlrTruth.FAKE_SUCCESS, DlrClaim.SUCCESS,
                   ContentVerdict.NONE)  # fmt: skip
    ledger.save_verdicts([lost], at_ns=T)
    late = Verdict("p1", Outcome.LATE, DlrTruth.CONSISTENT, DlrClaim.SUCCESS,
                   ContentVerdict.INTACT, latency_s=75.125)  # fmt: skip
    ledger.save_verdicts([late], at_ns=T + 1)
    assert sorted((r.outcome, r.n) for r in ledger.rollup_counts()) == [("", 1), ("late", 1)]
    (value,) = ledger.rollup_values()
    assert (value.kind, value.value, value.n) == ("latency", 75.125, 1)
    ledger.save_verdicts([lost], at_ns=T + 2)  # back again: the latency leaves the histogram
    assert sorted((r.outcome, r.n) for r in ledger.rollup_counts()) == [("", 1), ("lost", 1)]
    assert ledger.rollup_values() == []
    assert ledger.rollup_counts(since_ns=HOUR0 + HOUR_NS) == []
    assert [r.vendor for r in ledger.rollup_counts(since_ns=HOUR0, vendor="acme")] == ["acme"] * 2


def test_check_finds_a_row_changed_behind_the_ledger_and_rebuild_repairs_it(ledger: Any) -> None:
    for i in range(4):
        ledger.add_probe(plan(i, planned_at_ns=T + i * HOUR_NS))
    ledger.save_verdicts(
        [Verdict(f"p{i}", Outcome.DELIVERED, DlrTruth.CONSISTENT, DlrClaim.SUCCESS,
                 ContentVerdict.INTACT, latency_s=2.0 + i) for i in range(4)], at_ns=T,
    )  # fmt: skip
    assert ledger.check_rollups().consistent
    with ledger._transaction() as tx:  # an edit no ledger method made
        tx.run("UPDATE verdicts SET outcome = 'lost' WHERE probe_id = 'p2'")
    check = ledger.check_rollups()
    # delivered row gone and lost row new, the latency 4.0 no longer counted
    assert sorted((t, k[14], have, want) for t, k, have, want in check.differences
                  if t == "rollup_counts") == [("rollup_counts", "delivered", 1, 0),
                                               ("rollup_counts", "lost", 0, 1)]  # fmt: skip
    assert [(t, k[-1], have, want) for t, k, have, want in check.differences
            if t == "rollup_values"] == [("rollup_values", 4.0, 1, 0)]  # fmt: skip
    fixed = ledger.check_rollups(rebuild=True)
    assert fixed.rebuilt and (fixed.count_rows, fixed.value_rows) == (4, 3)  # an hour each
    assert ledger.check_rollups().consistent
    assert sorted(r.outcome for r in ledger.rollup_counts()) == ["delivered"] * 3 + ["lost"]


def test_the_migration_fills_the_rollups_of_an_existing_ledger(ledger: Any) -> None:
    """Migration 0015's own statements over rows written before it: what the maintained
    rollups hold."""
    rng = random.Random(15)
    for i in range(30):
        ledger.add_probe(plan(i, planned_at_ns=T + rng.randrange(0, 3 * HOUR_NS)))
    ledger.save_verdicts([random_verdict(rng, f"p{i}") for i in range(0, 30, 2)], at_ns=T)
    maintained = (ledger.rollup_counts(), ledger.rollup_values())
    (mig,) = [m for m in load(ledger.dialect) if m.name == "rollups"]
    with ledger._transaction() as tx:
        tx.run("DELETE FROM rollup_counts")
        tx.run("DELETE FROM rollup_values")
        for statement in mig.statements:
            if statement.startswith("INSERT"):
                tx.run(statement)
    assert (ledger.rollup_counts(), ledger.rollup_values()) == maintained
    assert ledger.check_rollups().consistent


def test_sms_of_returns_the_named_arrivals_with_their_parts(ledger: Any) -> None:
    """What the evidence export reads instead of every SMS around the period."""
    from tests.collector.ledger.builders import NOW, T0, record, registration, sms

    ledger.register_agent(registration(), at_ns=T0)
    recs = [record(i + 1, sms(T0 + i, f"text {i}", parts=1 + i % 2)) for i in range(6)]
    ledger.ingest_batch("agent-1", recs, [], at_ns=NOW)
    wanted = [recs[1].uuid, recs[4].uuid, "no-such-uuid"]
    got = ledger.sms_of(wanted)
    assert sorted(got) == sorted(wanted[:2])
    every = {s.uuid: s for s in ledger.received_sms()}
    assert got == {u: every[u] for u in wanted[:2]}
    assert len(got[recs[1].uuid].sms.parts) == 2 and ledger.sms_of([]) == {}


def test_revisions_of_returns_only_the_named_probes(ledger: Any) -> None:
    """What the evidence export reads instead of every revision of the ledger."""
    for i in range(3):
        ledger.add_probe(plan(i))
    for outcome in (Outcome.PENDING, Outcome.LOST, Outcome.DELIVERED):
        ledger.save_verdicts(
            [Verdict(f"p{i}", outcome, DlrTruth.CONSISTENT, DlrClaim.SUCCESS,
                     ContentVerdict.NONE) for i in range(3)], at_ns=T,
        )  # fmt: skip
    got = ledger.revisions_of(["p0", "p2", "nope"])
    assert sorted(got) == ["p0", "p2"]
    assert got["p2"] == ledger.verdict_revisions("p2") and len(got["p2"]) == 2
    assert [r.new[0] for r in got["p0"]] == ["lost", "delivered"]
    assert ledger.revisions_of([]) == {}


def test_hours_retention_minimised_keep_their_rollups(ledger: Any) -> None:
    """A masked MSISDN is no difference: the rollups keep the SIM, check and rebuild leave
    that hour alone and still compare the others."""
    for i in range(4):
        ledger.add_probe(plan(i, planned_at_ns=T + (i % 2) * HOUR_NS))
    with ledger._transaction() as tx:  # as retention's msisdn masking leaves a probe
        tx.run("UPDATE probes SET msisdn = '+86138****0001', minimised = 'msisdn:mask'"
               " WHERE probe_id = 'p1'")  # fmt: skip
    check = ledger.check_rollups()
    assert check.consistent and check.minimised_hours == 1 and check.count_rows == 1
    rebuilt = ledger.check_rollups(rebuild=True)
    assert rebuilt.minimised_hours == 1 and rebuilt.count_rows == 1
    assert {(r.hour_ns - HOUR0, r.msisdn, r.n) for r in ledger.rollup_counts()} == {
        (0, "+8613800000001", 2),
        (HOUR_NS, "+8613800000001", 2),  # kept as it was before the masking
    }
    with ledger._transaction() as tx:  # an unminimised hour is still compared
        tx.run("UPDATE probes SET band = 'x' WHERE probe_id = 'p0'")
    assert len(ledger.check_rollups().differences) == 2
