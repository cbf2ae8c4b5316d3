"""The wire contract end to end: what the agent encodes (agent/wire/serde.py, the bytes its
outbox stores and uploads) is what the collector's ingest conversion (collector/quarantine.py)
decodes, through real serialised protos, for every record the agent can build."""

from __future__ import annotations

import math
from dataclasses import replace

from hypothesis import given, settings
from hypothesis import strategies as st
from smsprobe.v1 import agent_pb2

from agent.uplink.model import AgentIdentity
from agent.wire.records import (
    AgentEvent,
    AgentRegistration,
    CanaryJob,
    CanarySent,
    ClockEstimate,
    ExpectedModem,
    ModemHealth,
    ModemInfo,
    ReceivedSms,
    Record,
    Registration,
    RemoteConfig,
    SimInfo,
    SmsPart,
    StatusReport,
)
from agent.wire.serde import (
    batch_to_proto,
    config_from_proto,
    record_frame_size,
    record_from_wire,
    record_to_proto,
    record_to_wire,
    registration_from_proto,
    registration_to_proto,
    upload_request_bytes,
)
from collector.api.servicer import ConfigStore
from collector.quarantine import Quarantined, record_from_bytes, records_from_batch

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
# agent.proto: measured_at_ns 0 means never measured, and then the uncertainty is unknown
# (inf), which is what the agent's clock filter reports before its first sample.
measured_clocks = st.builds(
    ClockEstimate, offset_ms=finite, uncertainty_ms=finite, measured_at_ns=u64.filter(bool)
)
clocks = st.one_of(measured_clocks, st.just(ClockEstimate()))
records = st.builds(
    Record,
    uuid=text,
    seq=u64,
    persisted_at_ns=i64,
    clock=clocks,
    body=st.one_of(sms, reports, health, events, canaries),
    modem_imei=text,
    iccid=text,
)


def _upload(recs: list[Record], *, depth: int = 0, oldest: int = 0) -> agent_pb2.Batch:
    """The agent's upload path (stored wire bytes framed without decoding), then the
    collector's gRPC parse of the request."""
    data = upload_request_bytes(
        "agent-a",
        1,
        [record_to_wire(r).wire for r in recs],
        outbox_depth=depth,
        oldest_pending_ns=oldest,
    )
    return agent_pb2.UploadRequest.FromString(data).batch


@settings(max_examples=300, deadline=None)
@given(records)
def test_every_agent_record_reaches_the_collector_unchanged(record: Record) -> None:
    got, bad = records_from_batch(_upload([record]))
    assert bad == []
    (back,) = got
    # The collector keeps the bytes it received (to quarantine them exactly, later); they
    # are the agent's record.
    assert agent_pb2.Record.FromString(back.raw) == record_to_proto(record)
    assert back == replace(record, raw=back.raw)
    assert back.kind == record_to_wire(record).kind
    # The agent reads its own stored bytes back as the same value.
    assert record_from_wire(record_to_wire(record)) == record


@settings(max_examples=100, deadline=None)
@given(
    st.lists(records, max_size=6),
    u64,
    st.integers(0, 2**40),  # beyond uint32: clamped like batch_to_proto does
    i64,
)
def test_upload_request_assembled_from_stored_bytes_equals_the_built_one(
    recs: list[Record], batch_id: int, depth: int, oldest: int
) -> None:
    wires = [record_to_wire(r) for r in recs]
    data = upload_request_bytes(
        "agent-a", batch_id, [w.wire for w in wires], outbox_depth=depth, oldest_pending_ns=oldest
    )
    built = batch_to_proto(
        "agent-a",
        batch_id,
        [record_to_proto(r) for r in recs],
        outbox_depth=depth,
        oldest_pending_ns=oldest,
    )
    assert agent_pb2.UploadRequest.FromString(data) == built
    got, bad = records_from_batch(built.batch)
    assert bad == [] and [r.uuid for r in got] == [r.uuid for r in recs]
    assert [(w.seq, w.persisted_at_ns) for w in wires] == [(r.seq, r.persisted_at_ns) for r in recs]
    assert [w.kind for w in wires] == [record_to_proto(r).WhichOneof("body") for r in recs]
    # The uploader's byte budget adds up frame sizes: they are exact.
    empty = batch_to_proto("agent-a", batch_id, [], outbox_depth=depth, oldest_pending_ns=oldest)
    framed = sum(record_frame_size(w.wire) for w in wires)
    assert built.batch.ByteSize() == empty.batch.ByteSize() + framed


