"""Partial long messages: records of one message merged, and the `partial` verdict rules."""

from __future__ import annotations

from agent.common.units import NS
from collector.correlation.model import (
    Arrival,
    ArrivalPart,
    ContentVerdict,
    DlrObservation,
    DlrTruth,
    Outcome,
    Policy,
    ProbeSpec,
    UnhealthySpan,
)
from collector.correlation.partials import MessageKey, merge_matched, merge_partials
from collector.correlation.verdicts import judge
from collector.reports.figures import JudgedProbe, aggregate

T0 = 1_800_000_000 * NS
POLICY = Policy(deadline_s=60, give_up_s=600, dlr_due_s=300)
PART1 = "【某某科技】保单AB12CD34EF5：您的保单已完成年度续期"
PART2 = "，电子保单已发送至您预留的邮箱。单号AB12CD34EF5"
TEXT = PART1 + PART2
KEY = MessageKey("8986000000000000001", "1069012345", 7, 2)
HOUR = 3600


def record(uuid: str, text: str, seqs: tuple[int, ...], at_s: float, total: int = 2) -> Arrival:
    parts = tuple(ArrivalPart(s, T0 + int((at_s + s * 0.1) * NS), 0, 0.0, 20.0) for s in seqs)
    missing = tuple(s for s in range(1, total + 1) if s not in seqs)
    return Arrival(uuid, text, "1069012345", parts, total, missing)


def merged(*records: Arrival, key: MessageKey = KEY) -> list[Arrival]:
    out = merge_partials(((("sim", key, r)) for r in records), window_ns=72 * HOUR * NS)
    return [a for _, a in out]


def probe() -> ProbeSpec:
    return ProbeSpec(
        probe_id="p1", vendor="v", msisdn="8613800000001", profile="long_ucs2",
        token="AB12CD34EF5", expected_text=TEXT, signature="某某科技", submitted_at_ns=T0,
        submit_status="accepted", vendor_message_ids=("m1", "m2"), parts=2,
    )  # fmt: skip


def delivrd(at_s: float) -> list[DlrObservation]:
    return [DlrObservation(m, "DELIVRD", T0 + int(at_s * NS)) for m in ("m1", "m2")]


def test_a_part_two_hours_late_merges_into_one_message() -> None:
    [one] = merged(record("r2", PART2, (2,), 2 * HOUR), record("r1", PART1, (1,), 5))
    assert one.text == TEXT and one.missing_parts == () and one.uuids == ("r1", "r2")
    assert [p.part_seq for p in one.parts] == [1, 2]


def test_runs_are_laid_end_to_end_whatever_order_they_come_in() -> None:
    records = [
        record("a", "A", (1,), 5, total=4),
        record("d", "D", (4,), 6, total=4),
        record("bc", "BC", (2, 3), 900, total=4),
    ]
    [one] = merged(*records, key=MessageKey("s", "x", 1, 4))
    assert (one.text, one.missing_parts, one.record_uuid) == ("ABCD", (), "a")
    assert set(one.uuids) == {"a", "d", "bc"}


def test_records_that_would_interleave_or_repeat_a_part_stay_apart() -> None:
    gap = record("ac", "AC", (1, 3), 5, total=3)  # an old agent's record across the gap
    [a, b] = merged(gap, record("b", "B", (2,), 10, total=3), key=MessageKey("s", "x", 1, 3))
    assert {a.text, b.text} == {"AC", "B"}
    # A reused 8-bit reference: the second part 1 opens a second message, and part 2
    # joins the oldest message lacking it.
    out = merged(record("x1", "X", (1,), 5), record("y1", "Y", (1,), 8), record("x2", "x", (2,), 9))
    assert sorted((m.text, m.missing_parts) for m in out) == [("Xx", ()), ("Y", (2,))]


def test_complete_records_and_other_keys_pass_through_unmerged() -> None:
    complete = record("c", TEXT, (1, 2), 5)
    other = MessageKey(KEY.sim, KEY.sender, 8, 2)
    out = merge_partials(
        [("sim", None, complete), ("sim", KEY, record("r1", PART1, (1,), 5)),
         ("sim", other, record("r2", PART2, (2,), 6))],
        window_ns=HOUR * NS,
    )  # fmt: skip
    assert [a.record_uuid for _, a in out] == ["c", "r1", "r2"]
    beyond = merge_partials(
        [("sim", KEY, record("r1", PART1, (1,), 5)), ("sim", KEY, record("r2", PART2, (2,), 7300))],
        window_ns=HOUR * NS,
    )
    assert len(beyond) == 2


def test_parts_of_two_probes_with_the_same_reference_are_never_joined() -> None:
    """8-bit references collide: probe A lost part 2, probe B lost part 1, same key."""
    a1, b2 = record("a1", "A1", (1,), 5), record("b2", "B2", (2,), 6)
    keys = {"a1": KEY, "b2": KEY}
    out, strays = merge_matched({"A": [a1], "B": [b2]}, [], keys, window_ns=HOUR * NS)
    assert out == {"A": [a1], "B": [b2]} and strays == []


