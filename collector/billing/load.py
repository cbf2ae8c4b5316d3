"""The ledger side of billing: a period's probes with their verdicts and the imported
invoice lines that bill them, into statements (billing/statement.py)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence, Set
from dataclasses import dataclass

from collector.billing.config import BillingConfig
from collector.billing.statement import (
    Billed,
    VendorStatement,
    over_charged_outcomes,
    statements,
)
from collector.ledger.base import Ledger
from collector.ledger.probes import ChargeRow, JudgedRow
from collector.ledger.rollups import HOUR_NS
from collector.probes.bursts import burst_of
from collector.reports.build import Gap, merge_gaps
from collector.reports.figures import JudgedProbe, Tally
from collector.reports.gc_paused import without_gc_pauses
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


@without_gc_pauses
def counted_statements(
    ledger: Ledger,
    billing: BillingConfig,
    tallies: Iterable[Tally],
    *,
    since_ns: int,
    until_ns: int,
    vendor: str | None,
    apart: Callable[[JudgedProbe], str | None],
) -> list[VendorStatement]:
    """The statements of a period from the report's counted tallies (reports/judged.py
    load_tallies: rollup counts, and raw probes where the rollups cannot tell), equal to
    `statements` over every probe one by one. Raw rows are read only for what a statement
    names by probe: a vendor with imported invoices (matched by message id) is read
    whole; for the others, the over-charged probes the tallies count — only the outcomes
    that are over-charged under the vendor's terms, filtered in SQL."""
    invoiced = {h.vendor for h in ledger.invoices(vendor)}
    by_vendor: dict[str, list[Tally]] = defaultdict(list)
    raw_ids = set()  # the raw part's probes (load_tallies), among the tallies already
    for t in tallies:
        by_vendor[t.probe.vendor].append(t)
        if t.probe.probe_id:
            raw_ids.add(t.probe.probe_id)
    items: list[JudgedProbe | Tally] = []
    bills: dict[str, dict[str, Billed]] = {}
    wanted: dict[str, set[str]] = {}  # vendor -> the outcomes its listed probes have
    for name, group in sorted(by_vendor.items()):
        if name in invoiced:
            rows, judged = load_judged_rows(ledger, since_ns=since_ns, until_ns=until_ns,
                                            vendor=name)  # fmt: skip
            bills.update(invoice_bills(ledger, rows))
            items += judged
            continue
        items += group
        if outcomes := over_charged_outcomes(group, billing.terms(name)):
            wanted[name] = outcomes
    listed = _rows_of_outcomes(ledger, wanted, since_ns, until_ns, vendor, raw_ids)
    return statements(items, billing.vendors, bills, default_currency=billing.currency,
                      apart=apart, listed=listed)  # fmt: skip


def _rows_of_outcomes(
    ledger: Ledger,
    wanted: Mapping[str, set[str]],
    since_ns: int,
    until_ns: int,
    vendor: str | None,
    raw_ids: Set[str],
) -> dict[str, list[ChargeRow]]:
    """Per vendor of `wanted`, its accepted probes with its outcomes in the whole planned
    hours of the period (the part-hours at the edges are read raw already): one read over
    the period filtered by outcome in SQL (per hour and vendor the same rows took three
    times as long over a month), of only the columns a listing line reads
    (Ledger.charge_rows: a priced month lists 10^5 probes; their whole judged rows cost
    three times as much). Which hours' rollups hold the outcome is not asked: every such
    probe is in a count row of its planned hour, and those of the hours read raw are among
    the tallies already (`raw_ids`, left out). Asking cost a query a vendor and restricted
    nothing (a priced month: 13.0-14.3 s CPU with, 11.5 s without)."""
    first = -(-since_ns // HOUR_NS) * HOUR_NS
    last = max(until_ns // HOUR_NS * HOUR_NS, first)
    out: dict[str, list[ChargeRow]] = {name: [] for name in wanted}
    among = sorted(set().union(*wanted.values()))
    if not among:
        return out
    for row in ledger.charge_rows(since_ns=first, until_ns=last, vendor=vendor, outcomes=among):
        outcomes = wanted.get(row.vendor, ())
        if row.outcome in outcomes and row.probe_id not in raw_ids:
            out[row.vendor].append(row)
    return out
