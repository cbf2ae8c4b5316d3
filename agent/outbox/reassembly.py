"""Concatenated-SMS reassembly: pure decisions over values (TS 23.040 9.2.3.24.1 / .8).

The outbox persists every part first and keeps the group state in SQLite; this module only
decides which group a part joins and builds the `ReceivedSms` once a group is complete or
has timed out.

A group still missing parts after the reassembly timeout (default 120 s, well inside the
collector's 600 s give-up) is emitted as partial records, one per run of consecutive
parts, so each record's text is exact. A part that arrives after that opens a new group
and is emitted the same way; the collector merges records of one message (same SIM,
sender, reference and total) where the verdict is made (collector/correlation/partials.py).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from agent.wire.records import ReceivedSms, SmsPart

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class ConcatInfo:
    """UDH concatenation element: IEI 0x00 (8-bit ref) or IEI 0x08 (16-bit ref)."""

    ref: int
    total: int
    seq: int
    ref_bits: int  # 8 | 16


@dataclass(frozen=True, slots=True)
class PartFacts:
    """What one persisted PDU says, decoded once at receive time (or why it could not be)."""

    decode_error: str = ""
    smsc: str = ""
    sender: str = ""
    sender_ton: int = 0
    pid: int = 0
    dcs: int = 0
    encoding: str = ""  # gsm7 | ucs2 | 8bit | "" when undecodable
    message_class: int = -1
    scts_ns: int = 0
    scts_tz_minutes: int = 0
    concat: ConcatInfo | None = None
    text: str = ""
    user_data: bytes = b""  # payload after the UDH as delivered (UCS2 octets, 8-bit data)

    def to_json(self) -> dict[str, Any]:
        return {
            "decode_error": self.decode_error,
            "smsc": self.smsc,
            "sender": self.sender,
            "sender_ton": self.sender_ton,
            "pid": self.pid,
            "dcs": self.dcs,
            "encoding": self.encoding,
            "message_class": self.message_class,
            "scts_ns": self.scts_ns,
            "scts_tz_minutes": self.scts_tz_minutes,
            "concat": None
            if self.concat is None
            else [self.concat.ref, self.concat.total, self.concat.seq, self.concat.ref_bits],
            "text": self.text,
            "user_data": self.user_data.hex(),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> PartFacts:
        concat = data.get("concat")
        return cls(
            decode_error=str(data["decode_error"]),
            smsc=str(data["smsc"]),
            sender=str(data["sender"]),
            sender_ton=int(data["sender_ton"]),
            pid=int(data["pid"]),
            dcs=int(data["dcs"]),
            encoding=str(data["encoding"]),
            message_class=int(data["message_class"]),
            scts_ns=int(data["scts_ns"]),
            scts_tz_minutes=int(data["scts_tz_minutes"]),
            concat=None if concat is None else ConcatInfo(*(int(v) for v in concat)),
            text=str(data["text"]),
            user_data=bytes.fromhex(str(data["user_data"])),
        )


@dataclass(frozen=True, slots=True)
class ConcatKey:
    """Group key. Not the SMSC: parts of one message may come via different SMSCs."""

    modem: str
    sender: str
    ref: int
    total: int
    ref_bits: int


def concat_key(modem: str, facts: PartFacts) -> ConcatKey | None:
    """The group this part belongs to, or None when it stands alone.

    Section 10 step 1-2: total == 1 and seq outside 1..total (a malformed UDH) are
    standalone messages; reference 0 is valid.
    """
    c = facts.concat
    if facts.decode_error or c is None or c.total <= 1 or not 1 <= c.seq <= c.total:
        return None
    return ConcatKey(modem, facts.sender, c.ref, c.total, c.ref_bits)


@dataclass(frozen=True, slots=True)
class GroupView:
    """An open group as stored: part seq -> user payload of the first part with that seq."""

    group_id: int
    opened_at_ns: int
    payloads: Mapping[int, bytes]


@dataclass(frozen=True, slots=True)
class Assignment:
    action: Literal["new", "join", "duplicate"]
    group_id: int = 0


def payload_of(facts: PartFacts) -> bytes:
    return facts.user_data if facts.user_data else facts.text.encode("utf-8")


def assign(groups: Sequence[GroupView], seq: int, payload: bytes) -> Assignment:
    """Which open group (oldest first, none expired) a part with `seq` joins.

    Identical payload at an existing seq: a duplicate (keep the first, count it). A
    different payload at an occupied seq means the reference was reused by a new message
    (8-bit references wrap every 256 messages): it joins the oldest group still lacking
    that seq, else opens a new group.
    """
    for group in groups:
        if group.payloads.get(seq) == payload:
            return Assignment("duplicate", group.group_id)
    for group in groups:
        if seq not in group.payloads:
            return Assignment("join", group.group_id)
    return Assignment("new")


def is_complete(total: int, seqs: Sequence[int] | set[int]) -> bool:
    return set(range(1, total + 1)) <= set(seqs)


def _decode_ucs2_runs(parts: Sequence[tuple[SmsPart, PartFacts]]) -> str:
    """UCS2/UTF-16 parts: concatenate raw code units of contiguous parts, then decode once,
    so a surrogate pair split across two segments survives (section 9.4 / 16.5)."""
    texts: list[str] = []
    run = b""
    last_seq = None
    for part, facts in parts:
        if last_seq is not None and part.part_seq != last_seq + 1 and run:
            texts.append(run.decode("utf-16-be", errors="replace"))
            run = b""
        run += facts.user_data[: len(facts.user_data) // 2 * 2]
        last_seq = part.part_seq
    if run:
        texts.append(run.decode("utf-16-be", errors="replace"))
    return "".join(texts)


def contiguous_runs(
    parts: Sequence[tuple[SmsPart, PartFacts]],
) -> list[list[tuple[SmsPart, PartFacts]]]:
    """The parts split into runs of consecutive sequence numbers, in order.

    A partial group {1, 3} becomes two records: text decoded across a gap could not be
    split again when the missing part turns up, so each record holds one contiguous run.
    """
    runs: list[list[tuple[SmsPart, PartFacts]]] = []
    for item in sorted(parts, key=lambda p: p[0].part_seq):
        if runs and item[0].part_seq == runs[-1][-1][0].part_seq + 1:
            runs[-1].append(item)
        else:
            runs.append([item])
    return runs


def build_message(
    parts: Sequence[tuple[SmsPart, PartFacts]], total: int = 1, partial: bool = False
) -> ReceivedSms:
    """One ReceivedSms from the distinct parts of a group (or a single standalone part)."""
    ordered = sorted(parts, key=lambda p: p[0].part_seq)
    first = ordered[0][1]
    decodable = [f for _, f in ordered if not f.decode_error]
    head = decodable[0] if decodable else first
    encodings = {f.encoding for f in decodable}
    if (
        len(ordered) > 1
        and encodings == {"ucs2"}
        and all(f.user_data or not f.text for f in decodable)
    ):
        text = _decode_ucs2_runs([(p, f) for p, f in ordered if not f.decode_error])
    elif (
        len(decodable) > 1
        and encodings == {"gsm7"}
        and any(f.user_data.endswith(b"\x1b") for f in decodable[:-1])
    ):
        # An escape septet ending one segment belongs to the first septet of the next
        # (TS 23.038 6.2.1.1): decode the joined septets once (default tables).
        from agent.sms.gsm7 import decode_septets

        text = decode_septets(b"".join(f.user_data for f in decodable))
    else:
        text = "".join(f.text for f in decodable)
    seqs = {p.part_seq for p, _ in ordered}
    missing = tuple(s for s in range(1, total + 1) if s not in seqs) if total > 1 else ()
    concat = head.concat if total > 1 else None
    user_data = b"".join(f.user_data for f in decodable) if encodings == {"8bit"} else b""
    return ReceivedSms(
        parts=tuple(p for p, _ in ordered),
        smsc=head.smsc,
        sender=head.sender,
        sender_ton=head.sender_ton,
        text=text,
        encoding=head.encoding,
        message_class=head.message_class,
        pid=head.pid,
        dcs=head.dcs,
        concat_ref=concat.ref if concat is not None else -1,
        concat_total=total,
        partial=partial or bool(missing),
        missing_parts=missing,
        undecodable=not decodable,
        user_data=user_data,
    )


def scts_fields(scts: datetime | None) -> tuple[int, int]:
    """(ns since epoch, zone offset in minutes) of an aware SCTS; (0, 0) when absent."""
    if scts is None:
        return 0, 0
    offset = scts.utcoffset()
    minutes = int(offset.total_seconds() // 60) if offset is not None else 0
    micros = (scts - _EPOCH) // timedelta(microseconds=1)
    return micros * 1000, minutes
