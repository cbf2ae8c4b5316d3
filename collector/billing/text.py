"""Statements and cost trials as text lines and CSV rows, for `cost` and the report."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from collector.billing.statement import VendorStatement
from collector.billing.trial import Trial

SHOWN_PROBES = 20  # probes behind an over-charge written out; JSON lists every one
_BASIS = {
    "model": "its model",
    "vendor_reported": "its own per-message figures",
    "invoice": "the imported invoice/CDR",
}

_APART = {"bursts": "bursts", "not_measured": "sent while not measured"}


def _m(x: float) -> str:
    return f"{x:,.2f}"


def statement_lines(st: VendorStatement) -> list[str]:
    cur = st.currency
    model = st.model + (f" ×{st.coefficient:g}" if st.model == "coefficient" else "")
    head = f"{st.vendor} ({cur}, billed {model})"
    if not st.priced:
        head += ": NO PRICE in [billing] — every money figure is 0"
    lines = [
        head,
        f"  parts: {st.submitted_parts} submitted, {st.success_parts} DLR-delivered, "
        f"{st.arrived_parts} arrived; {st.accepted} of {st.sent} probes accepted, "
        f"{st.unverifiable} unverifiable (inconclusive/pending)",
        f"  each model would charge: on_submit {_m(st.charge['on_submit'])}, on_success "
        f"{_m(st.charge['on_success'])}, coefficient ×{st.coefficient:g} "
        f"{_m(st.charge['coefficient'])}; what arrived is worth {_m(st.worth)}",
    ]
    if st.apart:
        what = "; ".join(
            f"{_APART.get(why, why)} {a['probes']} probe(s), on_success "
            f"{_m(a['charge']['on_success'])}, worth {_m(a['worth'])}"
            for why, a in st.apart.items()
        )
        t = st.in_tables()
        lines.append(f"  within these, apart from the report's tables: {what}; the tables "
                     f"count on_success {_m(t['on_success'])}, worth {_m(t['worth'])}")  # fmt: skip
    for basis, b in st.bases.items():
        line = (
            f"  by {_BASIS[basis]}: {_m(b.money)} for {b.probes} verifiable probe(s), worth "
            f"{_m(b.worth)}: over-charge {_m(b.over_gross)} {cur} (net {_m(b.over_net)})"
        )
        if b.unverifiable_money:
            line += f"; {_m(b.unverifiable_money)} on unverifiable probes"
        lines.append(line)
    if st.overcharged:
        ids = [o["probe_id"] for o in st.overcharged]
        more = f" and {len(ids) - SHOWN_PROBES} more" if len(ids) > SHOWN_PROBES else ""
        lines.append(f"  billed but not arrived: {len(ids)} probe(s): "
                     f"{', '.join(ids[:SHOWN_PROBES])}{more}")  # fmt: skip
    return lines


def trial_lines(vendor: str, currency: str, t: Trial) -> list[str]:
    lines = [
        f"{vendor}: {t.messages:,} messages at arrival rate {t.arrival_rate:.4f} (DLR-delivered "
        f"share {t.success_share:.4f}), {t.price:g} {currency} per part: worth {_m(t.worth)}"
    ]
    for model, bill in t.bill.items():
        lines.append(f"  {model}: {t.parts[model]:,.0f} parts billed, {_m(bill)} {currency} "
                     f"(over {_m(t.over[model])})")  # fmt: skip
    if t.coefficient is None:
        lines.append("  coefficient: not the vendor's model; pass --coefficient to compare")
    return lines


CSV_HEADER = (
    "vendor", "currency", "model", "coefficient", "sent", "accepted", "verifiable",
    "unverifiable", "submitted_parts", "success_parts", "arrived_parts", "charge_on_submit",
    "charge_on_success", "charge_coefficient", "worth", "basis", "basis_probes",
    "basis_money", "basis_worth", "over_gross", "over_net", "overcharged_probes",
)  # fmt: skip


def csv_rows(items: Sequence[VendorStatement]) -> list[list[Any]]:
    """One row per vendor and basis (its model, its own figures, the invoice)."""
    rows: list[list[Any]] = []
    for st in items:
        for basis, b in st.bases.items():
            rows.append([
                st.vendor, st.currency, st.model, st.coefficient, st.sent, st.accepted,
                st.verifiable, st.unverifiable, st.submitted_parts, st.success_parts,
                st.arrived_parts, st.charge["on_submit"], st.charge["on_success"],
                st.charge["coefficient"], st.worth, basis, b.probes, b.money, b.worth,
                b.over_gross, b.over_net, len(st.overcharged) if basis == "model" else "",
            ])  # fmt: skip
    return rows
