"""One contract, every Ledger, agent-facing side: SQLite and a real PostgreSQL
(tests/plugins/ledger.py). The probe-facing and health-facing sides run over the same
`ledger` fixture in test_probe_contract.py and test_health_contract.py."""

from __future__ import annotations

import math
import sqlite3
import threading
from collections.abc import Iterable
from dataclasses import replace

import psycopg
import pytest
from structlog.testing import capture_logs

from agent.wire.records import Record, Registration
from collector.ledger import (
    Ledger,
    MigrationError,
    UnknownAgentError,
    open_ledger,
)
from collector.ledger.model import BatchOutcome, EventSource, LedgerEvent
from collector.quarantine import Quarantined, QuarantineReason
from tests.collector.ledger.builders import (
    NOW,
    NS,
    PDU_HELLO,
    T0,
    canary,
    event,
    health,
    modem,
    new_uuid,
    record,
    registration,
    sms,
    status_report,
)
from tests.plugins.ledger import LedgerFactory

AGENT = "agent-1"
IMEI = "860000000000001"


def kinds(events: Iterable[LedgerEvent]) -> list[str]:
    return [str(e.kind) for e in events]


# ---------------------------------------------------------------- migrations


def test_migrate_is_idempotent_and_reopening_keeps_the_schema(
    ledger: Ledger, open_ledgers: LedgerFactory
) -> None:
    ledger.migrate()
    ledger.migrate()
    ledger.register_agent(registration(), at_ns=NOW)
    again = open_ledgers()  # open_ledger migrates on open
    again.migrate()
    assert [a.agent_id for a in again.agents()] == [AGENT]


def test_a_schema_newer_than_the_code_is_refused(ledger: Ledger, ledger_url: str) -> None:
    insert = "INSERT INTO schema_migrations (version, name, applied_at_ns) VALUES (999, 'x', 0)"
    if ledger_url.startswith("sqlite"):
        with sqlite3.connect(ledger_url.removeprefix("sqlite:///")) as conn:
            conn.execute(insert)
    else:
        with psycopg.connect(ledger_url, autocommit=True) as pg:
            pg.execute(insert)
    with pytest.raises(MigrationError, match="999"):
        ledger.migrate()


# ---------------------------------------------------------------- registration


def test_first_registration_records_agent_and_modems(ledger: Ledger) -> None:
    reg = registration(AGENT, modem("111", "8986001"), modem("222"))
    out = ledger.register_agent(reg, at_ns=NOW)
    assert out.committed_seq == 0
    assert kinds(out.events) == ["agent_registered", "modem_appeared", "modem_appeared"]
    assert kinds(ledger.events(AGENT)) == kinds(out.events)
    (status,) = ledger.agents()
    assert (status.site, status.region, status.software_version) == ("bj-1", "north", "0.1.0")
    assert status.capabilities == ("sms-receive", "status-report")
    assert status.registered_at_ns == NOW
    assert [(m.imei, m.present) for m in status.modems] == [("111", True), ("222", True)]
    assert status.modems[0].sim is not None and status.modems[0].sim.iccid == "8986001"
    assert status.modems[1].sim is None


def test_reregistration_reports_disappeared_reappeared_modems_and_sim_changes(
    ledger: Ledger,
) -> None:
    ledger.register_agent(registration(AGENT, modem("111", "A"), modem("222", "B")), at_ns=NOW)
    out = ledger.register_agent(registration(AGENT, modem("111", "A2")), at_ns=NOW + 1)
    assert kinds(out.events) == ["agent_registered", "sim_swapped", "modem_disappeared"]
    swap = out.events[1]
    assert swap.modem_imei == "111"
    assert dict(swap.attributes) == {"old_iccid": "A", "new_iccid": "A2"}
    assert out.events[2].modem_imei == "222"
    present = {m.imei: m.present for m in ledger.agents()[0].modems}
    assert present == {"111": True, "222": False}

    out = ledger.register_agent(registration(AGENT, modem("111"), modem("222", "B")), at_ns=NOW + 2)
    assert kinds(out.events) == ["agent_registered", "sim_removed", "modem_appeared"]
    out = ledger.register_agent(
        registration(AGENT, modem("111", "C"), modem("222", "B")), at_ns=NOW + 3
    )
    assert kinds(out.events) == ["agent_registered", "sim_inserted"]
    assert dict(out.events[1].attributes) == {"new_iccid": "C"}


