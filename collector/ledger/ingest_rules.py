"""Pure judgement of an uploaded batch: accept, duplicate, or quarantine with a reason.

No I/O here. The ledger gathers what it knows (registered IMEIs, uuids already stored,
the agent's sequence state) inside its transaction and calls these functions, so the
rules live in one place and are tested without a database. A record that breaks a rule
is never dropped: it is stored raw in quarantine and still acked (agent.proto BatchAck).
"""

from __future__ import annotations

import bisect
import math
from collections import Counter
from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, fields, is_dataclass, replace
from typing import Any, NamedTuple

from smsprobe.v1 import agent_pb2

from agent.common.units import NS
from agent.wire.records import (
    AgentEvent,
    CanarySent,
    ClockEstimate,
    ModemHealth,
    ReceivedSms,
    Record,
    StatusReport,
)
from collector.ledger.model import GapSpan
from collector.quarantine import Quarantined, QuarantineReason, record_or_quarantined

# 2020-01-01T00:00:00Z: no agent of ours persisted anything earlier; older means a clock
# that lost its RTC (the Pi-class hosts have none) before NTP came up.
MIN_PLAUSIBLE_NS = 1_577_836_800 * NS
INT64_MAX = 2**63 - 1


@dataclass(frozen=True, slots=True)
class IngestLimits:
    max_future_ns: int = 86_400 * NS  # agent clock ahead of the collector by > 1 day
    min_time_ns: int = MIN_PLAUSIBLE_NS
    max_uuid_chars: int = 64
    # TS 23.040: a TPDU is at most 164 octets (SMS-DELIVER), plus up to 12 SMSC octets.
    max_pdu_bytes: int = 200
    max_parts: int = 255  # TS 23.040 9.2.3.24.1: 8-bit part counter
    max_text_chars: int = 255 * 160
    max_field_chars: int = 256  # imei, iccid, sender, storage, kinds...
    max_attributes: int = 64


DEFAULT_LIMITS = IngestLimits()


def _q(rec: Record, reason: QuarantineReason, detail: str, plausible: bool) -> Quarantined:
    return Quarantined(
        uuid=rec.uuid[:128],
        seq=rec.seq if 0 < rec.seq <= INT64_MAX else 0,
        reason=reason,
        detail=detail,
        raw=rec.raw,
        persisted_at_ns=rec.persisted_at_ns if plausible else 0,
    )


def _body_times(rec: Record) -> Iterable[tuple[str, int]]:
    """Agent-clock times a record claims, each with its field's name as a template of its
    position ({0}: formatted only for a problem, this runs for every record). SCTS is the
    SMSC's clock: kept as a fact."""
    body = rec.body
    if isinstance(body, ReceivedSms):
        for part in body.parts:
            yield "sms.parts[{0}].received_at_ns", part.received_at_ns
    elif isinstance(body, StatusReport):
        yield "status_report.received_at_ns", body.received_at_ns
    elif isinstance(body, ModemHealth):
        yield "health.at_ns", body.at_ns
    elif isinstance(body, AgentEvent):
        yield "event.at_ns", body.at_ns
    elif isinstance(body, CanarySent):
        yield "canary.sent_at_ns", body.sent_at_ns


def _time_problem(
    name: str, t: int, now_ns: int, lim: IngestLimits
) -> tuple[QuarantineReason, str] | None:
    if t > now_ns + lim.max_future_ns:
        ahead_s = (t - now_ns) / NS
        return QuarantineReason.TIME_IN_FUTURE, f"{name} is {ahead_s:.0f} s ahead of the collector"
    if t < lim.min_time_ns:
        return QuarantineReason.TIME_TOO_OLD, f"{name}={t} is before 2020-01-01"
    return None


def _too_long(m: int, **fields: str) -> tuple[QuarantineReason, str] | None:
    for name, value in fields.items():
        if len(value) > m:
            return QuarantineReason.BAD_SIZE, f"{name} has {len(value)} chars"
    return None


