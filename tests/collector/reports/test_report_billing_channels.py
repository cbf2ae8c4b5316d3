"""The `report` command's billing section and channel figures through the rollups (SQLite
and a real PostgreSQL): the statements counted from the rollup tallies with only the
probes they name read raw (over-charged, invoiced), the channel episodes from the probes
around each run of failures found in SQL — the whole report JSON equal to the raw-row
path's, over a period with priced vendors under every billing model, over-charged
probes, an imported invoice, switch-overs and a failover, route refusals and a
not-measured span; and every probe class moves the billing totals, so dropping one
cannot pass unnoticed."""

from __future__ import annotations

import random
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from agent.common.units import NS
from collector.billing.config import BillingConfig
from collector.billing.load import apart_of, counted_statements, invoice_bills, not_measured
from collector.billing.statement import statements
from collector.billing.terms import Model, VendorTerms
from collector.correlation.model import ContentVerdict, DlrClaim, DlrTruth, Outcome, Verdict
from collector.ledger import open_ledger
from collector.ledger.channels import ChannelObservation, FailoverSend
from collector.ledger.health import SpanChange
from collector.ledger.invoices import InvoiceLine
from collector.ledger.probes import ProbePlan, Submission
from collector.ledger.rollups import HOUR_NS
from collector.probes.bands import Periods
from collector.reports.config import ReportsConfig
from collector.reports.figures import Tally
from collector.reports.judged import row_of
from collector.reports.period import load_period, period_report
from tests.collector.reports.test_rollup_report import SIMS, T0, build

SHANGHAI = ZoneInfo("Asia/Shanghai")
SINCE, UNTIL = T0 + 17 * NS, T0 + 126 * HOUR_NS + 5 * 60 * NS
BILLING = BillingConfig(
    vendors={
        "acme": VendorTerms("acme", Model.ON_SUBMIT, 0.04),
        "bolt": VendorTerms("bolt", Model.ON_SUCCESS, 0.05),
        "cheap": VendorTerms("cheap", Model.COEFFICIENT, 0.03, coefficient=0.93),
        "dial": VendorTerms("dial", Model.ON_SUBMIT, 0.045),
    }
)


def dial(ledger: Any, rng: random.Random) -> None:
    """A vendor with its own message ids and an imported invoice for some of them, and
    a route that refuses for a while (rejected:other: a failure of the route)."""
    msisdn, carrier, mvno = SIMS[0]
    verdicts, lines = [], []
    for i in range(160):
        pid, at = f"x{i:04d}", T0 + 2 * HOUR_NS + i * 40 * 60 * NS
        ledger.add_probe(
            ProbePlan(
                probe_id=pid, vendor="dial", msisdn=msisdn, profile="otp", token=f"{i:06d}",
                body="b", expected_text="b", planned_at_ns=at, parts=rng.choice([1, 2]),
                band="peak", carrier=carrier, mvno=mvno, region="north", agent_id="a1",
                modem_imei="86",
            )
        )  # fmt: skip
        refused = 40 <= i < 44
        ledger.record_submission(
            Submission(pid, "rejected" if refused else "accepted", at + NS, at + 2 * NS,
                       (f"D{i}",), error_kind="rejected:other" if refused else "")
        )  # fmt: skip
        if refused:
            continue
        lost = i % 7 in (3, 4)  # two in a row: an episode
        verdicts.append(
            Verdict(pid, Outcome.LOST if lost else Outcome.DELIVERED, DlrTruth.CONSISTENT,
                    DlrClaim.SUCCESS, ContentVerdict.NONE if lost else ContentVerdict.INTACT,
                    latency_s=None if lost else 3.0 + i / 1000, latency_uncertainty_s=0.0035)
        )  # fmt: skip
        if i % 3 == 0:
            lines.append(InvoiceLine(len(lines) + 2, f"D{i}", 2, 0.09 if i % 2 else None, at))
    ledger.save_verdicts(verdicts, at_ns=T0)
    ledger.import_invoice(vendor="dial", source="cdr.csv", sha256="d" * 64, currency="CNY",
                          lines=lines, at_ns=T0)  # fmt: skip


def channels(ledger: Any) -> None:
    """Channel observations of acme's arrivals to china_mobile (its sender changes at hour
    60: episodes recover "switched"), and a few of bolt's probes sent through a backup."""
    rows = ledger.judged_rows(since_ns=T0, until_ns=T0 + 200 * HOUR_NS)
    seen = [
        ChannelObservation(
            r.probe_id, r.vendor, r.carrier, r.profile, r.submitted_at_ns,
            r.submitted_at_ns + int((r.latency_s or 1.0) * NS), r.latency_s,
            "10690303" if r.submitted_at_ns < T0 + 60 * HOUR_NS else "10690404", "+8613800100511",
        )
        for r in rows
        if r.vendor in ("acme", "dial") and r.outcome in ("delivered", "partial")
    ]  # fmt: skip
    assert ledger.save_channel_observations(seen) > 50
    for r in [r for r in rows if r.vendor == "cheap" and r.outcome == "delivered"][:12]:
        ledger.record_failover_send(
            FailoverSend(r.probe_id, "otp", "bolt", "cheap", r.carrier, r.profile,
                         r.submitted_at_ns)
        )  # fmt: skip


@pytest.fixture
def world(ledger: Any) -> Any:
    build(ledger, random.Random(11), 1200, hours=130)
    dial(ledger, random.Random(5))
    channels(ledger)
    dark = (T0 + 9 * HOUR_NS + 600 * NS, T0 + 10 * HOUR_NS + 30 * NS)
    ledger.save_health("c1", [], [SpanChange("open", "bolt", "probing", dark[0]),
                                  SpanChange("close", "bolt", "probing", dark[1])])  # fmt: skip
    dim = (T0 + 30 * HOUR_NS + 300 * NS, T0 + 33 * HOUR_NS + 100 * NS)  # dial: 4 probes
    ledger.save_health("c1", [], [SpanChange("open", "dial", "probing", dim[0]),
                                  SpanChange("close", "dial", "probing", dim[1])])  # fmt: skip
    return ledger


