"""The Ledger contract for the billing statement's listed probes (SQLite and a real
PostgreSQL): `charge_rows` returns exactly the accepted probes with a verdict among
`judged_rows(outcomes=...)` (the listing's previous read), each with the same carrier,
profile, parts, vendor-billed parts, outcome, DLR claim and count of missing parts —
over probes of every submit status (refused, ambiguous and never-sent ones with lost
verdicts too), every outcome, partial arrivals missing one part or several, probes
planned right at and just outside the period's edges, with a vendor filter or not."""

from __future__ import annotations

import random
from typing import Any

from collector.correlation.model import ContentVerdict, DlrClaim, DlrTruth, Outcome, Verdict
from collector.ledger.probes import ChargeRow, JudgedRow, ProbePlan, Submission

NS = 1_000_000_000
T = 1_800_000_000 * NS
SINCE, UNTIL = T + 100 * NS, T + 400 * NS
# planned right at the edges and a nanosecond outside them (each read at least once)
EDGES = (SINCE - 1, SINCE, UNTIL - 1, UNTIL)


def world(ledger: Any, rng: random.Random) -> None:
    verdicts = []
    for i in range(500):
        pid = f"c{i:04d}"
        at = EDGES[i] if i < len(EDGES) else T + rng.randrange(0, 500) * NS
        parts = rng.choice((1, 1, 2, 3))
        ledger.add_probe(
            ProbePlan(
                probe_id=pid, vendor=rng.choice(["acme", "bolt", "dial"]),
                msisdn="+8613800000001", profile=rng.choice(["otp", "marketing"]),
                token=f"{i:06d}", body="b", expected_text="b", planned_at_ns=at,
                parts=parts, carrier=rng.choice(["china_mobile", "china_unicom"]),
            )
        )  # fmt: skip
        if i % 29 == 7:
            status = "planned"  # never sent: judged_rows leaves it out, verdict or not
        else:
            status = rng.choice(["accepted"] * 5 + ["rejected", "ambiguous"])
            billed = rng.choice([None, parts, parts + 1])
            ledger.record_submission(
                Submission(pid, status, at + NS, at + NS, ("m",), billed_parts=billed,
                           billed_from="fee" if billed is not None else "")
            )  # fmt: skip
        if i % 13 == 0 and i >= len(EDGES):
            continue  # no verdict: "pending" or "rejected" to judged_rows, never listed
        outcome = rng.choice(list(Outcome))
        missing = tuple(sorted(rng.sample(range(1, parts + 1), rng.randint(1, parts))))
        verdicts.append(Verdict(pid, outcome, DlrTruth.CONSISTENT,
                                rng.choice(list(DlrClaim)), ContentVerdict.NONE,
                                missing_parts=missing if outcome is Outcome.PARTIAL
                                else ()))  # fmt: skip
    ledger.save_verdicts(verdicts, at_ns=T)


def listed(r: JudgedRow) -> ChargeRow:
    assert r.outcome is not None and r.dlr_claim is not None
    return ChargeRow(r.probe_id, r.vendor, r.carrier, r.profile, r.parts, r.billed_parts,
                     r.outcome, r.dlr_claim, r.missing_parts)  # fmt: skip


def test_charge_rows_are_the_accepted_judged_rows_of_those_outcomes(ledger: Any) -> None:
    world(ledger, random.Random(6))
    every = ledger.judged_rows(since_ns=SINCE, until_ns=UNTIL)
    seen = {r.probe_id for r in every}
    assert {"c0001", "c0002"} <= seen and not {"c0000", "c0003"} & seen  # the edges
    lost = [r for r in every if r.outcome == "lost"]
    assert {r.submit_status for r in lost} == {"accepted", "rejected", "ambiguous"}
    assert {r.missing_parts for r in every if r.outcome == "partial"} >= {1, 2}
    assert {r.billed_parts is None for r in every} == {True, False}
    for wanted in (("lost",), ("lost", "partial"), ("delivered", "late", "lost", "partial"),
                   ("inconclusive",), ("pending",)):  # fmt: skip
        for vendor in (None, "bolt"):
            got = ledger.charge_rows(since_ns=SINCE, until_ns=UNTIL, outcomes=wanted,
                                     vendor=vendor)  # fmt: skip
            old = ledger.judged_rows(since_ns=SINCE, until_ns=UNTIL, outcomes=wanted,
                                     vendor=vendor)  # fmt: skip
            want = [listed(r) for r in old
                    if r.submit_status == "accepted" and r.outcome is not None]  # fmt: skip
            assert sorted(got) == sorted(want), (wanted, vendor)
            assert want and len(want) < len(old), (wanted, vendor)  # some are left out
            assert all(isinstance(r, ChargeRow) for r in got)
    assert ledger.charge_rows(since_ns=SINCE, until_ns=UNTIL, outcomes=()) == []


