"""National language shift tables (TS 23.038 Annex A) selected by UDH IEs 0x24/0x25.

Implemented: Turkish (1), Spanish (2, single shift only), Portuguese (3). Other language
identifiers decode with the default tables and are flagged ("unsupported-language-shift").
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from types import MappingProxyType

from agent.sms.gsm7 import DEFAULT_ALPHABET, DEFAULT_EXTENSION, Gsm7Tables

__all__ = [
    "IEI_LOCKING_SHIFT",
    "IEI_SINGLE_SHIFT",
    "LANGUAGES",
    "tables_for",
    "tables_for_udh",
]

# TS 23.040 9.2.3.24.15 / 9.2.3.24.16.
IEI_SINGLE_SHIFT = 0x24
IEI_LOCKING_SHIFT = 0x25

LANGUAGES: Mapping[int, str] = MappingProxyType({1: "turkish", 2: "spanish", 3: "portuguese"})


def _patch(base: str, changes: Mapping[int, str]) -> str:
    cells = list(base)
    for code, ch in changes.items():
        cells[code] = ch
    return "".join(cells)


# A.3.1 Turkish locking shift: the default table with these cells replaced.
_TURKISH_LOCKING = _patch(
    DEFAULT_ALPHABET,
    {0x04: "€", 0x07: "ı", 0x0B: "Ğ", 0x0C: "ğ", 0x1C: "Ş", 0x1D: "ş", 0x40: "İ", 0x60: "ç"},
)
# A.3.3 Portuguese locking shift, row by row (0x1B stays ESC).
_PORTUGUESE_LOCKING = (
    "@£$¥êéúíóç\nÔô\rÁá"
    "Δ_ªÇÀ∞^\\€Ó|\x1bÂâÊÉ"
    " !\"#º%&'()*+,-./"
    "0123456789:;<=>?"
    "ÍABCDEFGHIJKLMNO"
    "PQRSTUVWXYZÃÕÚÜ§"
    "~abcdefghijklmno"
    "pqrstuvwxyzãõ`üà"
)
_LOCKING: Mapping[int, str] = MappingProxyType(
    {0: DEFAULT_ALPHABET, 1: _TURKISH_LOCKING, 3: _PORTUGUESE_LOCKING}
)

_SINGLE: Mapping[int, Mapping[int, str]] = MappingProxyType(
    {
        0: DEFAULT_EXTENSION,
        # A.2.1 Turkish single shift.
        1: MappingProxyType(
            {
                **DEFAULT_EXTENSION,
                0x47: "Ğ",
                0x49: "İ",
                0x53: "Ş",
                0x63: "ç",
                0x67: "ğ",
                0x69: "ı",
                0x73: "ş",
            }
        ),
        # A.2.2 Spanish single shift.
        2: MappingProxyType(
            {
                **DEFAULT_EXTENSION,
                0x09: "ç",
                0x41: "Á",
                0x49: "Í",
                0x4F: "Ó",
                0x55: "Ú",
                0x61: "á",
                0x69: "í",
                0x6F: "ó",
                0x75: "ú",
            }
        ),
        # A.2.3 Portuguese single shift.
        3: MappingProxyType(
            {
                **DEFAULT_EXTENSION,
                0x05: "ê",
                0x09: "ç",
                0x0B: "Ô",
                0x0C: "ô",
                0x0E: "Á",
                0x0F: "á",
                0x12: "Φ",
                0x13: "Γ",
                0x15: "Ω",
                0x16: "Π",
                0x17: "Ψ",
                0x18: "Σ",
                0x19: "Θ",
                0x1F: "Ê",
                0x41: "À",
                0x49: "Í",
                0x4F: "Ó",
                0x55: "Ú",
                0x5B: "Ã",
                0x5C: "Õ",
                0x61: "Â",
                0x69: "í",
                0x6F: "ó",
                0x75: "ú",
                0x7B: "ã",
                0x7C: "õ",
                0x7F: "â",
            }
        ),
    }
)

_TABLES: Mapping[tuple[int, int], Gsm7Tables] = MappingProxyType(
    {
        (lock, single): Gsm7Tables(
            _LOCKING[lock],
            _SINGLE[single],
            f"{LANGUAGES.get(lock, 'default')}/{LANGUAGES.get(single, 'default')}",
        )
        for lock in _LOCKING
        for single in _SINGLE
    }
)


def tables_for(locking: int = 0, single: int = 0) -> Gsm7Tables:
    """Tables for national language identifiers; KeyError if one is not implemented."""
    return _TABLES[(locking, single)]


def tables_for_udh(udh: Sequence[tuple[int, bytes]]) -> tuple[Gsm7Tables, tuple[str, ...]]:
    """Tables selected by the shift IEs of a UDH, with a warning for unsupported languages."""
    locking = single = 0
    warnings: tuple[str, ...] = ()
    for iei, data in udh:
        if iei in (IEI_LOCKING_SHIFT, IEI_SINGLE_SHIFT) and len(data) != 1:
            warnings = ("malformed-language-shift-ie",)  # TS 23.040 9.2.3.24.15: one octet
        elif iei == IEI_LOCKING_SHIFT:
            locking = data[0]
        elif iei == IEI_SINGLE_SHIFT:
            single = data[0]
    if locking not in _LOCKING or single not in _SINGLE:
        warnings = (*warnings, "unsupported-language-shift")
        locking = locking if locking in _LOCKING else 0
        single = single if single in _SINGLE else 0
    return _TABLES[(locking, single)], warnings
