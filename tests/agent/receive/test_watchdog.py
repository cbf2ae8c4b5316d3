"""A receive step stuck below the AT layer is abandoned as a hang, never waited on forever."""

from __future__ import annotations

import asyncio

import pytest
import structlog

from agent.config import ReceiveConfig
from agent.modem.errors import AtTimeoutError
from agent.receive.receiver import Receiver


class QuickWatchdog(Receiver):
    step_deadline_s = 0.2  # type: ignore[assignment]


def bare_receiver() -> Receiver:
    # Only what _guarded touches: the watchdog is the unit under test here.
    r = QuickWatchdog.__new__(QuickWatchdog)
    r.boot_seen = asyncio.Event()
    r.config = ReceiveConfig()
    r._reinit_reason = None
    r._log = structlog.get_logger("test")
    return r


def test_a_step_that_never_returns_is_a_timeout() -> None:
    async def go() -> None:
        r = bare_receiver()
        stuck = asyncio.Event()
        with pytest.raises(AtTimeoutError):
            await r._guarded(stuck.wait())
        assert r._reinit_reason is None

    asyncio.run(go())


def test_a_reboot_abandons_the_step_and_asks_for_reinitialisation() -> None:
    async def go() -> None:
        r = bare_receiver()
        asyncio.get_running_loop().call_later(0.05, r.boot_seen.set)
        await r._guarded(asyncio.Event().wait())  # no exception: the modem rebooted
        assert r._reinit_reason == "boot during a command"

    asyncio.run(go())


def test_a_quick_step_returns_its_errors() -> None:
    async def fails() -> None:
        raise ValueError("boom")

    async def go() -> None:
        with pytest.raises(ValueError, match="boom"):
            await bare_receiver()._guarded(fails())

    asyncio.run(go())


def test_production_deadline_is_far_above_any_command() -> None:
    assert Receiver.step_deadline_s.fget is not None  # type: ignore[attr-defined]
    r = Receiver.__new__(Receiver)
    r.config = ReceiveConfig(command_timeout_s=5)
    assert r.step_deadline_s == 120
    r.config = ReceiveConfig(command_timeout_s=0.3)
    assert r.step_deadline_s == 60
