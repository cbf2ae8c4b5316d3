"""Run a simulator fleet on a background thread: for blocking code (pyserial, tests).

    with FleetThread(FleetConfig(modems=(ModemSpec("m1", link=tmp / "m1"),),
                                    control=("127.0.0.1", 0))) as sims:
        port = serial.Serial(str(tmp / "m1"), timeout=1)
        sims.control.deliver("m1", "+8613912345678", "hello")
        sims.call(lambda fleet: fleet.find("m1").simulator.status())

The fleet's event loop owns every ModemSimulator; `call` runs a function on that loop so tests
never touch simulator state from another thread.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from collections.abc import Callable
from typing import TypeVar

from agent.modem.simulator.control import ModemSimulatorControlSync
from agent.modem.simulator.fleet import Fleet, FleetConfig

T = TypeVar("T")


class FleetThread:
    def __init__(self, config: FleetConfig, start_timeout_s: float = 10.0) -> None:
        self.config = config
        self.start_timeout_s = start_timeout_s
        self.fleet = Fleet(config)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="sim-fleet", daemon=True)

    def _run(self) -> None:
        asyncio.run(self._main())

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        try:
            async with self.fleet:
                self._ready.set()
                await self._stop.wait()
        except BaseException as exc:
            self._error = exc
            self._ready.set()

    def __enter__(self) -> FleetThread:
        self._thread.start()
        if not self._ready.wait(self.start_timeout_s):
            raise TimeoutError("simulator fleet did not start")
        if self._error is not None:
            self._thread.join()
            raise RuntimeError("simulator fleet failed to start") from self._error
        return self

    def __exit__(self, *exc: object) -> None:
        if self._loop is not None and self._stop is not None and self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(timeout=10)

    def call(self, fn: Callable[[Fleet], T], timeout_s: float = 10.0) -> T:
        """Run `fn(fleet)` on the fleet's loop and return its result."""
        assert self._loop is not None

        async def run() -> T:
            return fn(self.fleet)

        future: concurrent.futures.Future[T] = asyncio.run_coroutine_threadsafe(run(), self._loop)
        return future.result(timeout_s)

    @property
    def control(self) -> ModemSimulatorControlSync:
        if self.fleet.control_address is None:
            raise RuntimeError("fleet was started without a control address")
        return ModemSimulatorControlSync(*self.fleet.control_address)
