"""smsprobe.v1 proto <-> collector domain types. The only place the two meet.

`x_from_proto` never trusts content: a record that cannot become a domain value is
returned as a `Quarantined` entry carrying its serialized bytes, never raised, so one
bad record cannot make the collector refuse (and the agent resend forever) a batch.
Validation rules beyond "can be represented" live in collector/ingest.py.
"""

from __future__ import annotations

import math

from smsprobe.v1 import agent_pb2

from collector.ledger.base import BatchOutcome, RecordRejection
from collector.records import (
    AgentEvent,
    AgentRegistration,
    CanarySent,
    ClockEstimate,
    IngestRecord,
    ModemHealth,
    ModemInfo,
    Quarantined,
    QuarantineReason,
    ReceivedSms,
    RecordBody,
    Registration,
    SimInfo,
    SmsPart,
    StatusReport,
)

_INT64_MAX = 2**63 - 1
_UINT32_MAX = 2**32 - 1

# ---------------------------------------------------------------- clock


def clock_from_proto(pb: agent_pb2.ClockEstimate) -> ClockEstimate:
    # agent.proto: measured_at_ns 0 = never measured, uncertainty unknown.
    if pb.measured_at_ns == 0:
        return ClockEstimate(offset_ms=pb.offset_ms, uncertainty_ms=math.inf, measured_at_ns=0)
    return ClockEstimate(pb.offset_ms, pb.uncertainty_ms, pb.measured_at_ns)


def clock_to_proto(c: ClockEstimate) -> agent_pb2.ClockEstimate:
    return agent_pb2.ClockEstimate(
        offset_ms=c.offset_ms, uncertainty_ms=c.uncertainty_ms, measured_at_ns=c.measured_at_ns
    )


# ---------------------------------------------------------------- bodies


def _part_from_proto(pb: agent_pb2.SmsPart) -> SmsPart:
    # Positional: this runs for every uploaded part (the ingest hot path); the order is
    # SmsPart's field order (collector/records.py), checked by the round-trip tests.
    return SmsPart(
        pb.uuid,
        pb.raw_pdu,
        pb.storage,
        pb.index,
        pb.received_at_ns,
        pb.scts_ns,
        pb.scts_tz_minutes,
        pb.part_seq,
        pb.decode_error,
    )


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


