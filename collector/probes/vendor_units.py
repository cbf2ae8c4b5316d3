"""Each vendor account as its own supervised unit.

The unit starts the vendor (an SMPP bind, an HTTP session), says it runs, and then waits
until the submits say otherwise: `down_after` failures in a row that are the vendor's
state rather than the probe's content (cannot bind, not bound, timeouts, 5xx, throttled
past the runner's retries, refused credentials, a crash) take it down. The supervisor
closes it, waits a jittered back-off and starts it again; meanwhile the runner sends it
nothing (`available` is false), the board holds a not-measured span for it, and every
other vendor goes on probing on its own schedule.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Coroutine
from typing import Any

import structlog

from collector.health.board import HealthBoard, vendor_unit
from collector.health.supervise import Unit
from collector.vendors.base import DlrSink, RejectedError, SmsVendor

log = structlog.get_logger("smsprobe.probes")

DOWN_AFTER = 3  # consecutive failed submits that take a vendor down
DRAIN_S = 3.0  # on stop: how long a vendor waits for submits in flight before closing


class VendorDownError(Exception):
    """Raised by a vendor's unit so its supervisor backs off and restarts it."""


class VendorGates:
    """The runner's `VendorGate` over the health board."""

    def __init__(self, board: HealthBoard, *, down_after: int = DOWN_AFTER) -> None:
        self._board = board
        self._down_after = down_after
        self._streak: dict[str, int] = {}
        self._down: dict[str, asyncio.Event] = {}
        self._why: dict[str, str] = {}
        self.sending_done = asyncio.Event()  # the runner drained its submits (on stop)

    def available(self, vendor: str) -> bool:
        return self._board.running(vendor_unit(vendor))

    def submitted(self, vendor: str, error: Exception | None) -> None:
        if error is None or isinstance(error, RejectedError):
            # Accepted, or refused for this probe's content/number: the vendor answers.
            self._streak[vendor] = 0
            return
        streak = self._streak.get(vendor, 0) + 1
        self._streak[vendor] = streak
        if streak >= self._down_after:
            self._why[vendor] = f"{streak} submits failed in a row, last: {error}"
            self._event(vendor).set()

    def _event(self, vendor: str) -> asyncio.Event:
        return self._down.setdefault(vendor, asyncio.Event())

    async def run_vendor(self, vendor: SmsVendor, sink: DlrSink, unit: Unit) -> None:
        """The body of `vendor:<name>`: start, run until stop or down, always close."""
        name = vendor.name
        self._streak[name] = 0
        down = self._event(name)
        down.clear()
        try:
            if not await _until_stop(vendor.start(sink), unit.stop):
                return  # stopped while binding: a dead peer never holds up a shutdown
            unit.running()
            stop = asyncio.ensure_future(unit.stop.wait())
            fell = asyncio.ensure_future(down.wait())
            try:
                await asyncio.wait({stop, fell}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for f in (stop, fell):
                    f.cancel()
            if down.is_set() and not unit.stop.is_set():
                raise VendorDownError(self._why.get(name, "submits failed"))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.sending_done.wait(), DRAIN_S)
        finally:
            try:
                await vendor.close()
            except Exception as exc:  # closing a broken session must not hide why it broke
                log.warning("vendor_close_failed", vendor=name, error=str(exc))


async def _until_stop(work: Coroutine[Any, Any, None], stop: asyncio.Event) -> bool:
    """Run `work` unless `stop` comes first (then cancel it); True when it completed."""
    task = asyncio.ensure_future(work)
    stopped = asyncio.ensure_future(stop.wait())
    try:
        await asyncio.wait({task, stopped}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        stopped.cancel()
    if task.done():
        task.result()  # raises what the start raised
        return True
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError, Exception):
        await task
    return False
