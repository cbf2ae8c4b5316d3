"""Gaps the agent's backlog is to fill (GapSpan.queued), on both back-ends.

After a collector restart a live batch is committed ahead of the agent's backlog (the
ingest writer takes live first): the seqs between are a gap that the backlog fills a
moment later. It is kept (the judge treats it as not measured meanwhile) but reported as
missing — seq_gap_detected event and warning — only once the agent's own outbox view
(Ledger.touch_agent) shows those seqs are no longer pending there. A gap the agent never
announced is reported at once as before.

A queued gap of an agent that never comes back is reported too: once the agent has been
down (disconnected, or silent past offline_after_s) longer than the grace
(Ledger.report_lost_backlog), or at once when it registers with a restarted outbox."""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from structlog.testing import capture_logs

from collector.ledger import Ledger
from collector.ledger.base import FencedError
from tests.collector.ledger.builders import NOW, NS, T0, record, registration

AGENT = registration().agent_id


def _gap_events(ledger: Ledger) -> list[tuple[str, str]]:
    return [
        (e.attributes["first_seq"], e.attributes["last_seq"])
        for e in ledger.events(AGENT)
        if e.kind == "seq_gap_detected"
    ]


def _warned(logs: Sequence[Mapping[str, Any]]) -> list[tuple[object, object]]:
    return [
        (e["first_seq"], e["last_seq"])
        for e in logs
        if e["event"] == "seq_gap_detected" and e["log_level"] == "warning"
    ]


def _touch(ledger: Ledger, at_ns: int, depth: int, oldest_ns: int) -> None:
    ledger.touch_agent(
        AGENT,
        at_ns=at_ns,
        outbox_depth=depth,
        oldest_pending_ns=oldest_ns,
        clock_offset_ms=0.0,
        clock_uncertainty_ms=1.0,
    )


def test_a_live_batch_ahead_of_the_announced_backlog_holds_its_gap_unreported(
    ledger: Ledger,
) -> None:
    ledger.register_agent(registration(last_seq=10), at_ns=NOW)
    with capture_logs() as logs:
        live = ledger.ingest_batch(AGENT, [record(11)], [], at_ns=NOW + 1)
        # The live batch's touch: the backlog (seq 1, persisted at T0 + 1 s) still waits.
        _touch(ledger, NOW + 2, depth=10, oldest_ns=T0 + NS)
        (gap,) = ledger.gaps(AGENT)
        assert (gap.first_seq, gap.last_seq, gap.queued) == (1, 10, True)
        assert live.committed_seq == 0  # truthful: the records are not in the ledger yet
        for lo in (1, 6):  # the backlog arrives in order and fills it
            ledger.ingest_batch(AGENT, [record(s) for s in range(lo, lo + 5)], [], at_ns=NOW + 3)
        _touch(ledger, NOW + 4, depth=0, oldest_ns=0)
    assert ledger.gaps(AGENT) == []
    assert ledger.agents()[0].committed_seq == 11
    assert _warned(logs) == [] and _gap_events(ledger) == []


def test_a_queued_gap_the_outbox_no_longer_holds_is_reported_once(ledger: Ledger) -> None:
    ledger.register_agent(registration(last_seq=10), at_ns=NOW)
    with capture_logs() as logs:
        ledger.ingest_batch(AGENT, [record(11)], [], at_ns=NOW + 1)
        ledger.ingest_batch(AGENT, [record(s) for s in range(1, 6)], [], at_ns=NOW + 2)
        # Oldest pending: seq 11's own time, not later than the gap's end: still queued.
        _touch(ledger, NOW + 3, depth=1, oldest_ns=T0 + 11 * NS)
        assert _warned(logs) == []
        # Seqs 6..10 never come: the next batch's touch says its oldest pending record
        # was persisted after seq 11.
        ledger.ingest_batch(AGENT, [record(12)], [], at_ns=NOW + 4)
        _touch(ledger, NOW + 5, depth=1, oldest_ns=T0 + 13 * NS)
        _touch(ledger, NOW + 6, depth=0, oldest_ns=0)  # reported once, not again
    assert _warned(logs) == [(6, 10)]
    assert _gap_events(ledger) == [("6", "10")]
    (gap,) = ledger.gaps(AGENT)
    assert (gap.first_seq, gap.last_seq, gap.queued) == (6, 10, False)


