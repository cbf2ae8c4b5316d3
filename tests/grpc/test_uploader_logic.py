"""Uploader decisions that need no network: batch composition during a backlog, the
committed_seq skip, error classification. The outbox here is a Fake (in memory)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable

import grpc
import grpc.aio

from agent.uplink.client import (
    Transience,
    Uploader,
    UploadSettings,
    _Cursors,
    classify,
)
from agent.uplink.model import AgentIdentity
from agent.wire.records import AgentEvent, ClockEstimate, Record


class FakeRecordSource:
    """In-memory RecordSource (a test double: the real one is agent/outbox/store.py)."""

    def __init__(self, n: int = 0) -> None:
        self.records: dict[int, Record] = {}
        self.acked: set[int] = set()
        self._last = 0
        self.add(n)

    def add(self, n: int) -> None:
        for _ in range(n):
            self._last += 1
            s = self._last
            self.records[s] = Record(
                uuid=f"u{s}",
                seq=s,
                persisted_at_ns=s,
                clock=ClockEstimate(),
                body=AgentEvent(at_ns=s, kind="tick"),
            )

    def pending(self, after_seq: int, limit: int) -> list[Record]:
        out = [r for s, r in sorted(self.records.items()) if s > after_seq and s not in self.acked]
        return out[:limit]

    def mark_acked(self, seqs: Iterable[int]) -> None:
        self.acked.update(seqs)

    def depth(self) -> int:
        return len(self.records) - len(self.acked)

    def oldest_pending_ns(self) -> int:
        p = self.pending(0, 1)
        return p[0].persisted_at_ns if p else 0

    def last_seq(self) -> int:
        return self._last


def _uploader(src: FakeRecordSource, **kw: object) -> Uploader:
    def no_channel() -> grpc.aio.Channel:
        raise AssertionError("no network in these tests")

    return Uploader(
        src,
        no_channel,
        AgentIdentity("a"),
        settings=UploadSettings(**kw),  # type: ignore[arg-type]
    )


def test_backlog_drains_in_order_while_live_records_go_first() -> None:
    src = FakeRecordSource(1000)  # outage backlog: seqs 1..1000
    up = _uploader(src, batch_max_records=10, live_share=0.3)
    cur = _Cursors(live=1000, backlog=0, backlog_end=1000, backlog_done=False)
    src.add(5)  # live traffic arrives: 1001..1005
    b1 = [r.seq for r in up._fetch_sync(cur)]
    # 3 live slots used by the newest records, the rest from the backlog in order.
    assert b1 == [1, 2, 3, 4, 5, 6, 7, 1001, 1002, 1003]
    b2 = [r.seq for r in up._fetch_sync(cur)]
    assert b2 == [8, 9, 10, 11, 12, 13, 14, 15, 1004, 1005]
    # No live records now: the whole batch goes to the backlog.
    b3 = [r.seq for r in up._fetch_sync(cur)]
    assert b3 == list(range(16, 26))
    seen = b1 + b2 + b3
    while True:
        batch = [r.seq for r in up._fetch_sync(cur)]
        if not batch:
            break
        seen += batch
    assert sorted(seen) == list(range(1, 1006))
    assert len(seen) == len(set(seen))  # nothing sent twice within a session
    assert cur.backlog_done


def test_live_latency_bounded_during_backlog() -> None:
    """A live record waits at most one batch even with a 100k backlog."""
    src = FakeRecordSource(100_000)
    up = _uploader(src, batch_max_records=500, live_share=0.5)
    cur = _Cursors(live=100_000, backlog=0, backlog_end=100_000, backlog_done=False)
    for _ in range(3):
        up._fetch_sync(cur)
    src.add(1)
    assert 100_001 in [r.seq for r in up._fetch_sync(cur)]


def test_skip_committed_marks_acked_only_up_to_committed() -> None:
    src = FakeRecordSource(12_000)
    up = _uploader(src, skip_chunk=5000)
    asyncio.run(up._skip_committed(11_000, 12_000))
    assert src.acked == set(range(1, 11_001))
    # A committed_seq beyond what we ever persisted means our outbox restarted: skip nothing.
    src2 = FakeRecordSource(10)
    asyncio.run(_uploader(src2)._skip_committed(500, 10))
    assert src2.acked == set()


def test_error_classification() -> None:
    assert classify(grpc.StatusCode.UNAVAILABLE) is Transience.TRANSIENT
    assert classify(grpc.StatusCode.RESOURCE_EXHAUSTED) is Transience.TRANSIENT
    assert classify(grpc.StatusCode.DEADLINE_EXCEEDED) is Transience.TRANSIENT
    assert classify(grpc.StatusCode.FAILED_PRECONDITION) is Transience.TRANSIENT
    assert classify(grpc.StatusCode.PERMISSION_DENIED) is Transience.FATAL
    assert classify(grpc.StatusCode.UNAUTHENTICATED) is Transience.FATAL
