"""Pure line classification (docs/modems.md, "Framing and the line reader")."""

from __future__ import annotations

import pytest

from agent.modem.at import LineKind, classify, response_prefix
from agent.modem.lines import PROMPT


@pytest.mark.parametrize(
    ("line", "command", "kind"),
    [
        ("OK", "AT", LineKind.FINAL_OK),
        ("OK", None, LineKind.FINAL_OK),
        ("ERROR", "AT+X", LineKind.FINAL_ERROR),
        ("+CME ERROR: 10", "AT+CPIN?", LineKind.FINAL_ERROR),
        ("+CMS ERROR: 500", "AT+CMGR=1", LineKind.FINAL_ERROR),
        ("NO CARRIER", "ATD1;", LineKind.FINAL_ERROR),
        ("COMMAND NOT SUPPORT", "AT^X", LineKind.FINAL_ERROR),
        (PROMPT, "AT+CMGS=20", LineKind.PROMPT),
        ("AT+CSQ", "AT+CSQ", LineKind.ECHO),
        ("+CSQ: 21,99", "AT+CSQ", LineKind.INTERMEDIATE),
        ('+CMTI: "SM",3', "AT+CSQ", LineKind.URC),  # URC in the middle of a response
        ('+CMTI: "SM",3', None, LineKind.URC),
        ("^RSSI:17", "AT+CSQ", LineKind.URC),  # Huawei noise between echo and +CSQ
        ("+CREG: 2,1,8BE3,2BAF", "AT+CREG?", LineKind.INTERMEDIATE),  # answer, not a URC
        ("+CREG: 1", "AT+CSQ", LineKind.URC),  # registration change during another command
        ("+CPIN: READY", "AT+CPIN?", LineKind.INTERMEDIATE),
        ("+CPIN: READY", None, LineKind.URC),  # unsolicited: SIM (re)loaded after a reboot
        ("460001234567890", "AT+CIMI", LineKind.INTERMEDIATE),  # bare answer
        ("460001234567890", None, LineKind.NOISE),  # stray line while idle
        ("RDY", None, LineKind.URC),
        ("$GPRMC,123519,A,4807.038,N", None, LineKind.URC),  # NMEA: wrong port
        ("ab\udcc3(cd", "AT+CSQ", LineKind.NOISE),  # undecodable bytes
    ],
)
def test_classify(line: str, command: str | None, kind: LineKind) -> None:
    assert classify(line, command=command) is kind


def test_echo_of_earlier_command_recognised_any_time() -> None:
    # Echo may return after a modem reboot: recent sent texts are echoes.
    assert classify("ATE0", command=None, sent=["ATE0"]) is LineKind.ECHO
    assert classify("0011000B91", command="AT+CMGS=10", sent=["0011000B91"]) is LineKind.ECHO


def test_custom_urc_prefix() -> None:
    assert classify("+QIND: SMS DONE", command="AT+X", urc_prefixes=["+QIND:"]) is LineKind.URC
    assert classify("+QFOO: 1", command=None, urc_prefixes=["+QFOO"]) is LineKind.URC


@pytest.mark.parametrize(
    ("command", "prefix"),
    [
        ("AT+CSQ", "+CSQ:"),
        ('AT+CPMS="SM","SM","SM"', "+CPMS:"),
        ("AT^ICCID?", "^ICCID:"),
        ("AT+CMGR=3", "+CMGR:"),
        ("ATE0", ""),
        ("AT", ""),
    ],
)
def test_response_prefix(command: str, prefix: str) -> None:
    assert response_prefix(command) == prefix