def test_unchanged_reregistration_records_only_the_registration(ledger: Ledger) -> None:
    reg = registration()
    ledger.register_agent(reg, at_ns=NOW)
    out = ledger.register_agent(reg, at_ns=NOW + 1)
    assert kinds(out.events) == ["agent_registered"]
    assert kinds(ledger.events(AGENT, since_ns=NOW + 1)) == ["agent_registered"]


# ---------------------------------------------------------------- ingest


def test_ingest_is_idempotent_by_uuid(ledger: Ledger) -> None:
    ledger.register_agent(registration(), at_ns=NOW)
    batch = [record(1), record(2), record(3)]
    first = ledger.ingest_batch(AGENT, batch, [], at_ns=NOW)
    assert (first.ingested, first.duplicates, first.quarantined) == (3, 0, 0)
    assert first.committed_seq == 3
    replay = ledger.ingest_batch(AGENT, batch, [], at_ns=NOW + 1)
    assert (replay.ingested, replay.duplicates, replay.quarantined) == (0, 3, 0)
    overlap = ledger.ingest_batch(AGENT, [batch[2], record(4)], [], at_ns=NOW + 2)
    assert (overlap.ingested, overlap.duplicates) == (1, 1)
    assert ledger.record_count() == 4
    assert len(ledger.received_sms()) == 4
    assert ledger.gaps() == []


def test_the_same_uuid_twice_in_one_batch_is_stored_once(ledger: Ledger) -> None:
    ledger.register_agent(registration(), at_ns=NOW)
    r = record(1)
    out = ledger.ingest_batch(AGENT, [r, r], [], at_ns=NOW)
    assert (out.ingested, out.duplicates) == (1, 1)
    assert ledger.record_count() == 1


def test_upload_before_registration_is_refused(ledger: Ledger) -> None:
    with pytest.raises(UnknownAgentError):
        ledger.ingest_batch("ghost", [record(1)], [], at_ns=NOW)
    ledger.set_connected("ghost", True, at_ns=NOW, peer="ipv4:127.0.0.1:5")
    ledger.touch_agent(
        "ghost",
        at_ns=NOW,
        outbox_depth=3,
        oldest_pending_ns=0,
        clock_offset_ms=0.0,
        clock_uncertainty_ms=1.0,
    )
    (ghost,) = ledger.agents()
    assert (ghost.connected, ghost.registered_at_ns, ghost.outbox_depth) == (True, 0, 3)
    with pytest.raises(UnknownAgentError):
        ledger.ingest_batch("ghost", [record(1)], [], at_ns=NOW)
    assert ledger.record_count() == 0


