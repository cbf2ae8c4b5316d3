"""What the ledger keeps about vendor channels (migration 0009): each arrived probe's
channel fingerprint, and the probes sent through a route group's backup (failover).

Plain values, no I/O; the SQL is in collector/ledger/sql/channels.py.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class ChannelObservation:
    """How one arrived probe reached its SIM: the channel it took, seen from the handset."""

    probe_id: str
    vendor: str
    carrier: str
    profile: str
    submitted_at_ns: int  # collector clock
    arrived_at_ns: int  # collector clock
    latency_s: float | None
    sender: str  # TP-OA, e.g. 10690202 + extension
    smsc: str  # SMSC address from the PDU ("" when the modem gave none)
    pid: int = 0
    dcs: int = 0
    record_uuid: str = ""


@dataclass(frozen=True, slots=True)
class FailoverSend:
    """A probe sent through a route group's backup while its primary was degraded."""

    probe_id: str
    route_group: str
    primary_vendor: str
    backup_vendor: str
    carrier: str
    profile: str
    at_ns: int