def doc(
    ledger: Any, rollups: bool, vendor: str | None = None, url: str | None = None
) -> dict[str, Any]:
    built, n = period_report(
        ledger, since_ns=SINCE, until_ns=UNTIL, vendor=vendor, reports=ReportsConfig(),
        billing=BILLING, periods=Periods(), generated_at="g", rollups=rollups, url=url,
    )  # fmt: skip
    return {**built.to_json(), "latencies": built.latencies, "probes": n}


def test_billing_and_channels_from_rollups_equal_the_raw_path(world: Any) -> None:
    docs = {}
    for vendor in (None, "bolt"):
        docs[vendor] = doc(world, False, vendor)
        assert doc(world, True, vendor) == docs[vendor], vendor
    st = {s["vendor"]: s for s in docs[None]["billing"]}
    # what the comparison covered: counted vendors listing over-charged probes under each
    # model, an invoice basis, a not-measured span's probes apart, switch-overs
    for name in ("acme", "bolt", "cheap", "dial"):
        assert len(st[name]["overcharged"]) > 5, name
    assert st["dial"]["bases"]["invoice"]["probes"] > 20
    assert st["dial"]["apart"]["not_measured"]["probes"] > 0
    assert st["acme"]["apart"]["bursts"]["probes"] > 0
    ch = docs[None]["channels"]
    hows = {e["how"] for e in ch["episodes"]}
    assert {"switched", "same_channel"} <= hows and len(ch["episodes"]) > 10
    assert any(e["failover_sends"] for e in ch["episodes"]) and ch["failover_sends"] == 12
    assert any(e["vendor"] == "dial" and e["failed_probes"] >= 4 for e in ch["episodes"])


def test_channels_read_beside_equal_those_read_here(
    world: Any, ledger_url: str, tmp_path: Any
) -> None:
    """Given the ledger's URL, the channel section over the rollups is read by a process
    of its own (reports/beside.py) while the figures are made: the same report. That
    section really comes from the URL's ledger: a URL naming an empty ledger gives no
    episodes while the figures stay those of `world`."""
    here = {vendor: doc(world, True, vendor) for vendor in (None, "bolt")}
    for vendor, expected in here.items():
        assert doc(world, True, vendor, url=ledger_url) == expected, vendor
    empty = f"sqlite:///{tmp_path}/empty.db"
    open_ledger(empty).close()
    other = doc(world, True, url=empty)
    assert here[None]["channels"]["episodes"] and not other["channels"]["episodes"]
    assert other["tables"] == here[None]["tables"]
    # the raw-row path reads its channels from the rows it loaded, whatever the URL
    assert doc(world, False, url=empty) == doc(world, False)


def test_the_reads_are_the_probes_named_not_the_period(world: Any) -> None:
    """The new path reads raw rows only for what it names: the channel read returns the
    runs and their neighbours, the billing read only over-charge outcomes."""
    every = world.judged_rows(since_ns=SINCE, until_ns=UNTIL)
    runs = world.route_run_rows(since_ns=SINCE, until_ns=UNTIL, ok=("delivered", "partial"),
                                failed=("late", "lost"), refused=("other", "rejected:other"),
                                min_run=2)  # fmt: skip
    assert 0 < len(runs) < len(every) // 2  # a fifth of the verdicts are rejudged lost
    lost = world.judged_rows(since_ns=SINCE, until_ns=UNTIL, outcomes=("lost", "rejected"))
    assert [r.probe_id for r in lost] == [
        r.probe_id
        for r in every
        if r.outcome == "lost" or (r.outcome is None and r.submit_status == "rejected")
    ]


def test_every_probe_class_moves_the_billing_totals(world: Any) -> None:
    """The counted statements equal the one-by-one ones; leaving out any class of probes
    (by outcome and whether the vendor accepted it) changes them or is refused — so a
    counted path that dropped a class would fail the equality above."""
    gaps = not_measured(world, since_ns=SINCE, until_ns=UNTIL)
    data = load_period(world, since_ns=SINCE, until_ns=UNTIL, vendor=None, gaps=gaps,
                       tz=SHANGHAI, rollups=True)  # fmt: skip
    raw = load_period(world, since_ns=SINCE, until_ns=UNTIL, vendor=None, gaps=gaps,
                      tz=SHANGHAI, rollups=False)  # fmt: skip
    tallies = [t for t in data.probes if isinstance(t, Tally)]
    span = {"since_ns": SINCE, "until_ns": UNTIL, "vendor": None, "apart": apart_of(gaps)}
    whole = [s.to_dict() for s in counted_statements(world, BILLING, tallies, **span)]
    bills = invoice_bills(world, [row_of(p, raw.verdicts.get(p.plan.probe_id))
                                  for p in raw.stored])  # fmt: skip
    one_by_one = statements(raw.judged, BILLING.vendors, bills, apart=apart_of(gaps))
    assert whole == [s.to_dict() for s in one_by_one]
    classes = {(t.probe.outcome, t.probe.accepted) for t in tallies}
    assert len(classes) >= 8  # delivered, late, partial, lost, inconclusive, pending, ...
    for cls in sorted(classes):
        kept = [t for t in tallies if (t.probe.outcome, t.probe.accepted) != cls]
        try:
            dropped = [s.to_dict() for s in counted_statements(world, BILLING, kept, **span)]
        except ValueError:  # the over-charged probes listed no longer match the counts
            continue
        assert dropped != whole, cls