def test_every_record_kind_is_stored_and_read_back(ledger: Ledger) -> None:
    ledger.register_agent(registration(), at_ns=NOW)
    t = T0 + 100 * NS
    two_part = sms(t, "long text", parts=2)
    recs = [
        record(1, two_part, at_ns=t),
        record(2, status_report(t + NS), at_ns=t + NS),
        record(3, health(t + 2 * NS, rssi=float("nan")), at_ns=t + 2 * NS),
        record(4, event(t + 3 * NS), imei="", at_ns=t + 3 * NS),
        record(5, canary(t + 4 * NS), at_ns=t + 4 * NS),
    ]
    out = ledger.ingest_batch(AGENT, recs, [], at_ns=NOW)
    assert out.ingested == 5 and out.committed_seq == 5

    (stored,) = ledger.received_sms()
    assert stored.sms == two_part
    assert stored.uuid == recs[0].uuid and stored.seq == 1
    assert stored.clock == recs[0].clock
    assert stored.msisdn == "+8613800000001"  # from the SIM registered with that ICCID
    assert stored.received_at_ns == t
    assert stored.sms.parts[0].raw_pdu == PDU_HELLO
    assert stored.ingested_at_ns == NOW

    (sr,) = ledger.status_reports()
    assert sr.report == status_report(t + NS)
    assert sr.uuid == recs[1].uuid

    (h,) = ledger.modem_health(IMEI, t, t + 10 * NS)
    assert math.isnan(h.health.rssi_dbm)
    assert replace(h.health, rssi_dbm=0.0) == replace(health(t + 2 * NS), rssi_dbm=0.0)

    agent_events = [e for e in ledger.events(AGENT) if e.source is EventSource.AGENT]
    assert [(e.kind, e.record_uuid, dict(e.attributes)) for e in agent_events] == [
        ("modem_reset", recs[3].uuid, {"port": "x"})
    ]
    assert ledger.record_count() == 5


def test_received_sms_filters_by_time_and_agent(ledger: Ledger) -> None:
    ledger.register_agent(registration("a"), at_ns=NOW)
    ledger.register_agent(registration("b"), at_ns=NOW)
    ledger.ingest_batch(
        "a", [record(1, at_ns=T0 + 10 * NS), record(2, at_ns=T0 + 20 * NS)], [], at_ns=NOW
    )
    ledger.ingest_batch("b", [record(1, at_ns=T0 + 15 * NS)], [], at_ns=NOW)

    def seen(
        since_ns: int = 0, until_ns: int | None = None, agent_id: str | None = None
    ) -> list[tuple[str, int]]:
        got = ledger.received_sms(since_ns=since_ns, until_ns=until_ns, agent_id=agent_id)
        return [(s.agent_id, s.seq) for s in got]

    assert seen() == [("a", 1), ("b", 1), ("a", 2)]
    assert seen(since_ns=T0 + 15 * NS) == [("b", 1), ("a", 2)]
    assert seen(until_ns=T0 + 15 * NS) == [("a", 1)]
    assert seen(agent_id="a", since_ns=T0 + 11 * NS) == [("a", 2)]


def test_modem_health_window_and_latest_health_in_agents_view(ledger: Ledger) -> None:
    ledger.register_agent(registration(), at_ns=NOW)
    h1, h2, h3 = (T0 + k * NS for k in (10, 20, 30))
    ledger.ingest_batch(
        AGENT,
        [record(1, health(h1)), record(3, health(h3, healthy=False, rssi=-99))],
        [],
        at_ns=NOW,
    )
    # an older reading arriving late must not replace the latest one
    ledger.ingest_batch(AGENT, [record(2, health(h2, rssi=-50))], [], at_ns=NOW)
    assert [s.health.at_ns for s in ledger.modem_health(IMEI, h1, h3)] == [h1, h2]
    assert [s.health.at_ns for s in ledger.modem_health(IMEI, h1, h3 + 1)] == [h1, h2, h3]
    assert ledger.modem_health("other", 0, h3 + 1) == []
    last = ledger.agents()[0].modems[0].last_health
    assert last is not None
    assert (last.at_ns, last.healthy, last.rssi_dbm) == (h3, False, -99.0)
    assert last.registration is Registration.SEARCHING
    assert last.reasons == ("not_registered",)


# ---------------------------------------------------------------- sequence gaps


