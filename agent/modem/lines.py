"""Incremental line splitter for the AT byte stream (pure, no I/O).

Modem output is framed by CR LF (TS 27.007 §4.1, V1 mode), echoes end in a lone CR,
and the SMS PDU prompt "\\r\\n> " has no line end at all (TS 27.005 §3.5.1). USB
chunking splits lines anywhere, including between CR and LF. Garbage happens
(NULs, 0xFF runs, baud noise): it is kept, never raised on.
"""

from __future__ import annotations

import re
from typing import Final

PROMPT: Final = "> "
"""Emitted as a line of its own when the stream is waiting at the PDU prompt."""

DEFAULT_MAX_LINE: Final = 8192
# A +CMGL PDU line is at most ~2 * (12 + 164) hex chars; 8 KiB leaves room for vendor
# oddities while bounding memory when a port streams binary without line ends.


def decode_line(raw: bytes) -> str:
    """Bytes of one line -> str. Invalid UTF-8 is kept as lone surrogates (U+DC80..U+DCFF)
    so the original bytes stay recoverable and `is_garbled` can spot them."""
    return raw.decode("utf-8", errors="surrogateescape")


def encode_line(line: str) -> bytes:
    """Inverse of `decode_line`."""
    return line.encode("utf-8", errors="surrogateescape")


def is_garbled(line: str) -> bool:
    """True when the line holds bytes no modem sends in a response line: control
    characters, undecodable bytes, or 0xFF filler."""
    for ch in line:
        o = ord(ch)
        if (o < 0x20 and ch != "\t") or 0xDC80 <= o <= 0xDCFF or o in (0x7F, 0xFF, 0xFFFD):
            return True
    return False


_EOL: Final = re.compile(rb"[\r\n]+")
_LEADING_JUNK: Final = "\x00\x1a\x1b\ufeff\xff" + "".join(chr(c) for c in range(0xDC80, 0xDD00))


class LineSplitter:
    """Feed bytes, get complete lines back.

    Splits on CRLF, LF CR, lone CR and lone LF; drops empty lines and NUL bytes; strips
    leading junk (NUL, Ctrl-Z, ESC, BOM, undecodable bytes) so prefixes still match; emits
    `PROMPT` when the buffered tail is the PDU prompt. A line longer than `max_line` is
    cut and emitted in pieces (counted in `overflows`).
    """

    def __init__(self, max_line: int = DEFAULT_MAX_LINE) -> None:
        self._buf = bytearray()
        self._max = max_line
        self.overflows = 0

    def feed(self, data: bytes) -> list[str]:
        out: list[str] = []
        start = 0
        data = data.replace(b"\x00", b"")
        for match in _EOL.finditer(data):
            self._append(data[start : match.start()], out)
            self._flush(out)
            start = match.end()
        self._append(data[start:], out)
        # TS 27.005 §3.5.1: after AT+CMGS=<len> the TA sends "\r\n> " and waits; no CR LF.
        if bytes(self._buf).strip() == b">":
            self._buf.clear()
            out.append(PROMPT)
        return out

    def _append(self, segment: bytes, out: list[str]) -> None:
        self._buf += segment
        while len(self._buf) >= self._max:
            self.overflows += 1
            head = bytes(self._buf[: self._max])
            del self._buf[: self._max]
            rest = bytes(self._buf)
            self._buf[:] = head
            self._flush(out)
            self._buf[:] = rest

    def pending(self) -> bytes:
        """The bytes of the incomplete line still buffered."""
        return bytes(self._buf)

    def _flush(self, out: list[str]) -> None:
        if not self._buf:
            return
        line = decode_line(bytes(self._buf)).lstrip(_LEADING_JUNK).strip(" \x1a")
        self._buf.clear()
        if line == ">":
            # The prompt, with a line end after it: a URC right behind the prompt arrives
            # in the same read ("\r\n> \r\n+CMTI: ..."), or the firmware ends it with CR.
            out.append(PROMPT)
        elif line:
            out.append(line)
