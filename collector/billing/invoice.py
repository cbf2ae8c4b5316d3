"""A vendor's invoice or CDR export (CSV) read into invoice lines, all or nothing.

Pure: bytes in, lines out. Columns are found by their header name through the vendor's
mapping ([billing.vendors.X.invoice], billing/config.py); every problem is an
InvoiceError naming the line (1 = the header) and the column, and the whole file is
refused, so a file is never half imported. Refused: a mapped column missing from the
header, a row with more or fewer fields than the header, an empty message id, one message
id on two lines, parts that are not a whole number >= 1, an amount that is not a finite
number >= 0, a time that does not parse, bytes that are not the configured encoding, and
a file without rows.
"""

from __future__ import annotations

import csv
import hashlib
import io
import math
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from agent.common.units import NS
from collector.billing.config import InvoiceMapping
from collector.ledger.invoices import InvoiceLine

MAX_FIELD = 4096  # a CDR field longer than this is no CDR field


class InvoiceError(ValueError):
    def __init__(self, source: str, line: int, column: str, problem: str) -> None:
        where = f"{source}: line {line}" + (f", column {column!r}" if column else "")
        super().__init__(f"{where}: {problem}")
        self.line = line
        self.column = column


@dataclass(frozen=True, slots=True)
class ParsedInvoice:
    sha256: str
    lines: tuple[InvoiceLine, ...]


def _decode(data: bytes, mapping: InvoiceMapping, source: str) -> str:
    encoding = "utf-8-sig" if mapping.encoding.lower().replace("_", "-") in ("utf-8", "utf8") \
        else mapping.encoding  # fmt: skip
    try:
        return data.decode(encoding)
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise InvoiceError(source, line, "", f"not {mapping.encoding} text (byte "
                           f"{data[exc.start]:#04x}); set [billing.vendors.X.invoice] "
                           "encoding") from None  # fmt: skip


def _time(text: str, mapping: InvoiceMapping) -> int:
    dt = (
        datetime.strptime(text, mapping.time_format)
        if mapping.time_format
        else datetime.fromisoformat(text)
    )
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=ZoneInfo(mapping.timezone))
    return int(dt.timestamp()) * NS + dt.microsecond * 1000


def parse_invoice(data: bytes, mapping: InvoiceMapping, *, source: str) -> ParsedInvoice:
    """The file's lines; raises InvoiceError (line, column, what was expected)."""
    if b"\x00" in data:
        line = data[: data.index(b"\x00")].count(b"\n") + 1
        raise InvoiceError(source, line, "", "a NUL byte: not a CSV text file")
    text = _decode(data, mapping, source)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=mapping.delimiter, strict=True)
    rows: list[list[str]] = []
    numbers: list[int] = []  # each record's last physical line (a quoted field may span)
    try:
        for row in reader:
            rows.append(row)
            numbers.append(reader.line_num)
    except csv.Error as exc:
        raise InvoiceError(source, reader.line_num, "", f"not CSV: {exc}") from None
    if not rows:
        raise InvoiceError(source, 1, "", "empty file: expected a header line")
    header = [h.strip() for h in rows[0]]
    where: dict[str, int] = {}
    for key in ("message_id", "parts", "amount", "billed_at"):
        name = getattr(mapping, key)
        if not name:
            continue
        if name in header:
            where[key] = header.index(name)
        elif key == "message_id" or key in mapping.explicit:
            raise InvoiceError(source, 1, name, f"no such column for {key} (header: "
                               f"{', '.join(header)})")  # fmt: skip
    lines: list[InvoiceLine] = []
    first_line: dict[str, int] = {}
    physical = 1
    for number, row in zip(numbers[1:], rows[1:], strict=True):
        physical = number
        if not row or all(not c.strip() for c in row):
            continue  # a blank line, e.g. at the end
        if len(row) != len(header):
            raise InvoiceError(source, number, "", f"{len(row)} fields, the header has "
                               f"{len(header)}")  # fmt: skip
        cells = {k: row[i].strip() for k, i in where.items()}
        for k, value in cells.items():
            if len(value) > MAX_FIELD:
                raise InvoiceError(source, number, header[where[k]], "a field over 4096 chars")
        message_id = cells["message_id"]
        col = header[where["message_id"]]
        if not message_id:
            raise InvoiceError(source, number, col, "expected a message id, got nothing")
        if message_id in first_line:
            raise InvoiceError(source, number, col, f"message id {message_id!r} is already on "
                               f"line {first_line[message_id]}")  # fmt: skip
        first_line[message_id] = number
        parts = 1
        if "parts" in cells:
            col = header[where["parts"]]
            try:
                parts = int(cells["parts"])
            except ValueError:
                parts = 0
            if parts < 1:
                raise InvoiceError(source, number, col, f"expected a whole number of parts "
                                   f">= 1, got {cells['parts']!r}")  # fmt: skip
        amount: float | None = None
        if "amount" in cells:
            col = header[where["amount"]]
            try:
                amount = float(cells["amount"])
            except ValueError:
                amount = -1.0
            if not math.isfinite(amount) or amount < 0:
                raise InvoiceError(source, number, col, f"expected an amount >= 0, got "
                                   f"{cells['amount']!r}")  # fmt: skip
        billed_at_ns = 0
        if cells.get("billed_at"):
            col = header[where["billed_at"]]
            try:
                billed_at_ns = _time(cells["billed_at"], mapping)
            except (ValueError, OverflowError):
                fmt = mapping.time_format or "ISO-8601"
                raise InvoiceError(source, number, col, f"expected a time as {fmt}, got "
                                   f"{cells['billed_at']!r}") from None  # fmt: skip
        lines.append(InvoiceLine(line_no=number, message_id=message_id, parts=parts,
                                 amount=amount, billed_at_ns=billed_at_ns))  # fmt: skip
    if not lines:
        raise InvoiceError(source, physical, "", "no rows under the header")
    return ParsedInvoice(hashlib.sha256(data).hexdigest(), tuple(lines))
