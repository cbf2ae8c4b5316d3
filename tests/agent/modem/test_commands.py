"""Pure response parsers against real modem output (docs/modems.md; TS 27.005 §3.4, TS 27.007).

Regression tests are named after the device or project whose transcript they use, as
ModemManager does.
"""

from __future__ import annotations

import pytest

from agent.modem import commands as c
from agent.modem.errors import ResponseParseError

# --- fields ---------------------------------------------------------------------------------


def test_split_fields_keeps_commas_inside_quotes_and_parentheses() -> None:
    assert c.split_fields('"a,b",1,("SM","ME"),') == ["a,b", "1", '("SM","ME")', ""]


def test_split_prefix_tolerates_missing_space_and_case() -> None:
    assert c.split_prefix("+CESQ:10,6,255,255,255,255", "+CESQ") == "10,6,255,255,255,255"
    assert c.split_prefix("+csq: 1,2", "+CSQ") == "1,2"
    assert c.split_prefix("+CSQX: 1", "+CSQ") is None


# --- identity -------------------------------------------------------------------------------


def test_parse_info_strips_vendor_prefixes() -> None:
    assert c.parse_info(["Quectel"]) == "Quectel"
    assert c.parse_info(["+CGMR: LE20B04SIM7600M22"]) == "LE20B04SIM7600M22"
    assert c.parse_info(["Revision: EC25EFAR06A06M4G"]) == "EC25EFAR06A06M4G"
    assert c.parse_info([]) == ""


def test_parse_imei_bare_and_prefixed() -> None:
    assert c.parse_imei(["866758041234567"]) == "866758041234567"
    assert c.parse_imei(["+CGSN: 866758041234567"]) == "866758041234567"
    with pytest.raises(ResponseParseError):
        c.parse_imei(["ERROR-ish"])


def test_parse_imsi_bare_and_prefixed() -> None:
    assert c.parse_imsi(["460001234567890"]) == "460001234567890"
    assert c.parse_imsi(["+CIMI: 460011234567890"]) == "460011234567890"
    with pytest.raises(ResponseParseError):
        c.parse_imsi([])


@pytest.mark.parametrize(
    ("lines", "expected"),
    [
        (["+QCCID: 89860318740201234567"], "89860318740201234567"),  # Quectel EC25
        (["89860012345678901234"], "89860012345678901234"),  # SIMCom SIM800 bare line
        (["+ICCID: 89860121801234567890"], "89860121801234567890"),  # SIMCom SIM7600
        (["^ICCID: 98680021436587092143"], "89860012345678901234"),  # Huawei, nibble-swapped
        (["+CCID: 8986031234567890123F"], "8986031234567890123"),  # u-blox, F padded 19 digits
        (["ICCID: 898600a1179407112134"], "898600A1179407112134"),  # public log: hex letter
        (['+CRSM: 144,0,"98681031098310024233"'], "89860113903801202433"),  # EF_ICCID read
    ],
    ids=["quectel", "sim800", "sim7600", "huawei-swapped", "ublox-f-pad", "hex-letter", "crsm"],
)
def test_parse_iccid_vendor_forms(lines: list[str], expected: str) -> None:
    assert c.parse_iccid(lines) == expected


def test_parse_iccid_rejects_sw_error_and_garbage() -> None:
    with pytest.raises(ResponseParseError):
        c.parse_iccid(['+CRSM: 106,130,""'])  # SW 6A82: file not found
    with pytest.raises(ResponseParseError):
        c.parse_iccid(["+QCCID: 12"])


def test_parse_cnum_number_and_empty_sim() -> None:
    assert c.parse_cnum(['+CNUM: "","8613812345678",145']) == "+8613812345678"
    assert c.parse_cnum(['+CNUM: ,"13812345678",129']) == "13812345678"
    assert c.parse_cnum([]) == ""  # the norm on Chinese prepaid/IoT SIMs (TS 27.007 §7.1)


# --- signal and network ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "dbm", "ber"),
    [
        ("+CSQ: 21,99", -71, None),
        ("+CSQ: 0,0", -113, 0),
        ("+CSQ: 31,7", -51, 7),
        ("+CSQ: 99,99", None, None),
    ],
)
def test_parse_csq(line: str, dbm: int | None, ber: int | None) -> None:
    sig = c.parse_csq([line])
    assert (sig.rssi_dbm, sig.ber) == (dbm, ber)


def test_parse_cesq_modemmanager_lte_example() -> None:
    # ModemManager test: LTE, RSRQ -10 dB, RSRP -61 dBm.
    sig = c.parse_cesq(["+CESQ: 99,99,255,255,20,80"])
    assert (sig.rssi_dbm, sig.rsrq_db, sig.rsrp_dbm) == (None, -10.0, -61.0)


def test_parse_cesq_without_space_gsm_rxlev() -> None:
    sig = c.parse_cesq(["+CESQ:10,6,255,255,255,255"])
    assert (sig.rssi_dbm, sig.ber, sig.rsrp_dbm) == (-101, 6, None)


def test_registered_includes_sms_only_and_excludes_searching() -> None:
    assert c.RegStatus.SMS_ONLY_HOME.registered
    assert not c.RegStatus.SEARCHING.registered
    assert not c.RegStatus.DENIED.registered


