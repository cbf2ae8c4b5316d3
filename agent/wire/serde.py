"""The only place the values of agent/wire/records.py meet `smsprobe.v1` proto types, for
both ends: the agent encodes records, its registration and upload batches, and decodes the
config the collector pushes; the collector decodes records and registrations
(collector/quarantine.py turns a `SerdeError` into a quarantined record). Each direction
that is used exists once; tests/wire checks agent -> bytes -> collector.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, fields
from typing import Any, TypeVar, cast

from smsprobe.v1 import agent_pb2

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
    RecordBody,
    Registration,
    RemoteConfig,
    SimInfo,
    SmsPart,
    StatusReport,
)

_INT64_MAX = 2**63 - 1
_UINT32_MAX = 2**32 - 1


class SerdeError(ValueError):
    """A proto message does not map onto a wire value."""


_T = TypeVar("_T")


def _slot_builder(cls: type[_T]) -> Callable[..., _T]:
    """A positional constructor for a frozen, slotted dataclass of records.py that sets the
    slots directly: the generated frozen `__init__` goes through object.__setattr__ per
    field, about half the cost of decoding an uploaded record on the collector. Equal
    (==, hash) to `cls(*values)`; only for classes without __post_init__ (checked here).
    """
    if hasattr(cls, "__post_init__"):
        raise TypeError(f"{cls.__name__} has __post_init__: build it with its __init__")
    names = [f.name for f in fields(cls)]  # type: ignore[arg-type]
    scope: dict[str, Any] = {"new": object.__new__, "cls": cls}
    for i, name in enumerate(names):
        scope[f"set{i}"] = getattr(cls, name).__set__  # the slot's member descriptor
    params = ", ".join(f"v{i}" for i in range(len(names)))
    body = "".join(f"    set{i}(obj, v{i})\n" for i in range(len(names)))
    exec(f"def build({params}):\n    obj = new(cls)\n{body}    return obj\n", scope)
    build: Callable[..., _T] = scope["build"]
    return build


_new_part = _slot_builder(SmsPart)
_new_sms = _slot_builder(ReceivedSms)
_new_record = _slot_builder(Record)


# ---------------------------------------------------------------- clock


def clock_to_proto(c: ClockEstimate) -> agent_pb2.ClockEstimate:
    return agent_pb2.ClockEstimate(
        offset_ms=c.offset_ms, uncertainty_ms=c.uncertainty_ms, measured_at_ns=c.measured_at_ns
    )


def clock_from_proto(pb: agent_pb2.ClockEstimate) -> ClockEstimate:
    # agent.proto: measured_at_ns 0 = never measured, uncertainty unknown.
    if pb.measured_at_ns == 0:
        return ClockEstimate(offset_ms=pb.offset_ms, uncertainty_ms=math.inf, measured_at_ns=0)
    return ClockEstimate(pb.offset_ms, pb.uncertainty_ms, pb.measured_at_ns)


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
    # Positional: this runs for every uploaded part (the collector's ingest hot path); the
    # order is SmsPart's field order, checked by the round-trip tests.
    return _new_part(
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


def _sms_to_proto(s: ReceivedSms) -> agent_pb2.ReceivedSms:
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


def _sms_from_proto(pb: agent_pb2.ReceivedSms) -> ReceivedSms:
    missing = pb.missing_parts  # mostly empty: skip building an empty tuple from it
    # Positional in ReceivedSms's field order, like _part_from_proto (hot path).
    return _new_sms(
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
        tuple(missing) if missing else (),
        pb.undecodable,
        pb.user_data,
    )


def _status_report_to_proto(r: StatusReport) -> agent_pb2.StatusReport:
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


def _status_report_from_proto(pb: agent_pb2.StatusReport) -> StatusReport:
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


def _health_to_proto(h: ModemHealth) -> agent_pb2.ModemHealth:
    return agent_pb2.ModemHealth(
        at_ns=h.at_ns,
        responding=h.responding,
        rssi_dbm=h.rssi_dbm,
        ber=h.ber,
        # Same numbers as the proto enum (records.Registration); the stubs want their type.
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
    """Raises SerdeError on a registration value this build does not know (proto3 enums
    are open: a newer agent may send one); nothing is guessed."""
    try:
        registration = Registration(pb.registration)
    except ValueError as exc:
        raise SerdeError(str(exc)) from None
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


def _event_to_proto(e: AgentEvent) -> agent_pb2.AgentEvent:
    return agent_pb2.AgentEvent(
        at_ns=e.at_ns, kind=e.kind, detail=e.detail, attributes=dict(e.attributes)
    )


def _event_from_proto(pb: agent_pb2.AgentEvent) -> AgentEvent:
    return AgentEvent(
        at_ns=pb.at_ns, kind=pb.kind, detail=pb.detail, attributes=dict(pb.attributes)
    )


def _canary_to_proto(c: CanarySent) -> agent_pb2.CanarySent:
    return agent_pb2.CanarySent(
        canary_id=c.canary_id,
        sent_at_ns=c.sent_at_ns,
        to_msisdn=c.to_msisdn,
        message_references=c.message_references,
        error=c.error,
        text=c.text,
    )


def _canary_from_proto(pb: agent_pb2.CanarySent) -> CanarySent:
    return CanarySent(
        canary_id=pb.canary_id,
        sent_at_ns=pb.sent_at_ns,
        to_msisdn=pb.to_msisdn,
        message_references=tuple(pb.message_references),
        error=pb.error,
        text=pb.text,
    )


# ---------------------------------------------------------------- records


def record_to_proto(r: Record) -> agent_pb2.Record:
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
        pb.sms.CopyFrom(_sms_to_proto(body))
    elif isinstance(body, StatusReport):
        pb.status_report.CopyFrom(_status_report_to_proto(body))
    elif isinstance(body, ModemHealth):
        pb.health.CopyFrom(_health_to_proto(body))
    elif isinstance(body, AgentEvent):
        pb.event.CopyFrom(_event_to_proto(body))
    else:
        pb.canary.CopyFrom(_canary_to_proto(body))
    return pb


def _body_from_proto(pb: agent_pb2.Record, which: str) -> RecordBody:
    if which == "sms":  # by far the most frequent
        return _sms_from_proto(pb.sms)
    if which == "health":
        return health_from_proto(pb.health)
    if which == "status_report":
        return _status_report_from_proto(pb.status_report)
    if which == "event":
        return _event_from_proto(pb.event)
    if which == "canary":
        return _canary_from_proto(pb.canary)
    raise SerdeError(f"unknown record body {which!r}")


def record_from_proto(
    pb: agent_pb2.Record,
    *,
    raw: bytes = b"",
    clocks: dict[tuple[float, float, int], ClockEstimate] | None = None,
) -> Record:
    """Raises SerdeError when `pb` has no body or a value this build cannot represent.

    `raw` is stored on the record (the collector keeps what it received). `clocks`
    memoises clock estimates across calls: the records of one batch mostly carry the same
    estimate (the one in force when they were persisted), and the frozen value is shared.
    """
    which = pb.WhichOneof("body")
    if which is None:
        raise SerdeError("record has no body")
    try:
        body = _body_from_proto(pb, which)
    except ValueError as exc:
        raise SerdeError(f"{which}: {exc}") from None
    c = pb.clock
    clock: ClockEstimate | None
    if clocks is None:
        clock = clock_from_proto(c)
    else:
        key = (c.offset_ms, c.uncertainty_ms, c.measured_at_ns)
        clock = clocks.get(key)
        if clock is None:
            clock = clocks[key] = clock_from_proto(c)
    # Positional in Record's field order (hot path).
    return _new_record(
        pb.uuid, pb.seq, pb.persisted_at_ns, clock, body, pb.modem_imei, pb.iccid, raw
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
    kind: str  # the Record.body oneof name (records.RecordKind)
    wire: bytes


# WireRecord(seq, persisted_at_ns, kind, wire) without the frozen __init__ (about 1 us a
# record of the uploader's outbox read): equal to it.
new_wire_record = _slot_builder(WireRecord)


def record_to_wire(r: Record) -> WireRecord:
    pb = record_to_proto(r)
    # deterministic: these are the bytes an agent signs (agent.wire.signing)
    wire = pb.SerializeToString(deterministic=True)
    return WireRecord(r.seq, r.persisted_at_ns, str(pb.WhichOneof("body")), wire)


def record_from_wire(w: WireRecord) -> Record:
    return record_from_proto(agent_pb2.Record.FromString(w.wire))


def _varint(n: int) -> bytes:
    out = bytearray()
    while n > 0x7F:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


# Protobuf encoding (protobuf.dev/programming-guides/encoding): a length-delimited field
# is tag, varint length, bytes, and a repeated message field is one such field per
# element. A Batch is therefore its fields 1-2, its records copied as stored (field 3),
# then fields 4-6: field-number order, the bytes `SerializeToString` of the built
# message gives (tests/agent/wire/test_framing.py checks byte equality).
_BATCH_RECORDS_TAG = 0x1A  # Batch.records = 3, wire type 2
_UPLOAD_BATCH_TAG = b"\x0a"  # UploadRequest.batch = 1, wire type 2


def record_frame_head(wire: bytes) -> bytes:
    """Tag and length prefix of `wire` as an element of Batch.records. Computed once per
    record: the uploader sizes its batches with it and joins it into the request."""
    n = len(wire)
    if n < 0x80:
        return bytes((_BATCH_RECORDS_TAG, n))
    if n < 0x4000:  # every record the agent makes: two length bytes
        return bytes((_BATCH_RECORDS_TAG, (n & 0x7F) | 0x80, n >> 7))
    return bytes((_BATCH_RECORDS_TAG,)) + _varint(n)


def record_frame_size(wire: bytes) -> int:
    """Bytes `wire` takes inside a Batch: tag, length prefix, the record."""
    return len(record_frame_head(wire)) + len(wire)


def upload_request_from_frames(
    agent_id: str,
    batch_id: int,
    frames: list[bytes],
    *,
    outbox_depth: int,
    oldest_pending_ns: int,
    backlog: bool = False,
) -> bytes:
    """The serialised UploadRequest of a Batch whose records are `frames`: each record's
    `record_frame_head` followed by its stored bytes, in order (two list items a record)."""
    head = agent_pb2.Batch(agent_id=agent_id, batch_id=batch_id).SerializeToString()
    tail = agent_pb2.Batch(
        # uint32 on the wire; an outbox deeper than that is a disaster anyway.
        outbox_depth=min(outbox_depth, _UINT32_MAX),
        oldest_pending_ns=oldest_pending_ns,
        backlog=backlog,
    ).SerializeToString()
    batch = b"".join((head, *frames, tail)) if frames else head + tail
    return b"".join((_UPLOAD_BATCH_TAG, _varint(len(batch)), batch))


def upload_request_bytes(
    agent_id: str,
    batch_id: int,
    records: list[bytes],
    *,
    outbox_depth: int,
    oldest_pending_ns: int,
    backlog: bool = False,
) -> bytes:
    """The serialised UploadRequest that `batch_to_proto` would build, byte for byte,
    assembled from already-serialised records without decoding them."""
    frames: list[bytes] = []
    for wire in records:
        frames.append(record_frame_head(wire))
        frames.append(wire)
    return upload_request_from_frames(
        agent_id,
        batch_id,
        frames,
        outbox_depth=outbox_depth,
        oldest_pending_ns=oldest_pending_ns,
        backlog=backlog,
    )


def batch_to_proto(
    agent_id: str,
    batch_id: int,
    records: list[agent_pb2.Record],
    *,
    outbox_depth: int,
    oldest_pending_ns: int,
    backlog: bool = False,
) -> agent_pb2.UploadRequest:
    return agent_pb2.UploadRequest(
        batch=agent_pb2.Batch(
            agent_id=agent_id,
            batch_id=batch_id,
            records=records,
            # uint32 on the wire; an outbox deeper than that is a disaster anyway.
            outbox_depth=min(outbox_depth, _UINT32_MAX),
            oldest_pending_ns=oldest_pending_ns,
            backlog=backlog,
        )
    )


# ---------------------------------------------------------------- registration


def _sim_to_proto(s: SimInfo) -> agent_pb2.Sim:
    return agent_pb2.Sim(
        iccid=s.iccid,
        imsi=s.imsi,
        msisdn=s.msisdn,
        operator_mcc_mnc=s.operator_mcc_mnc,
        carrier=s.carrier,
        mvno=s.mvno,
        registered_mcc_mnc=s.registered_mcc_mnc,
    )


def _sim_from_proto(pb: agent_pb2.Sim) -> SimInfo:
    return SimInfo(
        iccid=pb.iccid,
        imsi=pb.imsi,
        msisdn=pb.msisdn,
        operator_mcc_mnc=pb.operator_mcc_mnc,
        carrier=pb.carrier,
        mvno=pb.mvno,
        registered_mcc_mnc=pb.registered_mcc_mnc,
    )


def _modem_to_proto(m: ModemInfo) -> agent_pb2.Modem:
    pb = agent_pb2.Modem(
        imei=m.imei,
        manufacturer=m.manufacturer,
        model=m.model,
        firmware=m.firmware,
        port=m.port,
        profile=m.profile,
    )
    if m.sim is not None:
        pb.sim.CopyFrom(_sim_to_proto(m.sim))
    return pb


def _modem_from_proto(pb: agent_pb2.Modem) -> ModemInfo:
    return ModemInfo(
        imei=pb.imei,
        manufacturer=pb.manufacturer,
        model=pb.model,
        firmware=pb.firmware,
        port=pb.port,
        profile=pb.profile,
        sim=_sim_from_proto(pb.sim) if pb.HasField("sim") else None,
    )


def registration_to_proto(r: AgentRegistration) -> agent_pb2.RegisterRequest:
    return agent_pb2.RegisterRequest(
        agent_id=r.agent_id,
        software_version=r.software_version,
        capabilities=r.capabilities,
        site=r.site,
        region=r.region,
        modems=[_modem_to_proto(m) for m in r.modems],
        agent_time_ns=r.agent_time_ns,
        last_seq=r.last_seq,
    )


def registration_from_proto(pb: agent_pb2.RegisterRequest) -> AgentRegistration:
    """Raises SerdeError when the registration cannot be trusted as a whole."""
    if not pb.agent_id:
        raise SerdeError("agent_id is empty")
    if pb.last_seq > _INT64_MAX:
        raise SerdeError(f"last_seq {pb.last_seq} exceeds int64")
    modems = tuple(_modem_from_proto(m) for m in pb.modems)
    imeis = [m.imei for m in modems]
    if any(not imei for imei in imeis):
        raise SerdeError("a modem has an empty imei")
    if len(set(imeis)) != len(imeis):
        raise SerdeError("the same imei is listed twice")
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


# ---------------------------------------------------------------- pushed config


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
        # 0 stays 0: the uploader's own interval applies (agent/uplink/client.py)
        clock_sync_interval_s=pb.clock_sync_interval_s,
    )
