"""The `report` command reads the period's probes for billing and channels as plain rows
(Ledger.judged_rows, reports/judged.load_judged_rows), not as StoredProbe/StoredVerdict
objects: the same rows as the objects give (row_of), and the same billing section and
channel figures as computed from the objects (`load_judged`, `invoice_bills`, the
rejections from the stored probes), on SQLite and a real PostgreSQL. The world has every
kind of probe (delivered, late, partial, lost, inconclusive, pending, rejected, planned),
probes split into parts billed line by line on an invoice, refusals of the route and
channel changes."""

from __future__ import annotations

import random
from typing import Any

from agent.common.units import NS
from collector.billing.config import BillingConfig
from collector.billing.load import apart_of, invoice_bills, not_measured
from collector.billing.statement import statements
from collector.billing.terms import Model, VendorTerms
from collector.channels.switchover import (
    channel_events,
    channel_summaries,
    episodes,
    summarise,
)
from collector.correlation.model import ContentVerdict, DlrClaim, DlrTruth, Outcome, Verdict
from collector.ledger.channels import ChannelObservation
from collector.ledger.invoices import InvoiceLine
from collector.ledger.probes import ProbePlan, Submission
from collector.ledger.rollups import HOUR_NS
from collector.probes.bands import Periods
from collector.reports.config import ReportsConfig
from collector.reports.judged import load_judged, load_judged_rows, row_of
from collector.reports.period import period_report
from tests.collector.reports.test_rollup_report import T0, build

SINCE, UNTIL = T0 + 17 * NS, T0 + 30 * HOUR_NS


def _split_and_refused(ledger: Any) -> None:
    """Probes of two parts with a message id each, some refused by the route, some
    arriving through a changed channel; an invoice billing acme's parts line by line."""
    verdicts: list[Verdict] = []
    observations: list[ChannelObservation] = []
    lines: list[InvoiceLine] = []
    for i in range(24):
        pid, at = f"x{i:03d}", T0 + 2 * HOUR_NS + i * 600 * NS
        vendor = "acme" if i % 3 else "bolt"
        ledger.add_probe(
            ProbePlan(
                probe_id=pid, vendor=vendor, msisdn="+8613800000001", profile="otp",
                token=f"x{i:05d}", body="b", expected_text="b", planned_at_ns=at, parts=2,
                band="peak", carrier="china_mobile", region="north", agent_id="a1",
                modem_imei="86",
            )
        )  # fmt: skip
        refused = i % 5 == 4
        ledger.record_submission(
            Submission(pid, "rejected" if refused else "accepted", at, at + NS // 5,
                       () if refused else (f"M{i}a", f"M{i}b"), b"", b"",
                       "rejected:other" if refused else "", "",
                       billed_parts=None if refused else 2 + i % 2,
                       billed_from="" if refused else "fee")
        )  # fmt: skip
        if refused:
            continue
        lost = i % 4 == 1
        verdicts.append(
            Verdict(pid, Outcome.LOST if lost else Outcome.DELIVERED,
                    DlrTruth.FAKE_SUCCESS if lost else DlrTruth.CONSISTENT, DlrClaim.SUCCESS,
                    ContentVerdict.NONE if lost else ContentVerdict.INTACT,
                    latency_s=None if lost else 3.5 + i, latency_uncertainty_s=0.0035)
        )  # fmt: skip
        if not lost:
            observations.append(
                ChannelObservation(pid, vendor, "china_mobile", "otp", at,
                                   at + int((3.5 + i) * NS), 3.5 + i,
                                   "10690303" if i < 12 else "10690404", "+8613800100511")
            )  # fmt: skip
        if vendor == "acme":
            amount = None if i % 7 else 0.05  # a line without an amount: parts x price
            lines += [InvoiceLine(len(lines) + 2, f"M{i}a", 1, 0.05),
                      InvoiceLine(len(lines) + 3, f"M{i}b", 1, amount)]  # fmt: skip
    ledger.save_verdicts(verdicts, at_ns=T0 + 3 * HOUR_NS)
    ledger.save_channel_observations(observations)
    ledger.import_invoice(vendor="acme", source="cdr.csv", sha256="cd" * 32, currency="CNY",
                          lines=lines, at_ns=T0 + 4 * HOUR_NS)  # fmt: skip


