"""The Ledger contract for several collectors (migration 0007), on SQLite and a real
PostgreSQL: leases with fencing tokens, fenced writes, verdict writes from two
connections at once, alert delivery claims."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest

from collector.correlation.model import Outcome
from collector.ledger.base import FencedError
from collector.ledger.leases import Fence
from tests.collector.ledger.test_probe_contract import plan, verdict
from tests.plugins.ledger import LedgerFactory

TTL_S = 0.3  # short, so expiry is reached by waiting for it (polled, no threshold)


def _until_acquired(ledger: Any, name: str, holder: str) -> Any:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        grant = ledger.acquire_lease(name, holder, ttl_s=TTL_S)
        if grant.held:
            return grant
        time.sleep(0.02)
    raise AssertionError(f"{holder} never got {name}")


def test_one_holder_renews_another_waits_then_takes_over_with_the_next_token(
    open_ledgers: LedgerFactory,
) -> None:
    a, b = open_ledgers(), open_ledgers()
    first = a.acquire_lease("probing", "A", ttl_s=60)
    assert first.held and first.new_tenure and first.lease.token == 1
    assert not first.lapsed_holder
    renewed = a.acquire_lease("probing", "A", ttl_s=60)
    assert renewed.held and not renewed.new_tenure and renewed.lease.token == 1
    other = b.acquire_lease("probing", "B", ttl_s=60)
    assert not other.held and other.lease.holder == "A"
    # A stops renewing: once its lease has run out B takes it, token 2, A named as lapsed.
    a.acquire_lease("probing", "A", ttl_s=TTL_S)
    taken = _until_acquired(b, "probing", "B")
    assert (taken.lease.holder, taken.lease.token, taken.new_tenure) == ("B", 2, True)
    assert taken.lapsed_holder == "A" and taken.lapsed_renewed_at_ns > 0
    assert not a.acquire_lease("probing", "A", ttl_s=60).held
    (row,) = a.leases()
    assert (row.name, row.holder, row.token, row.previous_holder) == ("probing", "B", 2, "A")


def test_release_hands_over_at_once_and_is_not_a_lapse(open_ledgers: LedgerFactory) -> None:
    a, b = open_ledgers(), open_ledgers()
    grant = a.acquire_lease("alerts", "A", ttl_s=60)
    assert not a.release_lease("alerts", "A", grant.lease.token + 1)  # not that tenure
    assert a.release_lease("alerts", "A", grant.lease.token)
    taken = b.acquire_lease("alerts", "B", ttl_s=60)
    assert taken.held and taken.lease.token == 2 and taken.lapsed_holder == ""


def test_restart_of_the_same_instance_begins_a_new_tenure(open_ledgers: LedgerFactory) -> None:
    a = open_ledgers()
    a.acquire_lease("probing", "A", ttl_s=60)
    again = a.acquire_lease("probing", "A", ttl_s=60, restart=True)
    assert again.new_tenure and again.lease.token == 2 and again.lapsed_holder == "A"


def test_a_fenced_off_tenure_writes_nothing(open_ledgers: LedgerFactory) -> None:
    a, b = open_ledgers(), open_ledgers()
    grant = a.acquire_lease("probing", "A", ttl_s=TTL_S)
    old = a.fenced(lambda: grant.lease.fence)
    old.add_probe(plan(1))  # while A's tenure is current
    taken = _until_acquired(b, "probing", "B")
    new = b.fenced(lambda: taken.lease.fence)
    writes = [
        lambda: old.add_probe(plan(2)),
        lambda: old.save_verdicts([verdict("p1", Outcome.DELIVERED)], at_ns=1),
        lambda: old.mark_final(["p1"]),
        lambda: old.set_cursor("probes", 7, at_ns=1),
        lambda: old.start_alert("vendor_outage", {"vendor": "acme"}, at_ns=1, figures={}),
    ]
    for write in writes:
        with pytest.raises(FencedError):
            write()
    assert [p.plan.probe_id for p in a.probes()] == ["p1"]
    assert a.verdicts() == {} and a.cursor("probes") == 0 and a.alerts() == []
    # The current tenure writes; a view whose lease is not held here writes nothing.
    new.add_probe(plan(3))
    new.save_verdicts([verdict("p1", Outcome.DELIVERED)], at_ns=2)
    with pytest.raises(FencedError):
        b.fenced(lambda: None).set_cursor("probes", 1, at_ns=3)
    with pytest.raises(FencedError):  # same token, another holder's name
        b.fenced(lambda: Fence("probing", "A", taken.lease.token)).mark_final(["p1"])
    assert {p.plan.probe_id for p in a.probes()} == {"p1", "p3"}


def test_verdict_writes_from_two_connections_never_collide(open_ledgers: LedgerFactory) -> None:
    """Two judges writing the same new verdicts at once (what two collectors did before
    leases): one stores them, the other finds them unchanged; change_seq stays unique."""
    ledgers = [open_ledgers(), open_ledgers()]
    ledgers[0].add_probe(plan(0))
    rounds = 30
    errors: list[BaseException] = []
    start = threading.Barrier(2)

    def judge(ledger: Any) -> None:
        try:
            start.wait()
            for i in range(rounds):
                outcome = Outcome.DELIVERED if i % 2 else Outcome.LATE
                ledger.save_verdicts(
                    [verdict(f"v{i}-{k}", outcome) for k in range(5)], at_ns=1_000 + i
                )
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=judge, args=(ledger,)) for ledger in ledgers]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    stored = ledgers[0].verdicts()
    assert len(stored) == rounds * 5
    seqs = [v.change_seq for v in stored.values()]
    assert len(set(seqs)) == len(seqs)
    assert all(v.revision == 1 for v in stored.values())


def test_alert_deliveries_are_claimed_once_per_tenure(open_ledgers: LedgerFactory) -> None:
    a, b = open_ledgers(), open_ledgers()
    grant = a.acquire_lease("alerts", "A", ttl_s=TTL_S)
    la = a.fenced(lambda: grant.lease.fence)
    alert_id = la.start_alert(
        "vendor_outage", {"vendor": "acme"}, at_ns=5, figures={}, deliver_to=("http://w/1",)
    )
    (pending,) = a.pending_deliveries()
    assert (pending.alert_id, pending.phase, pending.state) == (alert_id, "start", "pending")
    assert la.claim_delivery(alert_id, "start", "http://w/1", by="A")
    assert not la.claim_delivery(alert_id, "start", "http://w/1", by="A")  # in flight
    # A dies mid-POST: B's tenure may claim it again (same delivery id); then it is settled.
    taken = _until_acquired(b, "alerts", "B")
    lb = b.fenced(lambda: taken.lease.fence)
    with pytest.raises(FencedError):
        la.settle_delivery(alert_id, "start", "http://w/1", delivered=True)
    assert lb.claim_delivery(alert_id, "start", "http://w/1", by="B")
    lb.settle_delivery(alert_id, "start", "http://w/1", delivered=True)
    assert a.pending_deliveries() == []
    assert not lb.claim_delivery(alert_id, "start", "http://w/1", by="B")
    (row,) = a.deliveries(alert_id)
    assert (row.state, row.claimed_by, row.attempts) == ("delivered", "B", 2)
    ended = lb.end_alert(
        "vendor_outage", {"vendor": "acme"}, at_ns=9, figures={}, deliver_to=("http://w/1",)
    )
    assert ended == alert_id
    assert [(d.phase, d.state) for d in a.pending_deliveries()] == [("end", "pending")]