def test_an_empty_outbox_reports_a_queued_gap_seen_before_the_touch(ledger: Ledger) -> None:
    ledger.register_agent(registration(last_seq=10), at_ns=NOW)
    with capture_logs() as logs:
        ledger.ingest_batch(AGENT, [record(11)], [], at_ns=NOW + 5)
        _touch(ledger, NOW + 4, depth=0, oldest_ns=0)  # made before the gap was seen
        assert _warned(logs) == []
        _touch(ledger, NOW + 6, depth=0, oldest_ns=0)
    assert _warned(logs) == [(1, 10)]


def test_gaps_outside_the_announced_backlog_are_reported_at_once(ledger: Ledger) -> None:
    ledger.register_agent(registration(last_seq=20), at_ns=NOW)
    with capture_logs() as logs:
        ledger.ingest_batch(AGENT, [record(1), record(2), record(5)], [], at_ns=NOW + 1)
        # Above the announced range: seqs 22..24 were never announced.
        ledger.ingest_batch(AGENT, [record(21), record(25)], [], at_ns=NOW + 2)
        assert _warned(logs) == [(22, 24)]
        queued = [(g.first_seq, g.last_seq) for g in ledger.gaps(AGENT) if g.queued]
        assert queued == [(3, 4), (6, 20)]
        # The backlog went on past 3..4: its oldest pending record is seq 8.
        _touch(ledger, NOW + 3, depth=13, oldest_ns=T0 + 8 * NS)
    assert _warned(logs) == [(22, 24), (3, 4)]
    assert _gap_events(ledger) == [("22", "24"), ("3", "4")]


# ------------------------------------------------ an agent that never comes back

GRACE_S, OFFLINE_S = 600.0, 180.0


def _lost(ledger: Ledger, at_ns: int) -> list[tuple[int, int]]:
    return [
        (g.first_seq, g.last_seq)
        for g in ledger.report_lost_backlog(at_ns=at_ns, offline_after_s=OFFLINE_S, grace_s=GRACE_S)
    ]


def _queued_backlog(ledger: Ledger) -> None:
    """Seqs 1..10 announced, 11 committed live ahead of them, 1..5 drained: 6..10 queued."""
    ledger.register_agent(registration(last_seq=10), at_ns=NOW)
    ledger.set_connected(AGENT, True, at_ns=NOW, via="c1")
    ledger.ingest_batch(AGENT, [record(11)], [], at_ns=NOW + 1)
    ledger.ingest_batch(AGENT, [record(s) for s in range(1, 6)], [], at_ns=NOW + 2)
    _touch(ledger, NOW + 3, depth=6, oldest_ns=T0 + 6 * NS)


def test_the_queued_backlog_of_an_agent_gone_past_the_grace_is_reported_once(
    ledger: Ledger,
) -> None:
    _queued_backlog(ledger)
    gone = NOW + 4 * NS
    ledger.set_connected(AGENT, False, at_ns=gone, via="c1")  # its stream ended
    with capture_logs() as logs:
        assert _lost(ledger, gone + int(GRACE_S * NS)) == []  # not longer than the bound
        assert _lost(ledger, gone + int(GRACE_S * NS) + 1) == [(6, 10)]
        assert _lost(ledger, gone + int(2 * GRACE_S * NS)) == []  # once
    assert _warned(logs) == [(6, 10)]
    (event,) = [e for e in ledger.events(AGENT) if e.kind == "seq_gap_detected"]
    assert (event.attributes["first_seq"], event.attributes["last_seq"]) == ("6", "10")
    assert "backlog_grace_s" in event.detail and event.at_ns == gone + int(GRACE_S * NS) + 1
    # Still the same not-measured span, no longer queued.
    (gap,) = ledger.gaps(AGENT)
    assert (gap.first_seq, gap.last_seq, gap.queued) == (6, 10, False)
    # The touch of an agent that comes back after all reports nothing twice.
    _touch(ledger, gone + int(3 * GRACE_S * NS), depth=0, oldest_ns=0)
    assert len([e for e in ledger.events(AGENT) if e.kind == "seq_gap_detected"]) == 1