def test_a_tokenless_middle_part_joins_the_one_probe_holding_its_message() -> None:
    key = MessageKey("s", "x", 3, 3)
    first, last = record("p1", "A", (1,), 5, total=3), record("p3", "C", (3,), 6, total=3)
    middle = record("p2", "B", (2,), 2 * HOUR, total=3)
    keys = {"p1": key, "p3": key, "p2": key}
    out, strays = merge_matched({"A": [first, last]}, [middle], keys, window_ns=3 * HOUR * NS)
    [one] = out["A"]
    assert (one.text, one.missing_parts, strays) == ("ABC", (), [])
    # Two probes hold records of that key: whose middle part it is cannot be told.
    other = record("q1", "Q", (1,), 7, total=3)
    keys["q1"] = key
    out, strays = merge_matched(
        {"A": [first, last], "Q": [other]}, [middle], keys, window_ns=3 * HOUR * NS
    )
    assert strays == [middle] and [a.text for a in out["A"]] == ["AC"]


def test_a_missing_part_is_partial_never_lost_and_its_delivrd_is_not_fake() -> None:
    part1 = record("r1", PART1, (1,), 5)
    early = judge(probe(), [part1], delivrd(8), [], now_ns=T0 + 300 * NS, policy=POLICY)
    assert early.outcome is Outcome.PENDING and "awaiting_parts" in early.reasons
    v = judge(probe(), [part1], delivrd(8), [], now_ns=T0 + 700 * NS, policy=POLICY)
    assert (v.outcome, v.dlr, v.content) == (
        Outcome.PARTIAL,
        DlrTruth.CONSISTENT,
        ContentVerdict.TRUNCATED,
    )
    assert v.missing_parts == (2,) and v.arrival_uuids == ("r1",)
    undeliv = [DlrObservation("m1", "UNDELIV", T0 + 8 * NS)]
    f = judge(probe(), [part1], undeliv, [], now_ns=T0 + 700 * NS, policy=POLICY)
    assert (f.outcome, f.dlr) == (Outcome.PARTIAL, DlrTruth.CONSISTENT)
    # The same probe with nothing arrived is lost with a fake DLR: the part is what counts.
    lost = judge(probe(), [], delivrd(8), [], now_ns=T0 + 700 * NS, policy=POLICY)
    assert (lost.outcome, lost.dlr) == (Outcome.LOST, DlrTruth.FAKE_SUCCESS)


def test_a_missing_part_while_the_receiver_was_unhealthy_is_inconclusive() -> None:
    part1 = record("r1", PART1, (1,), 5)
    deaf = [UnhealthySpan(T0 + 100 * NS, T0 + 200 * NS, "not_registered")]
    v = judge(probe(), [part1], delivrd(8), deaf, now_ns=T0 + 700 * NS, policy=POLICY)
    assert (v.outcome, v.dlr, v.missing_parts) == (
        Outcome.INCONCLUSIVE,
        DlrTruth.UNVERIFIABLE,
        (2,),
    )
    waiting = [UnhealthySpan(T0 + 500 * NS, T0 + 700 * NS, "awaiting_health")]
    w = judge(probe(), [part1], delivrd(8), waiting, now_ns=T0 + 700 * NS, policy=POLICY)
    assert w.outcome is Outcome.PENDING and "awaiting_receiver_health" in w.reasons


def test_the_late_part_turns_the_verdict_into_late_delivered_and_intact() -> None:
    [one] = merged(record("r1", PART1, (1,), 5), record("r2", PART2, (2,), 2 * HOUR))
    v = judge(probe(), [one], delivrd(8), [], now_ns=T0 + 3 * HOUR * NS, policy=POLICY)
    assert (v.outcome, v.dlr, v.content) == (
        Outcome.LATE,
        DlrTruth.CONSISTENT,
        ContentVerdict.INTACT,
    )
    assert v.missing_parts == () and v.latency_s is not None and v.latency_s > 2 * HOUR
    assert v.arrival_uuids == ("r1", "r2") and v.duplicates == 0


def judged(outcome: str, dlr: str, missing: int = 0, n: int = 0) -> JudgedProbe:
    return JudgedProbe(
        probe_id=f"p{n}", vendor="v", carrier="c", region="r", profile="long_ucs2", band="b",
        submitted_at_ns=T0, accepted=True, outcome=outcome, dlr=dlr, dlr_claim="success",
        content="truncated" if missing else "intact", parts=2, missing_parts=missing,
    )  # fmt: skip


def test_figures_show_partial_apart_from_the_arrival_rate_with_its_missing_parts() -> None:
    probes = [judged("delivered", "consistent", n=i) for i in range(5)]
    probes += [judged("partial", "consistent", missing=1, n=10 + i) for i in range(3)]
    [cell] = aggregate(probes, group_by=("vendor",))
    assert (cell.partial, cell.parts_missing, cell.lost) == (3, 3, 0)
    assert (cell.judged, cell.arrival_rate, cell.dlr["fake_success"]) == (5, 1.0, 0)
    assert (cell.billed_parts, cell.verified_parts) == (16, 13)
