"""What the collector does with an uploaded record it cannot take: a `Quarantined` entry with
a stable reason code, stored raw. And the collector's side of the wire: uploaded protos
become `Record`s (agent/wire/serde.py) or quarantine entries, never an exception, so one
bad record cannot make the collector refuse (and the agent resend forever) a batch.
Validation rules beyond "can be represented" live in collector/ledger/ingest_rules.py.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from smsprobe.v1 import agent_pb2

from agent.wire.records import ClockEstimate, Record
from agent.wire.serde import SerdeError, record_from_proto

_INT64_MAX = 2**63 - 1


class QuarantineReason(enum.StrEnum):
    """Why a record was not ingested. Stable codes: stored, and sent back in acks."""

    UNPARSEABLE = "unparseable"  # bytes that are not a smsprobe.v1.Record
    MISSING_BODY = "missing_body"
    MISSING_UUID = "missing_uuid"
    BAD_UUID = "bad_uuid"
    MISSING_SEQ = "missing_seq"
    SEQ_CONFLICT = "seq_conflict"  # seq already taken by another uuid
    TIME_IN_FUTURE = "time_in_future"
    TIME_TOO_OLD = "time_too_old"
    UNKNOWN_MODEM = "unknown_modem"  # IMEI not registered by this agent
    BAD_SIZE = "bad_size"
    BAD_VALUE = "bad_value"


@dataclass(frozen=True, slots=True)
class Quarantined:
    """A record that will be stored raw with its reason instead of being ingested.

    uuid/seq are whatever could be read (""/0 when not). `persisted_at_ns` is 0 unless
    the record's own time stamp is plausible; it bounds not-measured spans.
    """

    uuid: str
    seq: int
    reason: QuarantineReason
    detail: str
    raw: bytes
    persisted_at_ns: int = 0


def record_or_quarantined(
    pb: agent_pb2.Record, clocks: dict[tuple[float, float, int], ClockEstimate] | None = None
) -> Record | Quarantined:
    """Never raises on content: what cannot be represented comes back quarantined, with
    the record's serialised bytes (kept on a good record too, as `Record.raw`).
    Deterministically: the agent sends its records so serialised (signature fields last),
    and a map's entries would otherwise come out in another order than they arrived."""
    raw = pb.SerializeToString(deterministic=True)
    try:
        return record_from_proto(pb, raw=raw, clocks=clocks)
    except SerdeError as exc:
        missing = pb.WhichOneof("body") is None
        # persisted_at_ns still bounds not-measured spans; the ledger drops it if absurd.
        return Quarantined(
            uuid=pb.uuid,
            seq=pb.seq if pb.seq <= _INT64_MAX else 0,
            reason=QuarantineReason.MISSING_BODY if missing else QuarantineReason.BAD_VALUE,
            detail=str(exc),
            raw=raw,
            persisted_at_ns=pb.persisted_at_ns,
        )


def record_from_bytes(raw: bytes) -> Record | Quarantined:
    """For records that arrive serialized (e.g. replayed from a file, a signed record)."""
    pb = agent_pb2.Record()
    try:
        pb.ParseFromString(raw)
    except Exception as exc:  # protobuf raises DecodeError, or others from upb
        return Quarantined(
            uuid="", seq=0, reason=QuarantineReason.UNPARSEABLE, detail=str(exc), raw=raw
        )
    return record_or_quarantined(pb)


def records_from_batch(pb: agent_pb2.Batch) -> tuple[list[Record], list[Quarantined]]:
    records: list[Record] = []
    quarantined: list[Quarantined] = []
    clocks: dict[tuple[float, float, int], ClockEstimate] = {}
    for rec in pb.records:
        converted = record_or_quarantined(rec, clocks)
        if isinstance(converted, Quarantined):
            quarantined.append(converted)
        else:
            records.append(converted)
    return records, quarantined
