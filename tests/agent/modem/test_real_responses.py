"""Parsers held against responses recorded from real devices by other projects.

Every row names its source (repository and file, plus the test or device there); the
expected values are what the 3GPP TS 27.007 field layout says the line carries, checked
against what that project's own test expects. Rows marked "fault injected" add one bad
line to a real response on purpose.
"""

# ruff: noqa: E501  (the tables keep one recorded response and its source per line)

from __future__ import annotations

import pytest

from agent.modem import commands as c
from agent.modem.errors import ResponseParseError

MM = "linux-mobile-broadband/ModemManager src/tests/test-modem-helpers.c"
GSMMODEM = "faucamp/python-gsmmodem test/test_modem.py"

# --- AT+CGSN ------------------------------------------------------------------------------

IMEI_TABLE = [
    # (response line, IMEI or None for "no IMEI", source)
    ("356936001568843,NL2A62Z0N5", "356936001568843", f"{MM} test_parse_gsn: IMEI + serial"),
    ("354237065082227", "354237065082227", f"{MM} test_parse_gsn: GSM IMEI"),
    ("45317471585658170:2161753034", None, f"{MM} test_parse_gsn: CDMA ESN pair, no IMEI"),
    ("adsfasdfasdfasdf", None, f"{MM} test_parse_gsn: garbage"),
    ("0x6030Cfgh", None, f"{MM} test_parse_gsn: garbage"),
]


@pytest.mark.parametrize(("line", "imei", "source"), IMEI_TABLE)
def test_imei_from_real_cgsn_answers(line: str, imei: str | None, source: str) -> None:
    if imei is None:
        with pytest.raises(ResponseParseError):
            c.parse_imei([line])
    else:
        assert c.parse_imei([line]) == imei, source


# --- +CREG / +CGREG / +CEREG (TS 27.007 §7.2, §10.1.20, §10.1.22) ---------------------------

