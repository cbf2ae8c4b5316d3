"""collector/ledger/ingest_rules.py: pure rules, no database."""

from __future__ import annotations

from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agent.wire.records import AgentEvent, ReceivedSms, Record, SmsPart
from collector.ledger.ingest_rules import (
    MIN_PLAUSIBLE_NS,
    SeqState,
    advance_seq,
    check_record,
    classify_batch,
)
from collector.quarantine import Quarantined, QuarantineReason
from tests.collector.ledger.builders import NOW, NS, T0, event, health, record, sms, status_report

IMEIS = frozenset({"860000000000001"})
EMPTY = SeqState("a", 0, 0, 0, ())


def reason(rec: Record) -> QuarantineReason | None:
    q = check_record(rec, now_ns=NOW, known_imeis=IMEIS)
    return None if q is None else q.reason


def test_a_good_record_passes() -> None:
    assert reason(record(1)) is None
    assert reason(record(2, event(T0), imei="")) is None  # agent-level record


@pytest.mark.parametrize(
    ("rec", "expected"),
    [
        (replace(record(1), uuid=""), QuarantineReason.MISSING_UUID),
        (replace(record(1), uuid="has space"), QuarantineReason.BAD_UUID),
        (replace(record(1), uuid="x" * 65), QuarantineReason.BAD_UUID),
        (replace(record(1), seq=0), QuarantineReason.MISSING_SEQ),
        (replace(record(1), seq=2**63), QuarantineReason.BAD_VALUE),
        (record(1, at_ns=NOW + 86_400 * NS + 1), QuarantineReason.TIME_IN_FUTURE),
        (record(1, at_ns=MIN_PLAUSIBLE_NS - 1), QuarantineReason.TIME_TOO_OLD),
        (record(1, health(NOW + 2 * 86_400 * NS)), QuarantineReason.TIME_IN_FUTURE),
        (record(1, status_report(0)), QuarantineReason.TIME_TOO_OLD),
        (record(1, imei="123"), QuarantineReason.UNKNOWN_MODEM),
        (record(1, health(T0), imei=""), QuarantineReason.BAD_VALUE),
        (record(1, replace(sms(T0), parts=())), QuarantineReason.BAD_SIZE),
        (record(1, replace(sms(T0), text="x" * 40_801)), QuarantineReason.BAD_SIZE),
        (record(1, replace(sms(T0), concat_total=256)), QuarantineReason.BAD_VALUE),
        (record(1, replace(status_report(T0), raw_pdu=b"")), QuarantineReason.BAD_SIZE),
        (record(1, replace(status_report(T0), raw_pdu=b"\0" * 201)), QuarantineReason.BAD_SIZE),
        (record(1, health(T0, rssi=float("inf"))), QuarantineReason.BAD_VALUE),
        (record(1, AgentEvent(at_ns=T0, kind="")), QuarantineReason.BAD_VALUE),
        (
            record(1, AgentEvent(T0, "k", attributes={str(i): "" for i in range(65)})),
            QuarantineReason.BAD_SIZE,
        ),
        (replace(record(1), modem_imei="8" * 300), QuarantineReason.BAD_SIZE),
    ],
    ids=lambda v: v.value if isinstance(v, QuarantineReason) else "",
)
def test_rule_breakers_are_quarantined(rec: Record, expected: QuarantineReason) -> None:
    assert reason(rec) is expected


def _with_part(**changes: object) -> Record:
    part = replace(sms(T0).parts[0], **changes)  # type: ignore[arg-type]
    return record(1, ReceivedSms(parts=(part,)))


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"raw_pdu": b""}, QuarantineReason.BAD_SIZE),
        ({"raw_pdu": b"\0" * 201}, QuarantineReason.BAD_SIZE),
        ({"part_seq": 0}, QuarantineReason.BAD_VALUE),
        ({"index": -2}, QuarantineReason.BAD_VALUE),
        ({"uuid": ""}, QuarantineReason.MISSING_UUID),
        ({"received_at_ns": NOW + 3 * 86_400 * NS}, QuarantineReason.TIME_IN_FUTURE),
    ],
)
def test_bad_sms_parts_are_quarantined(
    changes: dict[str, object], expected: QuarantineReason
) -> None:
    assert reason(_with_part(**changes)) is expected


def test_a_direct_delivery_without_a_storage_slot_is_accepted() -> None:
    # The agent persists +CMT deliveries (CNMI mode 2) with index -1: no slot held them.
    assert reason(_with_part(index=-1, storage="")) is None


def test_scts_is_the_smscs_clock_and_never_a_reason_to_quarantine() -> None:
    part: SmsPart = replace(sms(T0).parts[0], scts_ns=1)
    assert reason(record(1, ReceivedSms(parts=(part,)))) is None