def _size_problem(rec: Record, lim: IngestLimits) -> tuple[QuarantineReason, str] | None:
    # Hot path (every record): plain comparisons first, messages only on failure.
    m = lim.max_field_chars
    if len(rec.modem_imei) > m or len(rec.iccid) > m:
        return _too_long(m, modem_imei=rec.modem_imei, iccid=rec.iccid)
    body = rec.body
    if isinstance(body, ReceivedSms):
        parts = body.parts
        if not parts:
            return QuarantineReason.BAD_SIZE, "sms has no parts"
        if len(parts) > lim.max_parts:
            return QuarantineReason.BAD_SIZE, f"sms has {len(parts)} parts"
        if len(body.text) > lim.max_text_chars:
            return QuarantineReason.BAD_SIZE, f"sms text has {len(body.text)} chars"
        if not 0 <= body.concat_total <= lim.max_parts:
            return QuarantineReason.BAD_VALUE, f"sms.concat_total={body.concat_total}"
        for i, part in enumerate(parts):
            size = len(part.raw_pdu)
            if not 0 < size <= lim.max_pdu_bytes:
                return QuarantineReason.BAD_SIZE, f"sms.parts[{i}].raw_pdu has {size} bytes"
            if not 1 <= part.part_seq <= lim.max_parts:
                return QuarantineReason.BAD_VALUE, f"sms.parts[{i}].part_seq={part.part_seq}"
            # -1: delivered straight to the agent (+CMT), never stored in a slot.
            if part.index < -1:
                return QuarantineReason.BAD_VALUE, f"sms.parts[{i}].index={part.index}"
            if not part.uuid:
                return QuarantineReason.MISSING_UUID, f"sms.parts[{i}].uuid is empty"
            if len(part.uuid) > m or len(part.storage) > m:
                return _too_long(m, **{f"sms.parts[{i}].uuid": part.uuid}) or _too_long(
                    m, **{f"sms.parts[{i}].storage": part.storage}
                )
        if len(body.sender) > m or len(body.smsc) > m:
            return _too_long(m, **{"sms.sender": body.sender, "sms.smsc": body.smsc})
        return None
    if isinstance(body, StatusReport):
        size = len(body.raw_pdu)
        if not 0 < size <= lim.max_pdu_bytes:
            return QuarantineReason.BAD_SIZE, f"status_report.raw_pdu has {size} bytes"
        return _too_long(m, **{"status_report.recipient": body.recipient})
    if isinstance(body, ModemHealth):
        if not rec.modem_imei:
            return QuarantineReason.BAD_VALUE, "health record without modem_imei"
        if math.isinf(body.rssi_dbm):
            return QuarantineReason.BAD_VALUE, "health.rssi_dbm is infinite"
        return None
    if isinstance(body, AgentEvent):
        if not body.kind:
            return QuarantineReason.BAD_VALUE, "event.kind is empty"
        if len(body.attributes) > lim.max_attributes:
            return QuarantineReason.BAD_SIZE, f"event has {len(body.attributes)} attributes"
        if len(body.detail) > lim.max_text_chars:
            return QuarantineReason.BAD_SIZE, f"event.detail has {len(body.detail)} chars"
        return _too_long(m, **{"event.kind": body.kind})
    if isinstance(body, CanarySent):
        return _too_long(
            m, **{"canary.canary_id": body.canary_id, "canary.to_msisdn": body.to_msisdn}
        )
    return None


def _uuid_ok(uuid: str, lim: IngestLimits) -> bool:
    return (
        len(uuid) <= lim.max_uuid_chars
        and uuid.isascii()
        and uuid.isprintable()
        and " " not in uuid
    )


