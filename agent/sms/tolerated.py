"""Names of the malformations the decoder tolerates (the `warnings` of a decoded PDU).

A person (`pdu decode`) and a script (`pdu decode --json`) see the same names; anything
the decoder reads past without failing has one here.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

__all__ = ["WARNINGS"]

WARNINGS: Mapping[str, str] = MappingProxyType(
    {
        "compressed": "TS 23.042 compressed user data, shown as octets, not text",
        "reserved-dcs": "reserved TP-DCS value, read as GSM 7-bit (TS 23.038 4)",
        "truncated": "user data shorter than TP-UDL (lenient decoding only)",
        "excess-user-data": "octets after TP-UDL's end, ignored",
        "udhi-without-user-data": "TP-UDHI set but TP-UDL is 0",
        "malformed-concat-ie": "concatenation IE of the wrong length, ignored",
        "duplicate-concat-ie": "more than one concatenation IE; the last counts",
        "invalid-concat": "concatenation seq/total impossible; read as a single SMS",
        "malformed-language-shift-ie": "national language shift IE of the wrong length",
        "unsupported-language-shift": "national language table not implemented; default used",
        "undefined-escape": "GSM 7-bit ESC + a code without an extension character",
        "escape-escape": "GSM 7-bit ESC ESC, shown as a space",
        "trailing-escape": "GSM 7-bit ESC as the last septet, dropped",
        "odd-ucs2-length": "UCS2 user data of an odd octet count; last octet dropped",
        "lone-surrogate": "UCS2 unpaired surrogate (e.g. a body ending in D83D), shown as U+FFFD",
        "filler-in-address": "address semi-octet F inside the counted digits, dropped",
        "non-bcd-timestamp": "time stamp semi-octet above 9, read at face value",
        "truncated-optional-fields": "status report TP-PI announces fields that are absent",
        "undecodable-optional-user-data": "status report optional user data unreadable",
    }
)
