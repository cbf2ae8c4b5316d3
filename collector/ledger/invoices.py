"""Imported invoices and CDR files in the ledger (migration 0013). Plain values; the SQL
is in collector/ledger/sql/invoices.py, the CSV reading in collector/billing/invoice.py."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class InvoiceLine:
    line_no: int  # the CSV line (the header is 1)
    message_id: str  # the vendor's message id, as in its submit answer
    parts: int
    amount: float | None = None  # money billed for the line; None: the file has none
    billed_at_ns: int = 0  # 0: the file has no time
    invoice_id: int = 0  # set by the ledger


@dataclass(frozen=True, slots=True)
class InvoiceHeader:
    invoice_id: int
    vendor: str
    source: str
    sha256: str
    currency: str
    imported_at_ns: int
    line_count: int