def test_frame_size_counts_multi_byte_length_prefixes() -> None:
    assert record_frame_size(b"x" * 127) == 1 + 1 + 127
    assert record_frame_size(b"x" * 128) == 1 + 2 + 128
    assert record_frame_size(b"x" * 16384) == 1 + 3 + 16384


def test_unknown_health_and_infinite_clock_survive() -> None:
    rec = Record(
        uuid="u",
        seq=1,
        persisted_at_ns=5,
        clock=ClockEstimate(),  # never measured: uncertainty inf
        body=ModemHealth(at_ns=1, responding=False),  # rssi NaN = unknown
    )
    back = record_from_bytes(record_to_wire(rec).wire)
    assert isinstance(back, Record)
    assert math.isinf(back.clock.uncertainty_ms)
    assert isinstance(back.body, ModemHealth)
    assert math.isnan(back.body.rssi_dbm)


def test_a_registration_value_from_a_newer_agent_is_quarantined_not_guessed() -> None:
    rec = Record("u", 1, 5, ClockEstimate(), ModemHealth(at_ns=1, responding=True))
    pb = record_to_proto(rec)
    pb.health.registration = 42  # type: ignore[assignment]  # proto3 enums are open
    (q,) = records_from_batch(agent_pb2.Batch(records=[pb]))[1]
    assert isinstance(q, Quarantined) and "42" in q.detail


def test_registration_from_the_agent_identity_reaches_the_collector() -> None:
    me = AgentIdentity(agent_id="a1", site="sz", region="gd", software_version="0.1.0")
    sim = SimInfo(iccid="8986", imsi="46000", msisdn="+8613800000000", carrier="china_mobile")
    reg = AgentRegistration(
        agent_id=me.agent_id,
        software_version=me.software_version,
        capabilities=me.capabilities,
        site=me.site,
        region=me.region,
        modems=(ModemInfo(imei="86", model="EC20", sim=sim), ModemInfo(imei="87")),
        agent_time_ns=42,
        last_seq=7,
    )
    wire = registration_to_proto(reg).SerializeToString()
    assert registration_from_proto(agent_pb2.RegisterRequest.FromString(wire)) == reg


def test_config_pushed_by_the_collector_reaches_the_agent() -> None:
    def source(_agent_id: str) -> agent_pb2.AgentConfig:
        pb = agent_pb2.AgentConfig(health_interval_s=15.0, clock_sync_interval_s=30.0)
        pb.expected_modems.add(imei="86", iccid="8986", msisdn="+86138")
        pb.canaries.add(
            canary_id="c1", from_imei="86", to_msisdn="+86139", interval_s=600, text="c {token}"
        )
        return pb

    pushed = ConfigStore(source).config_for("a1")
    got = config_from_proto(agent_pb2.AgentConfig.FromString(pushed.SerializeToString()))
    assert got == RemoteConfig(
        version=pushed.version,
        health_interval_s=15.0,
        expected_modems=(ExpectedModem(imei="86", iccid="8986", msisdn="+86138"),),
        canaries=(CanaryJob("c1", "86", "+86139", 600.0, "c {token}"),),
        clock_sync_interval_s=30.0,
    )
    assert pushed.version != 0  # the store versions what it pushes
    # Zero means "not said" in proto3: kept as 0, so the uploader's own interval applies.
    assert config_from_proto(agent_pb2.AgentConfig(version=1)).clock_sync_interval_s == 0.0