def test_missing_seqs_become_a_not_measured_span(ledger: Ledger) -> None:
    ledger.register_agent(registration(), at_ns=NOW)
    with capture_logs() as logs:
        out = ledger.ingest_batch(
            AGENT, [record(1), record(2), record(5), record(6)], [], at_ns=NOW
        )
    assert out.committed_seq == 2
    assert [(e["event"], e["first_seq"], e["last_seq"]) for e in logs] == [
        ("seq_gap_detected", 3, 4)
    ]
    (gap,) = out.new_gaps
    assert (gap.first_seq, gap.last_seq, gap.missing) == (3, 4, 2)
    assert (gap.start_ns, gap.end_ns) == (T0 + 2 * NS, T0 + 5 * NS)
    assert gap.detected_at_ns == NOW
    assert ledger.gaps(AGENT) == [gap]
    assert "seq_gap_detected" in kinds(ledger.events(AGENT))
    assert ledger.agents()[0].committed_seq == 2


def test_late_records_shrink_and_close_a_gap(ledger: Ledger) -> None:
    ledger.register_agent(registration(), at_ns=NOW)
    ledger.ingest_batch(AGENT, [record(1), record(6)], [], at_ns=NOW)
    out = ledger.ingest_batch(AGENT, [record(3)], [], at_ns=NOW)
    assert out.committed_seq == 1 and out.new_gaps == ()
    spans = [(g.first_seq, g.last_seq, g.start_ns, g.end_ns) for g in ledger.gaps()]
    assert spans == [(2, 2, T0 + NS, T0 + 3 * NS), (4, 5, T0 + 3 * NS, T0 + 6 * NS)]
    out = ledger.ingest_batch(AGENT, [record(2), record(4), record(5)], [], at_ns=NOW)
    assert out.committed_seq == 6
    assert ledger.gaps() == []


def test_batches_committed_out_of_order_leave_no_gap(ledger: Ledger) -> None:
    ledger.register_agent(registration(), at_ns=NOW)
    later = ledger.ingest_batch(AGENT, [record(s) for s in range(11, 21)], [], at_ns=NOW)
    assert later.committed_seq == 0
    assert [(g.first_seq, g.last_seq, g.start_ns) for g in later.new_gaps] == [(1, 10, 0)]
    earlier = ledger.ingest_batch(AGENT, [record(s) for s in range(1, 11)], [], at_ns=NOW)
    assert earlier.committed_seq == 20
    assert ledger.gaps() == []


def test_registration_returns_the_committed_seq(ledger: Ledger) -> None:
    ledger.register_agent(registration(), at_ns=NOW)
    ledger.ingest_batch(AGENT, [record(1), record(2), record(4)], [], at_ns=NOW)
    out = ledger.register_agent(registration(last_seq=4), at_ns=NOW + 1)
    assert out.committed_seq == 2
    assert kinds(out.events) == ["agent_registered"]


def test_an_agent_whose_sequence_restarts_gets_a_new_epoch(ledger: Ledger) -> None:
    ledger.register_agent(registration(), at_ns=NOW)
    ledger.ingest_batch(AGENT, [record(1), record(2), record(4)], [], at_ns=NOW)
    out = ledger.register_agent(registration(last_seq=1), at_ns=NOW + 1)
    assert out.committed_seq == 0
    assert kinds(out.events)[0] == "agent_seq_reset"
    fresh = ledger.ingest_batch(AGENT, [record(1), record(2)], [], at_ns=NOW + 2)
    assert (fresh.ingested, fresh.quarantined, fresh.committed_seq) == (2, 0, 2)
    # the old epoch's gap is history: still a not-measured span
    assert [(g.epoch, g.first_seq) for g in ledger.gaps(AGENT)] == [(0, 3)]
    assert ledger.record_count() == 5


# ---------------------------------------------------------------- quarantine


