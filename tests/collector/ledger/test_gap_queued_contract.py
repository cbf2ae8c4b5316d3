"""Gaps the agent's backlog is to fill (GapSpan.queued), on both back-ends.

After a collector restart a live batch is committed ahead of the agent's backlog (the
ingest writer takes live first): the seqs between are a gap that the backlog fills a
moment later. It is kept (the judge treats it as not measured meanwhile) but reported as
missing — seq_gap_detected event and warning — only once the agent's own outbox view
(Ledger.touch_agent) shows those seqs are no longer pending there. A gap the agent never
announced is reported at once as before."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from structlog.testing import capture_logs

from collector.ledger import Ledger
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
