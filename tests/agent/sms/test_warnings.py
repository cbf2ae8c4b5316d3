"""Every malformation the decoder tolerates is named, and `pdu decode` names it the same
way in its text and its --json output (what a person sees and what a script sees agree)."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from click.testing import CliRunner

from agent.pdu_cli import pdu_group
from agent.sms import WARNINGS, decode_pdu, decode_submit, encode_status_report, gsm7

OA = "0B918100551512F2"  # +18005551212
SCTS = "11101021436500"  # 2011-01-01 12:34:56 UTC


def deliver(ud: str, dcs: int = 0x00, udhi: bool = False, oa: str = OA, scts: str = SCTS) -> str:
    """PDU-mode hex: no SMSC, SMS-DELIVER, TP-PID 0; `ud` is TP-UDL + TP-UD as hex."""
    return f"00{0x44 if udhi else 0x04:02X}{oa}00{dcs:02X}{scts}{ud}"


def gsm7_ud(septets: bytes, header: bytes = b"") -> str:
    ud, udl = gsm7.pack_septets(septets, header)
    return f"{udl:02X}{ud.hex().upper()}"


def octet_ud(body: str) -> str:
    return f"{len(body) // 2:02X}{body}"


REPORT = encode_status_report(
    "+8613800138000",
    7,
    datetime(2024, 5, 1, 10, 0, tzinfo=UTC),
    datetime(2024, 5, 1, 10, 1, tzinfo=UTC),
    0,
).hex


def ucs2_with_udh(udh_and_body: str) -> str:
    return deliver(octet_ud(udh_and_body), dcs=0x08, udhi=True)


def gsm7_with_udh(header: bytes) -> str:
    return deliver(gsm7_ud(b"\x41", header), udhi=True)


# (warning, hex PDU, --lenient needed)
ROWS = [
    ("compressed", deliver(octet_ud("0102"), dcs=0x24), False),
    ("reserved-dcs", deliver(gsm7_ud(b"\x41"), dcs=0x80), False),
    ("truncated", deliver("0AC8"), True),
    ("excess-user-data", deliver("0141" + "4242", dcs=0x04), False),
    ("udhi-without-user-data", deliver("00", udhi=True), False),
    ("malformed-concat-ie", ucs2_with_udh("04000201060041"), False),
    ("duplicate-concat-ie", ucs2_with_udh("0A0003010201000301020041"), False),
    ("invalid-concat", ucs2_with_udh("0500030102060041"), False),
    ("malformed-language-shift-ie", gsm7_with_udh(bytes((4, 0x25, 2, 1, 1))), False),
    ("unsupported-language-shift", gsm7_with_udh(bytes((3, 0x25, 1, 9))), False),
    ("undefined-escape", deliver(gsm7_ud(b"\x1b\x41")), False),
    ("escape-escape", deliver(gsm7_ud(b"\x41\x1b\x1b\x41")), False),
    ("trailing-escape", deliver(gsm7_ud(b"\x41\x1b")), False),
    ("odd-ucs2-length", deliver(octet_ud("004800"), dcs=0x08), False),
    ("lone-surrogate", deliver(octet_ud("0048D83D"), dcs=0x08), False),
    ("filler-in-address", deliver(gsm7_ud(b"\x41"), oa="0481214F"), False),
    ("non-bcd-timestamp", deliver(gsm7_ud(b"\x41"), scts="1110102143A000"), False),
    ("truncated-optional-fields", REPORT + "07", False),
    ("undecodable-optional-user-data", REPORT + "040A", False),
]  # fmt: skip


def test_every_tolerated_malformation_has_a_row() -> None:
    assert sorted(name for name, _, _ in ROWS) == sorted(WARNINGS)


def _cli(args: list[str]) -> str:
    result = CliRunner().invoke(pdu_group, ["decode", *args])
    assert result.exit_code == 0, result.output
    return result.output


@pytest.mark.parametrize(("name", "pdu", "lenient"), ROWS, ids=[r[0] for r in ROWS])
def test_warning_is_named_by_the_decoder_and_alike_in_text_and_json(
    name: str, pdu: str, lenient: bool
) -> None:
    msg = decode_pdu(pdu, lenient=lenient)
    assert name in msg.warnings
    assert set(msg.warnings) <= set(WARNINGS)
    flags = ["--lenient"] if lenient else []
    as_json = json.loads(_cli([*flags, "--json", pdu]))
    text_line = [ln for ln in _cli([*flags, pdu]).splitlines() if ln.startswith("warnings:")]
    assert len(text_line) == 1
    assert text_line[0].split(":", 1)[1].strip().split(", ") == as_json["warnings"]
    assert as_json["warnings"] == list(msg.warnings)


def test_concat_seq_6_of_2_is_named_in_json_and_read_as_standalone() -> None:
    pdu = ucs2_with_udh("0500030102060041")
    as_json = json.loads(_cli(["--json", pdu]))
    assert (as_json["concat"], as_json["text"], as_json["warnings"]) == (
        None,
        "A",
        ["invalid-concat"],
    )


def test_ucs2_body_ending_in_an_unpaired_high_surrogate_is_named() -> None:
    pdu = deliver(octet_ud("0048D83D"), dcs=0x08)
    as_json = json.loads(_cli(["--json", pdu]))
    assert (as_json["text"], as_json["warnings"]) == ("H\ufffd", ["lone-surrogate"])
    assert "warnings:  lone-surrogate" in _cli([pdu])


def test_a_stored_submit_carries_its_warnings_too() -> None:
    submit = "0001000B918100551512F20008" + octet_ud("0048D83D")  # STO SENT, read back
    assert decode_submit(submit).warnings == ("lone-surrogate",)
    assert json.loads(_cli(["--json", submit]))["warnings"] == ["lone-surrogate"]


def test_a_clean_pdu_has_an_empty_warning_list_and_no_text_line() -> None:
    pdu = deliver(gsm7_ud(b"\x41\x1b\x65"))  # "A€": a defined escape
    assert json.loads(_cli(["--json", pdu]))["warnings"] == []
    assert "warnings:" not in _cli([pdu])
