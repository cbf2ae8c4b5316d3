"""Statement rules the simulator runs do not reach: unverifiable probes kept out of the
over-charge, a partial probe's arrived parts, a coefficient billing below what arrived
(negative net), a refused submit never billed, an unpriced vendor named as such."""

from __future__ import annotations

from typing import Any

import pytest

from collector.billing.statement import Billed, statements
from collector.billing.terms import Model, VendorTerms
from collector.billing.text import statement_lines
from collector.reports.figures import JudgedProbe


def probe(pid: str, outcome: str, claim: str = "success", **kw: Any) -> JudgedProbe:
    base: dict[str, Any] = dict(
        probe_id=pid, vendor="v", carrier="china_mobile", region="", profile="notification",
        band="", submitted_at_ns=0, accepted=outcome != "rejected", outcome=outcome,
        dlr="consistent", dlr_claim=claim, content="intact", parts=1,
    )  # fmt: skip
    base.update(kw)
    return JudgedProbe(**base)


PROBES = [
    probe("a1", "delivered"),
    probe("a2", "late", parts=2),
    probe("p1", "partial", parts=3, missing_parts=1),  # 2 of 3 parts arrived
    probe("l1", "lost"),  # a fake DELIVRD
    probe("l2", "lost", claim="failure"),
    probe("i1", "inconclusive"),  # receiver unhealthy: fate unknown
    probe("r1", "rejected", claim="none"),
]


def test_each_model_over_the_verifiable_probes_only() -> None:
    terms = {m: VendorTerms("v", model=m, price=0.1, coefficient=0.9) for m in Model}
    (sub,) = statements(PROBES, {"v": terms[Model.ON_SUBMIT]})
    # accepted: a1 1, a2 2, p1 3, l1 1, l2 1, i1 1 = 9 parts; r1 refused: never billed
    assert (sub.sent, sub.accepted, sub.submitted_parts) == (7, 6, 9)
    assert sub.success_parts == 8 and sub.arrived_parts == 1 + 2 + 2
    assert sub.charge == {"on_submit": 0.9, "on_success": 0.8, "coefficient": 0.81}
    assert sub.worth == 0.5 and sub.unverifiable_worth == 0.1
    model = sub.bases["model"]
    # verifiable: 8 parts charged (i1 apart), worth 5: p1's missing part, l1, l2
    assert (model.probes, model.money, model.over_gross, model.over_net) == (5, 0.8, 0.3, 0.3)
    assert model.unverifiable_money == 0.1
    assert [o["probe_id"] for o in sub.overcharged] == ["l1", "l2", "p1"]
    assert [o["money"] for o in sub.overcharged] == [0.1, 0.1, 0.1]
    # judged = delivered + late + lost (partial and inconclusive apart, as the report)
    assert (sub.arrival_rate, sub.success_share) == (0.5, 0.75)

    (coef,) = statements(PROBES, {"v": terms[Model.COEFFICIENT]})
    b = coef.bases["model"]
    # 8 verifiable parts × 0.9 = 7.2 parts: 0.72 billed, 0.5 worth; per probe: l1 0.09,
    # l2 0.09 and p1 (2.7 parts billed, 2 arrived) 0.07 above what arrived
    assert (b.money, b.over_gross, b.over_net) == (0.72, 0.25, 0.22)
    (succ,) = statements(PROBES, {"v": terms[Model.ON_SUCCESS]})
    assert [o["probe_id"] for o in succ.overcharged] == ["l1", "p1"]  # l2's DLR said failed

    under = [probe(f"d{i}", "delivered") for i in range(9)] + [probe("x", "lost")]
    (low,) = statements(under, {"v": VendorTerms("v", Model.COEFFICIENT, 0.1, 0.8)})
    assert low.bases["model"].over_net == pytest.approx(-0.1)  # 8 parts billed, 9 arrived
    assert low.bases["model"].over_gross == pytest.approx(0.08)  # x: 0.8 of a part


def test_invoice_amounts_and_an_unpriced_vendor() -> None:
    invoice = {"v": {"a1": Billed(1, 0.2), "l1": Billed(2, None, 2), "i1": Billed(1, 0.1)}}
    (st,) = statements(PROBES, {"v": VendorTerms("v", price=0.1)}, invoice)
    inv = st.bases["invoice"]
    # a1 billed 0.2 (worth 0.1), l1 2 parts at our price 0.2 (worth 0); i1 unverifiable
    assert (inv.probes, inv.parts, inv.money, inv.worth) == (2, 3, 0.4, 0.1)
    assert (inv.over_gross, inv.unverifiable_money) == (0.3, 0.1)
    (unpriced,) = statements(PROBES, {}, default_currency="USD")
    assert not unpriced.priced and unpriced.charge["on_submit"] == 0.0
    assert "NO PRICE in [billing]" in statement_lines(unpriced)[0]
    assert "USD" in statement_lines(unpriced)[0]