# (line, domain, stat, lac, ci, act, source); lac/ci are hex values (None: not checked),
# act None when the line carries none. ModemManager's tests say whether the line was a
# query answer ("solicited") or a URC; the parser is not told, it must read the fields.
REG_TABLE = [
    ("+CREG: 1,3", "CREG", 3, 0, 0, None, f"{MM} test_creg1_solicited"),
    ("+CREG: 3", "CREG", 3, 0, 0, None, f"{MM} test_creg1_unsolicited"),
    ("+CREG: 11", "CREG", 11, 0, 0, None, f"{MM} test_creg1_unsolicited_multidigit_stat"),
    ("+CREG: 1,1,84CD,00D30173", "CREG", 1, 0x84CD, 0xD30173, None, f"{MM} Sierra Mercury solicited"),
    ("+CREG: 1,84CD,00D30156", "CREG", 1, 0x84CD, 0xD30156, None, f"{MM} Sierra Mercury unsolicited"),
    ('+CREG: 11,"33FE","a3fb477"', "CREG", 11, 0x33FE, 0xA3FB477, None, f"{MM} CREG=2 multidigit stat URC"),
    ('+CREG: 2,1,"CE00","01CEAD8F"', "CREG", 1, 0xCE00, 0x01CEAD8F, None, f"{MM} Sony Ericsson K850i solicited"),
    ('+CREG: 1,"CE00","00005449"', "CREG", 1, 0xCE00, 0x5449, None, f"{MM} Sony Ericsson K850i unsolicited"),
    ("+CREG: 2,0,00,0", "CREG", 0, 0, 0, None, f"{MM} Huawei E160G unregistered solicited"),
    ("+CREG: 2,1,8BE3,2BAF", "CREG", 1, 0x8BE3, 0x2BAF, None, f"{MM} Huawei E160G solicited"),
    ("+CREG: 1,8BE3,2BAF", "CREG", 1, 0x8BE3, 0x2BAF, None, f"{MM} Huawei E160G unsolicited"),
    ('+CREG: 2,1,"8BE3","00002BAF"', "CREG", 1, 0x8BE3, 0x2BAF, None, f"{MM} Sony Ericsson TM-506"),
    ("+CREG: 2,,", "CREG", 2, 0, 0, None, f"{MM} Novatel XU870 unregistered unsolicited"),
    ('+CREG:002,001,"18d8","ffff"', "CREG", 1, 0x18D8, 0xFFFF, None, f"{MM} Iridium solicited"),
    ("+CREG:2,1,0001,0010", "CREG", 1, 0x0001, 0x0010, None, f"{MM} solicited, no leading zeros"),
    ('+CREG:002,001,"0001","0010"', "CREG", 1, 0x0001, 0x0010, None, f"{MM} solicited, leading zeros"),
    ("+CREG: 1,0001,0010,0", "CREG", 1, 0x0001, 0x0010, 0, f"{MM} unsolicited, no leading zeros"),
    ('+CREG: 001,"0001","0010",000', "CREG", 1, 0x0001, 0x0010, 0, f"{MM} unsolicited, leading zeros"),
    ("+CREG: 10,0001,0010,0", "CREG", 10, 0x0001, 0x0010, 0, f"{MM} unsolicited, multidigit stat"),
    ('+CREG: 0011,"0001","0010",000', "CREG", 11, 0x0001, 0x0010, 0, f"{MM} unsolicited, zero-padded stat"),
    ('+CREG: 2,6,"8B37","0A265185",7', "CREG", 6, 0x8B37, 0x0A265185, 7, f"{MM} u-blox TOBY-L2 solicited"),
    ('+CREG: 6,"8B37","0A265185",7', "CREG", 6, 0x8B37, 0x0A265185, 7, f"{MM} u-blox TOBY-L2 unsolicited"),
    ('+CREG: 2,5,"0502","0404736D"', "CREG", 5, 0x0502, 0x0404736D, None, f"{MM} Sony-Ericsson MD400 URC with <n>"),
    ("+CREG: 2,1,000B,2816, B, C2816", "CREG", 1, 0x000B, 0x2816, None, f"{MM} Samsung Wave S8500 URC with <n>"),
    ("+CREG: 2,11,003F,8FE3, B, C2816", "CREG", 11, 0x003F, 0x8FE3, None, f"{MM} Samsung Wave S8500, stat 11"),
    ("+CREG: 2,1,  0 5, 2715", "CREG", 1, None, 0x2715, None, f"{MM} Qualcomm Gobi 1000 solicited"),
    ("+CGREG: 1,3", "CGREG", 3, 0, 0, None, f"{MM} test_cgreg1_solicited"),
    ('+CGREG: 2,1,"8BE3","00002B5D",3', "CGREG", 1, 0x8BE3, 0x2B5D, 3, f"{MM} Ericsson F3607gw solicited"),
    ('+CGREG: 1,"8BE3","00002B5D",3', "CGREG", 1, 0x8BE3, 0x2B5D, 3, f"{MM} Ericsson F3607gw unsolicited"),
    ('+CGREG: 5,"0502","0404736D",2', "CGREG", 5, 0x0502, 0x0404736D, 2, f"{MM} Sony-Ericsson MD400 CGREG URC"),
    ("+CGREG: 2,1, 81ED, 1A9CEB", "CGREG", 1, 0x81ED, 0x1A9CEB, None, f"{MM} Alcatel One-Touch X220D URC with <n>"),
    ('+CGREG: 1,"1422","00000142",3,"00"', "CGREG", 1, 0x1422, 0x142, 3, f"{MM} CGREG=2 with RAC"),
    ("+CGREG:2,10,ebbd,f025", "CGREG", 10, 0xEBBD, 0xF025, None, f"{MM} solicited, multidigit stat"),
    ('+CGREG:002,0011,"0f0d","14c3"', "CGREG", 11, 0x0F0D, 0x14C3, None, f"{MM} solicited, zero-padded stat"),
    ('+CGREG: 2, 1, "0426", "F00F"', "CGREG", 1, 0x0426, 0xF00F, None, f"{MM} Thuraya solicited"),
    ('+CGREG: 1, "0426", "F00F"', "CGREG", 1, 0x0426, 0xF00F, None, f"{MM} Thuraya unsolicited"),
    ("+CEREG: 2,1, 1F00, 79D903 ,7", "CEREG", 1, 0x1F00, 0x79D903, 7, f"{MM} test_cereg2_solicited"),
    ("+CEREG: 1, 1F00, 79D903 ,7", "CEREG", 1, 0x1F00, 0x79D903, 7, f"{MM} test_cereg2_unsolicited"),
    ('+CEREG: 2,10,"8d83","671f98a",7', "CEREG", 10, 0x8D83, 0x671F98A, 7, f"{MM} CEREG=2 multidigit stat"),
    ("+CEREG: 2,10, 2CA8, 20 ,B5583D ,7", "CEREG", 10, 0x2CA8, 0xB5583D, 7, f"{MM} CEREG=2 with RAC, solicited"),
    ("+CEREG: 11, 78FE, 20 ,14419E ,7", "CEREG", 11, 0x78FE, 0x14419E, 7, f"{MM} CEREG=2 with RAC, unsolicited"),
    ("+CEREG: 1, 2, 0001, 00000100, 7", "CEREG", 2, 0x0001, 0x100, 7, f"{MM} Altair LTE, <n> in a URC"),
    ("+CEREG: 2, 0001, 00000100, 7", "CEREG", 2, 0x0001, 0x100, 7, f"{MM} Altair LTE unsolicited"),
    ("+CEREG: 2,1, 1F00, 20 ,79D903 ,7", "CEREG", 1, 0x1F00, 0x79D903, 7, f"{MM} Novatel LTE E362 solicited"),
    ("+CREG: 0,1", "CREG", 1, 0, 0, None, f"{GSMMODEM} test_waitForNetorkCoverage"),
]  # fmt: skip


