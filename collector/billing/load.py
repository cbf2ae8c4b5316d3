"""The ledger side of billing: a period's probes with their verdicts and the imported
invoice lines that bill them, into statements (billing/statement.py)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

from collector.billing.config import BillingConfig
from collector.billing.statement import Billed, VendorStatement, statements
from collector.ledger.base import Ledger
from collector.ledger.probes import JudgedRow
from collector.probes.bursts import burst_of
from collector.reports.build import Gap, merge_gaps
from collector.reports.figures import JudgedProbe
from collector.reports.judged import load_judged_rows


@dataclass(frozen=True, slots=True)
class Period:
    judged: list[JudgedProbe]
    invoices: dict[str, dict[str, Billed]]  # vendor -> probe id -> what invoices billed
    statements: list[VendorStatement]


def invoice_bills(ledger: Ledger, rows: Iterable[JudgedRow]) -> dict[str, dict[str, Billed]]:
    """vendor -> probe id -> the parts and money of the invoice lines naming its message
    ids (a probe split into parts may be billed line by line); the probes as
    Ledger.judged_rows reads them (reports.judged.row_of makes one of a stored probe)."""
    return _bills(ledger, ((r.vendor, r.probe_id, r.message_ids) for r in rows))


def _bills(
    ledger: Ledger, probes: Iterable[tuple[str, str, Iterable[str]]]
) -> dict[str, dict[str, Billed]]:
    by_vendor: dict[str, dict[str, str]] = defaultdict(dict)  # message id -> probe id
    for vendor, probe_id, message_ids in probes:
        for mid in message_ids:
            by_vendor[vendor][mid] = probe_id
    out: dict[str, dict[str, Billed]] = {}
    for vendor, owner in by_vendor.items():
        if bills := vendor_bills(ledger, vendor, owner):
            out[vendor] = bills
    return out


def apart_of(not_measured: Mapping[str, Sequence[Gap]]) -> Callable[[JudgedProbe], str | None]:
    """Why the report's tables leave a probe out, as build_report does (None: counted):
    a burst probe (measured apart), or one sent while its vendor was not measured."""

    def why(p: JudgedProbe) -> str | None:
        if burst_of(p.probe_id) is not None:
            return "bursts"
        gaps = not_measured.get(p.vendor, ())
        if any(g.start_ns <= p.submitted_at_ns < g.end_ns for g in gaps):
            return "not_measured"
        return None

    return why


def not_measured(
    ledger: Ledger, *, since_ns: int, until_ns: int, vendor: str | None = None
) -> dict[str, list[Gap]]:
    """Each vendor's not-measured spans of the period, merged (what the report leaves out)."""
    spans = ledger.unmeasured_spans(since_ns=since_ns, until_ns=until_ns, vendor=vendor)
    return merge_gaps(((s.vendor, s.start_ns, s.end_ns, s.cause) for s in spans),
                      since_ns=since_ns, until_ns=until_ns)  # fmt: skip


def vendor_bills(ledger: Ledger, vendor: str, owner: Mapping[str, str]) -> dict[str, Billed]:
    """`invoice_bills` of one vendor from its message ids (message id -> probe id), for
    callers that collect them as they stream the probes (the evidence export)."""
    found: dict[str, list[tuple[int, float | None]]] = defaultdict(list)
    for line in ledger.invoice_lines(vendor=vendor, message_ids=list(owner)):
        found[owner[line.message_id]].append((line.parts, line.amount))
    bills = {}
    for probe_id, items in found.items():
        amounts = [a for _, a in items]
        amount = None if any(a is None for a in amounts) else sum(a or 0.0 for a in amounts)
        bills[probe_id] = Billed(sum(n for n, _ in items), amount, len(items))
    return bills


def load_period(
    ledger: Ledger,
    billing: BillingConfig,
    *,
    since_ns: int,
    until_ns: int,
    vendor: str | None = None,
) -> Period:
    rows, judged = load_judged_rows(ledger, since_ns=since_ns, until_ns=until_ns, vendor=vendor)
    invoices = invoice_bills(ledger, rows)
    gaps = not_measured(ledger, since_ns=since_ns, until_ns=until_ns, vendor=vendor)
    found = statements(judged, billing.vendors, invoices, default_currency=billing.currency,
                       apart=apart_of(gaps))  # fmt: skip
    return Period(judged, invoices, found)
