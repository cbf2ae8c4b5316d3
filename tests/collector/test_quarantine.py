"""collector/quarantine.py: an uploaded record becomes a `Record` (keeping its bytes) or a
quarantine entry, never an exception; registrations that cannot be trusted are refused; the
ack goes back field by field."""

from __future__ import annotations

import math
from dataclasses import replace

import pytest
from smsprobe.v1 import agent_pb2

from agent.wire.records import ClockEstimate, Record, RecordBody
from agent.wire.serde import (
    record_frame_head,
    record_to_proto,
    registration_from_proto,
    registration_to_proto,
)
from collector.api.servicer import batch_ack_to_proto
from collector.ledger.model import BatchOutcome, RecordRejection
from collector.quarantine import (
    Quarantined,
    QuarantineReason,
    record_from_bytes,
    record_or_quarantined,
    records_from_batch,
)
from tests.collector.ledger.builders import (
    T0,
    canary,
    event,
    health,
    modem,
    record,
    registration,
    sms,
)
from tests.collector.ledger.builders import status_report as sr

BODIES: list[RecordBody] = [
    sms(T0),
    sms(T0, "two parts", parts=2),
    replace(sms(T0), partial=True, missing_parts=(2, 3), undecodable=True, user_data=b"\x01\x02"),
    sr(T0),
    health(T0),
    health(T0, healthy=False),
    event(T0),
    canary(T0),
]


@pytest.mark.parametrize("body", BODIES, ids=lambda b: type(b).__name__)
def test_record_round_trip(body: RecordBody) -> None:
    rec = record(5, body)
    pb = record_to_proto(rec)
    back = record_or_quarantined(pb)
    assert isinstance(back, Record)
    assert back.raw == pb.SerializeToString()  # kept to quarantine it exactly as it came
    assert replace(back, raw=rec.raw) == rec
    # and through the wire bytes
    again = record_from_bytes(pb.SerializeToString())
    assert isinstance(again, Record) and replace(again, raw=rec.raw) == rec


def test_nan_rssi_survives_the_wire() -> None:
    back = record_or_quarantined(record_to_proto(record(1, health(T0, rssi=float("nan")))))
    assert isinstance(back, Record)
    assert math.isnan(back.body.rssi_dbm)  # type: ignore[union-attr]


def test_a_never_measured_clock_has_unknown_uncertainty() -> None:
    pb = record_to_proto(record(1))
    pb.ClearField("clock")
    back = record_or_quarantined(pb)
    assert isinstance(back, Record)
    assert back.clock == ClockEstimate(0.0, math.inf, 0)


def test_a_record_without_body_is_quarantined_not_raised() -> None:
    pb = agent_pb2.Record(uuid="u1", seq=9, persisted_at_ns=T0)
    q = record_or_quarantined(pb)
    assert isinstance(q, Quarantined)
    assert (q.uuid, q.seq, q.reason) == ("u1", 9, QuarantineReason.MISSING_BODY)
    assert q.persisted_at_ns == T0  # still bounds a not-measured span
    assert q.raw == pb.SerializeToString()


def test_an_unknown_enum_value_is_quarantined() -> None:
    pb = record_to_proto(record(1, health(T0)))
    pb.health.registration = 42  # type: ignore[assignment]  # proto3 enums are open
    q = record_or_quarantined(pb)
    assert isinstance(q, Quarantined) and q.reason is QuarantineReason.BAD_VALUE
    assert "42" in q.detail


def test_a_seq_beyond_int64_is_not_carried_into_quarantine() -> None:
    pb = agent_pb2.Record(uuid="u", seq=2**64 - 1)
    q = record_or_quarantined(pb)
    assert isinstance(q, Quarantined) and q.seq == 0


def test_bytes_that_are_no_record_are_quarantined_unparseable() -> None:
    q = record_from_bytes(b"\xff\xff\xff")
    assert isinstance(q, Quarantined)
    assert q.reason is QuarantineReason.UNPARSEABLE and q.raw == b"\xff\xff\xff"


