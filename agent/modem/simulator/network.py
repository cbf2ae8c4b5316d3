"""The network side of one simulated modem: an SMSC queue that delivers and retries.

Models docs/modems.md "Full storage": when the receive storage is full the ME rejects the
SMS-DELIVER (RP cause 22, memory capacity exceeded), the SMSC keeps the message and
retries on its own schedule; when space is freed the ME sends RP-SMMA and the SMSC
retries at once (optional: in practice retries may wait for the schedule). Pure: time is
passed in, nothing sleeps.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from agent.modem.simulator.pdu import DeliverPart


@dataclass(frozen=True)
class RetrySchedule:
    """SMSC retry delays after a failed delivery attempt; the last one repeats."""

    delays_s: tuple[float, ...] = (5.0, 15.0, 60.0, 300.0, 900.0)
    # While the subscriber is unreachable (not registered, SIM missing, booting) the SMSC
    # waits for the attach; re-check this often.
    unreachable_poll_s: float = 1.0
    smma_retry: bool = True  # RP-SMMA after freeing storage triggers an immediate retry

    def delay(self, attempt: int) -> float:
        return self.delays_s[min(attempt, len(self.delays_s)) - 1]


@dataclass
class PendingDelivery:
    part: DeliverPart
    message_id: int  # one logical message; its parts share it
    part_no: int
    parts_total: int
    queued_at: float
    next_attempt: float
    attempts: int = 0
    waiting_for_memory: bool = False
    waiting_for_attach: bool = False
    is_report: bool = False


class SmscSimulator:
    def __init__(self, retry: RetrySchedule) -> None:
        self.retry = retry
        self._queue: deque[PendingDelivery] = deque()
        self.rejected_memory_full = 0  # RP-ERROR cause 22 count, ground truth

    def __len__(self) -> int:
        return len(self._queue)

    def enqueue(self, item: PendingDelivery) -> None:
        self._queue.append(item)

    def take_due(self, now: float) -> list[PendingDelivery]:
        """Remove and return the items whose attempt time has come, in queue order."""
        due = [item for item in self._queue if item.next_attempt <= now]
        for item in due:
            self._queue.remove(item)
        return due

    def rejected_full(self, item: PendingDelivery, now: float) -> None:
        item.waiting_for_memory = True
        item.next_attempt = now + self.retry.delay(max(item.attempts, 1))
        self.rejected_memory_full += 1
        self._queue.append(item)

    def unreachable(self, item: PendingDelivery, now: float) -> None:
        item.waiting_for_attach = True
        item.next_attempt = now + self.retry.unreachable_poll_s
        self._queue.append(item)

    def subscriber_present(self, now: float) -> None:
        """The MS attached again: the HLR alerts the SC (TS 23.040 §3.2.5), retry now."""
        for item in self._queue:
            if item.waiting_for_attach:
                item.waiting_for_attach = False
                item.next_attempt = min(item.next_attempt, now)

    def memory_available(self, now: float) -> None:
        """RP-SMMA (TS 24.011 §7.3.2): the ME has room again."""
        if not self.retry.smma_retry:
            return
        for item in self._queue:
            if item.waiting_for_memory:
                item.next_attempt = min(item.next_attempt, now)

    def next_deadline(self) -> float | None:
        return min((item.next_attempt for item in self._queue), default=None)

    def pending(self) -> list[PendingDelivery]:
        return list(self._queue)
