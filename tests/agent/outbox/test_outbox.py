"""The outbox against a real SQLite file: exactly-once, reassembly, seq, bounds, RecordSource."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from agent.outbox.reassembly import ConcatInfo, PartFacts
from agent.outbox.store import OUTBOX_FORMAT, ModemRef, Outbox, body_from_json, body_to_json
from agent.wire.records import (
    AgentEvent,
    ClockEstimate,
    ModemHealth,
    ReceivedSms,
    Registration,
    SmsPart,
    StatusReport,
)
from agent.wire.serde import record_from_wire, record_to_proto

MODEM = ModemRef("860000000000001", imei="860000000000001", iccid="89860000000000000001")
OTHER = ModemRef("860000000000002", imei="860000000000002")


class ManualClock:
    """An injected ns clock a test moves by hand."""

    def __init__(self, start_ns: int = 1_700_000_000_000_000_000) -> None:
        self.ns = start_ns

    def __call__(self) -> int:
        return self.ns

    def advance(self, seconds: float) -> None:
        self.ns += int(seconds * 1e9)


def facts(
    text: str,
    sender: str = "10690001",
    concat: tuple[int, int, int, int] | None = None,
    encoding: str = "gsm7",
) -> PartFacts:
    return PartFacts(
        sender=sender,
        encoding=encoding,
        text=text,
        concat=ConcatInfo(*concat) if concat else None,
        user_data=text.encode("utf-16-be") if encoding == "ucs2" else b"",
        scts_ns=1_700_000_000_000_000_000,
        scts_tz_minutes=480,
    )


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def outbox(tmp_path: Path, clock: ManualClock) -> Iterator[Outbox]:
    box = Outbox(tmp_path / "outbox.sqlite", now_ns=clock, reassembly_timeout_s=600)
    yield box
    box.close()


def messages(box: Outbox) -> list[ReceivedSms]:
    out = []
    for r in box.records(kinds=("received_sms",)):
        assert isinstance(r.body, ReceivedSms)
        out.append(r.body)
    return out


def test_wal_and_full_sync_are_on(outbox: Outbox) -> None:
    db = sqlite3.connect(outbox.path)
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    db.close()
    assert outbox._db.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL


def test_single_part_becomes_a_record_with_uuid_and_seq(outbox: Outbox) -> None:
    res = outbox.persist_part(MODEM, "SM", 0, b"\x00\x01", facts("hello"))
    assert res.new and len(res.emitted) == 1
    rec = res.emitted[0]
    assert rec.seq == 1 and len(rec.uuid) == 36 and rec.modem_imei == MODEM.imei
    assert isinstance(rec.body, ReceivedSms)
    assert rec.body.text == "hello" and rec.body.parts[0].uuid == res.part_uuid
    assert rec.body.parts[0].index == 0 and rec.body.parts[0].raw_pdu == b"\x00\x01"
    assert outbox.last_seq() == 1 and outbox.depth() == 1


def test_reread_of_unfinished_slot_is_not_stored_twice(outbox: Outbox) -> None:
    first = outbox.persist_part(MODEM, "SM", 3, b"\xaa", facts("x"))
    again = outbox.persist_part(MODEM, "SM", 3, b"\xaa", facts("x"))
    assert not again.new and again.part_uuid == first.part_uuid and again.emitted == ()
    assert outbox.find_unfinished(MODEM, "SM", 3, b"\xaa") == first.part_uuid
    # Same slot, other modem or other storage or other bytes: new messages.
    assert outbox.persist_part(OTHER, "SM", 3, b"\xaa", facts("x")).new
    assert outbox.persist_part(MODEM, "ME", 3, b"\xaa", facts("x")).new
    assert outbox.persist_part(MODEM, "SM", 3, b"\xab", facts("y")).new
    # After the delete is recorded the slot is free: an identical PDU is a new delivery.
    outbox.mark_deleted(first.part_uuid)
    assert outbox.find_unfinished(MODEM, "SM", 3, b"\xaa") == ""
    assert outbox.persist_part(MODEM, "SM", 3, b"\xaa", facts("x")).new
    assert len(messages(outbox)) == 5
    assert [r.seq for r in outbox.records()] == [1, 2, 3, 4, 5]


def test_direct_deliveries_are_never_deduplicated(outbox: Outbox) -> None:
    outbox.persist_part(MODEM, "", -1, b"\xaa", facts("x"))
    outbox.persist_part(MODEM, "", -1, b"\xaa", facts("x"))
    assert len(messages(outbox)) == 2


def test_undecodable_pdu_is_kept_raw_and_flagged(outbox: Outbox) -> None:
    res = outbox.persist_part(MODEM, "SM", 1, b"\xde\xad", PartFacts(decode_error="truncated"))
    body = res.emitted[0].body
    assert isinstance(body, ReceivedSms)
    assert body.undecodable and body.parts[0].decode_error == "truncated"
    assert body.parts[0].raw_pdu == b"\xde\xad"


def test_parts_out_of_order_reassemble_once_complete(outbox: Outbox) -> None:
    for seq, idx in ((3, 0), (1, 1)):
        res = outbox.persist_part(
            MODEM, "SM", idx, bytes([seq]), facts(f"p{seq}", concat=(7, 3, seq, 8))
        )
        assert res.emitted == ()
    res = outbox.persist_part(MODEM, "SM", 2, b"\x02", facts("p2", concat=(7, 3, 2, 8)))
    (rec,) = res.emitted
    assert isinstance(rec.body, ReceivedSms)
    assert rec.body.text == "p1p2p3" and rec.body.concat_total == 3 and rec.body.concat_ref == 7
    assert [p.part_seq for p in rec.body.parts] == [1, 2, 3]
    assert len({p.uuid for p in rec.body.parts}) == 3 and rec.uuid not in {
        p.uuid for p in rec.body.parts
    }
    assert not rec.body.partial and outbox.open_group_count() == 0


def test_duplicate_part_keeps_first_and_is_counted(outbox: Outbox) -> None:
    outbox.persist_part(MODEM, "SM", 0, b"\x01", facts("a", concat=(9, 2, 1, 8)))
    dup = outbox.persist_part(MODEM, "SM", 1, b"\x01", facts("a", concat=(9, 2, 1, 8)))
    assert dup.new and dup.emitted == ()
    (rec,) = outbox.persist_part(MODEM, "SM", 2, b"\x02", facts("b", concat=(9, 2, 2, 8))).emitted
    assert isinstance(rec.body, ReceivedSms)
    assert rec.body.text == "ab" and len(rec.body.parts) == 2
    assert outbox.duplicate_parts(rec.seq) == 1


def test_same_ref_from_different_senders_does_not_merge(outbox: Outbox) -> None:
    outbox.persist_part(MODEM, "SM", 0, b"\x01", facts("a1", sender="1065", concat=(5, 2, 1, 8)))
    outbox.persist_part(MODEM, "SM", 1, b"\x02", facts("b1", sender="1069", concat=(5, 2, 1, 8)))
    (a,) = outbox.persist_part(
        MODEM, "SM", 2, b"\x03", facts("a2", sender="1065", concat=(5, 2, 2, 8))
    ).emitted
    (b,) = outbox.persist_part(
        MODEM, "SM", 3, b"\x04", facts("b2", sender="1069", concat=(5, 2, 2, 8))
    ).emitted
    assert isinstance(a.body, ReceivedSms) and isinstance(b.body, ReceivedSms)
    assert (a.body.text, b.body.text) == ("a1a2", "b1b2")


def test_8bit_and_16bit_refs_are_different_groups(outbox: Outbox) -> None:
    outbox.persist_part(MODEM, "SM", 0, b"\x01", facts("x", concat=(5, 2, 1, 8)))
    outbox.persist_part(MODEM, "SM", 1, b"\x02", facts("y", concat=(5, 2, 2, 16)))
    assert outbox.open_group_count() == 2


def test_reference_wraparound_starts_a_new_group_after_completion(outbox: Outbox) -> None:
    outbox.persist_part(MODEM, "SM", 0, b"\x01", facts("a", concat=(0, 2, 1, 8)))
    outbox.persist_part(MODEM, "SM", 1, b"\x02", facts("b", concat=(0, 2, 2, 8)))
    # Reference 0 reused by a later message with different content.
    outbox.persist_part(MODEM, "SM", 0, b"\x03", facts("c", concat=(0, 2, 1, 8)))
    (rec,) = outbox.persist_part(MODEM, "SM", 1, b"\x04", facts("d", concat=(0, 2, 2, 8))).emitted
    assert isinstance(rec.body, ReceivedSms) and rec.body.text == "cd"
    assert [m.text for m in messages(outbox)] == ["ab", "cd"]


def test_reused_reference_with_other_content_while_open_opens_second_group(outbox: Outbox) -> None:
    outbox.persist_part(MODEM, "SM", 0, b"\x01", facts("a", concat=(1, 2, 1, 8)))
    outbox.persist_part(MODEM, "SM", 1, b"\x02", facts("c", concat=(1, 2, 1, 8)))
    assert outbox.open_group_count() == 2


def test_missing_part_after_timeout_is_emitted_partial(outbox: Outbox, clock: ManualClock) -> None:
    outbox.persist_part(MODEM, "SM", 0, b"\x01", facts("a", concat=(2, 3, 1, 8)))
    outbox.persist_part(MODEM, "SM", 1, b"\x03", facts("c", concat=(2, 3, 3, 8)))
    clock.advance(599)
    assert outbox.expire_groups() == []
    clock.advance(2)
    # One record per run of consecutive parts: text decoded across the gap could not be
    # split again when part 2 turns up (the collector merges the records).
    first, third = outbox.expire_groups()
    assert isinstance(first.body, ReceivedSms) and isinstance(third.body, ReceivedSms)
    assert (first.body.text, first.body.missing_parts) == ("a", (2, 3))
    assert (third.body.text, third.body.missing_parts) == ("c", (1, 2))
    assert first.body.partial and third.body.partial
    assert [p.part_seq for p in third.body.parts] == [3]
    assert (first.body.concat_ref, first.body.concat_total) == (2, 3)
    # A late part 2 with the same ref is now a new group (the old one expired) and is
    # emitted the same way after its own timeout.
    outbox.persist_part(MODEM, "SM", 2, b"\x02", facts("b", concat=(2, 3, 2, 8)))
    assert outbox.open_group_count() == 1
    clock.advance(601)
    (late,) = outbox.expire_groups()
    assert isinstance(late.body, ReceivedSms)
    assert (late.body.text, late.body.missing_parts, late.body.concat_ref) == ("b", (1, 3), 2)
    assert outbox.open_group_count() == 0


def test_default_reassembly_timeout_is_far_inside_the_collectors_give_up() -> None:
    """Parts that arrived must reach the collector before it judges the probe (600 s)."""
    from agent.config import ReceiveConfig

    assert ReceiveConfig().reassembly_timeout_s <= 120.0
    assert Outbox.__init__.__kwdefaults__["reassembly_timeout_s"] <= 120.0


def test_ucs2_surrogate_pair_split_across_parts_survives(outbox: Outbox) -> None:
    emoji = "😁".encode("utf-16-be")
    f1 = PartFacts(
        sender="1",
        encoding="ucs2",
        text="a\ufffd",
        user_data="a".encode("utf-16-be") + emoji[:2],
        concat=ConcatInfo(4, 2, 1, 8),
    )
    f2 = PartFacts(
        sender="1",
        encoding="ucs2",
        text="\ufffdb",
        user_data=emoji[2:] + "b".encode("utf-16-be"),
        concat=ConcatInfo(4, 2, 2, 8),
    )
    outbox.persist_part(MODEM, "SM", 0, b"\x01", f1)
    (rec,) = outbox.persist_part(MODEM, "SM", 1, b"\x02", f2).emitted
    assert isinstance(rec.body, ReceivedSms) and rec.body.text == "a😁b"


def test_group_state_survives_reopen(tmp_path: Path, clock: ManualClock) -> None:
    path = tmp_path / "o.sqlite"
    with Outbox(path, now_ns=clock) as box:
        box.persist_part(MODEM, "SM", 0, b"\x01", facts("a", concat=(3, 2, 1, 8)))
    with Outbox(path, now_ns=clock) as box:
        (rec,) = box.persist_part(MODEM, "SM", 1, b"\x02", facts("b", concat=(3, 2, 2, 8))).emitted
        assert rec.seq == 1 and isinstance(rec.body, ReceivedSms) and rec.body.text == "ab"


def test_seq_is_gap_free_across_kinds_and_reopen(tmp_path: Path, clock: ManualClock) -> None:
    path = tmp_path / "o.sqlite"
    with Outbox(path, now_ns=clock) as box:
        box.append(AgentEvent(at_ns=1, kind="agent_started"))
        box.append(ModemHealth(at_ns=2, responding=True, registration=Registration.HOME), MODEM)
        box.persist_status_report(
            MODEM, "SR", 0, StatusReport(raw_pdu=b"\x06", storage="SR", index=0, received_at_ns=3)
        )
        box.mark_acked([1, 2, 3])
        clock.advance(10)
        assert box.prune() == 0
    with Outbox(path, now_ns=clock, retention_s=5) as box:
        assert box.prune() == 3
        assert box.last_seq() == 3
        rec = box.append(AgentEvent(at_ns=4, kind="x"))
        assert rec.seq == 4


def test_status_report_reread_is_recognised(outbox: Outbox) -> None:
    rep = StatusReport(raw_pdu=b"\x06\x01", storage="SR", index=2, received_at_ns=1, status=0)
    first = outbox.persist_status_report(MODEM, "SR", 2, rep)
    again = outbox.persist_status_report(MODEM, "SR", 2, rep)
    assert first.new and not again.new and outbox.depth() == 1


def test_record_source_contract(outbox: Outbox, clock: ManualClock) -> None:
    assert outbox.depth() == 0 and outbox.oldest_pending_ns() == 0 and outbox.last_seq() == 0
    first_at = clock.ns
    for i in range(5):
        outbox.append(AgentEvent(at_ns=i, kind="tick"))
        clock.advance(1)
    assert [r.seq for r in outbox.pending(0, 3)] == [1, 2, 3]
    assert [r.seq for r in outbox.pending(3, 10)] == [4, 5]
    outbox.mark_acked([1, 2])
    outbox.mark_acked([2])  # acking twice is harmless
    assert outbox.depth() == 3
    assert outbox.oldest_pending_ns() == first_at + 2 * 1_000_000_000
    assert [r.seq for r in outbox.pending(0, 10)] == [3, 4, 5]
    assert outbox.last_seq() == 5


def test_clock_estimate_is_stamped_from_the_provider(tmp_path: Path) -> None:
    est = ClockEstimate(offset_ms=12.5, uncertainty_ms=3.0, measured_at_ns=99)
    with Outbox(tmp_path / "o.sqlite", clock=lambda: est) as box:
        box.append(AgentEvent(at_ns=1, kind="x"))
        assert box.pending(0, 1)[0].clock == est
    with Outbox(tmp_path / "p.sqlite") as box:
        box.append(AgentEvent(at_ns=1, kind="x"))
        assert box.pending(0, 1)[0].clock.measured_at_ns == 0


def test_body_json_round_trip_for_every_kind() -> None:
    health = ModemHealth(
        at_ns=5,
        responding=True,
        rssi_dbm=float("nan"),
        registration=Registration.ROAMING,
        reasons=("storage_full",),
    )
    back = body_from_json("modem_health", body_to_json(health))
    assert isinstance(back, ModemHealth) and back.registration is Registration.ROAMING
    assert back.reasons == ("storage_full",) and back.rssi_dbm != back.rssi_dbm
    ev = AgentEvent(at_ns=1, kind="modem_lost", attributes={"port": "/dev/x"})
    assert body_from_json("agent_event", body_to_json(ev)) == ev


def test_alarm_before_the_bound_and_full_at_it(tmp_path: Path, clock: ManualClock) -> None:
    with Outbox(tmp_path / "o.sqlite", now_ns=clock, max_age_s=100, alarm_fraction=0.5) as box:
        box.append(AgentEvent(at_ns=1, kind="x"))
        assert not box.check_pressure().alarm
        clock.advance(60)
        p = box.check_pressure()
        assert p.alarm and not p.full
        kinds = [
            r.body.kind
            for r in box.records(kinds=("agent_event",))
            if isinstance(r.body, AgentEvent)
        ]
        assert kinds == ["x", "outbox_alarm"]
        box.check_pressure()  # edge-triggered: no second alarm
        assert len(box.records(kinds=("agent_event",))) == 2
        clock.advance(50)
        assert box.pressure().full
        box.mark_acked(r.seq for r in box.pending(0, 100))
        assert not box.check_pressure().alarm
        assert box.records(kinds=("agent_event",))[-1].body.kind == "outbox_alarm_cleared"  # type: ignore[union-attr]


def test_byte_bound(tmp_path: Path) -> None:
    with Outbox(tmp_path / "o.sqlite", max_bytes=262144, alarm_fraction=0.8) as box:
        i = 0
        while not box.pressure().full:
            box.persist_part(MODEM, "", -1, bytes(500), facts("x" * 400))
            i += 1
        assert 30 < i < 400
        assert box.pressure().used_bytes >= 262144


def test_gsm7_escape_split_across_parts_is_decoded_once(outbox: Outbox) -> None:
    # "a" + ESC | 0x65: the ESC ending part 1 makes part 2's "e" a euro sign (TS 23.038).
    f1 = PartFacts(
        sender="1", encoding="gsm7", text="a", user_data=b"\x61\x1b", concat=ConcatInfo(6, 2, 1, 8)
    )
    f2 = PartFacts(
        sender="1", encoding="gsm7", text="e", user_data=b"\x65", concat=ConcatInfo(6, 2, 2, 8)
    )
    outbox.persist_part(MODEM, "SM", 0, b"\x01", f1)
    (rec,) = outbox.persist_part(MODEM, "SM", 1, b"\x02", f2).emitted
    assert isinstance(rec.body, ReceivedSms) and rec.body.text == "a€"


# --- format 1: serialised records (pending_wire) and the upgrade of format-0 files ---

_FORMAT0_RECORDS = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
INSERT INTO meta (key, value) VALUES ('last_seq', 2);
CREATE TABLE records (
    seq INTEGER PRIMARY KEY,
    uuid TEXT NOT NULL UNIQUE,
    kind TEXT NOT NULL,
    persisted_at_ns INTEGER NOT NULL,
    clock TEXT NOT NULL,
    modem_imei TEXT NOT NULL,
    iccid TEXT NOT NULL,
    body TEXT NOT NULL,
    acked_at_ns INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX records_pending ON records (acked_at_ns, seq);
"""


