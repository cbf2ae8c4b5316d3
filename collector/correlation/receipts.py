"""What a vendor's delivery receipts claim, and what is odd about them. Pure.

Vendors send receipts as they please: duplicates, intermediate states (SMPP 3.4 §5.2.28
ENROUTE/ACCEPTD) after the final one, receipts before the handset has the message, finals
that contradict each other, and all of it out of order. The rule (docs/verdicts.md):

- Per vendor message id, receipts are put in the vendor's order: its done time (the
  receipt's `done date`, Appendix B), ties and receipts without one by when we received
  them. The first final receipt in that order is the vendor's claim for that id; nothing
  after it changes the claim. A later final that disagrees (DELIVRD vs a failure) is kept
  and flagged `contradicting_final`, never taken as the claim.
- Intermediate states are never a claim, whenever they come.
- The message: one id claiming failure fails it; success needs a success claim for every
  id the vendor gave at submit (one per part for SMPP-style vendors).
- Everything odd is returned as an anomaly, shown with the verdict, never dropped.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

from collector.correlation.model import FINAL_FAILURE, FINAL_SUCCESS, DlrClaim, DlrObservation

__all__ = [
    "BEFORE_ARRIVAL",
    "CONTRADICTING_FINAL",
    "DUPLICATE_FINAL",
    "INTERMEDIATE_AFTER_FINAL",
    "OUT_OF_ORDER",
    "ReceiptReading",
    "read_receipts",
]

# Anomaly names, shown in a verdict's reasons as "dlr:<name>".
CONTRADICTING_FINAL = "contradicting_final"  # a later final disagrees with the claim
DUPLICATE_FINAL = "duplicate_final"  # the same final state reported again
INTERMEDIATE_AFTER_FINAL = "intermediate_after_final"  # ENROUTE/ACCEPTD after the final
OUT_OF_ORDER = "out_of_order"  # received in another order than the vendor's done times
BEFORE_ARRIVAL = "before_arrival"  # DELIVRD received before the handset had the message


@dataclass(frozen=True, slots=True)
class ReceiptReading:
    claim: DlrClaim
    claim_at_ns: int  # when the claim was complete on our clock (received); 0 without one
    anomalies: tuple[str, ...] = ()


def _final(status: str) -> DlrClaim | None:
    if status in FINAL_SUCCESS:
        return DlrClaim.SUCCESS
    if status in FINAL_FAILURE:
        return DlrClaim.FAILURE
    return None


def _vendor_order(d: DlrObservation) -> tuple[int, int]:
    return (d.done_at_ns if d.done_at_ns is not None else d.received_at_ns, d.received_at_ns)


def read_receipts(
    dlrs: Sequence[DlrObservation],
    ids: int,
    *,
    arrived_at_ns: int | None = None,
    arrival_uncertainty_ns: int = 0,
) -> ReceiptReading:
    """The claim for the whole message (see the module rule) and the anomalies.

    `arrived_at_ns`: when the message was complete on the handset (collector clock); a
    success receipt received more than `arrival_uncertainty_ns` before it is flagged."""
    by_id: dict[str, list[DlrObservation]] = defaultdict(list)
    for d in dlrs:
        by_id[d.message_id].append(d)
    anomalies: set[str] = set()
    success_at: dict[str, int] = {}
    failure_at: int | None = None
    for receipts in by_id.values():
        ordered = sorted(receipts, key=_vendor_order)
        if ordered != sorted(receipts, key=lambda d: (d.received_at_ns, _vendor_order(d))):
            anomalies.add(OUT_OF_ORDER)
        claim: DlrClaim | None = None
        for d in ordered:
            final = _final(d.status.upper())
            if claim is None:
                if final is DlrClaim.SUCCESS:
                    success_at[d.message_id] = d.received_at_ns
                elif final is DlrClaim.FAILURE:
                    failure_at = (
                        d.received_at_ns
                        if failure_at is None
                        else min(failure_at, d.received_at_ns)
                    )
                claim = final
            elif final is None:
                anomalies.add(INTERMEDIATE_AFTER_FINAL)
            else:
                anomalies.add(DUPLICATE_FINAL if final is claim else CONTRADICTING_FINAL)
        if arrived_at_ns is not None and any(
            _final(d.status.upper()) is DlrClaim.SUCCESS
            and d.received_at_ns + arrival_uncertainty_ns < arrived_at_ns
            for d in receipts
        ):
            anomalies.add(BEFORE_ARRIVAL)
    found = tuple(sorted(anomalies))
    if failure_at is not None:
        return ReceiptReading(DlrClaim.FAILURE, failure_at, found)
    if success_at and len(success_at) >= max(ids, 1):
        return ReceiptReading(DlrClaim.SUCCESS, max(success_at.values()), found)
    return ReceiptReading(DlrClaim.NONE, 0, found)
