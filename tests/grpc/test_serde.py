"""agent/uplink/serde.py: every to_proto/from_proto pair round-trips, through bytes."""

from __future__ import annotations

import math

from hypothesis import given, settings
from hypothesis import strategies as st
from smsprobe.v1 import agent_pb2

from agent.records import (
    AgentEvent,
    CanarySent,
    ClockEstimate,
    ModemHealth,
    OutboxRecord,
    ReceivedSms,
    Registration,
    SmsPart,
    StatusReport,
)
from agent.uplink.model import (
    AgentIdentity,
    CanaryJob,
    ExpectedModem,
    ModemIdentity,
    RemoteConfig,
    SimIdentity,
)
from agent.uplink.serde import (
    batch_to_proto,
    config_from_proto,
    config_to_proto,
    modem_from_proto,
    modem_to_proto,
    record_frame_size,
    record_from_proto,
    record_from_wire,
    record_to_proto,
    record_to_wire,
    register_request_to_proto,
    upload_request_bytes,
)

i32 = st.integers(-(2**31), 2**31 - 1)
i64 = st.integers(-(2**63), 2**63 - 1)
u64 = st.integers(0, 2**63 - 1)
text = st.text(max_size=20)
finite = st.floats(allow_nan=False, allow_infinity=False, width=64)

parts = st.builds(
    SmsPart,
    uuid=text,
    raw_pdu=st.binary(max_size=40),
    storage=text,
    index=i32,
    received_at_ns=i64,
    scts_ns=i64,
    scts_tz_minutes=i32,
    part_seq=i32,
    decode_error=text,
)
sms = st.builds(
    ReceivedSms,
    parts=st.lists(parts, max_size=3).map(tuple),
    smsc=text,
    sender=text,
    sender_ton=i32,
    text=text,
    encoding=text,
    message_class=i32,
    pid=i32,
    dcs=i32,
    concat_ref=i32,
    concat_total=i32,
    partial=st.booleans(),
    missing_parts=st.lists(i32, max_size=3).map(tuple),
    undecodable=st.booleans(),
    user_data=st.binary(max_size=10),
)
reports = st.builds(
    StatusReport,
    raw_pdu=st.binary(max_size=30),
    storage=text,
    index=i32,
    received_at_ns=i64,
    recipient=text,
    message_reference=i32,
    status=i32,
    scts_ns=i64,
    discharge_time_ns=i64,
    decode_error=text,
)
health = st.builds(
    ModemHealth,
    at_ns=i64,
    responding=st.booleans(),
    rssi_dbm=finite,
    ber=i32,
    registration=st.sampled_from(Registration),
    rat=text,
    operator_mcc_mnc=text,
    sim_state=text,
    storage_used=i32,
    storage_total=i32,
    healthy=st.booleans(),
    reasons=st.lists(text, max_size=3).map(tuple),
    last_sms_at_ns=i64,
    iccid=text,
)
events = st.builds(
    AgentEvent,
    at_ns=i64,
    kind=text,
    detail=text,
    attributes=st.dictionaries(text, text, max_size=3),
)
canaries = st.builds(
    CanarySent,
    canary_id=text,
    sent_at_ns=i64,
    to_msisdn=text,
    message_references=st.lists(i32, max_size=3).map(tuple),
    error=text,
    text=text,
)
records = st.builds(
    OutboxRecord,
    uuid=text,
    seq=u64,
    persisted_at_ns=i64,
    clock=st.builds(ClockEstimate, offset_ms=finite, uncertainty_ms=finite, measured_at_ns=i64),
    body=st.one_of(sms, reports, health, events, canaries),
    modem_imei=text,
    iccid=text,
)


@settings(max_examples=300, deadline=None)
@given(records)
def test_record_round_trips_through_wire_bytes(record: OutboxRecord) -> None:
    wire = record_to_proto(record).SerializeToString()
    assert record_from_proto(agent_pb2.Record.FromString(wire)) == record