@pytest.mark.parametrize(("line", "domain", "stat", "lac", "ci", "act", "source"), REG_TABLE)
def test_registration_from_real_answers_and_urcs(
    line: str, domain: str, stat: int, lac: int | None, ci: int | None, act: int | None, source: str
) -> None:
    reg = c.parse_registration(line)
    assert (reg.domain, int(reg.status), reg.act) == (domain, stat, act), source
    if lac is not None:
        assert int(reg.lac or "0", 16) == lac, source
    if ci is not None:
        assert int(reg.cell_id or "0", 16) == ci, source


def test_registration_shape_does_not_depend_on_who_asked() -> None:
    # The MD400 URC (carrying <n>) read the old way, as `<stat>,<lac>,<ci>`, was status 2
    # (searching) with "0502" as the cell: roaming must come out whatever is outstanding.
    reg = c.parse_registration('+CREG: 2,5,"0502","0404736D"')
    assert (reg.status, reg.status.registered, reg.lac, reg.cell_id) == (
        c.RegStatus.ROAMING,
        True,
        "0502",
        "0404736D",
    )


# --- ICCID (ITU-T E.118) ------------------------------------------------------------------

ICCID_TABLE = [
    # (raw, ICCID or None for rejected, source)
    ('"984402003576012594F9"', "8944200053671052499", f"{MM} test_iccid_parse_quoted_swap_19_digit"),
    ("98231420326409614067", "89324102234690160476", f"{MM} test_iccid_parse_unquoted_swap_20_digit"),
    ("8944200053671052499F", "8944200053671052499", f"{MM} test_iccid_parse_unquoted_unswapped_19_digit"),
    ("8944200053671052499", "8944200053671052499", f"{MM} ..._unswapped_19_digit_no_f"),
    ('"89324102234690160476"', "89324102234690160476", f"{MM} test_iccid_parse_quoted_unswapped_20_digit"),
    ('"898602F9091830030220"', "898602F9091830030220", f"{MM} test_iccid_parse_quoted_unswapped_hex_account"),
    ('"898602C0123456789012"', "898602C0123456789012", f"{MM} ..._hex_account_2"),
    ("982314203264096", None, f"{MM} test_iccid_parse_short"),
    ("98231420326pl9614067", None, f"{MM} test_iccid_parse_invalid_chars"),
    ('"0044200053671052499"', None, f"{MM} test_iccid_parse_quoted_invalid_mii"),
    ("0044200053671052499", None, f"{MM} test_iccid_parse_unquoted_invalid_mii"),
]  # fmt: skip


@pytest.mark.parametrize(("raw", "iccid", "source"), ICCID_TABLE)
def test_iccid_from_real_answers(raw: str, iccid: str | None, source: str) -> None:
    if iccid is None:
        with pytest.raises(ResponseParseError):
            c.normalise_iccid(raw)
        with pytest.raises(ResponseParseError):
            c.parse_iccid([f"+ICCID: {raw}"])
    else:
        assert c.normalise_iccid(raw) == iccid, source
        assert c.parse_iccid([f"+QCCID: {raw}"]) == iccid, source


