"""AT transcript of a simulated modem: every byte in and out, timestamped, for debugging
after the fact."""

from __future__ import annotations

from collections import deque
from datetime import datetime
from pathlib import Path
from typing import TextIO


class Transcript:
    """Keeps the last `keep` entries in memory and optionally appends to a file.

    Line format: `<ISO time> <modem> <direction> <repr of bytes>`; direction `<` is what
    the TE sent, `>` what the modem answered.
    """

    def __init__(self, path: Path | None = None, keep: int = 2000) -> None:
        self.entries: deque[tuple[datetime, str, str, bytes]] = deque(maxlen=keep)
        self._file: TextIO | None = None
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._file = path.open("a", encoding="utf-8")

    def record(self, when: datetime, modem: str, direction: str, data: bytes) -> None:
        self.entries.append((when, modem, direction, data))
        if self._file is not None:
            stamp = when.isoformat(timespec="milliseconds")
            self._file.write(f"{stamp} {modem} {direction} {data!r}\n")
            self._file.flush()

    def text(self) -> str:
        return "".join(
            f"{w.isoformat(timespec='milliseconds')} {m} {d} {b!r}\n" for w, m, d, b in self.entries
        )

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
