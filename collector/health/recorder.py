"""Keep the board in the ledger: every unit's state with a heartbeat, and each vendor's
not-measured spans as they open and close. Runs as the supervised `service:health`; a
write that fails keeps its span changes for the next attempt, in order."""

from __future__ import annotations

import asyncio
import contextlib

from collector.health.board import HealthBoard, SpanEvent, UnitStatus
from collector.health.supervise import Unit
from collector.ledger.base import Ledger
from collector.ledger.health import SpanChange, UnitRow


def unit_row(instance: str, u: UnitStatus, heartbeat_ns: int) -> UnitRow:
    return UnitRow(instance, u.name, u.state.value, u.since_ns, heartbeat_ns, u.failures,
                   u.restarts, u.last_error[:500])  # fmt: skip


def span_change(e: SpanEvent) -> SpanChange:
    return SpanChange(e.phase, e.vendor, e.cause, e.at_ns, e.reason)


class HealthRecorder:
    def __init__(
        self, ledger: Ledger, board: HealthBoard, instance: str, *, interval_s: float = 1.0
    ) -> None:
        self._ledger = ledger
        self._board = board
        self._instance = instance
        self._interval_s = interval_s

    async def flush(self) -> None:
        events = self._board.take_events()
        now = self._board.clock()
        rows = [unit_row(self._instance, u, now) for u in self._board.units()]
        try:
            await asyncio.to_thread(
                self._ledger.save_health, self._instance, rows, [span_change(e) for e in events]
            )
        except BaseException:
            self._board.put_back(events)
            raise

    async def run(self, unit: Unit) -> None:
        while True:
            await self.flush()
            unit.running()
            if unit.stop.is_set():
                return
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(unit.stop.wait(), timeout=self._interval_s)
