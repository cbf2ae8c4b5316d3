"""Ground truth of the vendor simulator: what really happened to every submitted message.

One JSON line per message, written when its fate is settled (delivered to the modem, lost, or
refused at submit), so tests and the demo can check the measurement system against it. The
line says what the network did; DLR fields say what the vendor claimed and when.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path
from typing import IO

__all__ = ["TruthLog", "TruthRecord", "read_truth"]


@dataclass(frozen=True, slots=True)
class TruthRecord:
    vendor: str
    vendor_message_id: str | None  # None when refused at submit
    msisdn: str
    fate: str  # delivered | lost | rejected
    delivered_at: str | None  # ISO 8601, simulated network time (UTC+8)
    dlr_status: str | None  # the first DLR the vendor sends; None = no DLR
    dlr_at: str | None
    rewritten: bool
    receiver_down: bool
    carrier: str = "unknown"
    modem: str | None = None
    message_ids: tuple[str, ...] = ()
    accepted_at: str | None = None
    dlr_count: int = 0  # final DLRs sent; > 1: duplicates
    fake_dlr: bool = False  # DELIVRD for a message that never arrived
    false_failure: bool = False  # failure DLR for a message that did arrive
    late_dlr: bool = False
    text_sent: str = ""
    text_delivered: str | None = None
    sender: str | None = None
    parts: int = 1  # as billed: the 70/67 rule on the signed text sent
    parts_delivered: int = 0  # PDUs handed to the modem (< parts: a part was lost)
    intermediate_after_final: bool = False  # an ENROUTE arrives after the final DLR
    dlr_before_arrival: bool = False
    reject_reason: str | None = None
    blackhole: bool = False

    def to_json(self) -> str:
        data = asdict(self)
        data["message_ids"] = list(self.message_ids)
        return json.dumps(data, ensure_ascii=False, sort_keys=True)

    @classmethod
    def from_json(cls, line: str) -> TruthRecord:
        data = json.loads(line)
        data["message_ids"] = tuple(data.get("message_ids", ()))
        return cls(**data)


def iso(when: datetime | None) -> str | None:
    return when.isoformat(timespec="milliseconds") if when is not None else None


class TruthLog:
    """Keeps records in memory and, given a path, appends each as a flushed JSON line."""

    def __init__(self, path: Path | None = None) -> None:
        self._records: list[TruthRecord] = []
        self._file: IO[str] | None = path.open("a", encoding="utf-8") if path is not None else None

    @property
    def records(self) -> tuple[TruthRecord, ...]:
        return tuple(self._records)

    def write(self, record: TruthRecord) -> None:
        self._records.append(record)
        if self._file is not None:
            self._file.write(record.to_json() + "\n")
            self._file.flush()

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


def read_truth(path: Path) -> list[TruthRecord]:
    return [
        TruthRecord.from_json(line)
        for line in path.read_text(encoding="utf-8").splitlines()
        if line.strip()
    ]
