"""Small builders of domain values for ledger and ingest tests."""

from __future__ import annotations

import uuid as uuidlib
from dataclasses import replace

from agent.wire.records import (
    AgentEvent,
    AgentRegistration,
    CanarySent,
    ClockEstimate,
    ModemHealth,
    ModemInfo,
    ReceivedSms,
    Record,
    RecordBody,
    Registration,
    SimInfo,
    SmsPart,
    StatusReport,
)

NS = 1_000_000_000
T0 = 1_767_225_600 * NS  # 2026-01-01T00:00:00Z
NOW = T0 + 3600 * NS  # the collector's "now" in tests
CLOCK = ClockEstimate(offset_ms=12.5, uncertainty_ms=3.25, measured_at_ns=T0 - NS)

# SMS-DELIVER-shaped bytes; the ledger stores PDUs opaquely, never decodes them.
PDU_HELLO = bytes.fromhex("0891683108100005F0040591806800F6000062101201000000" + "05E8329BFD06")


def new_uuid() -> str:
    return str(uuidlib.uuid4())


def modem(imei: str, iccid: str = "", msisdn: str = "") -> ModemInfo:
    sim = (
        SimInfo(iccid=iccid, imsi="460001234567890", msisdn=msisdn, carrier="china_mobile")
        if iccid
        else None
    )
    return ModemInfo(imei=imei, manufacturer="Quectel", model="EC25", port="/dev/x", sim=sim)


def registration(
    agent_id: str = "agent-1", *modems: ModemInfo, last_seq: int = 0
) -> AgentRegistration:
    return AgentRegistration(
        agent_id=agent_id,
        software_version="0.1.0",
        capabilities=("sms-receive", "status-report"),
        site="bj-1",
        region="north",
        modems=modems or (modem("860000000000001", "8986000000000000001", "+8613800000001"),),
        agent_time_ns=T0,
        last_seq=last_seq,
    )


def sms(at_ns: int, text: str = "hello", parts: int = 1) -> ReceivedSms:
    return ReceivedSms(
        parts=tuple(
            SmsPart(
                uuid=new_uuid(),
                raw_pdu=PDU_HELLO,
                storage="SM",
                index=i,
                received_at_ns=at_ns + i,
                scts_ns=at_ns - 2 * NS,
                scts_tz_minutes=480,
                part_seq=i + 1,
            )
            for i in range(parts)
        ),
        smsc="+8613800100500",
        sender="10086",
        text=text,
        encoding="gsm7",
        concat_ref=-1 if parts == 1 else 7,
        concat_total=parts,
    )


def health(at_ns: int, healthy: bool = True, rssi: float = -71.0) -> ModemHealth:
    return ModemHealth(
        at_ns=at_ns,
        responding=True,
        rssi_dbm=rssi,
        ber=0,
        registration=Registration.HOME if healthy else Registration.SEARCHING,
        rat="lte",
        operator_mcc_mnc="46000",
        sim_state="READY",
        storage_used=3,
        storage_total=50,
        healthy=healthy,
        reasons=() if healthy else ("not_registered",),
        iccid="8986000000000000001",
    )


def status_report(at_ns: int) -> StatusReport:
    return StatusReport(
        raw_pdu=bytes.fromhex("0006D60B911326880736F4111011719551401110117195714000"),
        storage="SR",
        index=2,
        received_at_ns=at_ns,
        recipient="+31628870634",
        message_reference=214,
        status=0,
        scts_ns=at_ns - NS,
        discharge_time_ns=at_ns - NS // 2,
    )


def event(at_ns: int, kind: str = "modem_reset") -> AgentEvent:
    return AgentEvent(at_ns=at_ns, kind=kind, detail="AT+CFUN=1,1", attributes={"port": "x"})


def canary(at_ns: int) -> CanarySent:
    return CanarySent(
        canary_id="c1", sent_at_ns=at_ns, to_msisdn="+8613800000002", message_references=(5, 6)
    )


def record(
    seq: int,
    body: RecordBody | None = None,
    *,
    imei: str = "860000000000001",
    at_ns: int | None = None,
    uuid: str | None = None,
) -> Record:
    from agent.wire.serde import record_to_proto

    t = T0 + seq * NS if at_ns is None else at_ns
    rec = Record(
        uuid=new_uuid() if uuid is None else uuid,
        seq=seq,
        persisted_at_ns=t,
        clock=CLOCK,
        body=sms(t) if body is None else body,
        modem_imei=imei,
        iccid="8986000000000000001" if imei else "",
    )
    # The bytes as an (unsigned) agent would send them.
    return replace(rec, raw=record_to_proto(rec).SerializeToString(deterministic=True))
