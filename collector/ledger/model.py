"""What the ledger stores about agents and returns: events, sequence gaps, ingest outcomes,
agent and modem status, and the stored records (SMS, status reports, health, quarantine).

Plain values, no I/O; the SQL that reads and writes them is in collector/ledger/sql/.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import NamedTuple

from agent.wire.records import (
    ClockEstimate,
    ModemHealth,
    ReceivedSms,
    Registration,
    SimInfo,
    StatusReport,
)

# ---------------------------------------------------------------- events


class LedgerEventKind(enum.StrEnum):
    """Events the collector records itself (source "collector"). Stable codes."""

    AGENT_REGISTERED = "agent_registered"
    AGENT_CONNECTED = "agent_connected"
    AGENT_DISCONNECTED = "agent_disconnected"
    AGENT_SEQ_RESET = "agent_seq_reset"  # agent's last_seq went backwards: outbox lost
    MODEM_APPEARED = "modem_appeared"
    MODEM_DISAPPEARED = "modem_disappeared"
    SIM_SWAPPED = "sim_swapped"  # same IMEI, new ICCID
    SIM_INSERTED = "sim_inserted"
    SIM_REMOVED = "sim_removed"
    SEQ_GAP_DETECTED = "seq_gap_detected"


class EventSource(enum.StrEnum):
    COLLECTOR = "collector"  # at_ns on the collector clock
    AGENT = "agent"  # an uploaded AgentEvent record; at_ns on the agent clock


@dataclass(frozen=True, slots=True)
class LedgerEvent:
    agent_id: str
    at_ns: int
    kind: str  # a LedgerEventKind value, or the agent's own code when source is AGENT
    source: EventSource = EventSource.COLLECTOR
    modem_imei: str = ""
    detail: str = ""
    attributes: Mapping[str, str] = field(default_factory=dict)
    record_uuid: str = ""  # for AGENT events: the record it came from


# ---------------------------------------------------------------- outcomes


@dataclass(frozen=True, slots=True)
class GapSpan:
    """Seqs first_seq..last_seq (inclusive) of an agent never arrived: a not-measured span.

    start_ns/end_ns are the persisted_at (agent clock) of the records either side of the
    gap; start_ns == 0 when no record precedes it, and either is 0 when that neighbour
    was quarantined with an implausible time stamp (unknown bound). A gap shrinks or
    disappears when late records fill it (out-of-order batches), so `Ledger.gaps()` lists
    only open gaps.

    `queued`: the agent announced these seqs at its latest registration and may still hold
    them in its outbox's backlog (a live batch was committed ahead of them): not reported
    as missing (no seq_gap_detected) until the agent says they are no longer pending.
    """

    agent_id: str
    first_seq: int
    last_seq: int
    start_ns: int
    end_ns: int
    detected_at_ns: int  # collector clock
    epoch: int = 0  # bumped when the agent's sequence restarts (AGENT_SEQ_RESET)
    queued: bool = False

    @property
    def missing(self) -> int:
        return self.last_seq - self.first_seq + 1


@dataclass(frozen=True, slots=True)
class RegistrationOutcome:
    committed_seq: int
    events: tuple[LedgerEvent, ...]


@dataclass(frozen=True, slots=True)
class RecordRejection:
    uuid: str
    seq: int
    reason: str  # "<QuarantineReason>: <detail>"


@dataclass(frozen=True, slots=True)
class BatchOutcome:
    ingested: int  # new records committed
    duplicates: int  # already in the ledger (replays), not stored again
    quarantined: int  # stored raw in quarantine (still acked)
    rejections: tuple[RecordRejection, ...]
    committed_seq: int  # highest contiguous committed seq of this agent
    new_gaps: tuple[GapSpan, ...] = ()  # gaps this batch opened


# ---------------------------------------------------------------- views


@dataclass(frozen=True, slots=True)
class HealthSummary:
    at_ns: int
    healthy: bool
    rssi_dbm: float
    registration: Registration
    reasons: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class ModemStatus:
    imei: str
    manufacturer: str
    model: str
    firmware: str
    port: str
    profile: str
    present: bool  # in the agent's latest registration
    sim: SimInfo | None
    last_health: HealthSummary | None


@dataclass(frozen=True, slots=True)
class AgentStatus:
    agent_id: str
    site: str
    region: str
    software_version: str
    capabilities: tuple[str, ...]
    connected: bool
    peer: str
    registered_at_ns: int  # collector clock, latest registration
    last_seen_ns: int  # collector clock; 0 = never
    clock_offset_ms: float
    clock_uncertainty_ms: float
    outbox_depth: int
    oldest_pending_ns: int  # agent clock; 0 = none pending
    committed_seq: int
    modems: tuple[ModemStatus, ...]

    def outbox_lag_ns(self, now_ns: int) -> int:
        """How far behind the agent's upload is (0 when nothing is pending)."""
        return max(0, now_ns - self.oldest_pending_ns) if self.oldest_pending_ns else 0

    def up(self, now_ns: int, offline_after_s: float) -> bool:
        """Connected and heard from within `offline_after_s` ([agents] offline_after_s): a
        stream can stay open (keepalives) while nothing comes through it."""
        return self.connected and now_ns - self.last_seen_ns <= offline_after_s * 1e9


