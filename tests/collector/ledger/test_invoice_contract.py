"""The Ledger contract for imported invoices (migration 0013), on SQLite and a real
PostgreSQL: a file's lines stored all together, the same file once, lines found by the
vendor's message id and never across vendors."""

from __future__ import annotations

from typing import Any

import pytest

from collector.ledger import LedgerError
from collector.ledger.invoices import InvoiceLine
from tests.collector.ledger.test_probe_contract import T

LINES = (
    InvoiceLine(2, "M1", 1, 0.04, T),
    InvoiceLine(3, "M2", 2, None, 0),
    InvoiceLine(4, "M3", 1, 0.05, T + 1),
)


def _import(ledger: Any, vendor: str = "cheap", sha: str = "a" * 64, lines: Any = LINES) -> Any:
    return ledger.import_invoice(vendor=vendor, source="cdr.csv", sha256=sha, currency="CNY",
                                 lines=lines, at_ns=T)  # fmt: skip


def test_lines_round_trip_and_are_found_by_message_id(ledger: Any) -> None:
    invoice_id, new = _import(ledger)
    assert new and invoice_id > 0
    found = ledger.invoice_lines(vendor="cheap", message_ids=["M3", "M1", "nope"])
    assert [(ln.line_no, ln.message_id, ln.parts, ln.amount, ln.billed_at_ns) for ln in found] \
        == [(2, "M1", 1, 0.04, T), (4, "M3", 1, 0.05, T + 1)]  # fmt: skip
    assert {ln.invoice_id for ln in found} == {invoice_id}
    (m2,) = ledger.invoice_lines(vendor="cheap", message_ids=["M2"])
    assert m2.amount is None and m2.parts == 2  # no amount column stays "none", not 0
    assert ledger.invoice_lines(vendor="acme", message_ids=["M1", "M2", "M3"]) == []
    (header,) = ledger.invoices()
    assert (header.vendor, header.source, header.line_count, header.currency) == (
        "cheap", "cdr.csv", 3, "CNY")  # fmt: skip


def test_the_same_file_is_kept_once_another_vendors_copy_apart(ledger: Any) -> None:
    first, _ = _import(ledger)
    again, new = _import(ledger)
    assert (again, new) == (first, False)
    assert len(ledger.invoice_lines(vendor="cheap", message_ids=["M1", "M2", "M3"])) == 3
    other, new = _import(ledger, vendor="acme")
    assert new and other != first
    assert [h.vendor for h in ledger.invoices()] == ["cheap", "acme"]
    assert [h.vendor for h in ledger.invoices("acme")] == ["acme"]


def test_a_failed_import_leaves_nothing(ledger: Any) -> None:
    # Two lines with one line number violate the key: the transaction rolls back whole.
    bad = (*LINES, InvoiceLine(2, "M9", 1, 0.04, T))
    with pytest.raises(LedgerError):
        _import(ledger, lines=bad)
    assert ledger.invoices() == []
    assert ledger.invoice_lines(vendor="cheap", message_ids=["M1", "M9"]) == []


def test_many_message_ids_are_looked_up_in_chunks(ledger: Any) -> None:
    lines = tuple(InvoiceLine(i + 2, f"X{i}", 1, 0.01, 0) for i in range(1200))
    _import(ledger, lines=lines)
    found = ledger.invoice_lines(vendor="cheap", message_ids=[f"X{i}" for i in range(0, 1200, 1)])
    assert len(found) == 1200 and found[0].line_no == 2 and found[-1].line_no == 1201