def test_invalid_records_are_quarantined_raw_and_still_count_as_arrived(ledger: Ledger) -> None:
    ledger.register_agent(registration(), at_ns=NOW)
    future = record(2, at_ns=NOW + 2 * 86_400 * NS)
    stranger = record(3, imei="999999999999999")
    from_serde = Quarantined(
        uuid="u-4",
        seq=4,
        reason=QuarantineReason.MISSING_BODY,
        detail="record has no body",
        raw=b"\x08\x04",
        persisted_at_ns=T0 + 4 * NS,
    )
    out = ledger.ingest_batch(
        AGENT, [record(1), future, stranger, record(5)], [from_serde], at_ns=NOW
    )
    assert (out.ingested, out.quarantined, out.duplicates) == (2, 3, 0)
    assert out.committed_seq == 5  # quarantined seqs arrived: no gap, no stall
    assert ledger.gaps() == []
    reasons = {r.seq: r.reason.split(":")[0] for r in out.rejections}
    assert reasons == {2: "time_in_future", 3: "unknown_modem", 4: "missing_body"}
    stored = {q.seq: q for q in ledger.quarantine(AGENT)}
    assert set(stored) == {2, 3, 4}
    assert stored[2].raw == future.raw and stored[2].uuid == future.uuid
    assert stored[4].raw == b"\x08\x04" and stored[4].received_at_ns == NOW
    assert ledger.record_count() == 2

    again = ledger.ingest_batch(AGENT, [future], [from_serde], at_ns=NOW + 1)
    assert again.quarantined == 2  # reported again in the ack...
    assert len(ledger.quarantine()) == 3  # ...but stored once


def test_a_new_uuid_reusing_a_stored_seq_is_quarantined(ledger: Ledger) -> None:
    ledger.register_agent(registration(), at_ns=NOW)
    ledger.ingest_batch(AGENT, [record(1), record(2)], [], at_ns=NOW)
    out = ledger.ingest_batch(AGENT, [record(2), record(3)], [], at_ns=NOW)
    assert (out.ingested, out.quarantined) == (1, 1)
    assert out.rejections[0].reason.startswith("seq_conflict")
    assert out.committed_seq == 3


# ---------------------------------------------------------------- liveness


def test_liveness_and_touch_show_in_the_agents_view(ledger: Ledger) -> None:
    ledger.register_agent(registration(), at_ns=NOW)
    ledger.set_connected(AGENT, True, at_ns=NOW + 1, peer="ipv4:10.0.0.7:40000")
    ledger.touch_agent(
        AGENT,
        at_ns=NOW + 2,
        outbox_depth=17,
        oldest_pending_ns=NOW - 5 * NS,
        clock_offset_ms=-3.5,
        clock_uncertainty_ms=1.25,
    )
    (a,) = ledger.agents()
    assert (a.connected, a.peer, a.last_seen_ns) == (True, "ipv4:10.0.0.7:40000", NOW + 2)
    assert (a.outbox_depth, a.clock_offset_ms, a.clock_uncertainty_ms) == (17, -3.5, 1.25)
    assert a.outbox_lag_ns(NOW + 2) == 5 * NS + 2
    ledger.set_connected(AGENT, False, at_ns=NOW + 3)
    (a,) = ledger.agents()
    assert not a.connected and a.last_seen_ns == NOW + 3
    assert kinds(ledger.events(AGENT, since_ns=NOW + 1)) == [
        "agent_connected",
        "agent_disconnected",
    ]


def test_connections_belong_to_the_collector_instance_holding_them(ledger: Ledger) -> None:
    ledger.register_agent(registration(), at_ns=NOW)
    ledger.register_agent(registration("agent-2"), at_ns=NOW)
    ledger.set_connected(AGENT, True, at_ns=NOW + 1, via="c1:7443")
    ledger.set_connected("agent-2", True, at_ns=NOW + 1, via="c2:7443")
    # agent-2 moves to c1 before c2 notices its old stream ended: c2's late disconnect
    # must not mark it disconnected.
    ledger.set_connected("agent-2", True, at_ns=NOW + 2, via="c1:7443")
    ledger.set_connected("agent-2", False, at_ns=NOW + 3, via="c2:7443")
    assert {a.agent_id: a.connected for a in ledger.agents()} == {AGENT: True, "agent-2": True}
    # c1 is SIGKILLed (no disconnects recorded) and starts again: its streams are gone.
    assert ledger.release_connections("c2:7443", at_ns=NOW + 4) == []
    assert sorted(ledger.release_connections("c1:7443", at_ns=NOW + 5)) == [AGENT, "agent-2"]
    assert {a.agent_id: a.connected for a in ledger.agents()} == {AGENT: False, "agent-2": False}
    events = ledger.events(AGENT, since_ns=NOW + 5)
    assert kinds(events) == ["agent_disconnected"] and "c1:7443 restarted" in events[0].detail
    assert ledger.release_connections("c1:7443", at_ns=NOW + 6) == []