@dataclass(frozen=True, slots=True)
class AgentSample:
    """The agent's row as it was at one change (migration 0014), for the `agent` series;
    `prev_*` is the same agent's sample before it (0/False: none), to see a silence."""

    sample_id: int
    agent_id: str
    site: str  # as registered at that moment (a series tag: the same live and rebuilt)
    at_ns: int  # collector clock
    connected: bool
    outbox_depth: int
    oldest_pending_ns: int  # agent clock
    clock_offset_ms: float
    clock_uncertainty_ms: float  # inf: never measured
    prev_at_ns: int = 0
    prev_connected: bool = False
    prev_site: str = ""


@dataclass(frozen=True, slots=True)
class StoredSms:
    agent_id: str
    uuid: str
    seq: int
    persisted_at_ns: int
    clock: ClockEstimate
    modem_imei: str
    iccid: str
    msisdn: str  # of the SIM with that ICCID when the record was ingested ("" unknown)
    sms: ReceivedSms
    ingested_at_ns: int  # collector clock
    # Retention (migration 0008): what was masked or purged ("text:mask,raw:purge"), when,
    # and the SHA-256 of the signed record whose bytes went.
    minimised: str = ""
    minimised_at_ns: int = 0
    raw_sha256: str = ""

    @property
    def received_at_ns(self) -> int:
        """Agent clock: when the first part was read off the modem."""
        return min(p.received_at_ns for p in self.sms.parts)

    @property
    def scts_ns(self) -> int:
        return next((p.scts_ns for p in self.sms.parts if p.scts_ns), 0)


class ReceivedTextRow(NamedTuple):
    """An SMS as canary judging reads it: no parts, no bytes (Ledger.received_texts)."""

    uuid: str
    msisdn: str
    text: str
    received_at_ns: int  # collector clock: the first part's agent time + the clock offset


class SmsRow(NamedTuple):
    """An SMS as the evidence export quotes it (Ledger.sms_rows): the columns it shows, as
    stored (missing parts comma-separated, undecodable 0/1), with the signed record's bytes
    (None: purged or never sent). A plain tuple: a vendor-month is 800,000 of them."""

    record_id: int
    uuid: str
    agent_id: str
    modem_imei: str
    iccid: str
    msisdn: str
    smsc: str
    sender: str
    text: str
    encoding: str
    dcs: int
    concat_ref: int
    concat_total: int
    missing_parts: str
    undecodable: int
    clock_offset_ms: float
    clock_uncertainty_ms: float | None  # None: unknown (infinite)
    clock_measured_at_ns: int
    ingested_at_ns: int
    minimised: str
    minimised_at_ns: int
    raw_sha256: str
    raw: bytes | None


class SmsPartRow(NamedTuple):
    """A part of an SmsRow's SMS (Ledger.sms_rows), in the order the SMS holds them."""

    record_id: int
    uuid: str
    part_seq: int
    raw_pdu: bytes
    scts_ns: int
    scts_tz_minutes: int
    received_at_ns: int  # agent clock
    storage: str
    storage_index: int
    decode_error: str


@dataclass(frozen=True, slots=True)
class StoredStatusReport:
    agent_id: str
    uuid: str
    seq: int
    persisted_at_ns: int
    clock: ClockEstimate
    modem_imei: str
    iccid: str
    report: StatusReport
    ingested_at_ns: int


@dataclass(frozen=True, slots=True)
class StoredHealth:
    agent_id: str
    uuid: str
    modem_imei: str
    clock: ClockEstimate
    health: ModemHealth


@dataclass(frozen=True, slots=True)
class QuarantineEntry:
    agent_id: str
    uuid: str
    seq: int
    reason: str  # QuarantineReason value
    detail: str
    raw: bytes
    received_at_ns: int  # collector clock
