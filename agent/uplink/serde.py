"""The only place agent values meet `smsprobe.v1` proto types: `x_to_proto`/`x_from_proto`
pairs, each round-trip tested (tests/grpc/test_serde.py)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import cast

from smsprobe.v1 import agent_pb2

from agent.records import (
    AgentEvent,
    CanarySent,
    ClockEstimate,
    ModemHealth,
    OutboxRecord,
    ReceivedSms,
    RecordBody,
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


class SerdeError(ValueError):
    """A proto message does not map onto an agent value."""


# ---------------------------------------------------------------- clock


def clock_to_proto(c: ClockEstimate) -> agent_pb2.ClockEstimate:
    return agent_pb2.ClockEstimate(
        offset_ms=c.offset_ms, uncertainty_ms=c.uncertainty_ms, measured_at_ns=c.measured_at_ns
    )


def clock_from_proto(pb: agent_pb2.ClockEstimate) -> ClockEstimate:
    return ClockEstimate(
        offset_ms=pb.offset_ms, uncertainty_ms=pb.uncertainty_ms, measured_at_ns=pb.measured_at_ns
    )


# ---------------------------------------------------------------- record bodies


def _part_to_proto(p: SmsPart) -> agent_pb2.SmsPart:
    return agent_pb2.SmsPart(
        uuid=p.uuid,
        raw_pdu=p.raw_pdu,
        storage=p.storage,
        index=p.index,
        received_at_ns=p.received_at_ns,
        scts_ns=p.scts_ns,
        scts_tz_minutes=p.scts_tz_minutes,
        part_seq=p.part_seq,
        decode_error=p.decode_error,
    )


def _part_from_proto(pb: agent_pb2.SmsPart) -> SmsPart:
    return SmsPart(
        uuid=pb.uuid,
        raw_pdu=pb.raw_pdu,
        storage=pb.storage,
        index=pb.index,
        received_at_ns=pb.received_at_ns,
        scts_ns=pb.scts_ns,
        scts_tz_minutes=pb.scts_tz_minutes,
        part_seq=pb.part_seq,
        decode_error=pb.decode_error,
    )


def sms_to_proto(s: ReceivedSms) -> agent_pb2.ReceivedSms:
    return agent_pb2.ReceivedSms(
        smsc=s.smsc,
        sender=s.sender,
        sender_ton=s.sender_ton,
        text=s.text,
        encoding=s.encoding,
        message_class=s.message_class,
        pid=s.pid,
        dcs=s.dcs,
        concat_ref=s.concat_ref,
        concat_total=s.concat_total,
        partial=s.partial,
        missing_parts=s.missing_parts,
        parts=[_part_to_proto(p) for p in s.parts],
        undecodable=s.undecodable,
        user_data=s.user_data,
    )


def sms_from_proto(pb: agent_pb2.ReceivedSms) -> ReceivedSms:
    return ReceivedSms(
        parts=tuple(_part_from_proto(p) for p in pb.parts),
        smsc=pb.smsc,
        sender=pb.sender,
        sender_ton=pb.sender_ton,
        text=pb.text,
        encoding=pb.encoding,
        message_class=pb.message_class,
        pid=pb.pid,
        dcs=pb.dcs,
        concat_ref=pb.concat_ref,
        concat_total=pb.concat_total,
        partial=pb.partial,
        missing_parts=tuple(pb.missing_parts),
        undecodable=pb.undecodable,
        user_data=pb.user_data,
    )


def status_report_to_proto(r: StatusReport) -> agent_pb2.StatusReport:
    return agent_pb2.StatusReport(
        raw_pdu=r.raw_pdu,
        storage=r.storage,
        index=r.index,
        received_at_ns=r.received_at_ns,
        recipient=r.recipient,
        message_reference=r.message_reference,
        status=r.status,
        scts_ns=r.scts_ns,
        discharge_time_ns=r.discharge_time_ns,
        decode_error=r.decode_error,
    )


def status_report_from_proto(pb: agent_pb2.StatusReport) -> StatusReport:
    return StatusReport(
        raw_pdu=pb.raw_pdu,
        storage=pb.storage,
        index=pb.index,
        received_at_ns=pb.received_at_ns,
        recipient=pb.recipient,
        message_reference=pb.message_reference,
        status=pb.status,
        scts_ns=pb.scts_ns,
        discharge_time_ns=pb.discharge_time_ns,
        decode_error=pb.decode_error,
    )


def health_to_proto(h: ModemHealth) -> agent_pb2.ModemHealth:
    return agent_pb2.ModemHealth(
        at_ns=h.at_ns,
        responding=h.responding,
        rssi_dbm=h.rssi_dbm,
        ber=h.ber,
        # Same numbers as the proto enum (agent/records.py); the stubs want their own type.
        registration=cast("agent_pb2.Registration", int(h.registration)),
        rat=h.rat,
        operator_mcc_mnc=h.operator_mcc_mnc,
        sim_state=h.sim_state,
        storage_used=h.storage_used,
        storage_total=h.storage_total,
        healthy=h.healthy,
        reasons=h.reasons,
        last_sms_at_ns=h.last_sms_at_ns,
        iccid=h.iccid,
    )


def health_from_proto(pb: agent_pb2.ModemHealth) -> ModemHealth:
    try:
        registration = Registration(pb.registration)
    except ValueError:
        # proto3 enums are open: a newer agent may send a value this build does not know.
        registration = Registration.UNKNOWN
    return ModemHealth(
        at_ns=pb.at_ns,
        responding=pb.responding,
        rssi_dbm=pb.rssi_dbm,
        ber=pb.ber,
        registration=registration,
        rat=pb.rat,
        operator_mcc_mnc=pb.operator_mcc_mnc,
        sim_state=pb.sim_state,
        storage_used=pb.storage_used,
        storage_total=pb.storage_total,
        healthy=pb.healthy,
        reasons=tuple(pb.reasons),
        last_sms_at_ns=pb.last_sms_at_ns,
        iccid=pb.iccid,
    )


def event_to_proto(e: AgentEvent) -> agent_pb2.AgentEvent:
    return agent_pb2.AgentEvent(
        at_ns=e.at_ns, kind=e.kind, detail=e.detail, attributes=dict(e.attributes)
    )


def event_from_proto(pb: agent_pb2.AgentEvent) -> AgentEvent:
    return AgentEvent(
        at_ns=pb.at_ns, kind=pb.kind, detail=pb.detail, attributes=dict(pb.attributes)
    )


def canary_to_proto(c: CanarySent) -> agent_pb2.CanarySent:
    return agent_pb2.CanarySent(
        canary_id=c.canary_id,
        sent_at_ns=c.sent_at_ns,
        to_msisdn=c.to_msisdn,
        message_references=c.message_references,
        error=c.error,
        text=c.text,
    )


def canary_from_proto(pb: agent_pb2.CanarySent) -> CanarySent:
    return CanarySent(
        canary_id=pb.canary_id,
        sent_at_ns=pb.sent_at_ns,
        to_msisdn=pb.to_msisdn,
        message_references=tuple(pb.message_references),
        error=pb.error,
        text=pb.text,
    )


# ---------------------------------------------------------------- records


def record_to_proto(r: OutboxRecord) -> agent_pb2.Record:
    pb = agent_pb2.Record(
        uuid=r.uuid,
        seq=r.seq,
        persisted_at_ns=r.persisted_at_ns,
        clock=clock_to_proto(r.clock),
        modem_imei=r.modem_imei,
        iccid=r.iccid,
    )
    body = r.body
    if isinstance(body, ReceivedSms):
        pb.sms.CopyFrom(sms_to_proto(body))
    elif isinstance(body, StatusReport):
        pb.status_report.CopyFrom(status_report_to_proto(body))
    elif isinstance(body, ModemHealth):
        pb.health.CopyFrom(health_to_proto(body))
    elif isinstance(body, AgentEvent):
        pb.event.CopyFrom(event_to_proto(body))
    elif isinstance(body, CanarySent):
        pb.canary.CopyFrom(canary_to_proto(body))
    else:  # pragma: no cover - RecordBody is a closed union; mypy checks the branches
        raise SerdeError(f"unknown record body {type(body).__name__}")
    return pb


def record_from_proto(pb: agent_pb2.Record) -> OutboxRecord:
    kind = pb.WhichOneof("body")
    body: RecordBody
    if kind == "sms":
        body = sms_from_proto(pb.sms)
    elif kind == "status_report":
        body = status_report_from_proto(pb.status_report)
    elif kind == "health":
        body = health_from_proto(pb.health)
    elif kind == "event":
        body = event_from_proto(pb.event)
    elif kind == "canary":
        body = canary_from_proto(pb.canary)
    else:
        raise SerdeError(f"record {pb.uuid!r} has no body")
    return OutboxRecord(
        uuid=pb.uuid,
        seq=pb.seq,
        persisted_at_ns=pb.persisted_at_ns,
        clock=clock_from_proto(pb.clock),
        body=body,
        modem_imei=pb.modem_imei,
        iccid=pb.iccid,
    )


# ---------------------------------------------------------------- pre-serialised records


@dataclass(frozen=True, slots=True)
class WireRecord:
    """A record as it travels: its serialised `smsprobe.v1.Record` plus the few fields the
    uploader needs without decoding it. Records are immutable once persisted, so the
    bytes the outbox stored at persist time are the bytes every upload (and replay) sends.
    """

    seq: int
    persisted_at_ns: int
    kind: str  # the Record.body oneof name: sms | status_report | health | event | canary
    wire: bytes


def record_to_wire(r: OutboxRecord) -> WireRecord:
    pb = record_to_proto(r)
    # deterministic: these are the bytes an agent signs (agent.signing)
    wire = pb.SerializeToString(deterministic=True)
    return WireRecord(r.seq, r.persisted_at_ns, str(pb.WhichOneof("body")), wire)


def record_from_wire(w: WireRecord) -> OutboxRecord:
    return record_from_proto(agent_pb2.Record.FromString(w.wire))


def _varint(n: int) -> bytes:
    out = bytearray()
    while n > 0x7F:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


# Protobuf encoding (protobuf.dev/programming-guides/encoding): a length-delimited field
# is tag, varint length, bytes, and a message may be the concatenation of its fields in
# any order, so a Batch is its scalar fields followed by its records, copied as stored.
_BATCH_RECORDS_TAG = b"\x1a"  # Batch.records = 3, wire type 2
_UPLOAD_BATCH_TAG = b"\x0a"  # UploadRequest.batch = 1, wire type 2


def record_frame_size(wire: bytes) -> int:
    """Bytes `wire` takes inside a Batch: tag, length prefix, the record."""
    return 1 + len(_varint(len(wire))) + len(wire)


def upload_request_bytes(
    agent_id: str,
    batch_id: int,
    records: list[bytes],
    *,
    outbox_depth: int,
    oldest_pending_ns: int,
) -> bytes:
    """The serialised UploadRequest that `batch_to_proto` would build, assembled from
    already-serialised records without decoding them (tests/grpc/test_serde.py checks
    that both parse to the same message)."""
    head = agent_pb2.Batch(
        agent_id=agent_id,
        batch_id=batch_id,
        outbox_depth=min(outbox_depth, 0xFFFFFFFF),
        oldest_pending_ns=oldest_pending_ns,
    ).SerializeToString()
    parts = [head]
    for wire in records:
        parts.append(_BATCH_RECORDS_TAG)
        parts.append(_varint(len(wire)))
        parts.append(wire)
    batch = b"".join(parts)
    return b"".join((_UPLOAD_BATCH_TAG, _varint(len(batch)), batch))


def batch_to_proto(
    agent_id: str,
    batch_id: int,
    records: list[agent_pb2.Record],
    *,
    outbox_depth: int,
    oldest_pending_ns: int,
) -> agent_pb2.UploadRequest:
    return agent_pb2.UploadRequest(
        batch=agent_pb2.Batch(
            agent_id=agent_id,
            batch_id=batch_id,
            records=records,
            # uint32 on the wire; an outbox deeper than that is a disaster anyway.
            outbox_depth=min(outbox_depth, 0xFFFFFFFF),
            oldest_pending_ns=oldest_pending_ns,
        )
    )


# ---------------------------------------------------------------- identity


def sim_to_proto(s: SimIdentity) -> agent_pb2.Sim:
    return agent_pb2.Sim(
        iccid=s.iccid,
        imsi=s.imsi,
        msisdn=s.msisdn,
        operator_mcc_mnc=s.operator_mcc_mnc,
        carrier=s.carrier,
        mvno=s.mvno,
        registered_mcc_mnc=s.registered_mcc_mnc,
    )


def sim_from_proto(pb: agent_pb2.Sim) -> SimIdentity:
    return SimIdentity(
        iccid=pb.iccid,
        imsi=pb.imsi,
        msisdn=pb.msisdn,
        operator_mcc_mnc=pb.operator_mcc_mnc,
        carrier=pb.carrier,
        mvno=pb.mvno,
        registered_mcc_mnc=pb.registered_mcc_mnc,
    )


def modem_to_proto(m: ModemIdentity) -> agent_pb2.Modem:
    pb = agent_pb2.Modem(
        imei=m.imei,
        manufacturer=m.manufacturer,
        model=m.model,
        firmware=m.firmware,
        port=m.port,
        profile=m.profile,
    )
    if m.sim is not None:
        pb.sim.CopyFrom(sim_to_proto(m.sim))
    return pb


def modem_from_proto(pb: agent_pb2.Modem) -> ModemIdentity:
    return ModemIdentity(
        imei=pb.imei,
        manufacturer=pb.manufacturer,
        model=pb.model,
        firmware=pb.firmware,
        port=pb.port,
        profile=pb.profile,
        sim=sim_from_proto(pb.sim) if pb.HasField("sim") else None,
    )


def register_request_to_proto(
    identity: AgentIdentity, modems: list[ModemIdentity], *, agent_time_ns: int, last_seq: int
) -> agent_pb2.RegisterRequest:
    return agent_pb2.RegisterRequest(
        agent_id=identity.agent_id,
        software_version=identity.software_version,
        capabilities=identity.capabilities,
        site=identity.site,
        region=identity.region,
        modems=[modem_to_proto(m) for m in modems],
        agent_time_ns=agent_time_ns,
        last_seq=last_seq,
    )


# ---------------------------------------------------------------- config


def config_to_proto(c: RemoteConfig) -> agent_pb2.AgentConfig:
    return agent_pb2.AgentConfig(
        version=c.version,
        health_interval_s=c.health_interval_s,
        expected_modems=[
            agent_pb2.ExpectedModem(imei=m.imei, iccid=m.iccid, msisdn=m.msisdn)
            for m in c.expected_modems
        ],
        canaries=[
            agent_pb2.CanaryJob(
                canary_id=j.canary_id,
                from_imei=j.from_imei,
                to_msisdn=j.to_msisdn,
                interval_s=j.interval_s,
                text=j.text,
            )
            for j in c.canaries
        ],
        clock_sync_interval_s=c.clock_sync_interval_s,
    )


def config_from_proto(pb: agent_pb2.AgentConfig) -> RemoteConfig:
    defaults = RemoteConfig()
    return RemoteConfig(
        version=pb.version,
        # proto3 has no presence for scalars: 0 means "collector did not say".
        health_interval_s=pb.health_interval_s or defaults.health_interval_s,
        expected_modems=tuple(
            ExpectedModem(imei=m.imei, iccid=m.iccid, msisdn=m.msisdn) for m in pb.expected_modems
        ),
        canaries=tuple(
            CanaryJob(
                canary_id=j.canary_id,
                from_imei=j.from_imei,
                to_msisdn=j.to_msisdn,
                interval_s=j.interval_s,
                text=j.text,
            )
            for j in pb.canaries
        ),
        clock_sync_interval_s=pb.clock_sync_interval_s or defaults.clock_sync_interval_s,
    )
