"""The Ledger contract, health-facing side (migration 0006), on SQLite and a real
PostgreSQL."""

from __future__ import annotations

from typing import Any

from collector.ledger.health import COLLECTOR_DOWN, SpanChange, UnitRow

NS = 1_000_000_000
T = 1_800_000_000 * NS


def test_units_upsert_and_spans_open_and_close(ledger: Any) -> None:
    ledger.save_health(
        "c1",
        [UnitRow("c1", "vendor:bolt", "backoff", T, T, failures=1, last_error="not bound")],
        [SpanChange("open", "bolt", "vendor:bolt", T, "not bound")],
    )
    ledger.save_health(
        "c1",
        [UnitRow("c1", "vendor:bolt", "running", T + 5 * NS, T + 6 * NS, restarts=1)],
        [SpanChange("close", "bolt", "vendor:bolt", T + 5 * NS)],
    )
    (row,) = ledger.collector_units("c1")
    assert (row.state, row.since_ns, row.heartbeat_ns, row.failures, row.restarts) == (
        "running", T + 5 * NS, T + 6 * NS, 0, 1
    )  # fmt: skip
    (span,) = ledger.unmeasured_spans(since_ns=T - NS, vendor="bolt")
    assert (span.start_ns, span.end_ns, span.cause, span.reason) == (
        T, T + 5 * NS, "vendor:bolt", "not bound"
    )  # fmt: skip
    assert ledger.unmeasured_spans(since_ns=T + 5 * NS) == []  # ended before: not overlapping
    assert ledger.unmeasured_spans(since_ns=0, until_ns=T) == []


def test_a_restart_closes_what_the_dead_instance_left_and_covers_its_downtime(
    ledger: Any,
) -> None:
    rows = [
        UnitRow("c1", "vendor:bolt", "backoff", T, T + 2 * NS),
        UnitRow("c1", "vendor:acme", "running", T, T + 2 * NS),
        UnitRow("c1", "service:judge", "running", T, T + 2 * NS),
    ]
    ledger.save_health("c1", rows, [SpanChange("open", "bolt", "vendor:bolt", T + NS)])
    ledger.save_health("c2", [UnitRow("c2", "vendor:x", "running", T, T)], [])
    spans = ledger.resume_health("c1", at_ns=T + 60 * NS)  # SIGKILLed at T+2 s
    got = {(s.vendor, s.cause, s.start_ns, s.end_ns) for s in spans}
    assert got == {
        ("bolt", "vendor:bolt", T + NS, T + 60 * NS),  # its open span ends at the restart
        ("acme", COLLECTOR_DOWN, T + 2 * NS, T + 60 * NS),  # dark from the last heartbeat
    }
    assert ledger.collector_units("c1") == []
    assert [u.unit for u in ledger.collector_units()] == ["vendor:x"]  # other instances kept
    assert ledger.resume_health("c1", at_ns=T + 61 * NS) == []  # nothing left to close
