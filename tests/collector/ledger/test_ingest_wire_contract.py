"""`Ledger.ingest_wire` (the writer's path: batches as uploaded, the common SMS record
written straight from its proto) against the reference path (`records_from_batch`, then
`ingest_agents`): on both back-ends, every row of every table ingest writes and every
outcome are equal, over every record kind, hostile records, duplicates inside a batch and
across batches, and a replay; the stored bytes are the uploaded (signed) bytes exactly."""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from smsprobe.v1 import agent_pb2

from agent.wire.records import ClockEstimate, Record
from agent.wire.serde import record_to_proto
from collector.ledger import Ledger, open_ledger
from collector.ledger.ingest_rules import (
    DEFAULT_LIMITS,
    PlainSms,
    SeqState,
    classify_wire,
    read_plain,
    uuids_to_look_up,
)
from collector.quarantine import records_from_batch
from tests.collector.ledger.builders import (
    NOW,
    T0,
    canary,
    event,
    health,
    modem,
    record,
    registration,
    sms,
    status_report,
)
from tests.servers.postgres import PostgresServer

NS = 1_000_000_000
IMEI = "860000000000001"
REG = registration(
    "agent-1",
    modem(IMEI, "8986000000000000001", "+8613800000001"),
    modem("860000000000002", "", ""),  # no SIM: its SMS get no msisdn
    last_seq=40,  # the gaps below are announced: queued
)
AGENT = REG.agent_id
TABLES = {  # what ingest writes, each in a stable order
    "records": "id",
    "sms": "record_id",
    "sms_parts": "record_id, position",
    "status_reports": "record_id",
    "modem_health": "record_id",
    "canaries": "record_id",
    "events": "id",
    "quarantine": "id",
    "gaps": "first_seq",
    "agents": "agent_id",
    "modems": "imei",
}


@pytest.fixture(params=["sqlite", "postgresql"])
def two_ledgers(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[Ledger, Ledger]]:
    """Two empty ledgers of one back-end: the reference path's and ingest_wire's."""
    if request.param == "sqlite":
        urls = [f"sqlite:///{tmp_path}/ref.db", f"sqlite:///{tmp_path}/wire.db"]
    else:
        server: PostgresServer = request.getfixturevalue("postgres_server")
        urls = [server.url(server.create_database()) for _ in range(2)]
    ledgers = [open_ledger(url) for url in urls]
    try:
        yield ledgers[0], ledgers[1]
    finally:
        for ledger in ledgers:
            ledger.close()


def signed(rec: Record) -> agent_pb2.Record:
    """The record as a signing agent uploads it: signature and signer appended."""
    pb = agent_pb2.Record.FromString(rec.raw)
    pb.signature = b"\x30\x45" + bytes(range(70))
    pb.signer = "sha256:" + "ab" * 32
    return pb


def pb_of(rec: Record) -> agent_pb2.Record:
    return agent_pb2.Record.FromString(record_to_proto(rec).SerializeToString())


