"""UCS2 user data (TS 23.038 6.2.3), read as UTF-16BE: handsets send surrogate pairs."""

from __future__ import annotations

from agent.sms.errors import EncodeError

__all__ = ["code_units", "decode_ucs2", "encode_ucs2"]


def decode_ucs2(data: bytes) -> tuple[str, tuple[str, ...]]:
    """Octets -> (text, warnings).

    A trailing odd octet is dropped ("odd-ucs2-length"); lone surrogates become U+FFFD
    ("lone-surrogate"), so a part whose pair is split across segments still decodes.
    """
    warnings: tuple[str, ...] = ()
    if len(data) & 1:
        data = data[:-1]
        warnings = ("odd-ucs2-length",)
    try:
        return data.decode("utf-16-be"), warnings
    except UnicodeDecodeError:
        return data.decode("utf-16-be", "replace"), (*warnings, "lone-surrogate")


def encode_ucs2(text: str) -> bytes:
    """Text -> UTF-16BE octets (characters beyond the BMP become surrogate pairs)."""
    try:
        return text.encode("utf-16-be")
    except UnicodeEncodeError as exc:
        raise EncodeError(f"text contains an unpaired surrogate at {exc.start}") from exc


def code_units(ch: str) -> int:
    """UTF-16 code units of one character: 2 for a surrogate pair, else 1."""
    return 2 if ord(ch) > 0xFFFF else 1
