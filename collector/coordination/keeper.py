"""Keep this collector's leases (collector/ledger/leases.py) and run the leased units.

`LeaseKeeper.run` tries every `renew_interval_s` to take or renew each lease in the
ledger. It holds a lease locally only until `lease_ttl_s` after the start of its last
successful renewal (measured on this host's monotonic clock, started before the ledger
read its own clock, so the local view ends before the ledger's); past that, or when a
renewal finds another holder, the lease is lost here. Correctness does not rest on this
local view: every protected write checks its fencing token in the ledger (`fenced`).

`leased(keeper, name, body)` wraps a supervised unit's body: on standby while another
collector holds the lease, run while this one does, stopped (its writes fenced off) the
moment the lease is lost, started afresh on the next tenure.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable, Sequence

import structlog

from collector.coordination.config import CoordinationConfig
from collector.health.supervise import Unit, UnitExitedError
from collector.ledger.base import FencedError, Ledger
from collector.ledger.leases import Fence, Grant, Lease

log = structlog.get_logger("smsprobe.coordination")

TakeoverHook = Callable[[Grant], Awaitable[None]]


class LeaseKeeper:
    def __init__(
        self,
        ledger: Ledger,
        instance: str,
        names: Sequence[str],
        config: CoordinationConfig,
        *,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._ledger = ledger
        self.instance = instance
        self.names = tuple(names)
        self.config = config
        self._monotonic = monotonic
        self._held: dict[str, Lease] = {}
        self._valid_until: dict[str, float] = {}
        self._changed = {name: asyncio.Event() for name in self.names}
        self._first = set(self.names)
        self.on_new_tenure: list[TakeoverHook] = []

    # ------------------------------------------------------------ the local view
    def current(self, name: str) -> Lease | None:
        """The tenure this collector holds now, None when it does not hold `name`."""
        lease = self._held.get(name)
        if lease is None:
            return None
        if self._monotonic() >= self._valid_until.get(name, 0.0):
            self._lose(name, "not renewed in time")
            return None
        return lease

    def fence(self, name: str) -> Callable[[], Fence | None]:
        """For `Ledger.fenced`: the tenure a protected write claims, checked in the ledger."""

        def current_fence() -> Fence | None:
            lease = self.current(name)
            return None if lease is None else lease.fence

        return current_fence

    async def changed(self, name: str) -> None:
        """Wait until this collector gains or loses `name` (every waiter wakes)."""
        await self._changed[name].wait()

    def _signal(self, name: str) -> None:
        event, self._changed[name] = self._changed[name], asyncio.Event()
        event.set()

    # ------------------------------------------------------------ the loop
    async def renew_once(self) -> None:
        for name in self.names:
            started = self._monotonic()
            try:
                grant = await asyncio.to_thread(
                    self._ledger.acquire_lease,
                    name,
                    self.instance,
                    ttl_s=self.config.lease_ttl_s,
                    restart=name in self._first,
                )
            except Exception as exc:  # the ledger unreachable: the local deadline decides
                log.warning("lease_renew_failed", lease=name, error=str(exc))
                self.current(name)
                continue
            self._first.discard(name)
            if not grant.held:
                if name in self._held:
                    self._lose(name, f"taken over by {grant.lease.holder}")
                continue
            old = self._held.get(name)
            if grant.new_tenure or old is None or old.token != grant.lease.token:
                if old is not None:
                    self._lose(name, "a new tenure began")
                log.info("lease_acquired", lease=name, token=grant.lease.token,
                         lapsed_holder=grant.lapsed_holder or None)  # fmt: skip
                for hook in self.on_new_tenure:
                    await hook(grant)
                self._signal(name)
            self._held[name] = grant.lease
            self._valid_until[name] = started + self.config.lease_ttl_s

    async def run(self, stop: asyncio.Event, *, on_pass: Callable[[], None] | None = None) -> None:
        while not stop.is_set():
            await self.renew_once()
            if on_pass is not None:
                on_pass()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.config.renew_interval_s)

    async def release_all(self) -> None:
        """On a clean stop, after the leased units stopped: a successor need not wait."""
        for name, lease in list(self._held.items()):
            self._held.pop(name, None)
            with contextlib.suppress(Exception):
                await asyncio.to_thread(
                    self._ledger.release_lease, name, self.instance, lease.token
                )
                log.info("lease_released", lease=name, token=lease.token)

    def _lose(self, name: str, why: str) -> None:
        lease = self._held.pop(name, None)
        if lease is not None:
            log.warning("lease_lost", lease=name, token=lease.token, why=why)
            self._signal(name)


UnitBody = Callable[[Unit], Awaitable[None]]


def leased(keeper: LeaseKeeper, name: str, body: UnitBody) -> UnitBody:
    """`body` as a unit that runs only while this collector holds lease `name`."""

    async def run(unit: Unit) -> None:
        while not unit.stop.is_set():
            lease = keeper.current(name)
            if lease is None:
                unit.standby()
                waiting = asyncio.ensure_future(keeper.changed(name))
                stopping = asyncio.ensure_future(unit.stop.wait())
                try:
                    await asyncio.wait({waiting, stopping}, return_when=asyncio.FIRST_COMPLETED)
                finally:
                    waiting.cancel()
                    stopping.cancel()
                continue
            await _tenure(keeper, name, lease, body, unit)

    return run


async def _tenure(keeper: LeaseKeeper, name: str, lease: Lease, body: UnitBody, unit: Unit) -> None:
    """Run `body` for one tenure: until the unit stops or the tenure ends."""
    inner_stop = asyncio.Event()
    inner = unit.within(inner_stop)

    def tenure_over() -> bool:
        now = keeper.current(name)
        return now is None or now.token != lease.token

    async def watch() -> None:
        while not unit.stop.is_set() and not tenure_over():
            waiting = asyncio.ensure_future(keeper.changed(name))
            stopping = asyncio.ensure_future(unit.stop.wait())
            try:
                await asyncio.wait(
                    {waiting, stopping},
                    timeout=keeper.config.renew_interval_s,
                    return_when=asyncio.FIRST_COMPLETED,
                )
            finally:
                waiting.cancel()
                stopping.cancel()
        inner_stop.set()

    watcher = asyncio.create_task(watch())
    try:
        await body(inner)
        if not unit.stop.is_set() and not tenure_over():
            raise UnitExitedError(f"{unit.name} stopped on its own")
    except FencedError as exc:
        if not tenure_over():
            raise
        log.info("leased_unit_fenced_off", unit=unit.name, lease=name, error=str(exc))
    except Exception:
        if not tenure_over():
            raise  # a real failure: the supervisor backs off and restarts the unit
        log.info("leased_unit_stopped_on_lease_loss", unit=unit.name, lease=name)
    finally:
        inner_stop.set()
        watcher.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watcher
    if inner.ran:
        unit.ran = True
