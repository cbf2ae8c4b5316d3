"""Pure encoding helpers shared by CMPP, SGIP and SMGP (no I/O).

All three are big-endian with fixed-width octet strings padded with NUL (CMPP 2.0 §6.1.1,
SGIP 1.2 §4.1, SMGP 3.0 §5.1); an over-long field is an encoding error here, never a
silent truncation.
"""

from __future__ import annotations

import enum
import hashlib
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from datetime import datetime
from typing import TypeVar

from agent.sms.concat import split_text, split_udh_concat, udh_concat
from agent.sms.dcs import Encoding
from agent.sms.errors import EncodeError

__all__ = [
    "MAX_PDU_LENGTH",
    "GatewayDecodeError",
    "GatewayEncodeError",
    "Part",
    "Pdu",
    "Reader",
    "ReceiptInfo",
    "decode_content",
    "decode_frame",
    "fixed",
    "frame",
    "int_sequence",
    "md5",
    "mmddhhmmss",
    "split_ucs2",
]

C = TypeVar("C", bound=enum.IntEnum)

# Longest PDU any of the three sends: a 100-recipient CMPP 3.0 submit is ~3.5 kB. A length
# beyond this is a broken stream, not a big message.
MAX_PDU_LENGTH = 8192


class GatewayDecodeError(ValueError):
    """Octets that are not a valid PDU. `command`/`sequence` are set when the header was
    readable, so the peer can be answered; `fatal` when the framing itself is lost."""

    def __init__(
        self,
        message: str,
        *,
        command: int | None = None,
        sequence: Hashable | None = None,
        fatal: bool = False,
    ) -> None:
        super().__init__(message)
        self.command = command
        self.sequence = sequence
        self.fatal = fatal


class GatewayEncodeError(ValueError):
    """A value that does not fit its field."""


@dataclass(frozen=True, slots=True)
class Pdu:
    """One PDU of any of the three protocols: `command` id, `sequence` (an int; SGIP's
    12-octet triple), and the protocol's body dataclass."""

    command: int
    sequence: Hashable
    body: object = None

    @property
    def is_response(self) -> bool:
        return bool(self.command & 0x80000000)  # all three set the top bit on responses


class Reader:
    """A cursor over a PDU body; every read past the end is a `GatewayDecodeError`."""

    def __init__(self, data: bytes, what: str) -> None:
        self._data = data
        self._pos = 0
        self._what = what

    @property
    def remaining(self) -> int:
        return len(self._data) - self._pos

    def octets(self, n: int, field: str) -> bytes:
        if self._pos + n > len(self._data):
            raise GatewayDecodeError(
                f"{self._what}: {field} needs {n} octets, {self.remaining} left"
            )
        out = self._data[self._pos : self._pos + n]
        self._pos += n
        return out

    def uint(self, n: int, field: str) -> int:
        return int.from_bytes(self.octets(n, field), "big")

    def text(self, n: int, field: str) -> str:
        """A fixed-width NUL-padded ASCII field (numbers, ids, times)."""
        raw = self.octets(n, field).split(b"\x00", 1)[0]
        try:
            return raw.decode("ascii")
        except UnicodeDecodeError:
            raise GatewayDecodeError(f"{self._what}: {field} is not ASCII: {raw.hex()}") from None

    def rest(self) -> bytes:
        return self.octets(self.remaining, "rest")


def fixed(value: str | bytes, width: int, field: str) -> bytes:
    raw = value.encode("ascii") if isinstance(value, str) else value
    if len(raw) > width:
        raise GatewayEncodeError(f"{field}: {len(raw)} octets do not fit {width}")
    return raw.ljust(width, b"\x00")


def md5(*parts: bytes) -> bytes:
    return hashlib.md5(b"".join(parts), usedforsecurity=False).digest()


def mmddhhmmss(at: datetime) -> str:
    """The login timestamp (CMPP 2.0 §6.1.1 Timestamp, SMGP 3.0 §5.2.1): local time of the
    gateway's zone, as the caller passes it."""
    return at.strftime("%m%d%H%M%S")