@settings(max_examples=100, deadline=None)
@given(
    st.lists(records, max_size=6),
    st.text(max_size=20),
    u64,
    st.integers(0, 2**40),  # beyond uint32: clamped like batch_to_proto does
    i64,
)
def test_upload_request_assembled_from_stored_bytes_equals_the_built_one(
    recs: list[OutboxRecord], agent_id: str, batch_id: int, depth: int, oldest: int
) -> None:
    wires = [record_to_wire(r) for r in recs]
    data = upload_request_bytes(
        agent_id, batch_id, [w.wire for w in wires], outbox_depth=depth, oldest_pending_ns=oldest
    )
    built = batch_to_proto(
        agent_id,
        batch_id,
        [record_to_proto(r) for r in recs],
        outbox_depth=depth,
        oldest_pending_ns=oldest,
    )
    assert agent_pb2.UploadRequest.FromString(data) == built
    assert [record_from_wire(w) for w in wires] == recs
    assert [(w.seq, w.persisted_at_ns) for w in wires] == [(r.seq, r.persisted_at_ns) for r in recs]
    assert [w.kind for w in wires] == [record_to_proto(r).WhichOneof("body") for r in recs]
    # The uploader's byte budget adds up frame sizes: they are exact.
    empty = batch_to_proto(agent_id, batch_id, [], outbox_depth=depth, oldest_pending_ns=oldest)
    framed = sum(record_frame_size(w.wire) for w in wires)
    assert built.batch.ByteSize() == empty.batch.ByteSize() + framed


def test_frame_size_counts_multi_byte_length_prefixes() -> None:
    assert record_frame_size(b"x" * 127) == 1 + 1 + 127
    assert record_frame_size(b"x" * 128) == 1 + 2 + 128
    assert record_frame_size(b"x" * 16384) == 1 + 3 + 16384


def test_unknown_health_and_infinite_clock_survive() -> None:
    rec = OutboxRecord(
        uuid="u",
        seq=1,
        persisted_at_ns=5,
        clock=ClockEstimate(),  # never measured: uncertainty inf
        body=ModemHealth(at_ns=1, responding=False),  # rssi NaN = unknown
    )
    back = record_from_proto(agent_pb2.Record.FromString(record_to_proto(rec).SerializeToString()))
    assert math.isinf(back.clock.uncertainty_ms)
    assert isinstance(back.body, ModemHealth)
    assert math.isnan(back.body.rssi_dbm)


def test_modem_identity_round_trips_with_and_without_sim() -> None:
    sim = SimIdentity(iccid="8986", imsi="46000", msisdn="+8613800000000", carrier="china_mobile")
    for m in (ModemIdentity(imei="86", model="EC20", sim=sim), ModemIdentity(imei="87")):
        assert modem_from_proto(modem_to_proto(m)) == m


def test_register_request_carries_identity_and_last_seq() -> None:
    req = register_request_to_proto(
        AgentIdentity(agent_id="a1", site="sz", region="gd"),
        [ModemIdentity(imei="86")],
        agent_time_ns=42,
        last_seq=7,
    )
    assert (req.agent_id, req.site, req.region, req.last_seq) == ("a1", "sz", "gd", 7)
    assert [m.imei for m in req.modems] == ["86"]


def test_config_round_trips() -> None:
    cfg = RemoteConfig(
        version=9,
        health_interval_s=15.0,
        expected_modems=(ExpectedModem(imei="86", iccid="8986", msisdn="+86138"),),
        canaries=(CanaryJob("c1", "86", "+86139", 600.0, "canary {token}"),),
        clock_sync_interval_s=30.0,
    )
    assert config_from_proto(config_to_proto(cfg)) == cfg
    # Zero means "not said" in proto3: defaults apply.
    assert config_from_proto(agent_pb2.AgentConfig(version=1)).clock_sync_interval_s == 60.0
