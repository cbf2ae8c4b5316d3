"""Ground truth: what the simulated network did with every SMS part, kept so tests and the
demo check the agent's measurement against what really happened."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any


@dataclass
class TruthRecord:
    truth_id: int
    message_id: int
    part_no: int
    parts_total: int
    pdu_hex: str
    routed: str  # "stored" | "cmt" | "cds" | "discarded"
    memory: str | None
    index: int | None
    delivered_at: datetime
    urc_sent: bool
    attempts: int
    duplicate_of: int | None = None
    read_at: datetime | None = None
    deleted_at: datetime | None = None
    acked_at: datetime | None = None

    def to_json(self) -> dict[str, Any]:
        def iso(t: datetime | None) -> str | None:
            return None if t is None else t.isoformat()

        return {
            "truth_id": self.truth_id,
            "message_id": self.message_id,
            "part_no": self.part_no,
            "parts_total": self.parts_total,
            "pdu": self.pdu_hex,
            "routed": self.routed,
            "memory": self.memory,
            "index": self.index,
            "delivered_at": iso(self.delivered_at),
            "read_at": iso(self.read_at),
            "deleted_at": iso(self.deleted_at),
            "acked_at": iso(self.acked_at),
            "urc_sent": self.urc_sent,
            "attempts": self.attempts,
            "duplicate_of": self.duplicate_of,
        }