def test_quarantine_keeps_raw_and_only_plausible_times() -> None:
    future = record(7, at_ns=NOW + 9 * 86_400 * NS)
    q = check_record(future, now_ns=NOW, known_imeis=IMEIS)
    assert q is not None
    assert (q.uuid, q.seq, q.raw, q.persisted_at_ns) == (future.uuid, 7, future.raw, 0)
    assert "ahead of the collector" in q.detail
    stranger = record(8, imei="42")
    q = check_record(stranger, now_ns=NOW, known_imeis=IMEIS)
    assert q is not None and q.persisted_at_ns == stranger.persisted_at_ns


def test_classify_batch_splits_duplicates_quarantine_and_accepted() -> None:
    stored = record(1)
    fresh = record(3)
    conflict = record(2)  # seq 2 was already stored under another uuid
    state = SeqState("a", 0, 2, T0, ())
    out = classify_batch(
        [stored, fresh, fresh, conflict, record(4, imei="x")],
        [],
        now_ns=NOW,
        known_imeis=IMEIS,
        existing_uuids={stored.uuid},
        seq_state=state,
    )
    assert out.accepted == (fresh,)
    assert out.duplicates == 2
    assert [q.reason for q in out.quarantined] == [
        QuarantineReason.SEQ_CONFLICT,
        QuarantineReason.UNKNOWN_MODEM,
    ]


def test_two_uuids_with_one_seq_in_a_batch_keep_the_first() -> None:
    a, b = record(1), record(1)
    out = classify_batch(
        [a, b], [], now_ns=NOW, known_imeis=IMEIS, existing_uuids=(), seq_state=EMPTY
    )
    assert out.accepted == (a,)
    assert [q.uuid for q in out.quarantined] == [b.uuid]


# ---------------------------------------------------------------- sequence tracking


def test_gap_spans_use_the_neighbours_persisted_at() -> None:
    state, opened = advance_seq(EMPTY, [(1, 10), (2, 20), (6, 60)], at_ns=99)
    assert state.committed_seq == 2 and state.max_seq == 6
    assert [(g.first_seq, g.last_seq, g.start_ns, g.end_ns, g.detected_at_ns) for g in opened] == [
        (3, 5, 20, 60, 99)
    ]
    state, opened = advance_seq(state, [(4, 40)], at_ns=100)
    assert opened == ()
    assert [(g.first_seq, g.last_seq, g.start_ns, g.end_ns) for g in state.gaps] == [
        (3, 3, 20, 40),
        (5, 5, 40, 60),
    ]
    assert state.is_free(3) and not state.is_free(4) and state.is_free(7)


def test_a_gap_split_in_the_same_call_reports_only_what_is_still_missing() -> None:
    _, opened = advance_seq(EMPTY, [(5, 50), (1, 10), (3, 30)], at_ns=1)
    assert [(g.first_seq, g.last_seq) for g in opened] == [(2, 2), (4, 4)]


@settings(max_examples=150, deadline=None)
@given(
    n=st.integers(min_value=1, max_value=60),
    data=st.data(),
)
def test_any_arrival_order_tracks_exactly_the_missing_seqs(n: int, data: st.DataObject) -> None:
    order = data.draw(st.permutations(range(1, n + 1)))
    cut = data.draw(st.integers(min_value=0, max_value=n))
    arrived_now, later = order[:cut], order[cut:]
    chunks = data.draw(st.lists(st.integers(1, 8), min_size=1, max_size=20))
    state = EMPTY
    arrived: set[int] = set()
    pending = list(arrived_now)
    i = 0
    while pending:
        size = chunks[i % len(chunks)]
        batch, pending = pending[:size], pending[size:]
        state, _ = advance_seq(state, [(s, s * 10) for s in batch], at_ns=0)
        arrived.update(batch)
        i += 1
        missing = {s for g in state.gaps for s in range(g.first_seq, g.last_seq + 1)}
        top = max(arrived)
        assert missing == set(range(1, top + 1)) - arrived
        expected_committed = min(missing) - 1 if missing else top
        assert state.committed_seq == expected_committed
        for g in state.gaps:  # spans are bounded by the neighbours that did arrive
            assert g.start_ns == (g.first_seq - 1) * 10
            assert g.end_ns == (g.last_seq + 1) * 10
    state, _ = advance_seq(state, [(s, s * 10) for s in later], at_ns=0)
    assert state.gaps == () and state.committed_seq == n


def test_caller_quarantine_keeps_only_plausible_times() -> None:
    def q(t: int) -> Quarantined:
        return Quarantined("u", 1, QuarantineReason.MISSING_BODY, "", b"", persisted_at_ns=t)

    out = classify_batch(
        [],
        [q(T0), q(NOW + 9 * 86_400 * NS), q(5)],
        now_ns=NOW,
        known_imeis=IMEIS,
        existing_uuids=(),
        seq_state=EMPTY,
    )
    assert [x.persisted_at_ns for x in out.quarantined] == [T0, 0, 0]
