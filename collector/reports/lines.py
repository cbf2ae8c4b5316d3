"""Kinds of line a probe went to: the buyer's plan asks for home-network, MVNO and
number-ported test lines, and reports them apart.

- mvno: the MSISDN is in an MVNO resale segment (162/165/167/170/171);
- ported: the number's segment was allocated to another carrier than the one whose IMSI
  the SIM carries (the IMSI shows who serves it; the prefix stays with the number);
- home: the number is served by the carrier it was allocated to;
- unknown: no carrier from the IMSI, or not a Chinese mobile number.
A per-SIM override (`[reports.lines]`, MSISDN = kind) wins: a buyer knows its own lines.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

from agent.common.numberplan import allocated_carrier, mvno_segment, national

LINE_TYPES: Final = ("home", "mvno", "ported", "unknown")


def line_type(
    msisdn: str, carrier: str, mvno: str = "", overrides: Mapping[str, str] | None = None
) -> str:
    """The kind of line of a SIM: `carrier` is the IMSI's (the agent's SimInfo.carrier),
    `mvno` the segment the agent reported (re-derived from the MSISDN when empty)."""
    if overrides:
        forced = overrides.get(national(msisdn)) or overrides.get(msisdn)
        if forced is not None:
            return forced
    if mvno or mvno_segment(msisdn):
        return "mvno"
    allocated = allocated_carrier(msisdn)
    if not carrier or carrier == "other" or allocated == "other":
        return "unknown"
    return "home" if allocated == carrier else "ported"
