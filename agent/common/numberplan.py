"""China's mobile number plan: which carrier a number was allocated to and the MVNO resale
segments. A hint only (number portability since 2019-12-01 keeps the prefix); the agent and
the collector both read it, so it lives with the foundation packages.

Source: the MIIT table of mobile network numbers (2023-03); docs/vendors.md ("Number plan").
"""

from __future__ import annotations

from typing import Final, Literal

Carrier = Literal["china_mobile", "china_unicom", "china_telecom", "china_broadnet", "other"]


def national(msisdn: str) -> str:
    n = "".join(ch for ch in msisdn if ch in "0123456789")
    for cc in ("0086", "86"):
        if n.startswith(cc) and len(n) == len(cc) + 11:
            return n[len(cc) :]
    return n


# MIIT 2023-03 allocation (docs/vendors.md, "Number plan"). Longest prefix wins.
ALLOCATION: Final[tuple[tuple[Carrier, str], ...]] = (
    ("china_mobile", "1340 1341 1342 1343 1344 1345 1346 1347 1348 135 136 137 138 139 147 148 "
     "150 151 152 157 158 159 165 1703 1705 1706 172 178 182 183 184 187 188 195 197 198"),
    ("china_unicom", "130 131 132 145 146 155 156 166 167 1704 1707 1708 1709 171 175 176 185 "
     "186 196"),
    ("china_telecom", "133 1349 149 153 162 1700 1701 1702 173 1740 177 180 181 189 190 191 "
     "193 199"),
    ("china_broadnet", "192"),
)  # fmt: skip
PREFIXES: Final = {p: carrier for carrier, text in ALLOCATION for p in text.split()}

MVNO_SEGMENTS: Final = ("162", "165", "167", "170", "171")


def mvno_segment(msisdn: str) -> str:
    """ "170"/"171"/"162"/"165"/"167" when the number is in an MVNO resale segment, else ""."""
    n = national(msisdn)
    return n[:3] if len(n) == 11 and n.startswith(MVNO_SEGMENTS) else ""


def allocated_carrier(msisdn: str) -> Carrier:
    """The carrier the number's segment was allocated to ("other" when not a Chinese mobile
    number); MVNO segments count as their host's."""
    n = national(msisdn)
    if len(n) != 11 or not n.startswith("1"):
        return "other"
    for length in (4, 3):
        carrier = PREFIXES.get(n[:length])
        if carrier is not None:
            return carrier
    return "other"