def _format0_file(path: Path, bodies: list[tuple[str, str]]) -> None:
    """An outbox as the previous agent release wrote it: JSON bodies, no wire column."""
    db = sqlite3.connect(path)
    db.executescript(_FORMAT0_RECORDS)
    for seq, (kind, body) in enumerate(bodies, start=1):
        db.execute(
            "INSERT INTO records (seq, uuid, kind, persisted_at_ns, clock, modem_imei, iccid,"
            " body) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (seq, f"old-{seq}", kind, 1_700_000_000_000_000_000 + seq, "[1.5, 2.5, 7]",
             MODEM.imei, MODEM.iccid, body),
        )  # fmt: skip
    db.commit()
    db.close()


def test_pending_wire_is_the_stored_proto_of_each_pending_record(
    outbox: Outbox, clock: ManualClock
) -> None:
    outbox.append(AgentEvent(at_ns=1, kind="tick", attributes={"a": "b"}))
    outbox.persist_part(MODEM, "SM", 3, b"\x07\x91", facts("hello"))
    health = ModemHealth(at_ns=2, responding=True, rssi_dbm=-71.0, registration=Registration.HOME)
    outbox.append(health, MODEM)
    outbox.mark_acked([1])
    wires = outbox.pending_wire(0, 10)
    records = outbox.pending(0, 10)
    assert [w.seq for w in wires] == [r.seq for r in records] == [2, 3]
    assert [w.kind for w in wires] == ["sms", "health"]
    assert [w.wire for w in wires] == [record_to_proto(r).SerializeToString() for r in records]
    assert [record_from_wire(w) for w in wires] == records
    assert [w.persisted_at_ns for w in wires] == [clock.ns, clock.ns]
    assert [w.seq for w in outbox.pending_wire(2, 10)] == [3]


