"""How receipts are read: the claim is the first final in the vendor's order, whatever else
comes and in whatever order it comes; everything odd is an anomaly. Pure rules, then the
judge over every combination."""

from __future__ import annotations

import itertools

import pytest

from agent.common.units import NS
from collector.correlation.model import (
    DlrClaim,
    DlrObservation,
    DlrTruth,
    Outcome,
    Policy,
)
from collector.correlation.receipts import (
    BEFORE_ARRIVAL,
    CONTRADICTING_FINAL,
    DUPLICATE_FINAL,
    INTERMEDIATE_AFTER_FINAL,
    OUT_OF_ORDER,
    read_receipts,
)
from collector.correlation.verdicts import judge
from tests.collector.correlation.test_verdicts import T0, arrival, at, probe

POLICY = Policy(deadline_s=60, give_up_s=600, dlr_due_s=300, read_resolution_s=1.0)


def receipt(status: str, done_s: float, received_s: float, mid: str = "m1") -> DlrObservation:
    return DlrObservation(mid, status, T0 + int(received_s * NS), T0 + int(done_s * NS))


def test_a_late_intermediate_is_an_anomaly_never_the_claim() -> None:
    r = read_receipts([receipt("DELIVRD", 8, 9), receipt("ENROUTE", 20, 21)], 1)
    assert (r.claim, r.claim_at_ns) == (DlrClaim.SUCCESS, at(9))
    assert r.anomalies == (INTERMEDIATE_AFTER_FINAL,)
    # An intermediate before the final is the normal course of things.
    calm = read_receipts([receipt("ENROUTE", 3, 4), receipt("DELIVRD", 8, 9)], 1)
    assert (calm.claim, calm.anomalies) == (DlrClaim.SUCCESS, ())


def test_the_first_final_by_done_time_is_the_claim_a_contradiction_is_flagged() -> None:
    # The vendor said DELIVRD at 8 and UNDELIV at 30: it claimed delivery.
    r = read_receipts([receipt("DELIVRD", 8, 9), receipt("UNDELIV", 30, 31)], 1)
    assert r.claim is DlrClaim.SUCCESS and r.anomalies == (CONTRADICTING_FINAL,)
    # The same two received the other way round: the done times still decide.
    swapped = read_receipts([receipt("UNDELIV", 30, 9), receipt("DELIVRD", 8, 31)], 1)
    assert swapped.claim is DlrClaim.SUCCESS
    assert swapped.claim_at_ns == at(31)  # complete only when we had it
    assert set(swapped.anomalies) == {CONTRADICTING_FINAL, OUT_OF_ORDER}
    # Failure first: a failure claim, and a later DELIVRD does not rescue it.
    fail = read_receipts([receipt("EXPIRED", 8, 9), receipt("DELIVRD", 30, 31)], 1)
    assert fail.claim is DlrClaim.FAILURE and fail.anomalies == (CONTRADICTING_FINAL,)


def test_same_done_time_or_none_falls_back_to_the_order_received() -> None:
    # SMPP done dates have minutes: two finals in one minute are ordered as received.
    same = [
        DlrObservation("m1", "UNDELIV", at(40), T0),
        DlrObservation("m1", "DELIVRD", at(20), T0),
    ]
    assert read_receipts(same, 1).claim is DlrClaim.SUCCESS
    undated = [DlrObservation("m1", "UNDELIV", at(10)), DlrObservation("m1", "DELIVRD", at(20))]
    assert read_receipts(undated, 1).claim is DlrClaim.FAILURE


def test_duplicates_and_early_receipts_are_anomalies() -> None:
    dup = read_receipts([receipt("DELIVRD", 8, 9), receipt("DELIVRD", 8, 12)], 1)
    assert dup.claim is DlrClaim.SUCCESS and dup.anomalies == (DUPLICATE_FINAL,)
    early = read_receipts(
        [receipt("DELIVRD", 2, 3)], 1, arrived_at_ns=at(10), arrival_uncertainty_ns=NS
    )
    assert early.claim is DlrClaim.SUCCESS and early.anomalies == (BEFORE_ARRIVAL,)
    # Within the arrival time's uncertainty it is not called early.
    close = read_receipts(
        [receipt("DELIVRD", 9, 9.5)], 1, arrived_at_ns=at(10), arrival_uncertainty_ns=NS
    )
    assert close.anomalies == ()


