"""The Ledger contract for vendor-reported billed parts (migration 0011), on SQLite and a
real PostgreSQL: kept per submission with where the figure came from, taken from an
attributed DLR only when the submission reported none."""

from __future__ import annotations

from typing import Any

from collector.ledger.probes import Submission
from tests.collector.ledger.test_probe_contract import T, plan


def _dlr(ledger: Any, key: str, message_id: str, **kw: Any) -> int:
    row, _ = ledger.store_dlr(vendor="acme", message_id=message_id, status="DELIVRD",
                              received_at_ns=T, raw=b"{}", dedupe_key=key, **kw)  # fmt: skip
    return int(row.dlr_id)


def test_submission_keeps_the_vendors_figure_and_its_source(ledger: Any) -> None:
    for i in (1, 2):
        ledger.add_probe(plan(i))
    fee = "submit:Response.SendStatusSet[0].Fee"
    ledger.record_submission(
        Submission("p1", "accepted", T, T + 1, ("S1",), billed_parts=3, billed_from=fee)
    )
    ledger.record_submission(Submission("p2", "accepted", T, T + 1, ("S2",)))
    by_id = {p.plan.probe_id: p for p in ledger.probes()}
    assert (by_id["p1"].billed_parts, by_id["p1"].billed_from) == (3, fee)
    assert (by_id["p2"].billed_parts, by_id["p2"].billed_from) == (None, "")
    assert by_id["p1"].plan.parts == 2  # the rule's count is kept apart


def test_an_attributed_dlr_gives_its_billed_parts_to_a_probe_without_one(ledger: Any) -> None:
    for i in (1, 2, 3):
        ledger.add_probe(plan(i))
    ledger.record_submission(Submission("p1", "accepted", T, T + 1, ("B1",)))
    ledger.record_submission(Submission("p2", "accepted", T, T + 1, ("B2",), billed_parts=2,
                                        billed_from="submit:data.fee"))  # fmt: skip
    ledger.record_submission(Submission("p3", "accepted", T, T + 1, ("B3",)))
    d1 = _dlr(ledger, "k1", "B1", billed_parts=4, billed_from="dlr:push:sms_size")
    d1b = _dlr(ledger, "k1b", "B1", billed_parts=9, billed_from="dlr:pull:sms_size")
    d2 = _dlr(ledger, "k2", "B2", billed_parts=5, billed_from="dlr:push:sms_size")
    d3 = _dlr(ledger, "k3", "B3")  # a report without the figure
    (stored,) = [d for d in ledger.unattributed_dlrs() if d.dlr_id == d1]
    assert (stored.billed_parts, stored.billed_from) == (4, "dlr:push:sms_size")
    ledger.attribute_dlrs([(d1, "p1", "same"), (d2, "p2", "same"), (d3, "p3", "same")])
    ledger.attribute_dlrs([(d1b, "p1", "same")])  # a later report cannot rewrite it
    by_id = {p.plan.probe_id: p for p in ledger.probes()}
    assert (by_id["p1"].billed_parts, by_id["p1"].billed_from) == (4, "dlr:push:sms_size")
    # The submission's own figure holds against a report's.
    assert (by_id["p2"].billed_parts, by_id["p2"].billed_from) == (2, "submit:data.fee")
    assert (by_id["p3"].billed_parts, by_id["p3"].billed_from) == (None, "")
    assert [d.billed_parts for d in ledger.dlrs_of(["p1"])["p1"]] == [4, 9]


def test_a_rerecorded_submission_without_a_figure_keeps_the_one_held(ledger: Any) -> None:
    ledger.add_probe(plan(1))
    ledger.record_submission(Submission("p1", "accepted", T, T + 1, ("A1", "A2"),
                                        billed_parts=2, billed_from="acks:smpp"))  # fmt: skip
    ledger.record_submission(Submission("p1", "ambiguous", T, T + 2, ("A1", "A2")))
    (p,) = ledger.probes()
    assert (p.submit_status, p.billed_parts, p.billed_from) == ("ambiguous", 2, "acks:smpp")
