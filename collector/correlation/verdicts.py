"""Judge one probe from its facts. Pure: the same facts and `now` give the same verdict.

Re-judging with more facts (a late arrival, a late DLR) gives the revised verdict; the
caller logs the revision. The rules, in the order they are applied:

1. refused at submit → rejected (DLR not applicable);
2. arrived → delivered or late by the deadline — except late while the receiver was
   unhealthy, which is inconclusive (the delay may be the receiver's); a long message
   with parts still missing (its partial records merged: correlation/partials.py) is
   pending until give-up, then partial — naming the missing parts — under the same
   receiver-health rules as 4-5 (a part the receiver may have missed is inconclusive);
3. not arrived, give-up not reached → pending;
4. not arrived, receiver unhealthy (modem, agent link, or a "not measured" gap) at any time
   in [submit, give-up], or the submit was ambiguous → inconclusive: never charged to the
   vendor;
5. not arrived, the receiver's health for the end of the window not in yet (it is vouched
   for only up to its last sample) → pending until it is;
6. otherwise lost.
The DLR claim (collector/correlation/receipts.py: the first final receipt in the vendor's
order; intermediates, duplicates, early and contradicting receipts are anomalies shown as
"dlr:<anomaly>" reasons) is then compared with what happened; a claim that cannot be checked
(receiver unhealthy) is unverifiable, never "fake"; nor is any claim about a message of which
parts arrived (partial): the parts that came show the vendor did send it.
"""

from __future__ import annotations

from collections.abc import Sequence

from agent.common.units import NS
from collector.correlation import content
from collector.correlation.model import (
    Arrival,
    ContentVerdict,
    DlrClaim,
    DlrObservation,
    DlrTruth,
    Outcome,
    Policy,
    ProbeSpec,
    UnhealthySpan,
    Verdict,
)
from collector.correlation.receipts import read_receipts
from collector.correlation.receiver import AWAITING_HEALTH


def _first_complete(arrivals: Sequence[Arrival]) -> Arrival:
    """The arrival that counts: the earliest complete one, else the one missing fewest
    parts (the earliest of those)."""

    def rank(a: Arrival) -> tuple[int, int]:
        return len(a.missing_parts), max(p.collector_time_ns() for p in a.parts)

    return min(arrivals, key=rank)


