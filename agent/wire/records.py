"""Every fact an agent uploads, defined once for both ends: the agent persists these in its
outbox and uploads them; the collector ingests the same values. Facts, never
interpretations.

They mirror `smsprobe.v1` (protos/smsprobe/v1/agent.proto) field for field; the only place
they meet the proto types is `agent/wire/serde.py`. Times are int64 ns since the Unix epoch
on the agent's clock unless a name says otherwise.
"""

from __future__ import annotations

import enum
import re
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
    status: int = -1  # TP-ST, TS 23.040 §9.2.3.15
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
    kind: str  # stable code: modem_connected, modem_lost, modem_reset, outbox_alarm, ...
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
    """The `Record.body` oneof name; stored in the ledger's `records.kind`: never renamed."""

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
class Record:
    """One `smsprobe.v1.Record`: what the agent's outbox holds and the collector ingests.

    `raw` is the record's serialised proto as the collector received it, kept so that a
    record found invalid later (collector/ingest.py) can be quarantined exactly as it
    arrived; empty on the agent, which keeps its own bytes (serde.WireRecord).
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


# ---------------------------------------------------------------- identity (Register)

# An agent id as it travels: in RegisterRequest.agent_id and every Batch, and as the CN
# and SAN URI of the agent's client certificate (collector/certs.py).
AGENT_ID_RE = re.compile(r"(?!.*\.\.)[A-Za-z0-9][A-Za-z0-9._-]{0,62}")
AGENT_ID_FORM = '1-63 characters of A-Z a-z 0-9 . _ -, starting with a letter or digit, no ".."'


@dataclass(frozen=True, slots=True)
class SimInfo:
    iccid: str
    imsi: str = ""
    msisdn: str = ""  # empty when the SIM does not carry it
    operator_mcc_mnc: str = ""  # home network from the IMSI, e.g. "46000"
    carrier: str = ""  # china_mobile | china_unicom | china_telecom | china_broadnet | other
    mvno: str = ""
    registered_mcc_mnc: str = ""  # network currently registered on (AT+COPS)


@dataclass(frozen=True, slots=True)
class ModemInfo:
    imei: str
    manufacturer: str = ""
    model: str = ""
    firmware: str = ""
    port: str = ""  # e.g. /dev/serial/by-id/...
    profile: str = ""  # firmware-config profile name
    sim: SimInfo | None = None  # None when no SIM is inserted or readable


@dataclass(frozen=True, slots=True)
class AgentRegistration:
    """`smsprobe.v1.RegisterRequest`: who the agent is, its modems, where its outbox is."""

    agent_id: str
    software_version: str = ""
    capabilities: tuple[str, ...] = ()
    site: str = ""
    region: str = ""
    modems: tuple[ModemInfo, ...] = ()
    agent_time_ns: int = 0
    last_seq: int = 0  # highest sequence number the agent has persisted


# ---------------------------------------------------------------- pushed config (WatchConfig)


@dataclass(frozen=True, slots=True)
class ExpectedModem:
    imei: str
    iccid: str = ""
    msisdn: str = ""


@dataclass(frozen=True, slots=True)
class CanaryJob:
    canary_id: str
    from_imei: str
    to_msisdn: str
    interval_s: float
    text: str = ""  # may contain {token}


@dataclass(frozen=True, slots=True)
class RemoteConfig:
    """`smsprobe.v1.AgentConfig`: what the collector pushes; version 0 = never received."""

    version: int = 0
    health_interval_s: float = 30.0
    expected_modems: tuple[ExpectedModem, ...] = ()
    canaries: tuple[CanaryJob, ...] = ()
    clock_sync_interval_s: float = 0.0  # 0: the collector set none (UploadSettings' applies)
