"""Parsers and the classifier never raise anything but ResponseParseError on any input
(garbage from a wrong port, truncated lines, vendor inventions)."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence
from typing import Any

from hypothesis import example, given, settings
from hypothesis import strategies as st

from agent.modem import commands as c
from agent.modem.at import classify
from agent.modem.errors import ResponseParseError, error_from_final

PREFIXES = ["+CSQ: ", "+CESQ: ", "+CREG: ", "+CEREG: ", "+COPS: ", "+CPMS: ", "+CMGL: ",
            "+CMGR: ", "+CMGS: ", "+CNMI: ", "+CMGF: ", "+QCCID: ", "+CRSM: ", "+CNUM: ",
            "+CIMI: ", "+CMTI: ", "+CDSI: ", "+CMT: ", "+CDS: ", "+CPIN: ", ""]  # fmt: skip
FIELD = st.text(alphabet=st.sampled_from('0123456789ABCDEFabcdef,"() +-²١\udcff'), max_size=40)
LINE = st.builds(lambda p, f: p + f, st.sampled_from(PREFIXES), FIELD) | st.text(max_size=40)

LIST_PARSERS: list[Callable[[Sequence[str]], Any]] = [
    c.parse_info, c.parse_imei, c.parse_imsi, c.parse_iccid, c.parse_cnum, c.parse_csq,
    c.parse_cesq, c.parse_cops, c.parse_cpin, c.parse_cpms_query, c.parse_cnmi, c.parse_cmgf,
    c.parse_cmgs, c.parse_cmgl, c.parse_cmgr,
]  # fmt: skip
LINE_PARSERS: list[Callable[[str], Any]] = [
    c.parse_stored_indication,
    c.parse_direct_length,
    c.parse_registration,
    lambda line: c.parse_cpms_set([line], ["SM", "ME", "MT"]),
]


@settings(max_examples=300, deadline=None)
@given(st.lists(LINE, max_size=4))
@example(["+CMGR: ²,5", "00"])  # str.isdigit() is True for '²', int() is not
@example(["+CMGL: 1,1,,²", "0011"])
def test_list_parsers_raise_only_parse_errors(lines: list[str]) -> None:
    for parser in LIST_PARSERS:
        with contextlib.suppress(ResponseParseError):
            parser(lines)


@settings(max_examples=300, deadline=None)
@given(LINE)
@example("+CMT: ²")
@example("+CREG: 2,1,8,9,²")
@example("+CMS ERROR: ²")
def test_line_parsers_classifier_and_errors_raise_only_parse_errors(line: str) -> None:
    for parser in LINE_PARSERS:
        with contextlib.suppress(ResponseParseError):
            parser(line)
    classify(line, command="AT+CSQ")
    classify(line)
    error_from_final("AT", line)