def corpus() -> list[list[agent_pb2.Record]]:
    """Three batches: every kind, the hostile records ingest must quarantine with their
    reason, duplicates within a batch and across batches."""
    t = T0 + 100 * NS
    sms1 = signed(record(1, sms(t)))
    sms3 = signed(record(2, sms(t + 1, "three parts", parts=3)))
    no_sim = signed(record(3, sms(t + 2), imei="860000000000002"))
    dlr = signed(record(4, status_report(t + 3)))
    hlt = signed(record(5, health(t + 4, healthy=False, rssi=-101.0)))
    evt = signed(record(6, event(t + 5)))
    can = signed(record(7, canary(t + 6)))
    # clock never measured (uncertainty unknown although sent), offset not finite
    unmeasured = pb_of(replace(record(8), clock=ClockEstimate(7.0, 2.0, 0)))
    nan_offset = pb_of(replace(record(9), clock=ClockEstimate(math.nan, 1.5, T0)))
    nul_text = pb_of(record(10, sms(t, "a\x00b")))  # scrubbed, accepted
    concat = pb_of(record(11, replace(sms(t, parts=2), missing_parts=(3, 4), partial=True)))
    no_body = agent_pb2.Record(uuid="no-body-1", seq=12, persisted_at_ns=t)
    future = pb_of(record(13, sms(NOW + 3 * 86_400 * NS), at_ns=t))
    too_old = pb_of(record(14, at_ns=1_000))
    unknown_modem = pb_of(record(15, imei="869999999999999"))
    bad_uuid = pb_of(record(16, uuid="has space"))
    no_uuid = pb_of(record(17, uuid=""))
    seq0 = pb_of(record(0))
    part = sms(t).parts[0]
    big_pdu = pb_of(record(18, replace(sms(t), parts=(replace(part, raw_pdu=b"\x01" * 201),))))
    empty_part_uuid = pb_of(record(19, replace(sms(t), parts=(replace(part, uuid=""),))))
    conflict = pb_of(record(1))  # another uuid on seq 1
    nul_no_body = agent_pb2.Record(uuid="x\x00y", seq=20, persisted_at_ns=t)
    huge_seq = pb_of(record(2**63, at_ns=t))
    gap_after = signed(record(30, sms(t + 30)))  # opens 21..29 (announced: queued)
    first = [sms1, sms3, no_sim, dlr, hlt, evt, can, unmeasured, nan_offset, nul_text, concat]
    first += [no_body, future, too_old, unknown_modem, bad_uuid, no_uuid, seq0, big_pdu]
    first += [empty_part_uuid, conflict, nul_no_body, huge_seq, gap_after, sms1, can]  # 2 dups
    second = [sms3, signed(record(25, sms(t + 25))), no_body, evt, signed(record(41))]
    third = list(first)  # a replay of the whole first batch
    # Stored uuids on fresh seqs, which ingest_wire does not look up: the insert tells,
    # and the batch is judged again with every uuid looked up (a duplicate each); one
    # on a seq used twice in the batch (looked up at once).
    again = [signed(record(s, sms(t + s), uuid=sms1.uuid)) for s in (50, 51)]
    twice = signed(record(53, sms(t + 53), uuid=dlr.uuid))
    fourth = [signed(record(49)), again[0], signed(record(52)), twice, signed(record(53))]
    fifth = [signed(record(54)), again[1]]
    return [first, second, third, fourth, fifth]


def batches_of(records: list[list[agent_pb2.Record]]) -> list[agent_pb2.Batch]:
    return [
        agent_pb2.Batch(agent_id=AGENT, batch_id=i + 1, records=recs)
        for i, recs in enumerate(records)
    ]


def dump(ledger: Ledger) -> dict[str, list[tuple[Any, ...]]]:
    """Every table ingest writes. Ids as their rank: a batch judged again after a stored
    uuid showed (ingest_wire) leaves unused ids of PostgreSQL's sequences behind."""
    with ledger._transaction(write=False) as tx:  # type: ignore[attr-defined]
        rows = {
            table: [tuple(r) for r in tx.tuples(f"SELECT * FROM {table} ORDER BY {order}")]
            for table, order in TABLES.items()
        }
    record_rank = {row[0]: i for i, row in enumerate(rows["records"])}
    for table in ("records", "sms", "sms_parts", "status_reports", "modem_health", "canaries"):
        rows[table] = [(record_rank[row[0]], *row[1:]) for row in rows[table]]
    for table in ("events", "quarantine"):
        rows[table] = [(i, *row[1:]) for i, row in enumerate(rows[table])]
    return rows