def judge(
    probe: ProbeSpec,
    arrivals: Sequence[Arrival],
    dlrs: Sequence[DlrObservation],
    unhealthy: Sequence[UnhealthySpan],
    *,
    now_ns: int,
    policy: Policy,
) -> Verdict:
    if probe.submit_status == "rejected":
        return Verdict(
            probe.probe_id,
            Outcome.REJECTED,
            DlrTruth.NOT_APPLICABLE,
            DlrClaim.NONE,
            ContentVerdict.NONE,
            reasons=("rejected_at_submit",),
        )

    submitted = probe.submitted_at_ns
    give_up_at = submitted + int(policy.give_up_s * NS)
    window_end = min(now_ns, give_up_at)
    problems = sorted(
        {s.reason for s in unhealthy if s.overlaps(submitted, max(window_end, submitted + 1))}
    )
    # Health not in yet for the end of the window: no reason to doubt an arrival, but a
    # non-arrival cannot be judged until the receiver has vouched for the whole window.
    awaiting_health = AWAITING_HEALTH in problems
    problems = [p for p in problems if p != AWAITING_HEALTH]
    reasons: list[str] = []
    if probe.submit_status == "ambiguous":
        reasons.append("ambiguous_submit")

    latency: float | None = None
    uncertainty: float | None = None
    vendor_delay: float | None = None
    carrier_delay: float | None = None
    content_diff = ""
    sender = ""
    missing: tuple[int, ...] = ()
    arrived_at: int | None = None

    if arrivals:
        first = _first_complete(arrivals)
        last_part = max(first.parts, key=lambda p: p.collector_time_ns())
        arrived_at = last_part.collector_time_ns()
        latency = (arrived_at - submitted) / NS
        clock_unc = max(p.clock_uncertainty_ms for p in first.parts) / 1000.0
        uncertainty = clock_unc + policy.read_resolution_s
        verdict_content, content_diff = content.classify(probe.expected_text, first.text)
        if first.missing_parts:
            verdict_content = ContentVerdict.TRUNCATED
            reasons.append("missing_parts")
        scts = [p.scts_ns for p in first.parts if p.scts_ns]
        sender, missing = first.sender, first.missing_parts
        if scts:
            # Split at the SMSC time stamp: before it the vendor (and interconnect), after it
            # the carrier's delivery to the handset.
            vendor_delay = (max(scts) - submitted) / NS
            carrier_delay = (arrived_at - max(scts)) / NS
        if missing:
            if now_ns < give_up_at:
                outcome = Outcome.PENDING
                reasons.append("awaiting_parts")
            elif problems:
                outcome = Outcome.INCONCLUSIVE
                reasons.append("parts_missing_while_receiver_unhealthy")
            elif awaiting_health:
                outcome = Outcome.PENDING
                reasons.append("awaiting_receiver_health")
            else:
                outcome = Outcome.PARTIAL
        elif latency <= policy.deadline_s:
            outcome = Outcome.DELIVERED
        elif problems:
            outcome = Outcome.INCONCLUSIVE
            reasons.append("late_while_receiver_unhealthy")
        else:
            outcome = Outcome.LATE
    else:
        verdict_content = ContentVerdict.NONE
        if now_ns < give_up_at:
            outcome = Outcome.PENDING
        elif problems or probe.submit_status == "ambiguous":
            # An ambiguous submit may never have reached the vendor: its loss is unprovable.
            outcome = Outcome.INCONCLUSIVE
        elif awaiting_health:
            outcome = Outcome.PENDING
            reasons.append("awaiting_receiver_health")
        else:
            outcome = Outcome.LOST
    reasons.extend(f"receiver:{p}" for p in problems)
    receipts = read_receipts(
        dlrs,
        len(probe.vendor_message_ids),
        arrived_at_ns=arrived_at,
        arrival_uncertainty_ns=round((uncertainty or 0.0) * NS),
    )
    claim, claim_at = receipts.claim, receipts.claim_at_ns
    reasons.extend(f"dlr:{a}" for a in receipts.anomalies)

    truth = _dlr_truth(outcome, claim, claim_at, submitted, now_ns, policy)
    return Verdict(
        probe.probe_id,
        outcome,
        truth,
        claim,
        verdict_content,
        content_diff=content_diff,
        latency_s=latency,
        latency_uncertainty_s=uncertainty,
        vendor_delay_s=vendor_delay,
        carrier_delay_s=carrier_delay,
        sender=sender,
        duplicates=max(len(arrivals) - 1, 0),
        missing_parts=missing,
        reasons=tuple(reasons),
        arrival_uuids=tuple(u for a in arrivals for u in a.uuids),
    )


def _dlr_truth(
    outcome: Outcome, claim: DlrClaim, claim_at: int, submitted: int, now_ns: int, policy: Policy
) -> DlrTruth:
    due_at = submitted + int(policy.dlr_due_s * NS)
    if claim is DlrClaim.NONE:
        return DlrTruth.MISSING if now_ns >= due_at else DlrTruth.PENDING
    if outcome is Outcome.PENDING:
        return DlrTruth.PENDING
    if outcome is Outcome.INCONCLUSIVE:
        return DlrTruth.UNVERIFIABLE
    if outcome is Outcome.PARTIAL:
        # Parts arrived: DELIVRD is not fake, and a failure for the missing part is true.
        return DlrTruth.LATE if claim_at > due_at else DlrTruth.CONSISTENT
    arrived = outcome in (Outcome.DELIVERED, Outcome.LATE)
    if claim is DlrClaim.SUCCESS and not arrived:
        return DlrTruth.FAKE_SUCCESS
    if claim is DlrClaim.FAILURE and arrived:
        return DlrTruth.FALSE_FAILURE
    return DlrTruth.LATE if claim_at > due_at else DlrTruth.CONSISTENT