def sms_from_proto(pb: agent_pb2.ReceivedSms) -> ReceivedSms:
    # Positional in ReceivedSms's field order, like _part_from_proto (hot path).
    return ReceivedSms(
        tuple([_part_from_proto(p) for p in pb.parts]),
        pb.smsc,
        pb.sender,
        pb.sender_ton,
        pb.text,
        pb.encoding,
        pb.message_class,
        pb.pid,
        pb.dcs,
        pb.concat_ref,
        pb.concat_total,
        pb.partial,
        tuple(pb.missing_parts),
        pb.undecodable,
        pb.user_data,
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


def status_report_from_proto(pb: agent_pb2.StatusReport) -> StatusReport:
    return StatusReport(
        raw_pdu=bytes(pb.raw_pdu),
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


def health_from_proto(pb: agent_pb2.ModemHealth) -> ModemHealth:
    """Raises ValueError on a registration value this collector does not know."""
    return ModemHealth(
        at_ns=pb.at_ns,
        responding=pb.responding,
        rssi_dbm=pb.rssi_dbm,
        ber=pb.ber,
        registration=Registration(pb.registration),
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


def health_to_proto(h: ModemHealth) -> agent_pb2.ModemHealth:
    return agent_pb2.ModemHealth(
        at_ns=h.at_ns,
        responding=h.responding,
        rssi_dbm=h.rssi_dbm,
        ber=h.ber,
        registration=int(h.registration),  # type: ignore[arg-type]
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


def event_from_proto(pb: agent_pb2.AgentEvent) -> AgentEvent:
    return AgentEvent(
        at_ns=pb.at_ns, kind=pb.kind, detail=pb.detail, attributes=dict(pb.attributes)
    )


def event_to_proto(e: AgentEvent) -> agent_pb2.AgentEvent:
    return agent_pb2.AgentEvent(
        at_ns=e.at_ns, kind=e.kind, detail=e.detail, attributes=dict(e.attributes)
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


def canary_to_proto(c: CanarySent) -> agent_pb2.CanarySent:
    return agent_pb2.CanarySent(
        canary_id=c.canary_id,
        sent_at_ns=c.sent_at_ns,
        to_msisdn=c.to_msisdn,
        message_references=c.message_references,
        error=c.error,
        text=c.text,
    )


# ---------------------------------------------------------------- records


def _body_from_proto(pb: agent_pb2.Record, which: str) -> RecordBody:
    if which == "sms":  # by far the most frequent
        return sms_from_proto(pb.sms)
    if which == "health":
        return health_from_proto(pb.health)
    if which == "status_report":
        return status_report_from_proto(pb.status_report)
    if which == "event":
        return event_from_proto(pb.event)
    if which == "canary":
        return canary_from_proto(pb.canary)
    raise ValueError(f"unknown record body {which!r}")


def record_from_proto(
    pb: agent_pb2.Record, clocks: dict[tuple[float, float, int], ClockEstimate] | None = None
) -> IngestRecord | Quarantined:
    """Never raises on content: what cannot be represented comes back quarantined.

    `clocks` memoises clock estimates across calls: the records of one batch mostly
    carry the same estimate (the one in force when they were persisted), and the
    frozen value can be shared."""
    raw = pb.SerializeToString()

    def quarantined(reason: QuarantineReason, detail: str) -> Quarantined:
        seq = pb.seq if pb.seq <= _INT64_MAX else 0
        # persisted_at_ns still bounds not-measured spans; the ledger drops it if absurd.
        return Quarantined(
            uuid=pb.uuid,
            seq=seq,
            reason=reason,
            detail=detail,
            raw=raw,
            persisted_at_ns=pb.persisted_at_ns,
        )

    which = pb.WhichOneof("body")
    if which is None:
        return quarantined(QuarantineReason.MISSING_BODY, "record has no body")
    try:
        body = _body_from_proto(pb, which)
    except ValueError as exc:
        return quarantined(QuarantineReason.BAD_VALUE, f"{which}: {exc}")
    c = pb.clock
    if clocks is None:
        clock = clock_from_proto(c)
    else:
        key = (c.offset_ms, c.uncertainty_ms, c.measured_at_ns)
        clock = clocks.get(key)  # type: ignore[assignment]
        if clock is None:
            clock = clocks[key] = clock_from_proto(c)
    # Positional in IngestRecord's field order (hot path).
    return IngestRecord(
        pb.uuid, pb.seq, pb.persisted_at_ns, clock, body, pb.modem_imei, pb.iccid, raw
    )


def record_from_bytes(raw: bytes) -> IngestRecord | Quarantined:
    """For records that arrive serialized (e.g. replayed from a file)."""
    pb = agent_pb2.Record()
    try:
        pb.ParseFromString(raw)
    except Exception as exc:  # protobuf raises DecodeError, or others from upb
        return Quarantined(
            uuid="", seq=0, reason=QuarantineReason.UNPARSEABLE, detail=str(exc), raw=raw
        )
    return record_from_proto(pb)


def record_to_proto(r: IngestRecord) -> agent_pb2.Record:
    pb = agent_pb2.Record(
        uuid=r.uuid,
        seq=r.seq,
        persisted_at_ns=r.persisted_at_ns,
        clock=clock_to_proto(r.clock),
        modem_imei=r.modem_imei,
        iccid=r.iccid,
    )
    b = r.body
    if isinstance(b, ReceivedSms):
        pb.sms.CopyFrom(sms_to_proto(b))
    elif isinstance(b, StatusReport):
        pb.status_report.CopyFrom(status_report_to_proto(b))
    elif isinstance(b, ModemHealth):
        pb.health.CopyFrom(health_to_proto(b))
    elif isinstance(b, AgentEvent):
        pb.event.CopyFrom(event_to_proto(b))
    else:
        pb.canary.CopyFrom(canary_to_proto(b))
    return pb


def records_from_batch(pb: agent_pb2.Batch) -> tuple[list[IngestRecord], list[Quarantined]]:
    records: list[IngestRecord] = []
    quarantined: list[Quarantined] = []
    clocks: dict[tuple[float, float, int], ClockEstimate] = {}
    for rec in pb.records:
        converted = record_from_proto(rec, clocks)
        if isinstance(converted, Quarantined):
            quarantined.append(converted)
        else:
            records.append(converted)
    return records, quarantined


# ---------------------------------------------------------------- registration


def sim_from_proto(pb: agent_pb2.Sim) -> SimInfo:
    return SimInfo(
        iccid=pb.iccid,
        imsi=pb.imsi,
        msisdn=pb.msisdn,
        operator_mcc_mnc=pb.operator_mcc_mnc,
        carrier=pb.carrier,
        mvno=pb.mvno,
        registered_mcc_mnc=pb.registered_mcc_mnc,
    )


def sim_to_proto(s: SimInfo) -> agent_pb2.Sim:
    return agent_pb2.Sim(
        iccid=s.iccid,
        imsi=s.imsi,
        msisdn=s.msisdn,
        operator_mcc_mnc=s.operator_mcc_mnc,
        carrier=s.carrier,
        mvno=s.mvno,
        registered_mcc_mnc=s.registered_mcc_mnc,
    )


def modem_from_proto(pb: agent_pb2.Modem) -> ModemInfo:
    return ModemInfo(
        imei=pb.imei,
        manufacturer=pb.manufacturer,
        model=pb.model,
        firmware=pb.firmware,
        port=pb.port,
        profile=pb.profile,
        sim=sim_from_proto(pb.sim) if pb.HasField("sim") else None,
    )


def modem_to_proto(m: ModemInfo) -> agent_pb2.Modem:
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


def registration_from_proto(pb: agent_pb2.RegisterRequest) -> AgentRegistration:
    """Raises ValueError when the registration cannot be trusted as a whole."""
    if not pb.agent_id:
        raise ValueError("agent_id is empty")
    if pb.last_seq > _INT64_MAX:
        raise ValueError(f"last_seq {pb.last_seq} exceeds int64")
    modems = tuple(modem_from_proto(m) for m in pb.modems)
    imeis = [m.imei for m in modems]
    if any(not imei for imei in imeis):
        raise ValueError("a modem has an empty imei")
    if len(set(imeis)) != len(imeis):
        raise ValueError("the same imei is listed twice")
    return AgentRegistration(
        agent_id=pb.agent_id,
        software_version=pb.software_version,
        capabilities=tuple(pb.capabilities),
        site=pb.site,
        region=pb.region,
        modems=modems,
        agent_time_ns=pb.agent_time_ns,
        last_seq=pb.last_seq,
    )


def registration_to_proto(r: AgentRegistration) -> agent_pb2.RegisterRequest:
    return agent_pb2.RegisterRequest(
        agent_id=r.agent_id,
        software_version=r.software_version,
        capabilities=r.capabilities,
        site=r.site,
        region=r.region,
        modems=[modem_to_proto(m) for m in r.modems],
        agent_time_ns=r.agent_time_ns,
        last_seq=r.last_seq,
    )


# ---------------------------------------------------------------- acks


def batch_ack_to_proto(outcome: BatchOutcome, batch_id: int) -> agent_pb2.BatchAck:
    return agent_pb2.BatchAck(
        batch_id=batch_id,
        ingested=min(outcome.ingested, _UINT32_MAX),
        duplicates=min(outcome.duplicates, _UINT32_MAX),
        quarantined=min(outcome.quarantined, _UINT32_MAX),
        rejections=[
            agent_pb2.RecordRejection(uuid=r.uuid, seq=r.seq, reason=r.reason)
            for r in outcome.rejections
        ],
        committed_seq=outcome.committed_seq,
    )


def batch_ack_from_proto(pb: agent_pb2.BatchAck) -> tuple[int, BatchOutcome]:
    """(batch_id, outcome); new_gaps are the collector's business and do not travel."""
    return pb.batch_id, BatchOutcome(
        ingested=pb.ingested,
        duplicates=pb.duplicates,
        quarantined=pb.quarantined,
        rejections=tuple(
            RecordRejection(uuid=r.uuid, seq=r.seq, reason=r.reason) for r in pb.rejections
        ),
        committed_seq=pb.committed_seq,
    )