def test_touch_with_unknown_clock_keeps_it_unknown(ledger: Ledger) -> None:
    ledger.register_agent(registration(), at_ns=NOW)
    ledger.touch_agent(
        AGENT,
        at_ns=NOW,
        outbox_depth=0,
        oldest_pending_ns=0,
        clock_offset_ms=0.0,
        clock_uncertainty_ms=float("inf"),
    )
    (a,) = ledger.agents()
    assert math.isinf(a.clock_uncertainty_ms) and a.outbox_lag_ns(NOW) == 0


# ---------------------------------------------------------------- concurrency, durability


def test_two_threads_ingesting_for_different_agents(ledger: Ledger) -> None:
    agents = ["t-a", "t-b"]
    for a in agents:
        ledger.register_agent(registration(a), at_ns=NOW)
    errors: list[BaseException] = []

    def upload(agent_id: str) -> None:
        try:
            for b in range(20):
                batch = [record(b * 25 + i + 1) for i in range(25)]
                out = ledger.ingest_batch(agent_id, batch, [], at_ns=NOW)
                assert out.ingested == 25 and out.committed_seq == (b + 1) * 25
        except BaseException as exc:  # reported in the main thread below
            errors.append(exc)

    threads = [threading.Thread(target=upload, args=(a,)) for a in agents]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert errors == []
    assert ledger.record_count() == 1000
    assert {a.agent_id: a.committed_seq for a in ledger.agents()} == {"t-a": 500, "t-b": 500}
    assert ledger.gaps() == []


def test_committed_data_survives_close_and_reopen(ledger_url: str) -> None:
    first = open_ledger(ledger_url)
    first.register_agent(registration(), at_ns=NOW)
    recs = [record(1), record(2), record(4)]
    first.ingest_batch(AGENT, recs, [], at_ns=NOW)
    first.close()
    second = open_ledger(ledger_url)
    try:
        assert second.record_count() == 3
        assert [s.uuid for s in second.received_sms()] == [r.uuid for r in recs]
        assert [(g.first_seq, g.last_seq) for g in second.gaps()] == [(3, 3)]
        replay = second.ingest_batch(AGENT, recs, [], at_ns=NOW)
        assert (replay.ingested, replay.duplicates, replay.committed_seq) == (0, 3, 2)
    finally:
        second.close()


def test_two_ledgers_on_one_database_agree(open_ledgers: LedgerFactory) -> None:
    """Two collector replicas (PostgreSQL) or two processes (SQLite) on one ledger."""
    one, two = open_ledgers(), open_ledgers()
    one.register_agent(registration(), at_ns=NOW)
    r = record(1, uuid=new_uuid())
    assert one.ingest_batch(AGENT, [r], [], at_ns=NOW).ingested == 1
    out = two.ingest_batch(AGENT, [r, record(2)], [], at_ns=NOW)
    assert (out.ingested, out.duplicates, out.committed_seq) == (1, 1, 2)


def test_connecting_before_registering_then_registering(ledger: Ledger) -> None:
    ledger.set_connected(AGENT, True, at_ns=NOW, peer="p")
    ledger.register_agent(registration(), at_ns=NOW + 1)
    (a,) = ledger.agents()
    assert (a.connected, a.registered_at_ns, a.site) == (True, NOW + 1, "bj-1")
    assert ledger.ingest_batch(AGENT, [record(1)], [], at_ns=NOW + 2).ingested == 1


