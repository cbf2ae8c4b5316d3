"""Helpers shared by the SMPP tests: run a coroutine with a deadline, poll a condition."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


def run(coro: Coroutine[Any, Any, T], timeout_s: float = 60.0) -> T:
    async def bounded() -> T:
        async with asyncio.timeout(timeout_s):
            return await coro

    try:
        return asyncio.run(bounded())
    finally:
        # A leaked socket then warns in the test that leaked it, not in a later one.
        gc.collect()


async def eventually(
    predicate: Callable[[], bool] | Callable[[], Awaitable[bool]],
    timeout_s: float = 15.0,
    what: str = "condition",
) -> None:
    """Poll with a deadline for state that has no event to await (e.g. a peer's counter)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while True:
        result = predicate()
        if not isinstance(result, bool):
            result = await result
        if result:
            return
        if loop.time() > deadline:
            raise AssertionError(f"{what} not reached within {timeout_s}s")
        await asyncio.sleep(0.01)