def test_iccid_without_the_89_prefix_is_refused_with_a_reason() -> None:
    with pytest.raises(ResponseParseError, match="89"):
        c.normalise_iccid("0044200053671052499")
    # ... and a line that is not one does not hide a later line that is.
    assert c.parse_iccid(["0044200053671052499", "+CCID: 8944200053671052499F"]) == (
        "8944200053671052499"
    )


# --- +CMGL (TS 27.005 §3.4.2) ---------------------------------------------------------------

# python-gsmmodem's recorded answer to AT+CMGL=1 (two stored SMS-DELIVER entries).
GSMMODEM_CMGL = [
    "+CMGL: 1,1,,161",
    "07917248010080F020109172480010359099990000312070101344809FCEF21D14769341E8B2BC0CA2BF41"
    "737A381F0211DFEE131DA4AECFE92079798C0ECBCF65D0B40A0D0E9141E9B1080ABBC9A073990ECABFEB72"
    "90BC3C4687E5E73219144ECBE9E976796594168BA06199CD1E82E86FD0B0CC660F41EDB47B0E3281A6CDE9"
    "7C659497CB2072981E06D1DFA0FABC0C0ABBF3F474BBEC02514D4350180E67E75DA06199CD060D01",
    "+CMGL: 2,1,,159",
    "07917248010080F0240B917248001064F30000312070604220809F537AD84D0ECBC92061D8BDD681B2EFBA"
    "1C141E8FDF75377D0E0ACBCB20F71BC47EBBCF6539C8981C0641E3771BCE4E87DD741708CA2E87E76590589"
    "E769F414922C80482CBDF6F33E86D06C9CBF334B9EC1E9741F43728ECCE83C4F2B07B8C06D1DF2079393CA6"
    "A7ED617A19947FD7E5A0F078FCAEBBE97317285A2FCBD3E5F90F04C3D96030D88C2693B900",
]
# ModemManager test_cmgl_response_pantech: no <alpha> field, index 17, STO SENT.
PANTECH = [
    "+CMGL: 17,3,35",
    "079100F40D1101000F001000B917118336058F300001954747A0E4ACF41F27298CDCE83C6EF371B0402814020",
]
GARBLED_PDU = "0791724801\x00\xff80F0240B9172"  # line noise (fault injected)

# (lines, indexes parsed, (index, line count) of each unparsed entry, source)
CMGL_TABLE = [
    (GSMMODEM_CMGL, [1, 2], [], f"{GSMMODEM} TestStoredSms, AT+CMGL=1 reply"),
    (PANTECH, [17], [], f"{MM} test_cmgl_response_pantech"),
    (
        [*GSMMODEM_CMGL[:2], "+CMGL: 5,0,,24", GARBLED_PDU, *GSMMODEM_CMGL[2:], *PANTECH],
        [1, 2, 17],
        [(5, 2)],
        f"{GSMMODEM} + {MM}; fault injected: entry 5's PDU line garbled",
    ),
    (
        [*PANTECH, "+CMGL: x,0,,24", PANTECH[1], *GSMMODEM_CMGL],
        [17, 1, 2],
        [(None, 2)],
        f"{GSMMODEM} + {MM}; fault injected: unreadable index",
    ),
    (
        [*PANTECH, "NO CARRIER?", *GSMMODEM_CMGL[:2], "+CMGL: 9,0,,24"],
        [17, 1],
        [(None, 1), (9, 1)],
        f"{GSMMODEM} + {MM}; fault injected: stray line, listing cut after a header",
    ),
]


@pytest.mark.parametrize(("lines", "parsed", "unparsed", "source"), CMGL_TABLE)
def test_cmgl_parses_what_parses_and_keeps_the_rest_raw(
    lines: list[str], parsed: list[int], unparsed: list[tuple[int | None, int]], source: str
) -> None:
    listing = c.parse_cmgl(lines)
    assert [e.index for e in listing.entries] == parsed, source
    assert [(u.index, len(u.lines)) for u in listing.unparsed] == unparsed, source
    # Nothing lost, nothing invented: every input line is in exactly one of the two.
    kept = [line for u in listing.unparsed for line in u.lines]
    assert len(listing.entries) * 2 + len(kept) == len(lines)
    assert all(line in lines for line in kept)
    by_index = {e.index: e for e in listing.entries}
    if 17 in by_index:
        # The recorded PDU line has an odd number of hex digits: the complete octets count.
        assert by_index[17].pdu == bytes.fromhex(PANTECH[1][:-1])
        assert (by_index[17].stat, by_index[17].length) == (3, 35)
