"""The Ledger contract, periods side (migration 0012), on SQLite and a real PostgreSQL:
quiet-hour suppressions kept once and read by period and vendor; burst requests queued,
claimed once, settled; the scheduler's writes refused to a collector that lost the
probing lease."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from collector.ledger.base import FencedError
from collector.ledger.leases import Fence
from collector.ledger.periods import BurstRequest, BurstState, QuietSuppression
from tests.plugins.ledger import LedgerFactory

NS = 1_000_000_000
T = 1_800_000_000 * NS


def held(at_s: float, vendor: str = "acme", msisdn: str = "13800000001") -> QuietSuppression:
    return QuietSuppression(vendor, msisdn, "marketing", T + int(at_s * NS), "2027-01-15",
                            T + int((at_s + 3600) * NS))  # fmt: skip


def request(name: str, at_s: float = 60.0, **kw: Any) -> BurstRequest:
    values: dict[str, Any] = dict(
        name=name, vendor="bolt", profile="verification_code", count=40, within_s=20.0,
        at_ns=T + int(at_s * NS), budget=1.5, max_attempts=1, requested_at_ns=T,
        requested_by="alice@ops",
    )  # fmt: skip
    values.update(kw)
    return BurstRequest(**values)


def test_suppressions_are_kept_once_and_read_by_period_and_vendor(ledger: Any) -> None:
    rows = [held(0), held(0, msisdn="13800000002"), held(10, vendor="bolt"), held(20)]
    assert ledger.record_suppressions(rows) == 4
    assert ledger.record_suppressions([held(0), held(30)]) == 1  # a retried write adds nothing
    assert ledger.suppressions(since_ns=T) == [*rows[:3], held(20), held(30)]
    assert ledger.suppressions(since_ns=T, vendor="acme") == [rows[0], rows[1], held(20), held(30)]
    assert ledger.suppressions(since_ns=T + 5 * NS, until_ns=T + 20 * NS) == [held(10, "bolt")]
    assert ledger.suppressions(since_ns=T + 31 * NS) == []


def test_a_burst_is_queued_claimed_once_and_settled(ledger: Any) -> None:
    assert ledger.request_burst(request("cli_a", at_s=60))
    assert ledger.request_burst(request("cli_b", at_s=30, count=7, within_s=0.5))
    assert not ledger.request_burst(request("cli_a", vendor="acme"))  # name taken: unchanged
    pending = ledger.burst_requests(state=BurstState.PENDING)
    assert [r.name for r in pending] == ["cli_b", "cli_a"]  # by start time
    assert pending[1] == request("cli_a", at_s=60)  # every field round-trips
    assert ledger.start_burst("cli_a", at_ns=T + 61 * NS, by="collector-1")
    assert not ledger.start_burst("cli_a", at_ns=T + 62 * NS, by="collector-2")  # never twice
    ledger.settle_burst("cli_a", BurstState.DONE, sent=38, note="capped by budget")
    ledger.settle_burst("cli_b", BurstState.EXPIRED, note="start time passed")
    assert not ledger.start_burst("cli_b", at_ns=T + 63 * NS, by="collector-1")
    assert ledger.burst_requests(state=BurstState.PENDING) == []
    done = {r.name: r for r in ledger.burst_requests()}
    assert done["cli_a"] == replace(
        request("cli_a", at_s=60), state=BurstState.DONE, started_at_ns=T + 61 * NS,
        started_by="collector-1", sent=38, note="capped by budget",
    )  # fmt: skip
    assert done["cli_b"].state is BurstState.EXPIRED and done["cli_b"].sent == 0


def test_the_schedulers_writes_are_fenced_by_the_probing_lease(
    open_ledgers: LedgerFactory,
) -> None:
    a, b = open_ledgers(), open_ledgers()
    grant = a.acquire_lease("probing", "A", ttl_s=60)
    assert grant.held
    fence_a = Fence("probing", "A", grant.lease.token)
    view_a = a.fenced(lambda: fence_a)
    stale = b.fenced(lambda: Fence("probing", "B", grant.lease.token))  # not the holder
    assert view_a.record_suppressions([held(0)]) == 1
    a.request_burst(request("cli_f"))  # the CLI's request itself needs no lease
    with pytest.raises(FencedError):
        stale.record_suppressions([held(1)])
    with pytest.raises(FencedError):
        stale.start_burst("cli_f", at_ns=T, by="B")
    assert view_a.start_burst("cli_f", at_ns=T, by="A")
    with pytest.raises(FencedError):
        stale.settle_burst("cli_f", BurstState.DONE, sent=40)
    assert a.suppressions() == [held(0)]
    assert a.burst_requests()[0].state is BurstState.STARTED