def test_a_connected_but_silent_agent_counts_as_down_after_offline_after_s(
    ledger: Ledger,
) -> None:
    _queued_backlog(ledger)
    last_seen = NOW + 3  # the touch; the stream was never closed (host gone, no FIN)
    bound = last_seen + int((OFFLINE_S + GRACE_S) * NS)
    assert _lost(ledger, bound) == []
    assert _lost(ledger, bound + 1) == [(6, 10)]


def test_an_agent_back_within_the_grace_keeps_its_gaps_queued_and_drains_them(
    ledger: Ledger,
) -> None:
    _queued_backlog(ledger)
    gone = NOW + 4 * NS
    ledger.set_connected(AGENT, False, at_ns=gone, via="c1")
    back = gone + int(GRACE_S * NS) - NS  # within the bound
    ledger.register_agent(registration(last_seq=11), at_ns=back)
    ledger.set_connected(AGENT, True, at_ns=back, via="c2")
    with capture_logs() as logs:
        assert _lost(ledger, back + int(GRACE_S * NS)) == []  # up again: not gone at all
        ledger.ingest_batch(AGENT, [record(s) for s in range(6, 11)], [], at_ns=back + NS)
        _touch(ledger, back + 2 * NS, depth=0, oldest_ns=0)
        assert _lost(ledger, back + int(10 * GRACE_S * NS)) == []
    assert ledger.gaps(AGENT) == [] and _gap_events(ledger) == [] and _warned(logs) == []


def test_a_seq_reset_at_registration_reports_the_old_outbox_s_queued_gaps(
    ledger: Ledger,
) -> None:
    _queued_backlog(ledger)
    with capture_logs() as logs:
        # The agent is back with a new outbox (its disk was replaced): seqs restart.
        ledger.register_agent(registration(last_seq=2), at_ns=NOW + 5 * NS)
    assert _warned(logs) == [(6, 10)]
    (event,) = [e for e in ledger.events(AGENT) if e.kind == "seq_gap_detected"]
    assert "outbox restarted" in event.detail and event.attributes["epoch"] == "0"
    assert [(g.epoch, g.queued) for g in ledger.gaps(AGENT)] == [(0, False)]
    assert _lost(ledger, NOW + int(10 * GRACE_S * NS)) == []


def test_collectors_reporting_at_once_report_each_gap_once(
    open_ledgers: Callable[[], Ledger],
) -> None:
    first = open_ledgers()
    _queued_backlog(first)
    first.set_connected(AGENT, False, at_ns=NOW + 4 * NS, via="c1")
    ledgers = [first, *(open_ledgers() for _ in range(3))]
    later = NOW + int(10 * GRACE_S * NS)
    barrier = threading.Barrier(len(ledgers))

    def report(ledger: Ledger) -> list[tuple[int, int]]:
        barrier.wait()
        return _lost(ledger, later)

    with ThreadPoolExecutor(len(ledgers)) as pool:
        reported = [g for got in pool.map(report, ledgers) for g in got]
    assert reported == [(6, 10)]
    assert _gap_events(first) == [("6", "10")]


def test_the_report_is_fenced_by_the_probing_lease(ledger: Ledger) -> None:
    _queued_backlog(ledger)
    ledger.set_connected(AGENT, False, at_ns=NOW + 4 * NS, via="c1")
    with pytest.raises(FencedError):
        _lost(ledger.fenced(lambda: None), NOW + int(10 * GRACE_S * NS))
    assert [g.queued for g in ledger.gaps(AGENT)] == [True]
