"""Billing figures on real ledger data from the vendor simulator, held to its ground truth.

Probes go out through the real runner and HTTP adapter to the simulated vendor (it loses
messages, sends DELIVRD for some it lost, inflates the fee it reports for others), the
DLRs come back through the webhook into the ledger (SQLite and PostgreSQL) and the judge
attributes them. No agents run here, so each probe's arrival is the simulator's handing of
the PDU to its handset stand-in (RecordingModemSink, named as such), written as the
verdict's outcome; every other input is what the ledger holds. The expected money is
computed from the simulator's truth records alone."""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from typing import Any

import pytest

from collector.billing.config import BillingConfig, InvoiceMapping
from collector.billing.invoice import parse_invoice
from collector.billing.load import load_period
from collector.billing.terms import Model, PriceRule, VendorTerms
from collector.correlation.model import ContentVerdict, DlrTruth, Outcome, Policy, Verdict
from collector.judging import Judge, JudgingConfig
from collector.probes.runner import LedgerDlrSink, ProbeRunner, RunnerSettings
from collector.probes.scheduler import PlannedProbe, Scheduler, Target
from tests.collector.vendors.helpers import MSISDN_CMCC, run, vendor_scenario
from tests.collector.vendors.test_vendor_contract import SIG, rig

N = 24
KNOBS = {**vendor_scenario()["knobs"], "p_arrive": 0.6, "p_fake_delivered": 0.7,
         "p_fee_inflated": 0.3, "fee_inflated_by": 1}  # fmt: skip
BASE, LONG = 0.04, 0.05
RULES = (PriceRule(LONG, profile="long_ucs2"),)


async def _probe_through(ledger: Any) -> list[Any]:
    async with rig("http", sink=LedgerDlrSink(ledger), knobs=KNOBS) as r:
        scheduler = Scheduler([], [], start_ns=0, rng=random.Random(1), parts_of={})
        runner = ProbeRunner(ledger, {"acct": r.vendor}, scheduler,
                             RunnerSettings(secret=b"k" * 32, signatures={"acct": SIG}),
                             clock=time.time_ns)  # fmt: skip
        target = Target(MSISDN_CMCC, carrier="china_mobile")
        for i in range(N):
            profile = ("notification", "long_ucs2")[i % 2]
            planned = PlannedProbe("acct", target, profile, 0, "day", 1, 0.0)
            assert await runner.send_now(planned, f"b-{i:02d}", 1) is None
        await r.network.wait_idle()
        return list(r.network.truth.records)


def _arrange(ledger: Any) -> dict[str, Any]:
    """Send, judge, write each probe's arrival; returns truth by probe id."""
    truth = run(_probe_through(ledger), timeout_s=60)
    by_message = {p.message_ids[0]: p.plan.probe_id for p in ledger.probes()}
    assert len(truth) == N
    judge = Judge(ledger, JudgingConfig(policy=Policy(), full_pass_interval_s=0), time.time_ns)
    judge.judge_once(full=True)  # attributes the DLRs: the claim each verdict carries
    claims = {pid: v.verdict.dlr_claim for pid, v in ledger.verdicts().items()}
    by_probe = {by_message[t.vendor_message_id]: t for t in truth}
    verdicts = []
    for pid, t in by_probe.items():
        outcome = Outcome.DELIVERED if t.fate == "delivered" else Outcome.LOST
        verdicts.append(Verdict(pid, outcome, DlrTruth.CONSISTENT, claims[pid],
                                ContentVerdict.INTACT))  # fmt: skip
    ledger.save_verdicts(verdicts, at_ns=time.time_ns())
    return by_probe


def _price(t: Any) -> float:
    return LONG if t.parts > 1 else BASE


def money(items: Any, count: Callable[[Any], int] = lambda t: t.parts) -> float:
    """What `items` (truth records) cost at our prices, `count` parts each."""
    return sum(count(t) * _price(t) for t in items)


@pytest.mark.parametrize("model", [Model.ON_SUCCESS, Model.ON_SUBMIT, Model.COEFFICIENT])
def test_each_model_and_the_vendors_bills_match_the_simulators_truth(
    ledger: Any, model: Model
) -> None:
    truth = _arrange(ledger)
    arrived = [t for t in truth.values() if t.fate == "delivered"]
    lost = [t for t in truth.values() if t.fate != "delivered"]
    fake = [t for t in lost if t.dlr_status == "DELIVRD"]
    claimed = [t for t in truth.values() if t.dlr_status == "DELIVRD"]
    # Both kinds present, so a figure mixing them up would differ.
    assert arrived and lost and fake and any(t.fee_inflated for t in truth.values())
    assert {t.parts for t in truth.values()} == {1, 2}

    # The vendor's CDR: one line per message, its reported fee, amounts at our prices + 10 %.
    cdr = "message_id,parts,amount\n" + "".join(
        f"{t.vendor_message_id},{t.billed_parts},{t.billed_parts * _price(t) * 1.1:.4f}\n"
        for t in truth.values()
    )
    parsed = parse_invoice(cdr.encode(), InvoiceMapping(), source="cdr.csv")
    ledger.import_invoice(vendor="acct", source="cdr.csv", sha256=parsed.sha256,
                          currency="CNY", lines=parsed.lines, at_ns=1)  # fmt: skip

    coef = 0.98 if model is Model.COEFFICIENT else 1.0
    terms = VendorTerms("acct", model=model, price=BASE, coefficient=coef, rules=RULES)
    billing = BillingConfig(vendors={"acct": terms})
    (st,) = load_period(ledger, billing, since_ns=0, until_ns=2**62).statements

    assert st.submitted_parts == sum(t.parts for t in truth.values())
    assert st.success_parts == sum(t.parts for t in claimed)
    assert st.arrived_parts == sum(t.parts for t in arrived)
    assert st.charge["on_submit"] == pytest.approx(money(truth.values()))
    assert st.charge["on_success"] == pytest.approx(money(claimed))
    assert st.charge["coefficient"] == pytest.approx(money(truth.values()) * coef)
    assert st.worth == pytest.approx(money(arrived))
    assert st.arrival_rate == pytest.approx(len(arrived) / N)
    assert st.success_share == pytest.approx(len(claimed) / N)

    # The probes behind the over-charge: billed by the model, never arrived.
    expected_gross = {
        Model.ON_SUCCESS: money(fake),
        Model.ON_SUBMIT: money(lost),
        Model.COEFFICIENT: money(lost) * coef,
    }[model]
    charged_lost = fake if model is Model.ON_SUCCESS else lost
    assert {o["probe_id"] for o in st.overcharged} == {
        pid for pid, t in truth.items() if t in charged_lost}  # fmt: skip
    b = st.bases["model"]
    assert b.over_gross == pytest.approx(expected_gross)
    assert b.over_net == pytest.approx(st.charge[model.value] - money(arrived))
    assert sum(o["money"] for o in st.overcharged) == pytest.approx(expected_gross)

    # What the vendor says it billed (its fee field) and what its CDR billed.
    reported = st.bases["vendor_reported"]
    assert reported.parts == sum(t.billed_parts for t in truth.values())
    assert reported.money == pytest.approx(money(truth.values(), lambda t: t.billed_parts))
    over = sum(t.billed_parts * _price(t) for t in lost) + sum(
        (t.billed_parts - t.parts) * _price(t) for t in arrived)  # fmt: skip
    assert reported.over_gross == pytest.approx(over)
    invoice = st.bases["invoice"]
    assert invoice.probes == N and invoice.parts == reported.parts
    assert invoice.money == pytest.approx(reported.money * 1.1, abs=1e-3)