def check_record(
    rec: Record,
    *,
    now_ns: int,
    known_imeis: Collection[str],
    limits: IngestLimits = DEFAULT_LIMITS,
) -> Quarantined | None:
    """Rules that need no ledger history except the agent's registered IMEIs."""
    if not rec.uuid:
        return _q(rec, QuarantineReason.MISSING_UUID, "record.uuid is empty", False)
    if not _uuid_ok(rec.uuid, limits):
        return _q(
            rec, QuarantineReason.BAD_UUID, f"record.uuid {rec.uuid[:80]!r} is malformed", False
        )
    if rec.seq <= 0:
        return _q(rec, QuarantineReason.MISSING_SEQ, "record.seq is 0", False)
    if rec.seq > INT64_MAX:
        return _q(rec, QuarantineReason.BAD_VALUE, f"record.seq={rec.seq} exceeds int64", False)
    lo, hi = limits.min_time_ns, now_ns + limits.max_future_ns
    if not lo <= rec.persisted_at_ns <= hi:
        problem = _time_problem("persisted_at_ns", rec.persisted_at_ns, now_ns, limits)
        if problem:
            return _q(rec, *problem, False)
    for i, (name, t) in enumerate(_body_times(rec)):
        if not lo <= t <= hi:
            problem = _time_problem(name.format(i), t, now_ns, limits)
            if problem:
                return _q(rec, *problem, True)
    problem = _size_problem(rec, limits)
    if problem:
        return _q(rec, *problem, True)
    if rec.modem_imei and rec.modem_imei not in known_imeis:
        detail = f"modem {rec.modem_imei} is not registered by this agent"
        return _q(rec, QuarantineReason.UNKNOWN_MODEM, detail, True)
    return None


# ---------------------------------------------------------------- U+0000

_NUL = "\x00"


def _strings(value: object) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif is_dataclass(value):
        for f in fields(value):
            yield from _strings(getattr(value, f.name))
    elif isinstance(value, tuple | list):
        for item in value:
            yield from _strings(item)
    elif isinstance(value, Mapping):
        for k, v in value.items():
            yield from _strings(k)
            yield from _strings(v)


def scrub_strings(value: Any) -> Any:
    """`value` with U+0000 replaced by U+FFFD in every string inside it (see scrub_nul)."""
    if isinstance(value, str):
        return value.replace(_NUL, "\ufffd")
    if is_dataclass(value) and not isinstance(value, type):
        return replace(
            value, **{f.name: scrub_strings(getattr(value, f.name)) for f in fields(value)}
        )
    if isinstance(value, tuple):
        return tuple(scrub_strings(v) for v in value)
    if isinstance(value, Mapping):
        return {scrub_strings(k): scrub_strings(v) for k, v in value.items()}
    return value


def has_nul(rec: Record) -> bool:
    if _NUL in rec.uuid or _NUL in rec.modem_imei or _NUL in rec.iccid:
        return True
    body = rec.body
    if isinstance(body, ReceivedSms):  # the hot path, spelled out
        if _NUL in body.text or _NUL in body.sender or _NUL in body.smsc or _NUL in body.encoding:
            return True
        return any(
            _NUL in p.uuid or _NUL in p.storage or _NUL in p.decode_error for p in body.parts
        )
    return any(_NUL in text for text in _strings(body))


def scrub_nul(rec: Record) -> Record:
    """U+0000 -> U+FFFD in every string of a record.

    PostgreSQL TEXT cannot hold U+0000, and a record that can never be stored would be
    resent forever; both backends store the same scrubbed text. Nothing is lost: the raw
    PDUs (bytes) are kept exactly, and so is `raw` should the record be quarantined.
    """
    if not has_nul(rec):
        return rec
    scrubbed: Record = scrub_strings(rec)
    return replace(scrubbed, raw=rec.raw)


# ---------------------------------------------------------------- sequence tracking