def test_ingest_wire_writes_what_the_reference_path_writes(
    two_ledgers: tuple[Ledger, Ledger],
) -> None:
    ref, wire = two_ledgers
    for ledger in (ref, wire):
        ledger.register_agent(REG, at_ns=NOW)
    batches = batches_of(corpus())
    # One commit of two batches (one transaction), then the replay in its own.
    ref_out = ref.ingest_agents(
        [(AGENT, [records_from_batch(b) for b in batches[:2]])], at_ns=NOW
    ) + ref.ingest_agents([(AGENT, [records_from_batch(b)]) for b in batches[2:]], at_ns=NOW + 1)
    wire_out = wire.ingest_wire([(AGENT, batches[:2])], at_ns=NOW) + wire.ingest_wire(
        [(AGENT, [b]) for b in batches[2:]], at_ns=NOW + 1
    )
    assert wire_out == ref_out
    first, second, replay = ref_out[0][0], ref_out[0][1], ref_out[1][0]
    # The corpus does what it says: kinds accepted, garbage quarantined, replays counted.
    assert (first.ingested, first.duplicates) == (12, 2)
    reasons = sorted(r.reason.split(":")[0] for r in first.rejections)
    expected = ["missing_body", "missing_body", "bad_value", "time_in_future", "time_too_old",
                "unknown_modem", "bad_uuid", "missing_uuid", "missing_seq", "bad_size",
                "missing_uuid", "seq_conflict"]  # fmt: skip
    assert reasons == sorted(expected), reasons
    assert (second.ingested, second.duplicates, second.quarantined) == (2, 2, 1)
    assert (replay.ingested, replay.duplicates) == (0, 14)
    fourth, fifth = ref_out[2][0], ref_out[3][0]
    assert (fourth.ingested, fourth.duplicates, fourth.quarantined) == (3, 2, 0)
    assert (fifth.ingested, fifth.duplicates) == (1, 1)
    assert [g.queued for g in first.new_gaps] == [True]
    ref_rows, wire_rows = dump(ref), dump(wire)
    for table in TABLES:
        assert wire_rows[table] == ref_rows[table], table
    # 8 SMS records of the first batch (one with 3 parts, one with 2), 2 of the second,
    # 3 of the fourth, 1 of the fifth
    assert len(wire_rows["sms"]) == 14 and len(wire_rows["sms_parts"]) == 17
    # The signed bytes are stored as uploaded, byte for byte.
    sent: dict[str, bytes] = {}
    for pb in (pb for b in batches for pb in b.records):
        if "\x00" not in pb.uuid:  # not a TEXT PostgreSQL can take as a parameter
            sent.setdefault(pb.uuid, pb.SerializeToString())  # stored: the first
    stored = wire.record_raw(list(sent))
    assert stored and all(stored[u] == sent[u] for u in stored)
    assert any(b"sha256:" in raw for raw in stored.values())


def test_the_common_sms_record_takes_the_fast_path_and_the_rest_the_reference() -> None:
    """classify_wire accepts a plain SMS record as its values (PlainSms), anything the
    reference rules would change or judge otherwise decoded (a Record)."""
    plain, nul, dlr = record(1), record(2, sms(T0 + NS, "x\x00")), record(3, status_report(T0))
    records = [pb_of(plain), pb_of(nul), pb_of(dlr), pb_of(plain)]
    plains = read_plain(records, now_ns=NOW, known_imeis={IMEI})
    assert [p is not None for p in plains] == [True, False, False, True]
    state = SeqState(AGENT, 0, 0, 0, ())
    # Only the plain record's seq repeats in the batch: its uuid is looked up (a replay).
    assert uuids_to_look_up(records, plains, state) == [r.uuid for r in (plain, nul, dlr, plain)]
    assert uuids_to_look_up(records[:3], plains[:3], state) == [nul.uuid, dlr.uuid]
    out = classify_wire(
        records,
        plains,
        now_ns=NOW,
        known_imeis={IMEI},
        existing_uuids=set(),
        seq_state=state,
        limits=DEFAULT_LIMITS,
    )
    kinds = [type(a) for a in out.accepted]
    assert kinds == [PlainSms, Record, Record] and out.duplicates == 1
    first = out.accepted[0]
    assert isinstance(first, PlainSms)
    assert (first.uuid, first.seq, first.raw) == (plain.uuid, 1, pb_of(plain).SerializeToString())
