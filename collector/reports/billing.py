"""The report's billing section.

1. Per vendor (report.billing: collector/billing/statement.py): what each billing model
   charges for the period's probes, what the vendor billed (its own per-message figures,
   an imported invoice/CDR), what arrived is worth, and the over-charge in money with the
   probes behind it (docs/billing.md).
2. The reconciliation of billed parts: what the vendor itself says it billed (its fee
   field, or one acknowledged id per part; docs/vendors.md, "Billed parts") against the
   parts the 70/67 (UCS-2) or 160/153 (GSM 7-bit) rule gives for the text sent and the
   parts that arrived. A probe billed above the rule is inflation, listed by id (all of
   them in report.json and in the evidence bundle's records). Figures: reports/figures.py.
"""

from __future__ import annotations

import html
from typing import Any

from collector.billing.statement import Basis, VendorStatement
from collector.billing.text import statement_lines
from collector.reports.build import Report

TITLE = "Billing: each model's charge, the vendor's bill, what arrived is worth"
SHOWN_IDS = 20  # probe ids written out in the text; report.json lists every one
_BASIS_NAMES = {"invoice": "invoice/CDR", "vendor_reported": "its own figures", "model": "model"}


def _statements(report: Report) -> list[VendorStatement]:
    out = []
    for d in report.billing:
        data: dict[str, Any] = dict(d)
        data["bases"] = {k: Basis(**v) for k, v in d["bases"].items()}
        out.append(VendorStatement(**data))
    return out


def cost_lines(report: Report) -> list[str]:
    """The statements as text, one block per vendor."""
    return [line for st in _statements(report) for line in statement_lines(st)]


def billing_lines(report: Report) -> list[str]:
    """One line per vendor that reported billed parts, then who reported none."""
    lines: list[str] = []
    silent: list[str] = []
    for cell in report.tables.get("vendor", []):
        vendor = cell.key.get("vendor", "")
        if not cell.vendor_billed_probes:
            if cell.accepted:
                silent.append(vendor)
            continue
        line = (
            f"{vendor}: billed {cell.vendor_billed_parts} part(s) for "
            f"{cell.vendor_billed_probes} probe(s) by its own figures; the 70/67 rule on the "
            f"text sent gives {cell.vendor_rule_parts}; {cell.vendor_arrived_parts} arrived"
        )
        if cell.inflated_probes:
            ids = cell.inflated_probe_ids
            more = f" and {len(ids) - SHOWN_IDS} more" if len(ids) > SHOWN_IDS else ""
            line += (
                f"; INFLATED: {cell.inflated_probes} probe(s) billed {cell.inflated_parts} "
                f"part(s) above the rule: {', '.join(ids[:SHOWN_IDS])}{more}"
            )
        else:
            line += "; nothing billed above the rule"
        lines.append(line)
    if silent:
        lines.append(f"no billed parts reported by: {', '.join(silent)}")
    return lines


def _m(x: float) -> str:
    return f"{x:,.2f}"


def _cost_table(items: list[VendorStatement]) -> str:
    head = ("vendor", "billed by", "on submit", "on DLR success", "by coefficient",
            "vendor billed", "arrived worth", "over-charge", "billed, not arrived")  # fmt: skip
    rows = []
    for st in items:
        # The vendor's own bill where we have one: an invoice, else its per-message figures.
        name = next((b for b in ("invoice", "vendor_reported") if b in st.bases), "model")
        basis = st.bases[name]
        model = st.model.replace("_", " ") + (
            f" ×{st.coefficient:g}" if st.model == "coefficient" else "")  # fmt: skip
        if not st.priced:
            model += " (no price)"
        cells = (
            st.vendor, f"{model}, {st.currency}", _m(st.charge["on_submit"]),
            _m(st.charge["on_success"]), _m(st.charge["coefficient"]),
            f"{_m(basis.money)} ({_BASIS_NAMES[name]})", _m(basis.worth),
            f"{_m(basis.over_gross)} (net {_m(basis.over_net)})", str(len(st.overcharged)),
        )  # fmt: skip
        rows.append("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in cells) + "</tr>")
    th = "".join(f"<th>{html.escape(h)}</th>" for h in head)
    return (
        f"<table class=billing><thead><tr>{th}</tr></thead><tbody>{''.join(rows)}</tbody></table>"
    )


def html_billing(report: Report) -> str:
    parts: list[str] = []
    items = _statements(report)
    if items:
        parts.append(
            "<h2>Billing: each model's charge, the vendor's bill, what arrived is worth</h2>"
        )
        parts.append(_cost_table(items))
        details = "".join(f"<li>{html.escape(line)}</li>" for line in cost_lines(report))
        parts.append(f"<details><summary>Per vendor: every basis and the probes billed but "
                     f"not arrived</summary><ul class=plain>{details}</ul></details>")  # fmt: skip
    lines = billing_lines(report)
    if lines:
        items_html = "".join(f"<li>{html.escape(line)}</li>" for line in lines)
        parts.append("<h2>Billed parts: the vendor's figures against the 70/67 rule</h2>"
                     f"<ul>{items_html}</ul>")  # fmt: skip
    return "".join(parts)


def markdown_billing(report: Report) -> list[str]:
    """The section in Markdown: headings, lines, a blank line after each part."""
    out: list[str] = []
    cost = cost_lines(report)
    if cost:
        out += [f"## {TITLE}", ""]
        out += [f"- {line.strip()}" if not line.startswith("  ") else f"  - {line.strip()}"
                for line in cost]  # fmt: skip
        out.append("")
    lines = billing_lines(report)
    if lines:
        out += ["## Billed parts: the vendor's figures against the 70/67 rule", ""]
        out += [f"- {line}" for line in lines]
        out.append("")
    return out


__all__ = ["billing_lines", "cost_lines", "html_billing", "markdown_billing"]
