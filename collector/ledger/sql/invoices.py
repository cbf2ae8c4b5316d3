"""Imported invoices and CDR lines in SQL (migration 0013)."""

from __future__ import annotations

from collections.abc import Sequence

from collector.ledger.invoices import InvoiceHeader, InvoiceLine
from collector.ledger.sql.core import SqlCore
from collector.ledger.sql.query import Where, chunks

_HEADER_COLS = "invoice_id, vendor, source, sha256, currency, imported_at_ns, line_count"


class InvoiceSql(SqlCore):
    def import_invoice(
        self,
        *,
        vendor: str,
        source: str,
        sha256: str,
        currency: str,
        lines: Sequence[InvoiceLine],
        at_ns: int,
    ) -> tuple[int, bool]:
        """Store a file's lines in one transaction: all of them or none. The same file
        (vendor, SHA-256) again adds nothing: returns (its id, False)."""
        with self._transaction() as tx:
            rows = tx.all(
                "INSERT INTO invoices (vendor, source, sha256, currency, imported_at_ns,"
                " line_count) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (vendor, sha256) DO NOTHING"
                " RETURNING invoice_id",
                (vendor, source, sha256, currency, at_ns, len(lines)),
            )
            if not rows:
                held = tx.all(
                    "SELECT invoice_id FROM invoices WHERE vendor = ? AND sha256 = ?",
                    (vendor, sha256),
                )
                return int(held[0]["invoice_id"]), False
            invoice_id = int(rows[0]["invoice_id"])
            tx.many(
                "INSERT INTO invoice_lines (invoice_id, line_no, vendor, message_id, parts,"
                " amount, billed_at_ns) VALUES (?, ?, ?, ?, ?, ?, ?)",
                [(invoice_id, ln.line_no, vendor, ln.message_id, ln.parts, ln.amount,
                  ln.billed_at_ns) for ln in lines],
            )  # fmt: skip
        return invoice_id, True

    def invoices(self, vendor: str | None = None) -> list[InvoiceHeader]:
        where = Where().maybe("vendor = ?", vendor)
        with self._transaction(write=False) as tx:
            rows = tx.all(
                f"SELECT {_HEADER_COLS} FROM invoices{where} ORDER BY invoice_id", where.params
            )
        return [
            InvoiceHeader(
                invoice_id=int(r["invoice_id"]),
                vendor=r["vendor"],
                source=r["source"],
                sha256=r["sha256"],
                currency=r["currency"],
                imported_at_ns=int(r["imported_at_ns"]),
                line_count=int(r["line_count"]),
            )
            for r in rows
        ]

    def invoice_lines(self, *, vendor: str, message_ids: Sequence[str]) -> list[InvoiceLine]:
        ids = sorted(set(message_ids))
        out: list[InvoiceLine] = []
        with self._transaction(write=False) as tx:
            for chunk in chunks(ids):
                where = Where().add("vendor = ?", vendor).among("message_id", chunk)
                rows = tx.all(
                    "SELECT invoice_id, line_no, message_id, parts, amount, billed_at_ns"
                    f" FROM invoice_lines{where}",
                    where.params,
                )
                out.extend(
                    InvoiceLine(
                        line_no=int(r["line_no"]),
                        message_id=r["message_id"],
                        parts=int(r["parts"]),
                        amount=None if r["amount"] is None else float(r["amount"]),
                        billed_at_ns=int(r["billed_at_ns"]),
                        invoice_id=int(r["invoice_id"]),
                    )
                    for r in rows
                )
        out.sort(key=lambda ln: (ln.invoice_id, ln.line_no))
        return out
