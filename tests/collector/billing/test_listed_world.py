"""The report's billing section with every vendor billed on submit (each lost or partial
probe over-charged and listed by id: the listing's lean read, Ledger.charge_rows) equals
the statements over every probe one by one, line for line and in each line's key order,
on SQLite and a real PostgreSQL: vendors priced per carrier and profile, one with an
imported invoice (read whole), one on DLR success next to them, a period with unaligned
edges (part-hours read raw, their over-charged probes among the tallies already) and a
not-measured span (its hours read raw), the whole period and one vendor."""

from __future__ import annotations

from typing import Any
from zoneinfo import ZoneInfo

import pytest

from collector.billing.config import BillingConfig
from collector.billing.load import apart_of, counted_statements, invoice_bills, not_measured
from collector.billing.statement import statements
from collector.billing.terms import Model, PriceRule, VendorTerms
from collector.reports.figures import Tally
from collector.reports.judged import row_of
from collector.reports.period import load_period
from tests.collector.reports.test_report_billing_channels import SINCE, UNTIL
from tests.collector.reports.test_report_billing_channels import world as world  # fixture

SHANGHAI = ZoneInfo("Asia/Shanghai")
RULES = (PriceRule(0.055, carrier="china_telecom"), PriceRule(0.061, profile="otp"))
ON_SUBMIT = BillingConfig(
    vendors={
        "acme": VendorTerms("acme", Model.ON_SUBMIT, 0.04, rules=RULES),
        "bolt": VendorTerms("bolt", Model.ON_SUCCESS, 0.05, rules=RULES),
        "cheap": VendorTerms("cheap", Model.ON_SUBMIT, 0.03),
        "dial": VendorTerms("dial", Model.ON_SUBMIT, 0.045),  # an imported invoice
    }
)


@pytest.mark.parametrize("vendor", [None, "acme"])
def test_listed_over_charges_are_those_of_every_probe(world: Any, vendor: str | None) -> None:
    gaps = not_measured(world, since_ns=SINCE, until_ns=UNTIL, vendor=vendor)
    span = {"since_ns": SINCE, "until_ns": UNTIL, "vendor": vendor}
    data = load_period(world, **span, gaps=gaps, tz=SHANGHAI, rollups=True)
    raw = load_period(world, **span, gaps=gaps, tz=SHANGHAI, rollups=False)
    tallies = [t for t in data.probes if isinstance(t, Tally)]
    got = counted_statements(world, ON_SUBMIT, tallies, **span, apart=apart_of(gaps))
    bills = invoice_bills(world, [row_of(p, raw.verdicts.get(p.plan.probe_id))
                                  for p in raw.stored])  # fmt: skip
    want = statements(raw.judged, ON_SUBMIT.vendors, bills, apart=apart_of(gaps))
    assert [s.to_dict() for s in got] == [s.to_dict() for s in want]
    for g, w in zip(got, want, strict=True):
        assert [list(line) for line in g.overcharged] == [list(line) for line in w.overcharged]
    lines = [line for s in got for line in s.overcharged]
    raw_ids = {t.probe.probe_id for t in tallies if t.probe.probe_id}
    listed = [line for line in lines if line["probe_id"] not in raw_ids]  # charge_rows'
    assert len(listed) > 40 and len(raw_ids & {line["probe_id"] for line in lines}) > 5
    assert {line["outcome"] for line in lines} >= {"lost", "partial"}
    assert len({line["price"] for line in lines}) >= 2
    if vendor is None:
        assert {s.vendor for s in got if s.overcharged} == {"acme", "bolt", "cheap", "dial"}
        assert any(line["invoice_parts"] is not None for line in lines)
