"""The ledger seam: one Protocol, its result types and its error tree.

The ledger is the single source of truth (DESIGN.md): every method is one transaction,
committed and durable when it returns, so the gRPC edge may ack a batch right after
`ingest_batch` returns. Methods are synchronous; the asyncio server calls them through
`asyncio.to_thread`. Implementations: `SqliteLedger`, `PostgresLedger`; pick one with
`open_ledger(url)`.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from collector.records import (
    AgentRegistration,
    ClockEstimate,
    IngestRecord,
    ModemHealth,
    Quarantined,
    ReceivedSms,
    Registration,
    SimInfo,
    StatusReport,
)

# ---------------------------------------------------------------- errors


class LedgerError(Exception):
    """Root of every error the ledger raises."""


class LedgerUnavailableError(LedgerError):
    """Transient: the database could not be reached or was busy; retry the call."""


class UnknownAgentError(LedgerError):
    """The agent never registered; it must call Register before uploading."""

    def __init__(self, agent_id: str) -> None:
        super().__init__(f"agent {agent_id!r} is not registered")
        self.agent_id = agent_id


class MigrationError(LedgerError):
    """The schema is newer than this code, or a migration failed."""


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
    """

    agent_id: str
    first_seq: int
    last_seq: int
    start_ns: int
    end_ns: int
    detected_at_ns: int  # collector clock
    epoch: int = 0  # bumped when the agent's sequence restarts (AGENT_SEQ_RESET)

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

    @property
    def received_at_ns(self) -> int:
        """Agent clock: when the first part was read off the modem."""
        return min(p.received_at_ns for p in self.sms.parts)

    @property
    def scts_ns(self) -> int:
        return next((p.scts_ns for p in self.sms.parts if p.scts_ns), 0)


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


# ---------------------------------------------------------------- the seam


class Ledger(Protocol):
    """Durable store of everything agents report. Each call is one committed transaction."""

    def migrate(self) -> None:
        """Bring the schema up to date; idempotent, safe with concurrent collectors."""
        ...

    def close(self) -> None: ...

    def register_agent(self, reg: AgentRegistration, *, at_ns: int) -> RegistrationOutcome:
        """Upsert the agent, its modems and SIMs; record what changed as events."""
        ...

    def ingest_batch(
        self,
        agent_id: str,
        records: Sequence[IngestRecord],
        quarantined: Sequence[Quarantined],
        *,
        at_ns: int,
    ) -> BatchOutcome:
        """Idempotent by record uuid; validates (collector/ingest.py), stores, tracks seqs.

        Raises UnknownAgentError when the agent never registered.
        """
        ...

    def ingest_batches(
        self,
        agent_id: str,
        batches: Sequence[tuple[Sequence[IngestRecord], Sequence[Quarantined]]],
        *,
        at_ns: int,
    ) -> list[BatchOutcome]:
        """Group commit: several batches of one agent in one transaction, outcomes in order."""
        ...

    def set_connected(
        self, agent_id: str, connected: bool, *, at_ns: int, peer: str = "", via: str = ""
    ) -> None:
        """Liveness (agent_connected / agent_disconnected events). `via` names the
        collector instance holding the stream; a disconnect clears the flag only when that
        instance set it. An agent that never registered gets a bare row (still refused by
        ingest_batch); never raises UnknownAgentError."""
        ...

    def remember_agent_key(self, agent_id: str, cert_pem: bytes, *, at_ns: int) -> str:
        """Keep the certificate an agent connected with (its records are signed with its
        key); returns the key id (`Record.signer`). Idempotent."""
        ...

    def agent_keys(self, signers: Sequence[str] | None = None) -> dict[str, tuple[str, bytes]]:
        """key id -> (agent_id, certificate PEM), for the given ids or all."""
        ...

    def record_raw(self, uuids: Sequence[str]) -> dict[str, bytes]:
        """The records as received (serialised smsprobe.v1.Record, signature included)."""
        ...

    def release_connections(self, via: str, *, at_ns: int) -> list[str]:
        """Clear the connected flags instance `via` left behind (it died without closing
        its streams); returns the agents, each with an agent_disconnected event."""
        ...

    def touch_agent(
        self,
        agent_id: str,
        *,
        at_ns: int,
        outbox_depth: int,
        oldest_pending_ns: int,
        clock_offset_ms: float,
        clock_uncertainty_ms: float,
    ) -> None:
        """The agent's own view (outbox, clock) and last_seen; like set_connected, it
        never raises UnknownAgentError. clock_uncertainty_ms inf = never measured."""
        ...

    def agents(self) -> list[AgentStatus]: ...

    def gaps(self, agent_id: str | None = None) -> list[GapSpan]: ...

    def events(self, agent_id: str | None = None, since_ns: int = 0) -> list[LedgerEvent]: ...

    def received_sms(
        self, *, since_ns: int = 0, until_ns: int | None = None, agent_id: str | None = None
    ) -> list[StoredSms]:
        """SMS whose first part was received in [since_ns, until_ns) (agent clock)."""
        ...

    def status_reports(
        self, *, since_ns: int = 0, until_ns: int | None = None, agent_id: str | None = None
    ) -> list[StoredStatusReport]: ...

    def modem_health(self, imei: str, since_ns: int, until_ns: int) -> list[StoredHealth]:
        """Health readings of one modem with since_ns <= at_ns < until_ns, oldest first."""
        ...

    def quarantine(self, agent_id: str | None = None) -> list[QuarantineEntry]: ...

    def record_count(self) -> int:
        """Records ingested (all kinds), quarantine excluded."""
        ...