def test_records_of_a_modem_unplugged_since_are_still_ingested(ledger: Ledger) -> None:
    ledger.register_agent(registration(AGENT, modem("111"), modem("222")), at_ns=NOW)
    ledger.register_agent(registration(AGENT, modem("111")), at_ns=NOW + 1)
    out = ledger.ingest_batch(AGENT, [record(1, health(T0), imei="222")], [], at_ns=NOW + 2)
    assert (out.ingested, out.quarantined) == (1, 0)


def test_replicas_registering_one_new_agent_at_once(open_ledgers: LedgerFactory) -> None:
    replicas = [open_ledgers(), open_ledgers()]
    errors: list[BaseException] = []

    def register(ledger: Ledger) -> None:
        try:
            for i in range(10):
                ledger.register_agent(registration("fresh"), at_ns=NOW + i)
        except BaseException as exc:  # reported in the main thread below
            errors.append(exc)

    threads = [threading.Thread(target=register, args=(r,)) for r in replicas]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert errors == []
    assert [a.agent_id for a in replicas[0].agents()] == ["fresh"]
    registered = [e for e in replicas[1].events("fresh") if e.kind == "agent_registered"]
    assert len(registered) == 20


def test_nul_characters_cannot_wedge_an_agent(ledger: Ledger) -> None:
    """PostgreSQL TEXT refuses U+0000; a record never stored would be resent forever."""
    ledger.register_agent(replace(registration(), site="bj\x001"), at_ns=NOW)
    assert ledger.agents()[0].site == "bj\ufffd1"
    odd = record(1, replace(sms(T0), text="code\x00 42", sender="100\x0086"))
    ev = record(2, replace(event(T0), attributes={"k\x00": "v\x00"}), imei="")
    bad_uuid = replace(record(3), uuid="u\x00")
    from_serde = Quarantined("q\x00", 4, QuarantineReason.MISSING_BODY, "d\x00", b"\x00")
    out = ledger.ingest_batch(AGENT, [odd, ev, bad_uuid], [from_serde], at_ns=NOW)
    assert (out.ingested, out.quarantined, out.committed_seq) == (2, 2, 4)
    (stored,) = ledger.received_sms()
    assert (stored.sms.text, stored.sms.sender) == ("code\ufffd 42", "100\ufffd86")
    assert stored.sms.parts[0].raw_pdu == PDU_HELLO  # the evidence itself is untouched
    (agent_event,) = [e for e in ledger.events(AGENT) if e.source is EventSource.AGENT]
    assert dict(agent_event.attributes) == {"k\ufffd": "v\ufffd"}
    assert sorted(q.uuid for q in ledger.quarantine()) == ["q\ufffd", "u\ufffd"]
    assert {q.raw for q in ledger.quarantine()} == {b"\x00", bad_uuid.raw}


def test_a_replayed_batch_with_nul_characters_is_all_duplicates(ledger: Ledger) -> None:
    """Duplicates are found by the uuid as stored (scrubbed): a replay adds nothing."""
    ledger.register_agent(registration(), at_ns=NOW)
    odd = record(1, replace(sms(T0), text="code\x00 42"))
    plain = record(2, sms(T0))
    bad_uuid = replace(record(3), uuid="u\x00")
    first = ledger.ingest_batch(AGENT, [odd, plain, bad_uuid], [], at_ns=NOW)
    again = ledger.ingest_batch(AGENT, [odd, plain, bad_uuid], [], at_ns=NOW + 1)
    assert (first.ingested, first.duplicates, first.quarantined) == (2, 0, 1)
    assert (again.ingested, again.duplicates, again.quarantined) == (0, 2, 1)
    assert ledger.record_count() == 2 and len(ledger.quarantine()) == 1


