"""One supervisor for every unit of the running collector (each vendor, each service).

A unit is an async function that runs until `stop`; it calls `unit.running()` once it
works (bound, listening, first pass done). If it raises (or returns early) it is restarted
after a jittered exponential back-off (agent.common.backoff, the one back-off of the
repository), and its state is on the `HealthBoard` all along. A unit whose policy is
`fatal` gives up after `max_failures` failures within `window_s`: the supervisor sets
`gave_up` and the process exits non-zero, so systemd restarts it, instead of a collector
that ingests while nothing is judged. Vendors are never fatal: one vendor down for a day
must not stop the others.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import structlog

from agent.common.backoff import ExponentialBackoff
from agent.common.tomlconfig import Table
from collector.health.board import HealthBoard, UnitState

log = structlog.get_logger("smsprobe.supervise")


@dataclass(frozen=True, slots=True)
class RestartPolicy:
    fatal: bool = True
    max_failures: int = 5  # within window_s: then the process exits (fatal units only)
    window_s: float = 300.0
    backoff_base_s: float = 1.0
    backoff_max_s: float = 60.0


@dataclass(frozen=True, slots=True)
class Supervision:
    """[probes.supervision]: how units are restarted.

    max_failures = 5      # a service failing this often within window_s ends the process
    window_s = 300
    backoff_base_s = 1    # jittered, doubling up to backoff_max_s
    backoff_max_s = 60
    vendor_down_after = 3 # submits failing in a row that take a vendor down for a back-off
    """

    max_failures: int = 5
    window_s: float = 300.0
    backoff_base_s: float = 1.0
    backoff_max_s: float = 60.0
    vendor_down_after: int = 3

    def service(self, *, fatal: bool = True) -> RestartPolicy:
        return RestartPolicy(fatal, self.max_failures, self.window_s, self.backoff_base_s,
                             self.backoff_max_s)  # fmt: skip

    def vendor(self) -> RestartPolicy:
        return self.service(fatal=False)


def parse_supervision(t: Table | None) -> Supervision:
    d = Supervision()
    if t is None:
        return d
    base = t.get_float("backoff_base_s", d.backoff_base_s, min_value=0.01)
    out = Supervision(
        max_failures=t.get_int("max_failures", d.max_failures, min_value=1),
        window_s=t.get_float("window_s", d.window_s, min_value=1.0),
        backoff_base_s=base,
        backoff_max_s=t.get_float("backoff_max_s", max(d.backoff_max_s, base), min_value=base),
        vendor_down_after=t.get_int("vendor_down_after", d.vendor_down_after, min_value=1),
    )
    t.finish()
    return out


class UnitExitedError(Exception):
    """A unit returned although the collector is not stopping."""


class Unit:
    """What a running unit sees of its supervisor."""

    def __init__(self, board: HealthBoard, name: str, stop: asyncio.Event) -> None:
        self.name = name
        self.stop = stop
        self._board = board
        self.ran = False

    def running(self) -> None:
        """The unit works (again): its back-off and failure count start over."""
        self.ran = True
        if not self._board.running(self.name):
            self._board.set_state(self.name, UnitState.RUNNING)
            log.info("unit_running", unit=self.name)

    def standby(self) -> None:
        """The unit waits while another collector holds its lease (collector/coordination):
        not a failure, and this instance owes no not-measured span for it."""
        self.ran = True
        if self._board.get(self.name) is None or not self._board.is_state(
            self.name, UnitState.STANDBY
        ):
            self._board.set_state(self.name, UnitState.STANDBY)
            log.info("unit_standby", unit=self.name)

    def within(self, stop: asyncio.Event) -> Unit:
        """The same unit seen by a body that must stop on `stop` (e.g. a lease lost)."""
        return Unit(self._board, self.name, stop)


UnitBody = Callable[[Unit], Awaitable[None]]


class Supervisor:
    def __init__(
        self,
        board: HealthBoard,
        stop: asyncio.Event,
        *,
        rng: random.Random | None = None,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.board = board
        self._stop = stop
        self._rng = rng or random.Random()
        self._monotonic = monotonic
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self.gave_up = asyncio.Event()
        self.reason = ""

    def spawn(self, name: str, body: UnitBody, policy: RestartPolicy | None = None) -> None:
        if name in self._tasks:
            raise ValueError(f"unit {name} is already supervised")
        self.board.set_state(name, UnitState.STARTING)
        self._tasks[name] = asyncio.create_task(
            self._supervise(name, body, policy or RestartPolicy()), name=name
        )

    async def _supervise(self, name: str, body: UnitBody, policy: RestartPolicy) -> None:
        backoff = ExponentialBackoff(
            base_s=policy.backoff_base_s,
            max_s=policy.backoff_max_s,
            min_s=policy.backoff_base_s / 2,
            rng=self._rng,
        )
        failures: deque[float] = deque()
        while not self._stop.is_set():
            unit = Unit(self.board, name, self._stop)
            try:
                await body(unit)
                if self._stop.is_set():
                    break
                raise UnitExitedError(f"{name} stopped on its own")
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                error = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
            if self._stop.is_set():
                break
            if unit.ran:
                backoff.reset()
            now = self._monotonic()
            failures.append(now)
            while failures and failures[0] < now - policy.window_s:
                failures.popleft()
            if policy.fatal and len(failures) >= policy.max_failures:
                self.board.set_state(name, UnitState.FAILED, error=error)
                self.reason = (
                    f"{name} failed {len(failures)} times within {policy.window_s:g}s; "
                    f"last: {error}"
                )
                log.error("unit_gave_up", unit=name, failures=len(failures), error=error)
                self.gave_up.set()
                return
            delay = backoff.next_delay()
            self.board.set_state(name, UnitState.BACKOFF, error=error)
            log.warning("unit_failed", unit=name, error=error, retry_in_s=round(delay, 2),
                        failures=len(failures))  # fmt: skip
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), timeout=delay)
            if not self._stop.is_set():
                self.board.set_state(name, UnitState.STARTING)
        self.board.set_state(name, UnitState.STOPPED)

    async def join(self, timeout_s: float = 30.0) -> None:
        """After `stop` is set: wait for every unit to finish its shutdown (bounded)."""
        tasks = list(self._tasks.values())
        if not tasks:
            return
        done, pending = await asyncio.wait(tasks, timeout=timeout_s)
        for task in pending:
            log.error("unit_stop_timeout", unit=task.get_name())
            task.cancel()
        for task in pending:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        for task in done:
            if not task.cancelled() and task.exception() is not None:
                log.error("unit_crashed", unit=task.get_name(), error=repr(task.exception()))