def test_format0_outbox_is_upgraded_in_place_and_its_records_still_upload(
    tmp_path: Path,
) -> None:
    path = tmp_path / "old.sqlite"
    sms = ReceivedSms(
        parts=(SmsPart("p1", b"\x07\x91\x13", "SM", 4, 1_700_000_000_000_000_001),),
        sender="10690001",
        text="code 1234",
        encoding="gsm7",
    )
    event = AgentEvent(at_ns=9, kind="modem_lost", attributes={"port": "/dev/x"})
    _format0_file(path, [("received_sms", body_to_json(sms)), ("agent_event", body_to_json(event))])
    with Outbox(path) as box:
        assert box._db.execute("PRAGMA user_version").fetchone()[0] == OUTBOX_FORMAT
        old = box.pending(0, 10)
        assert [r.body for r in old] == [sms, event]
        assert old[0].clock == ClockEstimate(1.5, 2.5, 7) and old[0].uuid == "old-1"
        # Old rows keep no wire bytes; they are encoded when read, identically.
        assert [w.wire for w in box.pending_wire(0, 10)] == [
            record_to_proto(r).SerializeToString() for r in old
        ]
        new = box.append(AgentEvent(at_ns=10, kind="tick"))
        assert new.seq == 3
        stored = box._db.execute("SELECT seq, wire IS NULL FROM records ORDER BY seq").fetchall()
        assert stored == [(1, 1), (2, 1), (3, 0)]
        box.mark_acked([1, 3])
        assert [w.seq for w in box.pending_wire(0, 10)] == [2]
    with Outbox(path) as box:  # reopening an upgraded file changes nothing
        assert [r.seq for r in box.pending(0, 10)] == [2]
        assert box._db.execute("PRAGMA user_version").fetchone()[0] == OUTBOX_FORMAT