@dataclass(frozen=True, slots=True)
class SeqState:
    """An agent's sequence as the ledger knows it, in one epoch.

    Invariant: every seq in 1..max_seq has either arrived or lies in exactly one gap.
    """

    agent_id: str
    epoch: int
    max_seq: int
    max_seq_persisted_ns: int
    gaps: tuple[GapSpan, ...]  # ordered by first_seq, disjoint

    @property
    def committed_seq(self) -> int:
        """Highest seq with every seq at or below it arrived (agent.proto: committed_seq)."""
        return self.gaps[0].first_seq - 1 if self.gaps else self.max_seq

    def is_free(self, seq: int) -> bool:
        """True when no record with this seq has arrived yet."""
        if seq > self.max_seq:
            return True
        firsts = [g.first_seq for g in self.gaps]
        i = bisect.bisect_right(firsts, seq) - 1
        return i >= 0 and self.gaps[i].first_seq <= seq <= self.gaps[i].last_seq


def advance_seq(
    state: SeqState, arrivals: Iterable[tuple[int, int]], *, at_ns: int
) -> tuple[SeqState, tuple[GapSpan, ...]]:
    """Account for arrived (seq, persisted_at_ns) pairs; returns the new state and new gaps.

    A seq above max_seq opens a gap for the seqs skipped (spanning the persisted_at of
    the records either side); a seq inside a gap splits it, so late batches (acks may
    come out of order, agent.proto Upload) shrink gaps instead of leaving false ones.
    Callers pass only free seqs (SeqState.is_free).
    """
    gaps = list(state.gaps)
    max_seq, max_ns = state.max_seq, state.max_seq_persisted_ns
    opened: list[GapSpan] = []
    for seq, t in sorted(set(arrivals)):
        if seq > max_seq:
            if seq > max_seq + 1:
                gap = GapSpan(
                    agent_id=state.agent_id,
                    first_seq=max_seq + 1,
                    last_seq=seq - 1,
                    start_ns=max_ns,
                    end_ns=t,
                    detected_at_ns=at_ns,
                    epoch=state.epoch,
                )
                gaps.append(gap)
                opened.append(gap)
            max_seq, max_ns = seq, t
            continue
        firsts = [g.first_seq for g in gaps]
        i = bisect.bisect_right(firsts, seq) - 1
        if i < 0 or not gaps[i].first_seq <= seq <= gaps[i].last_seq:
            continue  # already arrived: the caller should have filtered it
        g = gaps.pop(i)
        pieces = []
        if seq > g.first_seq:
            pieces.append(replace(g, last_seq=seq - 1, end_ns=t))
        if seq < g.last_seq:
            pieces.append(replace(g, first_seq=seq + 1, start_ns=t))
        gaps[i:i] = pieces
        if g in opened:  # split a gap this same call opened: report the pieces instead
            opened.remove(g)
            opened.extend(pieces)
    new_state = replace(state, max_seq=max_seq, max_seq_persisted_ns=max_ns, gaps=tuple(gaps))
    return new_state, tuple(opened)


def hold_announced(
    state: SeqState, opened: Sequence[GapSpan], *, announced_seq: int
) -> tuple[SeqState, tuple[GapSpan, ...]]:
    """Mark `queued` the gaps just opened (`opened`, from advance_seq) that the agent's
    backlog may still fill; returns the state and the opened gaps as marked.

    `announced_seq` is the highest seq the agent had persisted when it last registered:
    every seq at or below it stays in its outbox until acked (the agent never drops an
    unacked record) and is on its way, as backlog the collector commits after live
    batches. Arrivals do not tell when the backlog went past a gap: a live batch carries
    backlog records too (the uploader fills it up from the backlog), ahead of the backlog
    batches in flight. Whether a queued gap is missing is told by the agent's own outbox
    view instead (`no_longer_pending`).
    """
    queued = {g for g in opened if g.last_seq <= announced_seq}
    if not queued:
        return state, tuple(opened)
    gaps = tuple(replace(g, queued=True) if g in queued else g for g in state.gaps)
    marked = tuple(replace(g, queued=True) if g in queued else g for g in opened)
    return replace(state, gaps=gaps), marked


