"""Carrier from IMSI (authoritative) and MSISDN prefix (hint) — docs/modems.md, "Identity"."""

from __future__ import annotations

import pytest

from agent.modem.carrier import (
    carrier_from_imsi,
    carrier_from_msisdn,
    carrier_from_plmn,
    mvno_segment,
)


@pytest.mark.parametrize(
    ("imsi", "mcc_mnc", "carrier"),
    [
        ("460001234567890", "46000", "china_mobile"),
        ("460021234567890", "46002", "china_mobile"),
        ("460071234567890", "46007", "china_mobile"),
        ("460081234567890", "46008", "china_mobile"),
        ("460011234567890", "46001", "china_unicom"),
        ("460061234567890", "46006", "china_unicom"),
        ("460091234567890", "46009", "china_unicom"),
        ("460031234567890", "46003", "china_telecom"),
        ("460111234567890", "46011", "china_telecom"),
        ("460151234567890", "46015", "china_broadnet"),
        ("460201234567890", "46020", "other"),  # China Railcom
        ("454001234567890", "45400", "other"),  # Hong Kong
        ("310260123456789", "310260", "other"),  # US: 3-digit MNC
    ],
)
def test_carrier_from_imsi(imsi: str, mcc_mnc: str, carrier: str) -> None:
    info = carrier_from_imsi(imsi)
    assert (info.mcc_mnc, info.carrier) == (mcc_mnc, carrier)


def test_ported_sim_imsi_wins_over_prefix() -> None:
    # A China Mobile number (138) ported to Unicom: the IMSI shows Unicom.
    assert carrier_from_msisdn("13812345678").carrier == "china_mobile"
    assert carrier_from_imsi("460011234567890", "13812345678").carrier == "china_unicom"


def test_mvno_segment_from_number_only() -> None:
    assert carrier_from_imsi("460011234567890", "+8617112345678").mvno == "171"
    assert carrier_from_imsi("460011234567890").mvno == ""
    assert mvno_segment("8616512345678") == "165"
    assert mvno_segment("13812345678") == ""


@pytest.mark.parametrize(
    ("msisdn", "carrier"),
    [
        ("13412345678", "china_mobile"),
        ("13492345678", "china_telecom"),  # 1349 satellite, Telecom
        ("17001234567", "china_telecom"),
        ("17031234567", "china_mobile"),
        ("17041234567", "china_unicom"),
        ("19212345678", "china_broadnet"),
        ("+8618612345678", "china_unicom"),
        ("10086", "other"),
    ],
)
def test_carrier_from_msisdn_prefix_table(msisdn: str, carrier: str) -> None:
    assert carrier_from_msisdn(msisdn).carrier == carrier


def test_garbage_imsi_and_plmn() -> None:
    assert carrier_from_imsi("").carrier == "other"
    assert carrier_from_imsi("ERROR").mcc_mnc == ""
    assert carrier_from_plmn("46000").carrier == "china_mobile"
    assert carrier_from_plmn("").mcc_mnc == ""