def test_records_from_batch_splits() -> None:
    batch = agent_pb2.Batch(
        agent_id="a",
        records=[record_to_proto(record(1)), agent_pb2.Record(uuid="x", seq=2)],
    )
    good, bad = records_from_batch(batch)
    assert [r.seq for r in good] == [1] and [q.seq for q in bad] == [2]


def test_records_of_one_batch_share_their_clock_estimate() -> None:
    batch = agent_pb2.Batch(records=[record_to_proto(record(1)), record_to_proto(record(2))])
    (a, b), _ = records_from_batch(batch)
    assert a.clock == b.clock and a.clock is b.clock


def test_registration_round_trip() -> None:
    reg = replace(
        registration("agent-9", modem("1", "8986", "+86138"), modem("2"), last_seq=77),
        agent_time_ns=T0 + 5,
    )
    assert registration_from_proto(registration_to_proto(reg)) == reg


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda pb: setattr(pb, "agent_id", ""), "agent_id"),
        (lambda pb: setattr(pb, "last_seq", 2**63), "last_seq"),
        (lambda pb: pb.modems.add(imei=""), "empty imei"),
        (lambda pb: pb.modems.add(imei="860000000000001"), "twice"),
    ],
)
def test_untrustworthy_registrations_raise_value_error(mutate: object, message: str) -> None:
    pb = registration_to_proto(registration())
    mutate(pb)  # type: ignore[operator]
    with pytest.raises(ValueError, match=message):
        registration_from_proto(pb)


def test_batch_ack_carries_the_outcome_clamped_to_uint32() -> None:
    outcome = BatchOutcome(
        ingested=2**33,
        duplicates=2,
        quarantined=1,
        rejections=(RecordRejection("u", 4, "time_in_future: 2 days ahead"),),
        committed_seq=12,
    )
    pb = agent_pb2.BatchAck.FromString(batch_ack_to_proto(outcome, 33).SerializeToString())
    assert (pb.batch_id, pb.committed_seq) == (33, 12)
    assert (pb.ingested, pb.duplicates, pb.quarantined) == (2**32 - 1, 2, 1)
    assert [(r.uuid, r.seq, r.reason) for r in pb.rejections] == [
        ("u", 4, "time_in_future: 2 days ahead")
    ]


def test_a_signed_record_is_kept_as_the_bytes_the_agent_sent() -> None:
    """The agent signs the deterministic serialisation and appends fields 20-21; a map
    serialised in another order would make the ledger's "raw record" a byte string the
    agent never sent (the signature still verifies after re-serialising, the bytes are
    not the arrival)."""
    from cryptography.hazmat.primitives.asymmetric import ec

    from agent.wire.signing import RecordSigner, verify_record
    from collector.ledger.ingest_rules import read_plain

    private = ec.generate_private_key(ec.SECP256R1())
    signer = RecordSigner(private)
    attrs = {f"key-{i:02d}-{'z' * (i % 5)}": f"value {i}" for i in reversed(range(40))}
    bodies: list[RecordBody] = [
        replace(event(T0), attributes=attrs),
        sms(T0, "two parts", parts=2),
    ]
    wires = [
        signer.sign(record_to_proto(record(seq, body)).SerializeToString(deterministic=True))
        for seq, body in enumerate(bodies, 1)
    ]
    # The batch as the collector's gRPC layer parses it off the wire.
    batch = agent_pb2.Batch.FromString(b"".join(record_frame_head(w) + w for w in wires))
    good, bad = records_from_batch(batch)
    assert not bad and [r.raw for r in good] == wires
    plains = read_plain(batch.records, now_ns=T0 + 10**12, known_imeis={record(1).modem_imei})
    plain = plains[1]
    assert plain is not None and plain[8] == wires[1]  # the SMS read straight from the proto
    key = private.public_key()
    assert [verify_record(r.raw, key) for r in good] == [None, None]