def test_group_commit_equals_the_batches_one_by_one(ledger: Ledger) -> None:
    """ingest_batches (the servicer's group commit) judges each batch as ingest_batch
    would in that order: replays across batches, gaps opened and closed, quarantine."""

    def batches() -> list[tuple[list[Record], list[Quarantined]]]:
        first = record(1)
        return [
            ([first, record(2), record(5)], []),  # opens the gap 3..4
            ([record(3), replace(first)], []),  # a replay of seq 1
            ([record(4), record(6, imei="999")], []),  # closes the gap; unknown modem
        ]

    for agent in ("one-by-one", "grouped"):
        ledger.register_agent(registration(agent), at_ns=NOW)
    one_by_one = [ledger.ingest_batch("one-by-one", r, q, at_ns=NOW) for r, q in batches()]
    grouped = ledger.ingest_batches("grouped", batches(), at_ns=NOW)

    def summary(outcomes: list[BatchOutcome]) -> list[tuple[object, ...]]:
        return [
            (
                o.ingested,
                o.duplicates,
                o.quarantined,
                o.committed_seq,
                [(r.seq, r.reason) for r in o.rejections],
                [(g.first_seq, g.last_seq, g.start_ns, g.end_ns) for g in o.new_gaps],
            )
            for o in outcomes
        ]

    assert summary(grouped) == summary(one_by_one)
    assert [[(g.first_seq, g.last_seq) for g in o.new_gaps] for o in grouped] == [[(3, 4)], [], []]
    assert [o.committed_seq for o in grouped] == [2, 3, 6]
    assert [(o.ingested, o.duplicates, o.quarantined) for o in grouped] == [
        (3, 0, 0),
        (1, 1, 0),
        (1, 0, 1),
    ]
    assert ledger.record_count() == 10 and ledger.gaps() == []


def test_group_commit_is_all_or_nothing(open_ledgers: LedgerFactory) -> None:
    """A batch failing inside the group rolls back the batches before it, too: none was
    acked, so the agent resends them all."""
    led = open_ledgers()
    led.register_agent(registration(), at_ns=NOW)
    broken = replace(record(2), body="not a record body")  # type: ignore[arg-type]
    with pytest.raises(KeyError):
        led.ingest_batches(AGENT, [([record(1)], []), ([broken], [])], at_ns=NOW)
    assert led.record_count() == 0
    assert led.ingest_batch(AGENT, [record(1)], [], at_ns=NOW).ingested == 1


def test_cross_agent_group_commit_equals_each_agent_alone(ledger: Ledger) -> None:
    """ingest_agents (the ingest writer's shared transaction) gives each commit what
    ingest_batches gives it alone, whatever the order of the agents; all or nothing."""

    def commits(tag: str) -> list[tuple[str, list[tuple[list[Record], list[Quarantined]]]]]:
        first = record(1)
        return [
            (f"b-{tag}", [([record(1), record(3)], [])]),  # opens the gap 2..2
            (f"a-{tag}", [([first], []), ([record(2), first], [])]),  # a replay of seq 1
            (f"b-{tag}", [([record(2), record(4, imei="999")], [])]),  # closes it; unknown modem
        ]

    for agent in ("b-alone", "a-alone", "b-shared", "a-shared"):
        ledger.register_agent(registration(agent), at_ns=NOW)
    one_by_one = [ledger.ingest_batches(a, b, at_ns=NOW) for a, b in commits("alone")]
    together = ledger.ingest_agents(commits("shared"), at_ns=NOW)

    def summary(outcomes: list[list[BatchOutcome]]) -> list[list[tuple[object, ...]]]:
        return [
            [(o.ingested, o.duplicates, o.quarantined, o.committed_seq) for o in commit]
            for commit in outcomes
        ]

    assert summary(together) == summary(one_by_one)
    assert summary(together) == [[(2, 0, 0, 1)], [(1, 0, 0, 1), (1, 1, 0, 2)], [(1, 0, 1, 4)]]
    with pytest.raises(UnknownAgentError):
        ledger.ingest_agents(
            [("a-shared", [([record(3)], [])]), ("stranger", [([record(1)], [])])], at_ns=NOW
        )
    assert ledger.record_count() == 10
