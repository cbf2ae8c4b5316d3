"""Ground truth of the vendor simulator: what really happened to every submitted message.

One JSON line per message, written when its fate is settled (delivered to the modem, lost, or
refused at submit), so tests and the demo can check the measurement system against it. The
line says what the network did; DLR fields say what the vendor actually sent, and a fresh
line for the same message follows each receipt sent after that: the last line for a message
is its truth (`read_truth` and `TruthLog.records` keep only that one). A receipt that was
planned but never went out (missing, a report format without that state, the run ended
first) is not in the truth, so nothing is held against the measurement that never happened.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path
from typing import IO, Any

__all__ = [
    "SentReceipt",
    "TruthLog",
    "TruthRecord",
    "channels_path",
    "read_channel_truth",
    "read_truth",
    "vendor_claim",
]

_NOT_FINAL = frozenset({"ACCEPTD", "ENROUTE", "UNKNOWN"})  # never a claim (docs/verdicts.md)


@dataclass(frozen=True, slots=True)
class SentReceipt:
    """One receipt the simulated vendor sent (for every part id of the message)."""

    status: str
    done_at: str  # ISO 8601, the done time the receipt carries
    sent_at: str  # ISO 8601, simulated network time it went out

    @property
    def final(self) -> bool:
        return self.status not in _NOT_FINAL


def vendor_claim(receipts: tuple[SentReceipt, ...]) -> SentReceipt | None:
    """What the vendor claimed: its first final receipt by done time, ties in sending order
    (the rule the judge applies, docs/verdicts.md). The simulator sends contradicting finals
    a minute apart, so minute-precision done dates never tie them."""
    finals = [(r.done_at, i, r) for i, r in enumerate(receipts) if r.final]
    return min(finals)[2] if finals else None


@dataclass(frozen=True, slots=True)
class TruthRecord:
    vendor: str
    vendor_message_id: str | None  # None when refused at submit
    msisdn: str
    fate: str  # delivered | lost | rejected | throttled (refused for rate: code 103/108)
    delivered_at: str | None  # ISO 8601, simulated network time (UTC+8)
    dlr_status: str | None  # the vendor's claim (`vendor_claim`) as sent; None = no final
    dlr_at: str | None  # its done time
    rewritten: bool
    receiver_down: bool
    carrier: str = "unknown"
    modem: str | None = None
    message_ids: tuple[str, ...] = ()
    accepted_at: str | None = None
    dlr_count: int = 0  # final DLRs sent; > 1: duplicates or a contradiction
    fake_dlr: bool = False  # the claim sent is DELIVRD and the message never arrived
    false_failure: bool = False  # the claim sent is a failure and the message did arrive
    late_dlr: bool = False  # the claim's done time is beyond the 72 h window
    text_sent: str = ""
    text_delivered: str | None = None
    sender: str | None = None
    parts: int = 1  # the 70/67 rule on the signed text sent
    billed_parts: int | None = None  # the fee the vendor reported (None: older truth)
    fee_inflated: bool = False  # billed_parts above parts (knob p_fee_inflated)
    parts_delivered: int = 0  # PDUs handed to the modem (< parts: a part was lost)
    intermediate_after_final: bool = False  # an ENROUTE sent after the final DLR
    dlr_before_arrival: bool = False  # a DELIVRD sent before the handset had the message
    reject_reason: str | None = None
    blackhole: bool = False
    contradicting_final: bool = False  # a final sent after the claim disagrees with it
    out_of_order_dlr: bool = False  # receipts sent in another order than their done times
    receipts: tuple[SentReceipt, ...] = ()  # every receipt sent so far, in sending order
    channel: str | None = None  # the vendor's channel that carried it (simulator/channels.py)
    queue_delay_s: float = 0.0  # waited for the vendor's capacity (scenario capacity_tps)

    @property
    def key(self) -> tuple[str, str] | None:
        """Lines with the same key describe one message; the last one holds."""
        return (self.vendor, self.vendor_message_id) if self.vendor_message_id else None

    def to_json(self) -> str:
        data = asdict(self)
        data["message_ids"] = list(self.message_ids)
        data["receipts"] = [asdict(r) for r in self.receipts]
        return json.dumps(data, ensure_ascii=False, sort_keys=True)

    @classmethod
    def from_json(cls, line: str) -> TruthRecord:
        data = json.loads(line)
        data["message_ids"] = tuple(data.get("message_ids", ()))
        data["receipts"] = tuple(SentReceipt(**r) for r in data.get("receipts", ()))
        return cls(**data)


def iso(when: datetime | None) -> str | None:
    return when.isoformat(timespec="milliseconds") if when is not None else None


class _Latest:
    """Records in first-seen order, a later record for the same message replacing it."""

    def __init__(self) -> None:
        self.records: list[TruthRecord] = []
        self._at: dict[tuple[str, str], int] = {}

    def add(self, record: TruthRecord) -> None:
        key = record.key
        if key is not None and key in self._at:
            self.records[self._at[key]] = record
            return
        if key is not None:
            self._at[key] = len(self.records)
        self.records.append(record)


def channels_path(path: Path) -> Path:
    """Where the channel truth of a truth file goes: truth.jsonl -> truth.channels.jsonl."""
    return path.with_name(f"{path.stem}.channels.jsonl")


class TruthLog:
    """Keeps the latest record per message in memory and, given a path, appends every record
    as a flushed JSON line; channel events (failures, switches) go beside it
    (`channels_path`), one JSON object a line."""

    def __init__(self, path: Path | None = None) -> None:
        self._latest = _Latest()
        self._file: IO[str] | None = path.open("a", encoding="utf-8") if path is not None else None
        self._channels_path = channels_path(path) if path is not None else None
        self.channel_events: list[dict[str, object]] = []

    @property
    def records(self) -> tuple[TruthRecord, ...]:
        return tuple(self._latest.records)

    def write(self, record: TruthRecord) -> None:
        self._latest.add(record)
        if self._file is not None:
            self._file.write(record.to_json() + "\n")
            self._file.flush()

    def write_channel_event(self, event: Mapping[str, object]) -> None:
        self.channel_events.append(dict(event))
        if self._channels_path is not None:
            with self._channels_path.open("a", encoding="utf-8") as f:
                f.write(json.dumps(dict(event), ensure_ascii=False, sort_keys=True) + "\n")

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


def read_channel_truth(path: Path) -> list[dict[str, Any]]:
    """The channel events beside a truth file (empty when no vendor has channels)."""
    events = channels_path(path)
    if not events.exists():
        return []
    lines = events.read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines if line.strip()]


def read_truth(path: Path) -> list[TruthRecord]:
    """The latest record per message, in the order messages were first written."""
    latest = _Latest()
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            latest.add(TruthRecord.from_json(line))
    return latest.records
