"""The codec's documented errors: one for decoding, one for encoding."""

from __future__ import annotations

__all__ = ["EncodeError", "PduError"]


class PduError(ValueError):
    """A PDU could not be decoded.

    The only exception :func:`agent.sms.decode_pdu` raises for bad input.

    Attributes:
        hex: the whole input, as upper-case hex (or the raw text when it was not hex).
        offset: octet offset into the input where decoding failed.
        reason: what was wrong, without the offset.
    """

    def __init__(self, hex: str, offset: int, reason: str) -> None:
        self.hex = hex
        self.offset = offset
        self.reason = reason
        super().__init__(f"{reason} at octet {offset}")

    def __reduce__(self) -> tuple[type[PduError], tuple[str, int, str]]:
        return (type(self), (self.hex, self.offset, self.reason))


class EncodeError(ValueError):
    """Text or an address cannot be encoded as asked (e.g. a char outside GSM 7-bit)."""
