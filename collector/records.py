"""Collector-side domain types for what agents report: facts, as uploaded.

These mirror `smsprobe.v1` (protos/smsprobe/v1/agent.proto) field for field; the only
place they meet proto types is `collector/api/serde.py`. Times are int64 ns since the
Unix epoch on the agent's clock unless a name says `collector`. The collector never
imports `agent/` (the proto is the only contract), hence the mirror instead of a reuse.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class ClockEstimate:
    """collector_time ≈ agent_time + offset_ms; measured_at_ns == 0 means never measured."""

    offset_ms: float = 0.0
    uncertainty_ms: float = float("inf")
    measured_at_ns: int = 0


@dataclass(frozen=True, slots=True)
class SmsPart:
    uuid: str
    raw_pdu: bytes  # as read from the modem, SMSC address prefix included
    storage: str  # SM | ME | MT | SR
    index: int  # storage index (0 is valid)
    received_at_ns: int
    scts_ns: int = 0  # 0 when undecodable
    scts_tz_minutes: int = 0
    part_seq: int = 1
    decode_error: str = ""


@dataclass(frozen=True, slots=True)
class ReceivedSms:
    parts: tuple[SmsPart, ...]
    smsc: str = ""
    sender: str = ""
    sender_ton: int = 0
    text: str = ""
    encoding: str = ""  # gsm7 | ucs2 | 8bit | "" when undecodable
    message_class: int = -1
    pid: int = 0
    dcs: int = 0
    concat_ref: int = -1
    concat_total: int = 1
    partial: bool = False
    missing_parts: tuple[int, ...] = ()
    undecodable: bool = False
    user_data: bytes = b""


@dataclass(frozen=True, slots=True)
class StatusReport:
    raw_pdu: bytes
    storage: str
    index: int
    received_at_ns: int
    recipient: str = ""
    message_reference: int = -1
    status: int = -1  # TP-ST, TS 23.040 9.2.3.15
    scts_ns: int = 0
    discharge_time_ns: int = 0
    decode_error: str = ""


class Registration(enum.IntEnum):
    """Values equal the proto enum `smsprobe.v1.Registration`."""

    UNKNOWN = 0
    NOT_REGISTERED = 1
    HOME = 2
    SEARCHING = 3
    DENIED = 4
    ROAMING = 5


@dataclass(frozen=True, slots=True)
class ModemHealth:
    at_ns: int
    responding: bool
    rssi_dbm: float = float("nan")
    ber: int = -1
    registration: Registration = Registration.UNKNOWN
    rat: str = ""
    operator_mcc_mnc: str = ""
    sim_state: str = ""
    storage_used: int = 0
    storage_total: int = 0
    healthy: bool = False
    reasons: tuple[str, ...] = ()
    last_sms_at_ns: int = 0
    iccid: str = ""


@dataclass(frozen=True, slots=True)
class AgentEvent:
    at_ns: int
    kind: str  # stable code: modem_connected, modem_lost, modem_reset, ...
    detail: str = ""
    attributes: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class CanarySent:
    canary_id: str
    sent_at_ns: int
    to_msisdn: str
    message_references: tuple[int, ...] = ()
    error: str = ""
    text: str = ""


RecordBody = ReceivedSms | StatusReport | ModemHealth | AgentEvent | CanarySent


class RecordKind(enum.StrEnum):
    """Stored in the ledger's `records.kind`; never renamed."""

    SMS = "sms"
    STATUS_REPORT = "status_report"
    HEALTH = "health"
    EVENT = "event"
    CANARY = "canary"


_KIND_BY_TYPE: dict[type, RecordKind] = {
    ReceivedSms: RecordKind.SMS,
    StatusReport: RecordKind.STATUS_REPORT,
    ModemHealth: RecordKind.HEALTH,
    AgentEvent: RecordKind.EVENT,
    CanarySent: RecordKind.CANARY,
}


def kind_of(body: RecordBody) -> RecordKind:
    return _KIND_BY_TYPE[type(body)]


@dataclass(frozen=True, slots=True)
class IngestRecord:
    """One uploaded `smsprobe.v1.Record`, decoded but not yet judged valid.

    `raw` is the record's serialized proto bytes, kept so that a record found invalid
    later (collector/ingest.py) can be quarantined exactly as it arrived.
    """

    uuid: str
    seq: int  # per-agent, strictly increasing, gap-free on the agent
    persisted_at_ns: int
    clock: ClockEstimate
    body: RecordBody
    modem_imei: str = ""  # empty for agent-level records
    iccid: str = ""
    raw: bytes = b""

    @property
    def kind(self) -> RecordKind:
        return kind_of(self.body)


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


# ---------------------------------------------------------------- identity


@dataclass(frozen=True, slots=True)
class SimInfo:
    iccid: str
    imsi: str = ""
    msisdn: str = ""  # empty when the SIM does not carry it
    operator_mcc_mnc: str = ""
    carrier: str = ""
    mvno: str = ""
    registered_mcc_mnc: str = ""


@dataclass(frozen=True, slots=True)
class ModemInfo:
    imei: str
    manufacturer: str = ""
    model: str = ""
    firmware: str = ""
    port: str = ""
    profile: str = ""
    sim: SimInfo | None = None


@dataclass(frozen=True, slots=True)
class AgentRegistration:
    agent_id: str
    software_version: str = ""
    capabilities: tuple[str, ...] = ()
    site: str = ""
    region: str = ""
    modems: tuple[ModemInfo, ...] = ()
    agent_time_ns: int = 0
    last_seq: int = 0  # highest sequence number the agent has persisted