def test_each_part_id_has_its_own_first_final() -> None:
    parts = [
        receipt("DELIVRD", 5, 6, "m1"),
        receipt("UNDELIV", 50, 51, "m1"),  # contradicts m1's claim: not a failure
        receipt("DELIVRD", 7, 8, "m2"),
        receipt("ENROUTE", 60, 61, "m2"),
    ]
    r = read_receipts(parts, 2)
    assert (r.claim, r.claim_at_ns) == (DlrClaim.SUCCESS, at(8))
    assert r.anomalies == (CONTRADICTING_FINAL, INTERMEDIATE_AFTER_FINAL)
    failed_part = read_receipts([receipt("DELIVRD", 5, 6, "m1"), receipt("UNDELIV", 7, 8, "m2")], 2)
    assert failed_part.claim is DlrClaim.FAILURE


# Every order of arrival of one message's receipts: ACCEPTD, the claim (DELIVRD or UNDELIV),
# a duplicate of it, a contradicting final and an ENROUTE after it, in done-time order.
RECEIPTS = (("ACCEPTD", 1), ("CLAIM", 8), ("CLAIM", 9), ("OTHER", 30), ("ENROUTE", 40))


@pytest.mark.parametrize("claim", ["DELIVRD", "UNDELIV"])
@pytest.mark.parametrize("arrived", [True, False])
def test_every_order_of_every_receipt_gives_the_same_classification(
    claim: str, arrived: bool
) -> None:
    other = "UNDELIV" if claim == "DELIVRD" else "DELIVRD"
    expected = {
        ("DELIVRD", True): DlrTruth.CONSISTENT,
        ("DELIVRD", False): DlrTruth.FAKE_SUCCESS,
        ("UNDELIV", True): DlrTruth.FALSE_FAILURE,
        ("UNDELIV", False): DlrTruth.CONSISTENT,
    }[(claim, arrived)]
    seen = 0
    for order in itertools.permutations(range(len(RECEIPTS))):
        for subset in range(1, 1 << len(RECEIPTS)):
            picked = [i for i in order if subset >> i & 1]
            dlrs = []
            for n, i in enumerate(picked):  # received 100 s apart, in this order
                status, done_s = RECEIPTS[i]
                status = {"CLAIM": claim, "OTHER": other}.get(status, status)
                dlrs.append(receipt(status, done_s, 100 + 100 * n))
            v = judge(
                probe(),
                [arrival(5)] if arrived else [],
                dlrs,
                [],
                now_ns=at(5000),
                policy=Policy(deadline_s=60, give_up_s=600, dlr_due_s=3000),
            )
            assert v.outcome is (Outcome.DELIVERED if arrived else Outcome.LOST)
            finals = [i for i in picked if RECEIPTS[i][0] in ("CLAIM", "OTHER")]
            if not finals:
                assert v.dlr is DlrTruth.MISSING and v.dlr_claim is DlrClaim.NONE
                continue
            # The first final by done time decides: the claim unless only OTHER was sent.
            first = min(finals, key=lambda i: RECEIPTS[i][1])
            want = expected if RECEIPTS[first][0] == "CLAIM" else _flip(expected, arrived)
            assert v.dlr is want, (claim, arrived, [(d.status, d.received_at_ns) for d in dlrs])
            reasons = set(v.reasons)
            if any(RECEIPTS[i][0] == "OTHER" for i in finals) and RECEIPTS[first][0] == "CLAIM":
                assert f"dlr:{CONTRADICTING_FINAL}" in reasons
            if 4 in picked:
                assert f"dlr:{INTERMEDIATE_AFTER_FINAL}" in reasons
            if sorted(picked) != picked:
                assert f"dlr:{OUT_OF_ORDER}" in reasons
            seen += 1
    assert seen > 3000  # every non-empty subset in every order that holds a final


def _flip(truth: DlrTruth, arrived: bool) -> DlrTruth:
    """The classification had the other final been the claim."""
    if truth is DlrTruth.CONSISTENT:
        return DlrTruth.FALSE_FAILURE if arrived else DlrTruth.FAKE_SUCCESS
    return DlrTruth.CONSISTENT