def no_longer_pending(
    gap: GapSpan, *, outbox_depth: int, oldest_pending_ns: int, claimed_at_ns: int
) -> bool:
    """True when the agent's own view of its outbox (a batch's outbox_depth and
    oldest_pending_ns, written by Ledger.touch_agent at `claimed_at_ns`, collector clock)
    shows a queued gap's seqs are not waiting there: they are missing.

    Its oldest pending record was persisted after the record that ends the gap (agent
    clock: the gap's records were persisted before it), or nothing at all was pending
    (depth 0, oldest 0) in a touch made after the gap was seen (an older one predates
    the records of the gap)."""
    if oldest_pending_ns > gap.end_ns > 0:
        return True
    return outbox_depth == 0 and oldest_pending_ns == 0 and claimed_at_ns > gap.detected_at_ns


# ---------------------------------------------------------------- a whole batch


class PlainSms(NamedTuple):
    """An SMS record `plain_sms` cleared, its values read from the proto once each (a upb
    field read makes a new Python object every time) and already as the ledger stores
    them: the clock as `record_from_proto` decodes it, `received_at_ns` the earliest
    part's, the sms table's columns from smsc on, and each part's from position on."""

    uuid: str
    seq: int
    persisted_at_ns: int
    offset_ms: float  # 0.0 when not finite
    uncertainty_ms: float | None  # None: never measured, or not finite
    measured_at_ns: int
    modem_imei: str
    iccid: str
    raw: bytes  # the record as received (the agent's signature is over these bytes)
    received_at_ns: int
    sms: tuple[Any, ...]  # smsc, sender, sender_ton, text, ... user_data
    parts: list[tuple[Any, ...]]  # position, uuid, raw_pdu, ... decode_error


# An accepted record: decoded, or the values of one classify_wire found nothing in that
# the reference path would change or judge otherwise (the common SMS record).
Accepted = Record | PlainSms


@dataclass(frozen=True, slots=True)
class Classified:
    accepted: tuple[Accepted, ...]
    duplicates: int
    quarantined: tuple[Quarantined, ...]  # the caller's quarantined plus ours, in order


class _Judge:
    """One batch's judgement, record by record (`judge`, the reference rules): what it
    accepted, quarantined and counted as duplicates, and the uuids and seqs it took."""

    __slots__ = ("accepted", "duplicates", "existing", "known", "limits", "now_ns", "out_q",
                 "seen", "state", "taken")  # fmt: skip

    def __init__(
        self,
        now_ns: int,
        known_imeis: Collection[str],
        existing_uuids: Collection[str],
        seq_state: SeqState,
        limits: IngestLimits,
    ) -> None:
        self.now_ns, self.known, self.existing = now_ns, known_imeis, existing_uuids
        self.state, self.limits = seq_state, limits
        self.accepted: list[Accepted] = []
        self.out_q: list[Quarantined] = []
        self.seen: set[str] = set()
        self.taken: set[int] = set()
        self.duplicates = 0

    def judge(self, rec: Record) -> None:
        rec = scrub_nul(rec)
        if rec.uuid and (rec.uuid in self.existing or rec.uuid in self.seen):
            self.duplicates += 1
            return
        problem = check_record(rec, now_ns=self.now_ns, known_imeis=self.known, limits=self.limits)
        if problem is None and (rec.seq in self.taken or not self.state.is_free(rec.seq)):
            problem = _q(
                rec,
                QuarantineReason.SEQ_CONFLICT,
                f"seq {rec.seq} already belongs to another record",
                True,
            )
        if problem is not None:
            self.out_q.append(problem)
            return
        self.seen.add(rec.uuid)
        self.taken.add(rec.seq)
        self.accepted.append(rec)

    def result(self, quarantined: Sequence[Quarantined]) -> Classified:
        """`quarantined` (the batch's records that could not be decoded) go first, scrubbed
        of U+0000 and with an implausible persisted_at_ns dropped."""
        lo, hi = self.limits.min_time_ns, self.now_ns + self.limits.max_future_ns
        out_q = [
            replace(
                q,
                uuid=q.uuid.replace(_NUL, "\ufffd"),
                detail=q.detail.replace(_NUL, "\ufffd"),
                persisted_at_ns=q.persisted_at_ns if lo <= q.persisted_at_ns <= hi else 0,
            )
            for q in quarantined
        ]
        out_q.extend(self.out_q)
        return Classified(
            accepted=tuple(self.accepted), duplicates=self.duplicates, quarantined=tuple(out_q)
        )


