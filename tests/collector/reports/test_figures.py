from __future__ import annotations

import pytest

from collector.reports.figures import JudgedProbe, Thresholds, aggregate


def probe(
    i: int,
    outcome: str,
    *,
    vendor: str = "v",
    carrier: str = "china_mobile",
    dlr: str = "consistent",
    claim: str = "success",
    latency: float | None = 5.0,
    parts: int = 1,
    accepted: bool = True,
) -> JudgedProbe:
    arrived = outcome in ("delivered", "late")
    return JudgedProbe(
        probe_id=f"p{i}",
        vendor=vendor,
        carrier=carrier,
        region="east",
        profile="notification",
        band="day",
        submitted_at_ns=i,
        accepted=accepted,
        outcome=outcome,
        dlr=dlr,
        dlr_claim=claim,
        content="intact" if arrived else "none",
        latency_s=latency if arrived else None,
        latency_uncertainty_s=0.5 if arrived else None,
        parts=parts,
    )


def test_arrival_rate_excludes_inconclusive_rejected_and_pending() -> None:
    probes = [probe(i, "delivered") for i in range(90)]
    probes += [probe(100 + i, "late", latency=90.0) for i in range(5)]
    probes += [probe(200 + i, "lost", dlr="fake_success") for i in range(5)]
    probes += [probe(300 + i, "inconclusive", dlr="unverifiable") for i in range(7)]
    probes += [probe(400 + i, "rejected", claim="none", accepted=False) for i in range(3)]
    probes += [probe(500, "pending", claim="none")]
    (cell,) = aggregate(probes, group_by=("vendor",))
    assert (cell.sent, cell.accepted, cell.judged) == (111, 108, 100)
    assert cell.arrival_rate == pytest.approx(0.95)
    assert cell.ci_low < 0.95 < cell.ci_high
    assert (cell.inconclusive, cell.rejected, cell.pending) == (7, 3, 1)
    assert cell.dlr["fake_success"] == 5 and cell.dlr_rates["fake_success"] == pytest.approx(0.05)
    assert cell.latency_p50_s == 5.0 and cell.latency_p99_s is not None and cell.latency_p99_s > 5


def test_sla_verdict_breach_met_and_undecided() -> None:
    breach = [probe(i, "delivered") for i in range(180)] + [
        probe(1000 + i, "lost") for i in range(20)
    ]
    met = [probe(i, "delivered") for i in range(1000)] + [probe(5000 + i, "lost") for i in range(5)]
    undecided = [probe(i, "delivered") for i in range(29)] + [probe(99, "lost")]
    assert aggregate(breach, group_by=("vendor",))[0].sla == "breach"
    assert aggregate(met, group_by=("vendor",))[0].sla == "met"
    cell = aggregate(undecided, group_by=("vendor",))[0]
    assert (
        cell.sla == "undecided" and cell.probes_to_decide is not None and cell.probes_to_decide > 0
    )


def test_billing_reconciliation() -> None:
    probes = [
        probe(1, "delivered", parts=2),
        probe(2, "lost", dlr="fake_success", parts=3),
        probe(3, "lost", claim="failure", parts=1),
    ]
    (cell,) = aggregate(probes, group_by=("vendor",), price_per_part={"v": 0.05})
    assert (cell.billed_parts, cell.verified_parts) == (5, 2)
    assert cell.overbilled_money == pytest.approx(0.15)


def test_grouping_by_carrier_and_unknown_dimension() -> None:
    probes = [probe(1, "delivered"), probe(2, "lost", carrier="china_telecom")]
    cells = aggregate(probes, group_by=("vendor", "carrier"), thresholds=Thresholds(0.9))
    assert [c.key["carrier"] for c in cells] == ["china_mobile", "china_telecom"]
    with pytest.raises(ValueError, match="cannot group by"):
        aggregate(probes, group_by=("msisdn",))
