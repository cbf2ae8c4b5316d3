"""Which carrier a SIM belongs to: from the IMSI (authoritative), and from the MSISDN
prefix (a secondary hint only: number portability since 2019-12-01 breaks it).

Sources: the MIIT table of mobile network numbers (2023-03) with its MVNO segments, the
IMSI MNCs, AT+CIMI (TS 27.007 §5.6); docs/modems.md ("Identity") and docs/vendors.md.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

# Re-exported: the agent's callers read the number plan through this module.
from agent.common.numberplan import Carrier as Carrier
from agent.common.numberplan import allocated_carrier
from agent.common.numberplan import mvno_segment as mvno_segment


def _digits(text: str) -> bool:
    """ASCII digits only: str.isdigit() accepts '²' and other scripts' digits, which int()
    then rejects."""
    return text.isascii() and text.isdigit()


@dataclass(frozen=True, slots=True)
class CarrierInfo:
    mcc_mnc: str  # "46000"; "" when unknown (e.g. from an MSISDN)
    carrier: Carrier
    mvno: str  # "" when not an MVNO segment (or unknown); else the segment, e.g. "170"
    name: str = ""  # human-readable operator name when known


# MCC 460 uses 2-digit MNCs (ITU-T E.212 list). 04/08/09/11/13/15 are not confirmed by a
# primary source we checked, but listed by several sources.
_CN_MNC: Final[dict[str, tuple[Carrier, str]]] = {
    "00": ("china_mobile", "China Mobile"),
    "02": ("china_mobile", "China Mobile"),
    "04": ("china_mobile", "China Mobile"),
    "07": ("china_mobile", "China Mobile"),
    "08": ("china_mobile", "China Mobile"),
    "13": ("china_mobile", "China Mobile"),
    "01": ("china_unicom", "China Unicom"),
    "06": ("china_unicom", "China Unicom"),
    "09": ("china_unicom", "China Unicom"),
    "03": ("china_telecom", "China Telecom"),
    "05": ("china_telecom", "China Telecom"),
    "11": ("china_telecom", "China Telecom"),
    "15": ("china_broadnet", "China Broadnet"),
    "20": ("other", "China Railcom (GSM-R)"),
}

# E.212: MCCs whose networks use 3-digit MNCs (North America and a few others). Elsewhere
# 2 digits. Only affects the `mcc_mnc` string of non-Chinese SIMs.
_THREE_DIGIT_MNC_MCC: Final = frozenset(
    {"302", "310", "311", "312", "313", "314", "315", "316", "334", "338", "342", "344",
     "346", "348", "354", "356", "358", "360", "365", "376", "405", "708", "722", "732"}
)  # fmt: skip


def carrier_from_imsi(imsi: str, msisdn: str = "") -> CarrierInfo:
    """IMSI -> carrier. A ported SIM is a new SIM of the new carrier, so the IMSI shows who
    really serves it. MVNO SIMs ride on the host's IMSI ranges: the brand cannot be read
    from the IMSI; `msisdn` (if known) only fills `mvno` with the MVNO number segment."""
    digits = imsi.strip()
    if len(digits) < 5 or not _digits(digits):
        return CarrierInfo("", "other", "")
    mcc = digits[:3]
    mnc = digits[3:6] if mcc in _THREE_DIGIT_MNC_MCC else digits[3:5]
    mvno = mvno_segment(msisdn) if msisdn else ""
    if mcc == "460":
        carrier, name = _CN_MNC.get(mnc, ("other", ""))
        return CarrierInfo(mcc + mnc, carrier, mvno, name)
    return CarrierInfo(mcc + mnc, "other", mvno)


def carrier_from_plmn(mcc_mnc: str) -> CarrierInfo:
    """Numeric PLMN from +COPS (e.g. "46000") -> serving network (roaming: not the SIM's)."""
    plmn = mcc_mnc.strip()
    if not _digits(plmn) or len(plmn) not in (5, 6):
        return CarrierInfo("", "other", "")
    if plmn.startswith("460") and len(plmn) == 5:
        carrier, name = _CN_MNC.get(plmn[3:], ("other", ""))
        return CarrierInfo(plmn, carrier, "", name)
    return CarrierInfo(plmn, "other", "")


def carrier_from_msisdn(msisdn: str) -> CarrierInfo:
    """Original allocation of a Chinese mobile number. A hint only (ported numbers keep
    their prefix); never use it when an IMSI is available."""
    return CarrierInfo("", allocated_carrier(msisdn), mvno_segment(msisdn))