def _from_objects(ledger: Any, billing: BillingConfig) -> tuple[list[Any], dict[str, Any]]:
    """The billing section and channel figures as computed from the stored objects (the
    way before judged_rows)."""
    stored, _, judged = load_judged(ledger, since_ns=SINCE, until_ns=UNTIL)
    gaps = not_measured(ledger, since_ns=SINCE, until_ns=UNTIL)
    bills = invoice_bills(ledger, [row_of(p, None) for p in stored])
    found = statements(judged, billing.vendors, bills,
                       default_currency=billing.currency, apart=apart_of(gaps))  # fmt: skip
    observations = ledger.channel_observations(since_ns=SINCE, until_ns=UNTIL)
    sends = ledger.failover_sends(since_ns=SINCE, until_ns=UNTIL)
    rejections = {p.plan.probe_id: p.error_kind.removeprefix("rejected:")
                  for p in stored if p.submit_status == "rejected"}  # fmt: skip
    eps = episodes(judged, observations, sends, rejections=rejections)
    channels = {
        "channels": [c.to_dict() for c in channel_summaries(observations)],
        "changes": [e.to_dict() for e in channel_events(observations)],
        "episodes": [e.to_dict() for e in eps],
        "switch_over": [s.to_dict() for s in summarise(eps)],
        "failover_sends": len(sends),
    }
    return [st.to_dict() for st in found], channels


def test_judged_rows_are_the_objects_as_tuples(ledger: Any) -> None:
    build(ledger, random.Random(5), 400)
    _split_and_refused(ledger)
    for vendor in (None, "acme", "bolt", "nobody"):
        probes, verdicts, judged = load_judged(ledger, since_ns=SINCE, until_ns=UNTIL,
                                               vendor=vendor)  # fmt: skip
        rows, from_rows = load_judged_rows(ledger, since_ns=SINCE, until_ns=UNTIL,
                                           vendor=vendor)  # fmt: skip
        assert rows == [row_of(p, verdicts.get(p.plan.probe_id)) for p in probes]
        assert from_rows == judged
        assert all(r.message_ids == p.message_ids for r, p in zip(rows, probes, strict=True))
    rows, judged = load_judged_rows(ledger, since_ns=SINCE, until_ns=UNTIL)
    outcomes = {j.outcome for j in judged}
    assert {"delivered", "late", "partial", "lost", "inconclusive", "pending",
            "rejected"} <= outcomes  # fmt: skip
    assert max(r.missing_parts for r in rows) == 1  # a partial's missing part (2,)
    assert next(r for r in rows if r.probe_id == "x001").message_ids == ("M1a", "M1b")


def test_report_billing_and_channels_from_rows_equal_them_from_objects(ledger: Any) -> None:
    build(ledger, random.Random(7), 400)
    _split_and_refused(ledger)
    terms = {"acme": VendorTerms("acme", price=0.05),
             "bolt": VendorTerms("bolt", Model.ON_SUBMIT, 0.04)}  # fmt: skip
    billing = BillingConfig(vendors=terms)
    expected_billing, expected_channels = _from_objects(ledger, billing)
    assert expected_channels["episodes"] and len(expected_channels["changes"]) >= 1
    acme = next(st for st in expected_billing if st["vendor"] == "acme")
    assert "invoice" in acme["bases"] and acme["overcharged"]
    for rollups in (True, False):
        built, _ = period_report(
            ledger, since_ns=SINCE, until_ns=UNTIL, vendor=None, reports=ReportsConfig(),
            billing=billing, periods=Periods(), generated_at="g", rollups=rollups,
        )  # fmt: skip
        assert built.billing == expected_billing, rollups
        assert built.channels == expected_channels, rollups
