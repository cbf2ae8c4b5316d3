"""wait_set: a cancel landing in the loop step that sets the event still cancels.

The Uploader's backoff between collector rounds and its wait for the last acks on stop
both wait for an event with a timeout. On Python 3.11 `asyncio.wait_for` returns the
result when the cancel and the event's set land in the same loop step (bpo-42130): the
cancelled task runs on. These tests set the event and cancel the waiting task in one step.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable, Callable

import pytest

from agent.uplink.client import wait_set


async def _set_and_cancel(wait: Callable[[asyncio.Event], Awaitable[object]]) -> str:
    event = asyncio.Event()
    after: list[str] = []

    async def waiter() -> None:
        await wait(event)
        after.append("ran on")  # what a swallowed cancel lets happen

    task = asyncio.create_task(waiter())
    await asyncio.sleep(0)  # the task is waiting now
    event.set()
    task.cancel()
    try:
        await task
    except asyncio.CancelledError:
        return "cancelled"
    return after[0]


def test_a_cancel_landing_with_the_event_cancels_the_waiter() -> None:
    assert asyncio.run(_set_and_cancel(lambda e: wait_set(e, 60.0))) == "cancelled"


def test_the_same_steps_make_wait_for_run_on_under_3_11() -> None:
    """The reference: the steps above do hit the race wait_for had before 3.12."""
    outcome = asyncio.run(_set_and_cancel(lambda e: asyncio.wait_for(e.wait(), 60.0)))
    assert outcome == ("ran on" if sys.version_info < (3, 12) else "cancelled")


@pytest.mark.parametrize(("set_it", "expected"), [(True, True), (False, False)])
def test_wait_set_says_whether_the_event_was_set(set_it: bool, expected: bool) -> None:
    async def main() -> bool:
        event = asyncio.Event()
        if set_it:
            asyncio.get_running_loop().call_soon(event.set)
        return await wait_set(event, 0.01)

    assert asyncio.run(main()) is expected
