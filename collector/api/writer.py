"""The collector's one ingest writer: every Upload stream's commits go through it, live
batches ahead of backlog.

Order (`CommitQueue`, pure): batches an agent sent live (`Batch.backlog` unset, which is
also every batch of an agent older than the field) first, in arrival order; backlog
batches round-robin over agents, so one agent's storm does not hold up another's
backlog; and after `live_burst` live commits in a row while backlog waits, one backlog
commit, so a steady live load slows a backlog drain but never stops it. Without it the
order was whichever worker thread won the ledger's lock: after an outage a live SMS
waited behind every agent's queued backlog.

One thread (`IngestWriter`) hands a commit's batches as uploaded to the ledger, which
decodes them (`Ledger.ingest_wire`); the ledger serialises its calls anyway. Commits of the
same kind waiting right behind each other share one transaction (one fsync for many
agents, which is what a fleet of agents sending small batches needs); when that shared
transaction fails, each commit is retried alone so only the failing one fails. Decoding
there, not on the event loop: Python running in another thread while SQLite's executemany
steps row by row makes both slower (the GIL is handed over per row: 20,000 records took
1.16 s decoded beside the inserts against 0.81 s one after the other, docs/scale-out.md).

An agent's registration goes through the same queue as a live job of its own
(`IngestWriter.call`, written alone): after a collector restart the agent's live records
wait for it, so it must not wait for the ledger's lock behind backlog transactions.

A commit is resolved only when the ledger returned (committed), so the servicer still acks
after durability; a stream that went away before its commit started is skipped (the agent
resends it; ingest is idempotent by uuid).
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
from collections import OrderedDict, deque
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from smsprobe.v1 import agent_pb2

from collector.ledger.base import Ledger, LedgerError
from collector.ledger.model import BatchOutcome

T = TypeVar("T")


_GEN0_THRESHOLD = 10_000  # CPython's default is 700
_gc_settled = False


def settle_gc() -> None:
    """Once per process, before serving: what is alive now (modules, grpc, the schema)
    is moved out of the collector's way (`gc.freeze`), and the youngest generation is
    collected every 10,000 allocations instead of 700. Decoding a batch allocates a few
    objects per record that live until its commit; with the defaults the collector
    traversed them, and the long-lived heap, again and again: the writer's decode took
    8.9-13 µs a record against 7.6-8.1 µs with this (20,000 bench records, CPU time, five
    rounds each). Nothing on the ingest path forms reference cycles, so garbage is freed
    by reference counting either way; only the collector's own rhythm changes."""
    global _gc_settled
    if _gc_settled:
        return
    _gc_settled = True
    gc.collect()
    gc.freeze()
    _, gen1, gen2 = gc.get_threshold()
    gc.set_threshold(_GEN0_THRESHOLD, gen1, gen2)


class CommitQueue(Generic[T]):
    """Pending commits in the order they should be written (see the module docstring)."""

    def __init__(self, live_burst: int = 8) -> None:
        if live_burst < 1:
            raise ValueError("live_burst must be at least 1")
        self._live_burst = live_burst
        self._live: deque[T] = deque()
        self._backlog: OrderedDict[str, deque[T]] = OrderedDict()  # agent -> its commits
        self._live_run = 0  # live commits popped in a row while backlog waited
        self.live_taken = 0  # live jobs handed to the writer so far (waiting ones aside)

    def __len__(self) -> int:
        return len(self._live) + sum(len(q) for q in self._backlog.values())

    @property
    def live_waiting(self) -> int:
        return len(self._live)

    @property
    def backlog_waiting(self) -> int:
        return sum(len(q) for q in self._backlog.values())

    @property
    def backlog_agents(self) -> frozenset[str]:
        """Agents with a backlog commit waiting."""
        return frozenset(self._backlog)

    def push(self, item: T, *, agent_id: str, live: bool) -> None:
        if live:
            self._live.append(item)
        else:
            self._backlog.setdefault(agent_id, deque()).append(item)

    def pop(self) -> tuple[T, bool] | None:
        """The next commit to write and whether it is live; None when none waits."""
        if self._live and (not self._backlog or self._live_run < self._live_burst):
            self._live_run = self._live_run + 1 if self._backlog else 0
            self.live_taken += 1
            return self._live.popleft(), True
        self._live_run = 0
        item = self.pop_backlog()
        return None if item is None else (item, False)

    def pop_live(self) -> T | None:
        """The next live commit, to share a transaction with the one just popped."""
        if not self._live:
            return None
        self.live_taken += 1
        return self._live.popleft()

    def peek_live(self) -> T | None:
        """The next live commit, left in the queue."""
        return self._live[0] if self._live else None

    def pop_backlog(self) -> T | None:
        """The next backlog commit (round-robin over agents)."""
        if not self._backlog:
            return None
        agent_id, commits = self._backlog.popitem(last=False)
        item = commits.popleft()
        if commits:  # this agent's next commit goes behind every other agent's
            self._backlog[agent_id] = commits
        return item


@dataclass(slots=True)
class _Commit:
    agent_id: str
    batches: Sequence[agent_pb2.Batch]
    at_ns: int
    done: asyncio.Future[list[BatchOutcome]] = field(repr=False)


@dataclass(slots=True)
class _Call:
    """A ledger write other than a batch (`IngestWriter.call`): written alone."""

    fn: Callable[[], object]
    done: asyncio.Future[object] = field(repr=False)


