"""`writer.pipelined`: reads in key order, each encoded, handed over in order; a read that
fails reaches the consumer after the items before it, and nothing is read past it."""

from __future__ import annotations

import asyncio
import threading

import pytest

from collector.timeseries.writer import pipelined


def _run(fail_at: int | None, depth: int) -> tuple[list[tuple[int, str]], list[int], str]:
    read_keys: list[int] = []
    threads: set[str] = set()

    def read(key: int) -> int:
        read_keys.append(key)
        threads.add(threading.current_thread().name)
        if key == fail_at:
            raise OSError(f"disk gone at {key}")
        return key * 10

    async def consume() -> tuple[list[tuple[int, str]], str]:
        got: list[tuple[int, str]] = []
        try:
            async for item, encoded in pipelined(
                1, read, lambda key, _: key + 1 if key < 6 else None, str, depth
            ):
                got.append((item, encoded))
                await asyncio.sleep(0)
        except OSError as exc:
            return got, str(exc)
        return got, ""

    got, error = asyncio.run(consume())
    assert threading.main_thread().name not in threads  # the reads ran off the loop
    return got, read_keys, error


@pytest.mark.parametrize("depth", [1, 2, 3])
def test_every_read_in_order_encoded(depth: int) -> None:
    got, read_keys, error = _run(None, depth)
    assert got == [(k * 10, str(k * 10)) for k in range(1, 7)]
    assert read_keys == [1, 2, 3, 4, 5, 6]
    assert error == ""


@pytest.mark.parametrize("depth", [1, 2, 3])
def test_a_failed_read_reaches_the_consumer_after_the_items_before_it(depth: int) -> None:
    got, read_keys, error = _run(4, depth)
    assert got == [(10, "10"), (20, "20"), (30, "30")]
    assert read_keys == [1, 2, 3, 4]  # nothing read past the failure
    assert error == "disk gone at 4"
