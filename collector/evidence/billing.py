"""billing.json in an evidence bundle: the vendor's billing terms, what its imported
invoices/CDRs billed per probe, and the statement computed from the bundle's records
(collector/billing/statement.py): each model's charge, the over-charge in money and the
probes behind it (billed but not arrived). The signed manifest covers the file
(files_sha256); `evidence verify` recomputes the statement from the records' judged
objects with the terms and invoice figures the file states, and refuses any difference.

    {"terms": {...VendorTerms...}, "invoice": {probe_id: {"parts", "amount", "lines"}},
     "statement": {...VendorStatement...}}
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict
from typing import Any

from collector.billing.statement import Billed, statement
from collector.billing.terms import VendorTerms
from collector.reports.figures import JudgedProbe

FILE = "billing.json"


def _doc(
    vendor: str,
    judged: Sequence[JudgedProbe],
    terms: VendorTerms,
    invoice: Mapping[str, Billed],
    priced: bool,
) -> dict[str, Any]:
    st = statement(vendor, judged, terms, invoice, priced=priced)
    return {
        "terms": terms.to_json(),
        "priced": priced,
        "invoice": {pid: asdict(b) for pid, b in sorted(invoice.items())},
        "statement": st.to_dict(),
    }


def billing_file(
    vendor: str,
    judged: Sequence[JudgedProbe],
    terms: VendorTerms,
    invoice: Mapping[str, Billed],
    *,
    priced: bool = True,
) -> bytes:
    doc = _doc(vendor, judged, terms, invoice, priced)
    return json.dumps(doc, indent=1, sort_keys=True, ensure_ascii=False).encode()


def check_billing(data: bytes, vendor: str, judged: Sequence[JudgedProbe]) -> list[str]:
    """Problems of billing.json against the records (empty: it follows from them)."""
    try:
        doc = json.loads(data)
        terms = VendorTerms.from_json(doc["terms"])
        invoice = {pid: Billed(**b) for pid, b in doc["invoice"].items()}
        expected = _doc(vendor, judged, terms, invoice, bool(doc["priced"]))
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        return [f"{FILE}: unreadable ({exc!r})"]
    expected = json.loads(json.dumps(expected))  # as stored: tuples become lists
    problems = []
    stated, recomputed = doc.get("statement", {}), expected["statement"]
    for key in sorted(set(stated) | set(recomputed)):
        if stated.get(key) != recomputed.get(key):
            problems.append(f"{FILE}: statement.{key} is {stated.get(key)!r}, the records "
                            f"give {recomputed.get(key)!r}")  # fmt: skip
    return problems