def test_charge_rows_follow_probes_changed_after_their_verdicts(ledger: Any) -> None:
    """Verdicts saved while their probes are still planned, then the submissions recorded
    (some with billed parts, some refused, some twice), then DLRs attributed that give
    billed parts to probes without one: each listing row is the probe as it is now, as
    judged_rows reads it (the verdict's copies of migration 0025 follow every change)."""
    world(ledger, random.Random(7))
    rng = random.Random(8)
    late = [f"v{i:03d}" for i in range(150)]
    for i, pid in enumerate(late):
        ledger.add_probe(ProbePlan(probe_id=pid, vendor=("acme", "bolt")[i % 2],
                                   msisdn="+8613800000001", profile=("otp", "notice")[i % 3 > 0],
                                   token="000000", body="b", expected_text="b",
                                   planned_at_ns=SINCE + rng.randrange(0, 300) * NS,
                                   parts=1 + i % 3, carrier="china_mobile"))  # fmt: skip
    ledger.save_verdicts([Verdict(pid, rng.choice([Outcome.LOST, Outcome.PARTIAL]),
                                  DlrTruth.CONSISTENT, DlrClaim.SUCCESS, ContentVerdict.NONE,
                                  missing_parts=(1,)) for pid in late], at_ns=T)  # fmt: skip
    wanted = ("lost", "partial")

    def same() -> list[ChargeRow]:
        got = ledger.charge_rows(since_ns=SINCE, until_ns=UNTIL, outcomes=wanted)
        old = ledger.judged_rows(since_ns=SINCE, until_ns=UNTIL, outcomes=wanted)
        want = [listed(r) for r in old if r.submit_status == "accepted"]
        assert sorted(got) == sorted(want)
        return got

    assert not {r.probe_id for r in same()} & set(late)  # still planned: not accepted
    for i, pid in enumerate(late):
        status = "rejected" if i % 10 == 0 else ("ambiguous" if i % 4 == 0 else "accepted")
        billed = 1 + i % 4 if i % 5 == 0 else None
        ledger.record_submission(Submission(pid, status, T, T, (f"M{i}",), billed_parts=billed,
                                            billed_from="fee" if billed else ""))  # fmt: skip
        if status == "ambiguous":  # settled later
            ledger.record_submission(Submission(pid, "accepted", T, T, (f"M{i}",)))
    stored = []
    for i, pid in enumerate(late):
        if i % 3 == 0:  # a report carrying billed parts (taken when the probe has none)
            row, _ = ledger.store_dlr(vendor="acme", message_id=f"M{i}", status="DELIVRD",
                                      received_at_ns=T, raw=b"{}", dedupe_key=f"k{i}",
                                      billed_parts=7, billed_from="dlr")  # fmt: skip
            stored.append((int(row.dlr_id), pid, "same"))
    ledger.attribute_dlrs(stored)
    got = {r.probe_id: r for r in same()}
    mine = [got[p] for p in late if p in got]
    assert len(mine) > 100
    assert {r.billed_parts for r in mine} >= {None, 7, 2, 4}  # from submit and from DLRs
    assert {r.profile for r in mine} == {"otp", "notice"} and {r.parts for r in mine} == {1, 2, 3}
