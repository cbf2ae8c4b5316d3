"""Liveness writes — an Upload stream's connect and disconnect, the agent's throttled
touch (outbox, clock) — in their own lane, off every record's path.

When a fleet reconnects after an outage, a thousand streams open at once while the ingest
writer (collector/api/writer.py) runs long backlog transactions. A stream that awaited its
`set_connected` call before reading its first batch waited for the ledger behind those
transactions (and behind the other agents' liveness calls in the default thread pool): its
live records were seconds late although the writer would have taken them first. So the
servicer only queues these writes here and reads on: one task writes them on a thread of
its own, in the order they were made (so an agent's connect is written before its
disconnect), each in its own short transaction. A touch still waiting when a newer one of
the same agent arrives is dropped for it (only the latest state is news; the newer one
goes to the end of the queue, so an agent's writes stay in time order).

Nothing here is acked to the agent, so nothing waits for it except `flush` (tests, close).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import structlog

from collector.ledger.base import Ledger, LedgerUnavailableError, UnknownAgentError

log = structlog.get_logger("collector.api")


@dataclass(frozen=True, slots=True)
class Touch:
    """The agent's own view as its latest batch told it (Ledger.touch_agent)."""

    outbox_depth: int
    oldest_pending_ns: int
    clock_offset_ms: float
    clock_uncertainty_ms: float


@dataclass(slots=True)
class _Write:
    agent_id: str
    call: Callable[[], None] | None  # None: superseded by a newer touch
    touch: bool


class LivenessLane:
    """Queues liveness writes and writes them in order on its own thread (module docstring)."""

    def __init__(self, ledger: Ledger) -> None:
        self._ledger = ledger
        self._queue: deque[_Write] = deque()
        self._touches: dict[str, _Write] = {}  # agent -> its touch still in the queue
        self._wake = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self._executor: ThreadPoolExecutor | None = None
        self._task: asyncio.Task[None] | None = None
        self.written = 0  # writes done (failed ones included)

    def connected(self, agent_id: str, opened: bool, *, at_ns: int, peer: str, via: str) -> None:
        def call() -> None:
            self._ledger.set_connected(agent_id, opened, at_ns=at_ns, peer=peer, via=via)

        self._push(_Write(agent_id, call, touch=False))

    def touch(self, agent_id: str, view: Touch, *, at_ns: int) -> None:
        def call() -> None:
            self._ledger.touch_agent(
                agent_id,
                at_ns=at_ns,
                outbox_depth=view.outbox_depth,
                oldest_pending_ns=view.oldest_pending_ns,
                clock_offset_ms=view.clock_offset_ms,
                clock_uncertainty_ms=view.clock_uncertainty_ms,
            )

        waiting = self._touches.get(agent_id)
        if waiting is not None:  # not written yet: the newer state supersedes it
            waiting.call = None
        write = _Write(agent_id, call, touch=True)
        self._touches[agent_id] = write
        self._push(write)

    @property
    def waiting(self) -> int:
        """Writes queued and not superseded."""
        return sum(w.call is not None for w in self._queue)

    async def flush(self) -> None:
        """Return when every write queued before this call was made."""
        while self._queue or not self._idle.is_set():
            await self._idle.wait()
            await asyncio.sleep(0)

    async def close(self) -> None:
        """Write what is queued, then stop."""
        if self._task is not None:
            await self.flush()
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self._executor is not None:
            self._executor.shutdown(wait=True)
            self._executor = None

    def _push(self, write: _Write) -> None:
        if self._task is None:
            self._executor = ThreadPoolExecutor(1, thread_name_prefix="liveness")
            self._task = asyncio.get_running_loop().create_task(self._run(), name="liveness")
        self._queue.append(write)
        self._idle.clear()
        self._wake.set()

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            if not self._queue:
                self._idle.set()
                self._wake.clear()
                await self._wake.wait()
                continue
            writes = list(self._queue)
            self._queue.clear()
            for w in writes:
                if w.touch and self._touches.get(w.agent_id) is w:
                    del self._touches[w.agent_id]
            # One hand-off for all of them; each is still its own transaction.
            await loop.run_in_executor(self._executor, _write_all, writes)
            self.written += sum(w.call is not None for w in writes)


def _write_all(writes: list[_Write]) -> None:
    for w in writes:
        if w.call is None:
            continue
        try:
            w.call()
        except (LedgerUnavailableError, UnknownAgentError) as exc:
            log.warning("agent_liveness_not_recorded", agent_id=w.agent_id, error=str(exc))
        except Exception:  # a liveness write must never end the lane
            log.exception("agent_liveness_failed", agent_id=w.agent_id)
