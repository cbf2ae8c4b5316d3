"""The agent's CanaryScheduler with an injected clock and sleep: who sends what, how a
failure is recorded, and how a pushed job set replaces the running one."""

from __future__ import annotations

import asyncio
import random

from agent.canary import CanaryScheduler, next_delay_s
from agent.wire.records import CanaryJob, CanarySent
from collector.canaries import canary_token as find_token


class RecordingSender:
    """A test double for a modem supervisor: records sends, fails when told to."""

    def __init__(self, imei: str, fail: bool = False) -> None:
        self.imei = imei
        self.fail = fail
        self.sends: list[tuple[str, str, str]] = []
        self.changed = asyncio.Event()

    async def send_sms(
        self, to: str, text: str, canary_id: str = "", status_report: bool = False
    ) -> tuple[int, ...]:
        self.sends.append((to, text, canary_id))
        self.changed.set()
        if self.fail:
            raise RuntimeError("modem not connected")
        return (len(self.sends),)


async def wait_for(pred: object, timeout_s: float = 5.0) -> None:
    assert callable(pred)
    async with asyncio.timeout(timeout_s):
        while not pred():
            await asyncio.sleep(0)


def test_jobs_send_from_the_modem_with_their_imei_and_failures_never_stop_them() -> None:
    delays: list[float] = []

    async def sleep(stop: asyncio.Event, seconds: float) -> None:
        delays.append(seconds)
        await asyncio.sleep(0)

    async def scenario() -> None:
        good = RecordingSender("111")
        broken = RecordingSender("222", fail=True)
        lost: list[tuple[CanarySent, str]] = []
        ticks = iter(range(10**9))
        scheduler = CanaryScheduler(
            lambda: [good, broken],
            unroutable=lambda record, imei: lost.append((record, imei)),
            rng=random.Random(1),
            clock_ns=lambda: next(ticks),
            sleep=sleep,
        )
        stop = asyncio.Event()
        task = asyncio.create_task(scheduler.run(stop))
        scheduler.update(
            [
                CanaryJob("c-good", "111", "+8613800000002", 60.0, "ping {token}"),
                CanaryJob("c-broken", "222", "+8613800000001", 60.0),
                CanaryJob("c-nobody", "999", "+8613800000003", 60.0),
            ]
        )
        await wait_for(lambda: len(good.sends) >= 3 and len(broken.sends) >= 3 and len(lost) >= 2)
        # Fresh token per send, on the job's text.
        texts = [t for _, t, _ in good.sends[:3]]
        assert len({find_token(t) for t in texts}) == 3
        assert all(t.startswith("ping ") and find_token(t) for t in texts)
        assert {(to, cid) for to, _, cid in good.sends} == {("+8613800000002", "c-good")}
        assert broken.sends[0][1].startswith("smsprobe canary ")  # the default text
        record, imei = lost[0]
        assert imei == "999" and record.canary_id == "c-nobody"
        assert record.error == "no modem with IMEI 999" and find_token(record.text)

        # A new push without c-good stops it; the others keep their timers.
        scheduler.update(
            [
                CanaryJob("c-broken", "222", "+8613800000001", 60.0),
                CanaryJob("c-nobody", "999", "+8613800000003", 60.0),
            ]
        )
        await asyncio.sleep(0)
        await wait_for(lambda: len(broken.sends) >= 6)  # let the loops turn
        count = len(good.sends)
        await wait_for(lambda: len(broken.sends) >= 12)
        assert len(good.sends) == count
        assert [j.canary_id for j in scheduler.jobs] == ["c-broken", "c-nobody"]
        stop.set()
        await asyncio.wait_for(task, 5)

    asyncio.run(scenario())
    # Intervals are jittered around 60 s; first sends are spread over the first interval.
    between = [d for d in delays if d >= 54.0]
    assert between and all(54.0 <= d <= 66.0 for d in between)
    assert len({round(d, 3) for d in between}) > 1


def test_delay_never_below_a_second() -> None:
    rng = random.Random(3)
    assert all(next_delay_s(0.2, rng, 0.5) >= 1.0 for _ in range(100))
    assert all(9.0 <= next_delay_s(10.0, rng, 0.1) <= 11.0 for _ in range(100))