@dataclass(frozen=True, slots=True)
class Part:
    """One submit's content: UCS-2 (message format 8) with the UDH in front for a long
    message's parts; `udhi` says so (CMPP TP_udhi, SGIP TP_udhi, SMGP TLV TP_udhi)."""

    content: bytes
    udhi: bool
    number: int  # 1-based
    total: int


def split_ucs2(text: str, reference: int) -> list[Part]:
    """Split by the 70/67 rule (TS 23.040 §9.2.3.24.1: 6-octet UDH, 8-bit reference),
    never splitting a surrogate pair: what Chinese gateways bill and handsets join."""
    try:
        _, chunks = split_text(text, Encoding.UCS2)
    except EncodeError as exc:
        raise GatewayEncodeError(str(exc)) from exc
    total = len(chunks)
    if total == 1:
        return [Part(text.encode("utf-16-be"), False, 1, 1)]
    return [
        Part(udh_concat(reference & 0xFF, total, n, 8) + chunk.encode("utf-16-be"), True, n, total)
        for n, chunk in enumerate(chunks, start=1)
    ]


def decode_content(content: bytes, fmt: int, udhi: bool) -> tuple[str, tuple[int, int, int] | None]:
    """Text and (reference, total, number) of a submitted content; message format 8 is
    UCS-2, 15 GBK, anything else ASCII/Latin-1 (CMPP 2.0 §6.1.3 Msg_Fmt)."""
    concat: tuple[int, int, int] | None = None
    if udhi:
        concat, content = split_udh_concat(content)
    if fmt == 8:
        text = content.decode("utf-16-be", errors="replace")
    elif fmt == 15:
        text = content.decode("gbk", errors="replace")
    else:
        text = content.decode("latin-1")
    return text, concat


def frame(command: int, sequence: bytes, body: bytes) -> bytes:
    """A PDU as all three lay it out: total length (4), command id (4), the sequence
    octets (CMPP/SMGP 4, SGIP 12), then the body."""
    total = 8 + len(sequence) + len(body)
    return total.to_bytes(4, "big") + command.to_bytes(4, "big") + sequence + body


def int_sequence(octets: bytes) -> int:
    """CMPP's Sequence_Id and SMGP's SequenceID: one 4-octet unsigned integer."""
    return int.from_bytes(octets, "big")


def decode_frame(
    raw: bytes,
    *,
    protocol: str,
    names: tuple[str, str],
    header_len: int,
    read_sequence: Callable[[bytes], Hashable],
    commands: type[C],
    decode_body: Callable[[C, Reader], object],
) -> Pdu:
    """The header and body of one PDU laid out as :func:`frame` writes it. `names` are the
    protocol's words for the length and command fields, for the errors. A body error
    carries the command and sequence so the peer can be answered."""
    length_name, command_name = names
    if len(raw) < header_len or int.from_bytes(raw[:4], "big") != len(raw):
        raise GatewayDecodeError(f"{protocol}: {length_name} does not match {len(raw)} octets")
    command = int.from_bytes(raw[4:8], "big")
    seq = read_sequence(raw[8:header_len])
    try:
        cmd = commands(command)
    except ValueError:
        raise GatewayDecodeError(
            f"{protocol}: unknown {command_name} {command:#010x}", command=command, sequence=seq
        ) from None
    r = Reader(raw[header_len:], f"{protocol} {cmd.name}")
    try:
        body = decode_body(cmd, r)
    except GatewayDecodeError as exc:
        raise GatewayDecodeError(str(exc), command=command, sequence=seq) from None
    if r.remaining:
        raise GatewayDecodeError(
            f"{protocol} {cmd.name}: {r.remaining} octets after the body",
            command=command,
            sequence=seq,
        )
    return Pdu(cmd, seq, body)


@dataclass(frozen=True, slots=True)
class ReceiptInfo:
    """A status report as the three carry it (CMPP Msg_Content, SGIP Report, SMGP Deliver
    with IsReport): the submit's message id, the Stat word, the times as sent (YYMMDDHHMM,
    gateway local time) and the error code. SGIP reports a State number instead of a word:
    its dialect maps it (SGIP 1.2 §4.2.3.6)."""

    message_id: str
    stat: str
    submit_time: str = ""
    done_time: str = ""
    destination: str = ""
    err: str = ""