def test_mark_acked_acks_exactly_the_given_seqs_in_runs(outbox: Outbox) -> None:
    for i in range(12):
        outbox.append(AgentEvent(at_ns=i, kind="tick"))
    outbox.mark_acked([7, 1, 2, 3, 5, 9, 10, 3])  # unordered, repeated, three runs
    assert [r.seq for r in outbox.pending(0, 20)] == [4, 6, 8, 11, 12]
    outbox.mark_acked(iter([4, 6]))  # any iterable
    assert outbox.depth() == 3
    # Ack marks skip the fsync; every later commit (records!) is FULL again.
    assert outbox._db.execute("PRAGMA synchronous").fetchone()[0] == 2


# --- format 2: what is pending is a narrow row per seq; an ack deletes it ---


def test_an_ack_leaves_the_record_row_untouched_and_notes_its_run(
    outbox: Outbox, clock: ManualClock
) -> None:
    for i in range(6):
        outbox.append(AgentEvent(at_ns=i, kind="tick"))
    rows_before = outbox._db.execute("SELECT * FROM records ORDER BY seq").fetchall()
    clock.advance(5)
    outbox.mark_acked([1, 2, 3, 5])
    outbox.mark_acked([2, 3])  # a replayed ack: nothing pending left to delete, no run
    assert outbox._db.execute("SELECT * FROM records ORDER BY seq").fetchall() == rows_before
    assert outbox._db.execute("SELECT seq FROM pending ORDER BY seq").fetchall() == [(4,), (6,)]
    assert outbox._db.execute("SELECT lo, hi, at_ns FROM ack_runs ORDER BY lo").fetchall() == [
        (1, 3, clock.ns),
        (5, 5, clock.ns),
    ]
    assert [w.seq for w in outbox.pending_wire(0, 10)] == [4, 6]
    assert [w.seq for w in outbox.pending_wire(4, 10)] == [6]
    assert outbox.depth() == 2
    assert outbox.oldest_pending_ns() == rows_before[3][3]