def classify_batch(
    records: Sequence[Record],
    quarantined: Sequence[Quarantined],
    *,
    now_ns: int,
    known_imeis: Collection[str],
    existing_uuids: Collection[str],
    seq_state: SeqState,
    limits: IngestLimits = DEFAULT_LIMITS,
) -> Classified:
    """Split a batch: replays (uuid already stored, or twice in this batch) are duplicates;
    rule breakers and records whose seq another uuid already took are quarantined."""
    judge = _Judge(now_ns, known_imeis, existing_uuids, seq_state, limits)
    for rec in records:
        judge.judge(rec)
    return judge.result(quarantined)


def read_plain(
    records: Sequence[agent_pb2.Record],
    *,
    now_ns: int,
    known_imeis: Collection[str],
    limits: IngestLimits = DEFAULT_LIMITS,
) -> list[PlainSms | None]:
    """`plain_sms` of each record (None: it takes the reference path)."""
    lo, hi = limits.min_time_ns, now_ns + limits.max_future_ns
    return [plain_sms(pb, lo, hi, known_imeis, limits) for pb in records]


def uuids_to_look_up(
    records: Sequence[agent_pb2.Record], plains: Sequence[PlainSms | None], seq_state: SeqState
) -> list[str]:
    """The uuids (as stored: U+0000 scrubbed) whose being stored already the rules must
    know before judging: every record's but a plain SMS record's whose seq is free and
    unique in the batch. Such a record is accepted unless its uuid is stored: its insert
    (ON CONFLICT DO NOTHING) tells, and the ledger then judges the batch again with every
    uuid looked up. A replay's seq is never free, so replays are still looked up."""
    seqs = Counter(p.seq for p in plains if p is not None)
    return [
        pb.uuid.replace(_NUL, "\ufffd")
        for pb, p in zip(records, plains, strict=True)
        if pb.uuid and (p is None or seqs[p.seq] > 1 or not seq_state.is_free(p.seq))
    ]


def classify_wire(
    records: Iterable[agent_pb2.Record],
    plains: Iterable[PlainSms | None],
    *,
    now_ns: int,
    known_imeis: Collection[str],
    existing_uuids: Collection[str],
    seq_state: SeqState,
    limits: IngestLimits = DEFAULT_LIMITS,
) -> Classified:
    """`classify_batch(*records_from_batch(batch))` for a batch's records as uploaded,
    without decoding the common one: an SMS record that `plain_sms` cleared (`plains`,
    from `read_plain`), not a replay and with a free seq, is accepted as the values read
    from it (`PlainSms`: the ledger writes its rows from them). Every other record is
    decoded and judged by the reference rules, so its outcome (quarantine reason and
    detail, duplicate, seq conflict) is theirs exactly."""
    judge = _Judge(now_ns, known_imeis, existing_uuids, seq_state, limits)
    undecodable: list[Quarantined] = []
    clocks: dict[tuple[float, float, int], ClockEstimate] = {}
    accepted, seen, taken, is_free = judge.accepted, judge.seen, judge.taken, seq_state.is_free
    for pb, plain in zip(records, plains, strict=True):
        if plain is not None:
            uuid = plain.uuid
            if uuid in existing_uuids or uuid in seen:
                judge.duplicates += 1
                continue
            seq = plain.seq
            if seq not in taken and is_free(seq):
                seen.add(uuid)
                taken.add(seq)
                accepted.append(plain)
                continue
        rec = record_or_quarantined(pb, clocks)
        if isinstance(rec, Quarantined):
            undecodable.append(rec)
        else:
            judge.judge(rec)
    return judge.result(undecodable)