_Job = _Commit | _Call


class IngestWriter:
    """Commits the Upload streams' batches one at a time, live first (module docstring)."""

    def __init__(
        self,
        ledger: Ledger,
        *,
        live_burst: int = 8,
        merge_commits: int = 64,
        merge_records: int = 2000,  # bounds what a live commit may wait for
    ) -> None:
        self._ledger = ledger
        self._merge_commits = merge_commits
        self._merge_records = merge_records
        self._queue: CommitQueue[_Job] = CommitQueue(live_burst)
        self._wake = asyncio.Event()
        self._executor: ThreadPoolExecutor | None = None
        self._task: asyncio.Task[None] | None = None
        self.committed = 0  # commits written

    @property
    def queue(self) -> CommitQueue[_Job]:
        return self._queue

    async def call(self, agent_id: str, fn: Callable[[], T]) -> T:
        """Run the ledger write `fn` on the writer's thread at live priority: ahead of
        every backlog commit waiting, so it waits for the transaction under way at most
        (an agent's Register: its live records wait for it). Raises what `fn` raises."""
        done: asyncio.Future[object] = self._start().create_future()
        self._queue.push(_Call(fn, done), agent_id=agent_id, live=True)
        self._wake.set()
        return await done  # type: ignore[return-value]  # fn's own result

    async def commit(
        self,
        agent_id: str,
        batches: Sequence[agent_pb2.Batch],
        *,
        at_ns: int,
        live: bool,
    ) -> list[BatchOutcome]:
        """Decode and ingest `batches` of one agent in one transaction, after every commit
        that goes before it; returns when committed, raises the ledger's errors."""
        done: asyncio.Future[list[BatchOutcome]] = self._start().create_future()
        self._queue.push(_Commit(agent_id, batches, at_ns, done), agent_id=agent_id, live=live)
        self._wake.set()
        return await done

    def _start(self) -> asyncio.AbstractEventLoop:
        loop = asyncio.get_running_loop()
        if self._task is None:
            self._executor = ThreadPoolExecutor(1, thread_name_prefix="ingest-writer")
            self._task = loop.create_task(self._run(), name="ingest-writer")
        return loop

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self._executor is not None:
            self._executor.shutdown(wait=True)
            self._executor = None

    def _take(self) -> list[_Commit] | _Call | None:
        """The next commit and those of its kind (live or backlog) right behind it, up to
        the merge limits: they share one transaction (one fsync); or the next call, alone.
        Commits whose stream ended while they waited are dropped (never acked: the agent
        resends them)."""
        first = self._queue.pop()
        if first is None:
            return None
        job, live = first
        if isinstance(job, _Call):
            return job
        taken = [job] if not job.done.done() else []
        records = sum(len(b.records) for b in job.batches)
        more = self._queue.pop_live if live else self._queue.pop_backlog
        while len(taken) < self._merge_commits and records < self._merge_records:
            if live and isinstance(self._queue.peek_live(), _Call):
                break  # a call is written alone, in its turn
            nxt = more()
            if not isinstance(nxt, _Commit):  # None; a backlog call is never queued
                break
            if not nxt.done.done():
                taken.append(nxt)
                records += sum(len(b.records) for b in nxt.batches)
        return taken

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            jobs = self._take()
            if isinstance(jobs, _Call):
                await self._run_call(loop, jobs)
                continue
            if not jobs:
                if not len(self._queue):
                    self._wake.clear()
                    await self._wake.wait()
                continue
            try:
                results = await loop.run_in_executor(self._executor, self._ingest, jobs)
            except Exception as exc:  # not the ledger's (those come per commit): all fail
                for job in jobs:
                    if not job.done.done():
                        job.done.set_exception(exc)
                continue
            self.committed += len(jobs)
            for job, result in zip(jobs, results, strict=True):
                if job.done.done():
                    continue
                if isinstance(result, Exception):
                    job.done.set_exception(result)
                else:
                    job.done.set_result(result)

    async def _run_call(self, loop: asyncio.AbstractEventLoop, job: _Call) -> None:
        if job.done.done():  # its caller went away
            return
        try:
            result = await loop.run_in_executor(self._executor, job.fn)
        except Exception as exc:
            if not job.done.done():
                job.done.set_exception(exc)
            return
        self.committed += 1
        if not job.done.done():
            job.done.set_result(result)

    def _ingest(self, jobs: list[_Commit]) -> list[list[BatchOutcome] | Exception]:
        """The batches as uploaded go to the ledger (`Ledger.ingest_wire` decodes them: the
        common SMS record straight into its rows)."""
        commits = [(job.agent_id, job.batches) for job in jobs]
        if len(jobs) == 1:
            return [self._ledger.ingest_wire(commits, at_ns=jobs[0].at_ns)[0]]
        at_ns = max(job.at_ns for job in jobs)
        try:
            return list(self._ledger.ingest_wire(commits, at_ns=at_ns))
        except LedgerError:
            # One commit spoiled the shared transaction (an unregistered agent, a busy
            # database): each alone, so only the failing one fails.
            out: list[list[BatchOutcome] | Exception] = []
            for job, commit in zip(jobs, commits, strict=True):
                try:
                    out.append(self._ledger.ingest_wire([commit], at_ns=job.at_ns)[0])
                except LedgerError as exc:
                    out.append(exc)
            return out
