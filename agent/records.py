"""What the agent persists in its outbox and uploads: facts, never interpretations.

These mirror `smsprobe.v1.Record` (protos/smsprobe/v1/agent.proto) field for field; the
only place they meet the proto types is `agent/uplink/serde.py`. Times are int64 ns since
the Unix epoch on the agent's clock unless a name says otherwise.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Protocol


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
    status: int = -1
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
    attributes: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class CanarySent:
    canary_id: str
    sent_at_ns: int
    to_msisdn: str
    message_references: tuple[int, ...] = ()
    error: str = ""
    text: str = ""


RecordBody = ReceivedSms | StatusReport | ModemHealth | AgentEvent | CanarySent


@dataclass(frozen=True, slots=True)
class OutboxRecord:
    uuid: str
    seq: int  # per-agent, strictly increasing, gap-free
    persisted_at_ns: int
    clock: ClockEstimate
    body: RecordBody
    modem_imei: str = ""
    iccid: str = ""


class RecordSource(Protocol):
    """The outbox as the uplink sees it."""

    def pending(self, after_seq: int, limit: int) -> list[OutboxRecord]:
        """Records not yet acked with seq > after_seq, in seq order, at most `limit`."""
        ...

    def mark_acked(self, seqs: Iterable[int]) -> None:
        """The collector committed these; they may now be pruned."""
        ...

    def depth(self) -> int:
        """Records not yet acked."""
        ...

    def oldest_pending_ns(self) -> int:
        """persisted_at of the oldest record not yet acked; 0 when none."""
        ...

    def last_seq(self) -> int:
        """Highest sequence number ever given (0 = none)."""
        ...
