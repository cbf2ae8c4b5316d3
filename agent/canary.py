"""Canaries: SIM-to-SIM messages on the schedule the collector pushes (AgentConfig.canaries).

One task per CanaryJob sends "<text with {token}>" from the modem whose IMEI is
`from_imei` to `to_msisdn`, at jittered intervals so canaries of many agents never line up.
The supervisor records each send as a CanarySent record (message references, or the
error); the collector looks for the token on the target SIM and judges the receiver
(collector/canaries.py). A failed send is recorded and logged, never raised: a canary must
not take the agent down. Tokens are 14 lowercase letters (no digit runs, no 11-character
alphanumeric words), so they never look like a probe's code or order number.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import inspect
import random
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Protocol

import structlog

from agent.wire.records import CanaryJob, CanarySent

if TYPE_CHECKING:
    from agent.receive.supervisor import ModemSupervisor

_log = structlog.get_logger("agent.canary")

DEFAULT_TEXT = "smsprobe canary {token}"
TOKEN_LENGTH = 14
_LETTERS = "abcdefghijklmnopqrstuvwxyz"


class CanarySender(Protocol):
    """What a canary needs of a modem (agent/receive/supervisor.py ModemSupervisor)."""

    @property
    def imei(self) -> str: ...

    async def send_sms(
        self, to: str, text: str, canary_id: str = "", status_report: bool = False
    ) -> tuple[int, ...]: ...


def canary_token(canary_id: str, at_ns: int) -> str:
    """Fresh per send, derived from the job and the time: 26^14 values, letters only."""
    value = int.from_bytes(hashlib.sha256(f"{canary_id}/{at_ns}".encode()).digest()[:16], "big")
    out = []
    for _ in range(TOKEN_LENGTH):
        value, digit = divmod(value, 26)
        out.append(_LETTERS[digit])
    return "".join(out)


def canary_text(template: str, token: str) -> str:
    """The job's text with {token} filled in; a template without one gets it appended."""
    template = template or DEFAULT_TEXT
    if "{token}" not in template:
        template += " {token}"
    return template.replace("{token}", token)


def next_delay_s(interval_s: float, rng: random.Random, jitter: float) -> float:
    """interval ± jitter (a fraction), never below one second."""
    return max(1.0, interval_s * rng.uniform(1.0 - jitter, 1.0 + jitter))


async def _sleep_or_stop(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)


class CanaryScheduler:
    """Runs the pushed canary jobs until `stop`; `update` (the uplink's on_config callback)
    swaps the job set: unchanged jobs keep their timers, removed ones are cancelled."""

    def __init__(
        self,
        senders: Callable[[], Iterable[CanarySender]],
        *,
        unroutable: Callable[[CanarySent, str], object] | None = None,
        rng: random.Random | None = None,
        clock_ns: Callable[[], int] = time.time_ns,
        jitter: float = 0.1,
        sleep: Callable[[asyncio.Event, float], Awaitable[None]] = _sleep_or_stop,
    ) -> None:
        self._senders = senders
        self._unroutable = unroutable
        self._rng = rng or random.Random()
        self._clock_ns = clock_ns
        self._jitter = jitter
        self._sleep = sleep
        self._jobs: dict[str, CanaryJob] = {}
        self._changed = asyncio.Event()
        self.sent = 0  # sends attempted (for tests and logs)

    @property
    def jobs(self) -> tuple[CanaryJob, ...]:
        return tuple(self._jobs.values())

    def update(self, jobs: Sequence[CanaryJob]) -> None:
        fresh = {j.canary_id: j for j in jobs if j.interval_s > 0 and j.to_msisdn}
        if fresh != self._jobs:
            self._jobs = fresh
            self._changed.set()
            _log.info("canary_jobs_updated", jobs=len(fresh))

    async def send_once(self, job: CanaryJob) -> None:
        """One canary now. Errors are recorded (CanarySent.error) and logged, never raised."""
        at_ns = self._clock_ns()
        text = canary_text(job.text, canary_token(job.canary_id, at_ns))
        self.sent += 1
        sender = next((s for s in self._senders() if s.imei == job.from_imei), None)
        if sender is None:
            error = f"no modem with IMEI {job.from_imei}"
            _log.warning("canary_unroutable", canary_id=job.canary_id, imei=job.from_imei)
            if self._unroutable is not None:
                record = CanarySent(job.canary_id, at_ns, job.to_msisdn, (), error, text)
                result = self._unroutable(record, job.from_imei)
                if inspect.isawaitable(result):
                    await result
            return
        try:
            refs = await sender.send_sms(job.to_msisdn, text, canary_id=job.canary_id)
        except Exception as exc:  # recorded by the supervisor already; a canary never crashes us
            _log.warning("canary_send_failed", canary_id=job.canary_id, error=str(exc))
            return
        if refs:
            _log.info("canary_sent", canary_id=job.canary_id, refs=list(refs))
        else:  # the supervisor recorded the error in CanarySent.error
            _log.warning("canary_send_failed", canary_id=job.canary_id)

    async def _run_job(self, job: CanaryJob, stop: asyncio.Event) -> None:
        # The first send lands anywhere in the first interval: agents restarted together
        # must not send their canaries in one burst.
        await self._sleep(stop, self._rng.uniform(0.0, min(job.interval_s, 60.0)))
        while not stop.is_set():
            await self.send_once(job)
            await self._sleep(stop, next_delay_s(job.interval_s, self._rng, self._jitter))

    async def run(self, stop: asyncio.Event) -> None:
        running: dict[str, tuple[CanaryJob, asyncio.Task[None]]] = {}
        try:
            while not stop.is_set():
                self._changed.clear()
                for cid, (job, task) in list(running.items()):
                    if self._jobs.get(cid) != job or task.done():
                        task.cancel()
                        del running[cid]
                for cid, job in self._jobs.items():
                    if cid not in running:
                        running[cid] = (
                            job,
                            asyncio.create_task(self._run_job(job, stop), name=f"canary {cid}"),
                        )
                waits = [
                    asyncio.create_task(stop.wait()),
                    asyncio.create_task(self._changed.wait()),
                ]
                await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
                for w in waits:
                    w.cancel()
        finally:
            tasks = [t for _, t in running.values()]
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)


class SupervisorSender:
    """A ModemSupervisor as a CanarySender: its IMEI is the one the modem reported (or the
    configured one until it has)."""

    def __init__(self, supervisor: ModemSupervisor) -> None:
        self._supervisor = supervisor

    @property
    def imei(self) -> str:
        return self._supervisor.identity.imei or self._supervisor.modem.imei

    async def send_sms(
        self, to: str, text: str, canary_id: str = "", status_report: bool = False
    ) -> tuple[int, ...]:
        return await self._supervisor.send_sms(
            to, text, canary_id=canary_id, status_report=status_report
        )
