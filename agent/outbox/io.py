"""The outbox as the event loop sees it: every call runs on one dedicated writer thread.

A commit fsyncs (synchronous=FULL); on a cheap SD card under load that takes hundreds of
milliseconds. Run on the event-loop thread it stalls every modem's AT conversation at
once, so all outbox work goes through `OutboxIO`: the loop awaits, the disk is slow, the
modems keep being read. One thread keeps the calls in the order they were made (a part is
persisted before its AT+CMGD is sent, because the receiver awaits the persist first).

Storage trouble (ENOSPC, EROFS, EIO, a locked database) is a state here, not a crash:
the first failed call records since when and why (`trouble`), every caller sees the
`OutboxError` and backs off, and the first call that succeeds again ends the state and
records an `outbox_unwritable` AgentEvent covering the whole window (written to the disk
that failed, so only once it works again).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

import structlog

from agent.outbox.reassembly import PartFacts
from agent.outbox.store import (
    ModemRef,
    Outbox,
    OutboxError,
    OutboxPressure,
    PersistedPart,
)
from agent.wire.records import AgentEvent, Record, RecordBody, StatusReport

_log = structlog.get_logger("agent.outbox.store")
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class StorageTrouble:
    since_ns: int
    reason: str  # OutboxError.reason: disk_full | read_only | io_error | locked | other
    error: str


class OutboxIO:
    """Async facade over an `Outbox`; see the module docstring."""

    def __init__(
        self,
        outbox: Outbox,
        *,
        now_ns: Callable[[], int] = time.time_ns,
        on_trouble: Callable[[StorageTrouble | None], None] = lambda _t: None,
        trouble: StorageTrouble | None = None,
    ) -> None:
        self.outbox = outbox
        self.now_ns = now_ns
        self.on_trouble = on_trouble
        # Set when the outbox could only be opened after waiting: recorded at first use.
        self.trouble: StorageTrouble | None = trouble
        # The last window that ended, for receivers to date their unhealthy record from,
        # and how many have ended (a receiver records each window once).
        self.last_trouble: tuple[StorageTrouble, int] | None = None
        self.recoveries = 0
        self._executor = concurrent.futures.ThreadPoolExecutor(1, "outbox-writer")

    async def call(self, fn: Callable[..., T], *args: object) -> T:
        loop = asyncio.get_running_loop()
        # Shielded: a cancelled caller must not leave a half-known commit behind; the
        # thread finishes the transaction either way, we just stop waiting for it.
        future = loop.run_in_executor(self._executor, self._run, fn, args)
        return await asyncio.shield(future)

    def _run(self, fn: Callable[..., T], args: tuple[object, ...]) -> T:
        try:
            result = fn(*args)
        except OutboxError as exc:
            if self.trouble is None:
                self.trouble = StorageTrouble(self.now_ns(), exc.reason, str(exc))
                _log.error("outbox_unwritable", reason=exc.reason, error=str(exc))
                self.on_trouble(self.trouble)
            raise
        if self.trouble is not None:
            self._recovered(self.trouble)  # its own write is the proof the disk works
        return result

    def _recovered(self, trouble: StorageTrouble) -> None:
        now = self.now_ns()
        try:
            self.outbox.append(
                AgentEvent(
                    at_ns=trouble.since_ns,
                    kind="outbox_unwritable",
                    detail=trouble.error,
                    attributes={
                        "reason": trouble.reason,
                        "until_ns": str(now),
                        "for_s": f"{(now - trouble.since_ns) / 1e9:.1f}",
                    },
                )
            )
        except OutboxError:
            return  # still failing after all: stay in trouble
        self.trouble = None
        self.last_trouble = (trouble, now)
        self.recoveries += 1
        _log.warning(
            "outbox_writable_again", reason=trouble.reason, for_s=(now - trouble.since_ns) / 1e9
        )
        self.on_trouble(None)

    def close(self) -> None:
        self._executor.shutdown(wait=True)
        self.outbox.close()

    # --- the calls the receive path makes ---

    async def append(self, body: RecordBody, modem: ModemRef | None = None) -> Record:
        return await self.call(self.outbox.append, body, modem)

    async def persist_part(
        self,
        modem: ModemRef,
        storage: str,
        index: int,
        pdu: bytes,
        facts: PartFacts,
        received_at_ns: int | None = None,
    ) -> PersistedPart:
        return await self.call(
            self.outbox.persist_part, modem, storage, index, pdu, facts, received_at_ns
        )

    async def persist_status_report(
        self, modem: ModemRef, storage: str, index: int, report: StatusReport
    ) -> PersistedPart:
        return await self.call(self.outbox.persist_status_report, modem, storage, index, report)

    async def mark_deleted(self, part_uuid: str) -> None:
        await self.call(self.outbox.mark_deleted, part_uuid)

    async def expire_groups(self) -> list[Record]:
        return await self.call(self.outbox.expire_groups)

    async def pressure(self) -> OutboxPressure:
        return await self.call(self.outbox.pressure)