@pytest.mark.parametrize(
    ("line", "mcc_mnc", "name", "act"),
    [
        ('+COPS: 1,2,"46000",7', "46000", "46000", 7),
        ('+COPS: 1,2,"46000"', "46000", "46000", None),
        ('+COPS: 1,0,"CHINA MOBILE",7', "", "CHINA MOBILE", 7),
        ("+COPS: 0", "", "", None),
    ],
)
def test_parse_cops(line: str, mcc_mnc: str, name: str, act: int | None) -> None:
    op = c.parse_cops([line])
    assert (op.mcc_mnc, op.name, op.act) == (mcc_mnc, name, act)


def test_parse_cpin() -> None:
    assert c.parse_cpin(["+CPIN: READY"]) == "READY"
    assert c.parse_cpin(["+CPIN: NOT INSERTED"]) == "NOT INSERTED"


# --- storage --------------------------------------------------------------------------------


def test_parse_cpms_query_gammu_pr_log() -> None:
    uses = c.parse_cpms_query(['+CPMS: "ME",0,25,"ME",0,25,"SM",0,20'])
    assert [(u.storage, u.used, u.total) for u in uses] == [
        ("ME", 0, 25),
        ("ME", 0, 25),
        ("SM", 0, 20),
    ]


def test_parse_cpms_set_pairs_with_requested_memories() -> None:
    uses = c.parse_cpms_set(["+CPMS: 3,50,3,50,3,50"], ["ME", "ME", "ME"])
    assert [(u.storage, u.used, u.total) for u in uses] == [("ME", 3, 50)] * 3
    # Only mem1 set (AT+CPMS="SM"): modems still print all three pairs.
    one = c.parse_cpms_set(["+CPMS: 1,20,1,20,1,20"], ["SM"])
    assert [(u.storage, u.used) for u in one] == [("SM", 1)]


def test_parse_cnmi_and_cmgf() -> None:
    assert c.parse_cnmi(["+CNMI: 2,1,0,2,0"]) == (2, 1, 0, 2, 0)
    assert c.parse_cmgf(["+CMGF: 0"]) == 0


PDU1 = "07911326040000F0040B911346610089F60000208062917314080CC8F71D14969741F977FD07"
PDU2 = "0891683108200505F00405A10180F60008621010000000001030104E2D56FD79FB52A8301160A8597D"


def test_parse_cmgl_non_contiguous_indexes_pantech_order() -> None:
    # Indexes are neither contiguous nor ordered (Pantech listing 17,15,...), index 0 valid.
    lines = [
        "+CMGL: 17,1,,24",
        PDU1,
        "+CMGL: 0,0,,32",
        PDU2,
    ]
    entries = c.parse_cmgl(lines).entries
    assert [(e.index, e.stat, e.length) for e in entries] == [(17, 1, 24), (0, 0, 32)]
    assert entries[1].pdu == bytes.fromhex(PDU2)


def test_parse_cmgl_reports_header_without_pdu_and_empty_storage() -> None:
    assert c.parse_cmgl([]) == c.CmglListing((), ())
    listing = c.parse_cmgl(["+CMGL: 1,0,,24", "+CMGL: 2,0,,32", PDU2])
    assert [e.index for e in listing.entries] == [2]
    assert [(u.index, u.lines) for u in listing.unparsed] == [(1, ("+CMGL: 1,0,,24",))]


@pytest.mark.parametrize(
    ("header", "stat", "length"),
    [
        ("+CMGR: 1,,25", 1, 25),  # gammu: empty alpha
        ("+CMGR: 0,23", 0, 23),  # gammu: no alpha field at all
        ('+CMGR: 0,"",32', 0, 32),  # python-gsmmodem PR #27
        ('+CMGR: 0,"71231231234",32', 0, 32),  # python-gsmmodem PR #27: alpha is a number
        ("+CMGR: 24", None, 24),  # gammu: length only
        ("+CMGR: ,,92", None, 92),  # gammu: empty stat
        ("+CMGR: 4,1,,151", 4, 151),  # gammu: extra leading field
    ],
    ids=["gammu-empty-alpha", "gammu-no-alpha", "gsmmodem-empty-quoted", "gsmmodem-number-alpha",
         "gammu-length-only", "gammu-empty-stat", "gammu-extra-field"],
)  # fmt: skip
def test_parse_cmgr_real_header_variants(header: str, stat: int | None, length: int) -> None:
    entry = c.parse_cmgr([header, PDU2])
    assert entry is not None
    assert (entry.stat, entry.length, entry.pdu) == (stat, length, bytes.fromhex(PDU2))


def test_parse_cmgr_trailing_quote_on_pdu_line_and_empty_slot() -> None:
    entry = c.parse_cmgr(["+CMGR: 0,,32", PDU2 + '"'])
    assert entry is not None and entry.pdu == bytes.fromhex(PDU2)
    assert c.parse_cmgr([]) is None  # empty slot: bare OK


def test_parse_cmgr_header_without_pdu_is_an_error() -> None:
    with pytest.raises(ResponseParseError):
        c.parse_cmgr(["+CMGR: 0,,32"])


def test_parse_cmgs_and_indications() -> None:
    assert c.parse_cmgs(["+CMGS: 12"]) == 12
    assert c.parse_cmgs(['+CMGS: 255,"24/05/01,10:37:38+32"']) == 255
    assert c.parse_stored_indication('+CMTI: "SM",0') == c.StoredIndication("SM", 0)
    assert c.parse_stored_indication('+CDSI: "SR",3') == c.StoredIndication("SR", 3)
    assert c.parse_direct_length("+CMT: ,24") == 24
    assert c.parse_direct_length("+CDS: 25") == 25
