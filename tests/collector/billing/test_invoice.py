"""Invoice/CDR CSV files read by the vendor's column mapping: a good file (GBK, the
vendor's own headers, quoted fields spanning lines) and hostile ones, each refused whole
with the line and column named."""

from __future__ import annotations

from dataclasses import replace

import pytest

from agent.common.units import NS
from collector.billing.config import InvoiceMapping
from collector.billing.invoice import InvoiceError, parse_invoice

CN = InvoiceMapping(message_id="msgid", parts="计费条数", amount="金额", billed_at="发送时间",
                    time_format="%Y-%m-%d %H:%M:%S", encoding="gbk",
                    explicit=frozenset({"message_id", "parts", "amount", "billed_at"}))  # fmt: skip
DEFAULT = InvoiceMapping()


def test_a_vendors_own_gbk_export_is_read_line_by_line() -> None:
    text = (
        "msgid,手机号,计费条数,金额,发送时间,备注\r\n"
        "M1,13800000001,1,0.040,2026-11-02 08:00:01,正常\r\n"
        'M2,13800000002,2,0.080,2026-11-02 08:00:02,"多行\r\n备注"\r\n'
        "\r\n"
    )
    parsed = parse_invoice(text.encode("gbk"), CN, source="cdr.csv")
    assert [(ln.line_no, ln.message_id, ln.parts, ln.amount) for ln in parsed.lines] == [
        (2, "M1", 1, 0.040), (4, "M2", 2, 0.080)]  # fmt: skip
    # 2026-11-02 08:00:01 in Asia/Shanghai is 00:00:01 UTC
    assert parsed.lines[0].billed_at_ns == 1_793_577_601 * NS
    assert len(parsed.sha256) == 64


def test_defaults_read_a_plain_file_and_optional_columns_may_be_absent() -> None:
    data = "\ufeffmessage_id,parts\nA,1\nB,3\n".encode()  # a UTF-8 BOM, no amount/time
    parsed = parse_invoice(data, DEFAULT, source="x.csv")
    assert [(ln.message_id, ln.parts, ln.amount, ln.billed_at_ns) for ln in parsed.lines] == [
        ("A", 1, None, 0), ("B", 3, None, 0)]  # fmt: skip
    only_ids = parse_invoice(b"message_id\nA\n", DEFAULT, source="x.csv")
    assert only_ids.lines[0].parts == 1  # no parts column: one part per line


@pytest.mark.parametrize(
    ("data", "mapping", "message"),
    [
        (b"id,parts\nA,1\n", DEFAULT,
         "x.csv: line 1, column 'message_id': no such column for message_id (header: id, parts)"),
        ("msgid,计费条数,金额\nA,1,0.1\n".encode("gbk"), CN,
         "x.csv: line 1, column '发送时间': no such column for billed_at (header: msgid, 计费条数, "
         "金额)"),
        (b"message_id,parts\nA,1\nB,2,9\n", DEFAULT,
         "x.csv: line 3: 3 fields, the header has 2"),
        (b"message_id,parts\nA,1\n,2\n", DEFAULT,
         "x.csv: line 3, column 'message_id': expected a message id, got nothing"),
        (b"message_id,parts\nA,1\nB,1\nA,1\n", DEFAULT,
         "x.csv: line 4, column 'message_id': message id 'A' is already on line 2"),
        (b"message_id,parts\nA,1\nB,two\n", DEFAULT,
         "x.csv: line 3, column 'parts': expected a whole number of parts >= 1, got 'two'"),
        (b"message_id,parts\nA,0\n", DEFAULT,
         "x.csv: line 2, column 'parts': expected a whole number of parts >= 1, got '0'"),
        (b"message_id,amount\nA,nan\n", DEFAULT,
         "x.csv: line 2, column 'amount': expected an amount >= 0, got 'nan'"),
        (b"message_id,amount\nA,-0.04\n", DEFAULT,
         "x.csv: line 2, column 'amount': expected an amount >= 0, got '-0.04'"),
        (b"message_id,billed_at\nA,yesterday\n", DEFAULT,
         "x.csv: line 2, column 'billed_at': expected a time as ISO-8601, got 'yesterday'"),
        (b"message_id,parts\nA,1\n\xff\xfe,1\n", DEFAULT,
         "x.csv: line 3: not utf-8 text (byte 0xff); set [billing.vendors.X.invoice] encoding"),
        (b"message_id,parts\nA,1\x00\n", DEFAULT, "x.csv: line 2: a NUL byte: not a CSV text file"),
        (b'message_id,parts\nA,1\n"B,1\n', DEFAULT,
         "x.csv: line 3: not CSV: unexpected end of data"),
        (b"", DEFAULT, "x.csv: line 1: empty file: expected a header line"),
        (b"message_id,parts\n\n", DEFAULT, "x.csv: line 2: no rows under the header"),
        (b"message_id,parts\nA," + b"9" * 5000 + b"\n", DEFAULT,
         "x.csv: line 2, column 'parts': a field over 4096 chars"),
    ],
)  # fmt: skip
def test_a_hostile_file_is_refused_whole_naming_line_and_column(
    data: bytes, mapping: InvoiceMapping, message: str
) -> None:
    with pytest.raises(InvoiceError) as err:
        parse_invoice(data, mapping, source="x.csv")
    assert str(err.value) == message


def test_an_unmapped_optional_column_is_ignored_a_mapped_one_required() -> None:
    data = b"message_id,parts\nA,1\n"
    assert parse_invoice(data, DEFAULT, source="x.csv").lines[0].amount is None
    strict = replace(DEFAULT, amount="fee", explicit=frozenset({"amount"}))
    with pytest.raises(InvoiceError, match="line 1, column 'fee': no such column for amount"):
        parse_invoice(data, strict, source="x.csv")