def test_prune_drops_records_by_their_ack_run_time_and_never_a_pending_one(
    tmp_path: Path, clock: ManualClock
) -> None:
    with Outbox(tmp_path / "o.sqlite", now_ns=clock, retention_s=100) as box:
        for i in range(8):
            box.append(AgentEvent(at_ns=i, kind="tick"))
        box.mark_acked([1, 2, 4])  # run 1-2 and 4 at t0 (3 stays pending inside them)
        clock.advance(60)
        box.mark_acked([5, 6])  # at t0 + 60
        clock.advance(50)  # t0 + 110: only the first acks are past the retention
        assert box.prune() == 3
        assert [r.seq for r in box.records()] == [3, 5, 6, 7, 8]
        assert [r.seq for r in box.pending(0, 10)] == [3, 7, 8]
        clock.advance(60)
        assert box.prune() == 2
        assert [r.seq for r in box.records()] == [3, 7, 8]
        assert box._db.execute("SELECT COUNT(*) FROM ack_runs").fetchone() == (0,)


def test_format1_outbox_keeps_its_acks_when_upgraded(tmp_path: Path, clock: ManualClock) -> None:
    path = tmp_path / "v1.sqlite"
    with Outbox(path, now_ns=clock, retention_s=100) as box:
        for i in range(5):
            box.append(AgentEvent(at_ns=i, kind="tick"))
    # What format 1 left: acks as records.acked_at_ns, no pending rows.
    db = sqlite3.connect(path)
    db.executescript("DROP TABLE pending; DROP TABLE ack_runs; PRAGMA user_version = 1;")
    db.execute("UPDATE records SET acked_at_ns = ? WHERE seq IN (1, 3)", (clock.ns,))
    db.commit()
    db.close()
    with Outbox(path, now_ns=clock, retention_s=100) as box:
        assert box._db.execute("PRAGMA user_version").fetchone()[0] == OUTBOX_FORMAT == 2
        assert [w.seq for w in box.pending_wire(0, 10)] == [2, 4, 5]
        assert box.depth() == 3
        box.mark_acked([2])
        clock.advance(101)
        assert box.prune() == 3  # 1 and 3 by their format-1 marks, 2 by its run
        assert [r.seq for r in box.records()] == [4, 5]
    with Outbox(path, now_ns=clock) as box:  # reopened: nothing re-added to pending
        assert [r.seq for r in box.pending(0, 10)] == [4, 5]
