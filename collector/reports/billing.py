"""The report's reconciliation of billed parts: per vendor, what the vendor itself says it
billed (its fee field, or one acknowledged id per part; docs/vendors.md, "Billed parts")
against the parts the 70/67 (UCS-2) or 160/153 (GSM 7-bit) rule gives for the text sent
and the parts that arrived. A probe billed above the rule is inflation, listed by id (all
of them in report.json and in the evidence bundle's records). Figures: reports/figures.py."""

from __future__ import annotations

import html

from collector.reports.build import Report

SHOWN_IDS = 20  # probe ids written out in the text; report.json lists every one


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


def html_billing(report: Report) -> str:
    lines = billing_lines(report)
    if not lines:
        return ""
    items = "".join(f"<li>{html.escape(line)}</li>" for line in lines)
    return f"<h2>Billed parts: the vendor's figures against the 70/67 rule</h2><ul>{items}</ul>"


__all__ = ["billing_lines", "html_billing"]
