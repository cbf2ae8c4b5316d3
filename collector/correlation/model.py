"""Values the verdict engine works on. Pure data: no I/O, no clocks.

Times are int64 ns since the Unix epoch. `*_at_ns` of submissions and DLRs are on the
collector's clock; arrival parts carry the agent's clock plus the offset estimate that was
in force when the agent persisted them, so the engine can put them on the collector's clock
with an honest uncertainty.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass


class Outcome(enum.Enum):
    DELIVERED = "delivered"
    LATE = "late"  # arrived after the deadline
    LOST = "lost"  # not arrived by give-up while the receiver was healthy
    # Some parts of a long message arrived, the rest not by give-up (receiver healthy):
    # truncated, with the missing part numbers named. Never lost, never a fake DLR.
    PARTIAL = "partial"
    INCONCLUSIVE = "inconclusive"  # receiver unhealthy / not measured: never charged to the vendor
    REJECTED = "rejected"  # refused at submit
    PENDING = "pending"  # not arrived yet, give-up not reached


class DlrTruth(enum.Enum):
    CONSISTENT = "consistent"
    FAKE_SUCCESS = "fake_success"  # DELIVRD for a message that never arrived (伪成功)
    FALSE_FAILURE = "false_failure"  # a failure report for a message that arrived
    MISSING = "missing"  # no final DLR by the time one was due
    LATE = "late"  # consistent, but after the time one was due
    UNVERIFIABLE = (
        "unverifiable"  # receiver unhealthy: the claim can be neither confirmed nor refuted
    )
    PENDING = "pending"
    NOT_APPLICABLE = "not_applicable"  # rejected at submit


class ContentVerdict(enum.Enum):
    INTACT = "intact"
    MODIFIED = "modified"
    TRUNCATED = "truncated"
    SIGNATURE_CHANGED = "signature_changed"
    NONE = "none"  # nothing arrived


class DlrClaim(enum.Enum):
    SUCCESS = "success"
    FAILURE = "failure"
    NONE = "none"


# Normalised DLR states (SMPP receipt vocabulary); everything else is intermediate.
FINAL_SUCCESS = frozenset({"DELIVRD"})
FINAL_FAILURE = frozenset({"UNDELIV", "EXPIRED", "REJECTD", "DELETED"})


@dataclass(frozen=True, slots=True)
class ProbeSpec:
    probe_id: str
    vendor: str
    msisdn: str
    profile: str
    token: str
    expected_text: str
    signature: str
    submitted_at_ns: int
    submit_status: str  # accepted | rejected | ambiguous
    vendor_message_ids: tuple[str, ...] = ()
    parts: int = 1
    carrier: str = ""
    region: str = ""
    agent_id: str = ""
    modem_imei: str = ""


@dataclass(frozen=True, slots=True)
class DlrObservation:
    message_id: str
    status: str  # normalised: DELIVRD, UNDELIV, EXPIRED, REJECTD, ACCEPTD, ENROUTE, UNKNOWN...
    received_at_ns: int  # collector clock
    done_at_ns: int | None = None  # the vendor's done time (its clock), when the receipt has one


@dataclass(frozen=True, slots=True)
class ArrivalPart:
    part_seq: int
    received_at_ns: int  # agent clock
    scts_ns: int  # SMSC clock, 0 when unknown
    clock_offset_ms: float
    clock_uncertainty_ms: float

    def collector_time_ns(self) -> int:
        return self.received_at_ns + round(self.clock_offset_ms * 1e6)


@dataclass(frozen=True, slots=True)
class Arrival:
    record_uuid: str
    text: str
    sender: str
    parts: tuple[ArrivalPart, ...]
    total_parts: int = 1
    missing_parts: tuple[int, ...] = ()
    # Further records merged into this one (parts of one message uploaded apart).
    merged_uuids: tuple[str, ...] = ()

    @property
    def uuids(self) -> tuple[str, ...]:
        return (self.record_uuid, *self.merged_uuids)


@dataclass(frozen=True, slots=True)
class UnhealthySpan:
    start_ns: int
    end_ns: int
    reason: str  # not_registered, agent_disconnected, not_measured, ...

    def overlaps(self, start_ns: int, end_ns: int) -> bool:
        return self.start_ns < end_ns and start_ns < self.end_ns


@dataclass(frozen=True, slots=True)
class Policy:
    deadline_s: float = 60.0  # arrival after this is late
    give_up_s: float = 600.0  # no arrival by then: lost (or inconclusive)
    dlr_due_s: float = 600.0  # a final DLR after this is late; none by then is missing
    dlr_window_s: float = 72 * 3600.0  # DLRs still accepted (and verdicts revised) until then
    read_resolution_s: float = 1.0  # how long an SMS may sit on the SIM before it is read
    scts_resolution_s: float = 1.0  # SCTS has whole seconds (and the SMSC's own clock)


@dataclass(frozen=True, slots=True)
class Verdict:
    probe_id: str
    outcome: Outcome
    dlr: DlrTruth
    dlr_claim: DlrClaim
    content: ContentVerdict
    content_diff: str = ""
    latency_s: float | None = None
    latency_uncertainty_s: float | None = None
    vendor_delay_s: float | None = None
    carrier_delay_s: float | None = None
    sender: str = ""
    duplicates: int = 0
    missing_parts: tuple[int, ...] = ()
    reasons: tuple[str, ...] = ()
    arrival_uuids: tuple[str, ...] = ()