def plain_sms(
    pb: agent_pb2.Record, lo: int, hi: int, known_imeis: Collection[str], lim: IngestLimits
) -> PlainSms | None:
    """The record's values when `pb` is an SMS record that `check_record` accepts once
    decoded and that holds no U+0000 (`scrub_nul` leaves it as it is): the same tests on
    the proto's fields, times within [lo, hi]. None says only "take the reference path"."""
    if not pb.HasField("sms"):  # the oneof body is sms (cheaper than WhichOneof)
        return None
    uuid = pb.uuid
    if not (0 < len(uuid) <= lim.max_uuid_chars and uuid.isascii() and uuid.isprintable()):
        return None  # isprintable: no U+0000 either
    seq, persisted = pb.seq, pb.persisted_at_ns
    if " " in uuid or not 0 < seq <= INT64_MAX or not lo <= persisted <= hi:
        return None
    m = lim.max_field_chars
    imei, iccid = pb.modem_imei, pb.iccid
    if len(imei) > m or len(iccid) > m or _NUL in imei or _NUL in iccid:
        return None
    if imei and imei not in known_imeis:
        return None
    sms = pb.sms
    pb_parts = sms.parts
    max_parts = lim.max_parts
    concat_total = sms.concat_total
    if not 0 < len(pb_parts) <= max_parts or not 0 <= concat_total <= max_parts:
        return None
    smsc, sender, text, encoding = sms.smsc, sms.sender, sms.text, sms.encoding
    if len(text) > lim.max_text_chars or len(sender) > m or len(smsc) > m:
        return None
    if _NUL in text or _NUL in sender or _NUL in smsc or _NUL in encoding:
        return None
    max_pdu = lim.max_pdu_bytes
    parts: list[tuple[Any, ...]] = []
    for i in range(len(pb_parts)):  # indexing: iterating a repeated field costs more
        p = pb_parts[i]
        received, pdu, part_seq, index = p.received_at_ns, p.raw_pdu, p.part_seq, p.index
        if not lo <= received <= hi or not 0 < len(pdu) <= max_pdu:
            return None
        if not 1 <= part_seq <= max_parts or index < -1:
            return None
        pu, storage, error = p.uuid, p.storage, p.decode_error
        if not pu or len(pu) > m or len(storage) > m:
            return None
        if _NUL in pu or _NUL in storage or _NUL in error:
            return None
        parts.append(
            (i, pu, pdu, storage, index, received, p.scts_ns, p.scts_tz_minutes, part_seq, error)
        )
    c = pb.clock
    offset, unc, measured = c.offset_ms, c.uncertainty_ms, c.measured_at_ns
    missing = sms.missing_parts
    # tuple.__new__: half the cost of PlainSms(...), the same value.
    sms_values = (smsc, sender, sms.sender_ton, text, encoding, sms.message_class, sms.pid,
                  sms.dcs, sms.concat_ref, concat_total, int(sms.partial),
                  ",".join([str(n) for n in missing]) if missing else "",
                  int(sms.undecodable), sms.user_data)  # fmt: skip
    first = parts[0][5] if len(parts) == 1 else min(p[5] for p in parts)
    return _new_plain(
        PlainSms,
        (uuid, seq, persisted, offset if math.isfinite(offset) else 0.0,
         None if measured == 0 or not math.isfinite(unc) else unc, measured, imei, iccid,
         pb.SerializeToString(deterministic=True), first, sms_values, parts),
    )  # fmt: skip


_new_plain = tuple.__new__
