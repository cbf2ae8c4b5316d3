"""The verdict rules, one by one. Times in seconds after an arbitrary epoch."""

from __future__ import annotations

from agent.common.units import NS
from collector.correlation.match import DlrIndex, IdRule, match_arrivals
from collector.correlation.model import (
    Arrival,
    ArrivalPart,
    ContentVerdict,
    DlrClaim,
    DlrObservation,
    DlrTruth,
    Outcome,
    Policy,
    ProbeSpec,
    UnhealthySpan,
)
from collector.correlation.verdicts import judge

T0 = 1_800_000_000 * NS
POLICY = Policy(deadline_s=60, give_up_s=600, dlr_due_s=300, read_resolution_s=1.0)
TEXT = "【某某科技】您的验证码为482913，5分钟内有效。"


def probe(**kw: object) -> ProbeSpec:
    base: dict[str, object] = dict(
        probe_id="p1",
        vendor="v",
        msisdn="8613800000001",
        profile="verification_code",
        token="482913",
        expected_text=TEXT,
        signature="某某科技",
        submitted_at_ns=T0,
        submit_status="accepted",
        vendor_message_ids=("m1",),
    )
    base.update(kw)
    return ProbeSpec(**base)  # type: ignore[arg-type]


def arrival(
    at_s: float,
    *,
    text: str = TEXT,
    offset_ms: float = 0.0,
    scts_s: float = 0.0,
    unc_ms: float = 20.0,
    uuid: str = "a1",
) -> Arrival:
    part = ArrivalPart(
        1, T0 + int(at_s * NS), T0 + int(scts_s * NS) if scts_s else 0, offset_ms, unc_ms
    )
    return Arrival(uuid, text, "1069012345", (part,))


def dlr(status: str, at_s: float, mid: str = "m1") -> DlrObservation:
    return DlrObservation(mid, status, T0 + int(at_s * NS))


def at(seconds: float) -> int:
    return T0 + int(seconds * NS)


def test_delivered_with_latency_corrected_by_the_clock_offset() -> None:
    # Agent clock 2 s behind the collector: received at agent t=8 s is collector t=10 s.
    v = judge(
        probe(),
        [arrival(8, offset_ms=2000, scts_s=4)],
        [dlr("DELIVRD", 12)],
        [],
        now_ns=at(1000),
        policy=POLICY,
    )
    assert v.outcome is Outcome.DELIVERED
    assert v.latency_s is not None and abs(v.latency_s - 10) < 1e-6
    assert v.latency_uncertainty_s is not None and abs(v.latency_uncertainty_s - 1.02) < 1e-6
    assert v.vendor_delay_s is not None and abs(v.vendor_delay_s - 4) < 1e-6
    assert v.carrier_delay_s is not None and abs(v.carrier_delay_s - 6) < 1e-6
    assert v.dlr is DlrTruth.CONSISTENT and v.content is ContentVerdict.INTACT
    assert v.sender == "1069012345"


def test_late_then_lost_then_pending() -> None:
    assert judge(probe(), [arrival(120)], [], [], now_ns=at(1000), policy=POLICY).outcome is (
        Outcome.LATE
    )
    assert judge(probe(), [], [], [], now_ns=at(1000), policy=POLICY).outcome is Outcome.LOST
    assert judge(probe(), [], [], [], now_ns=at(30), policy=POLICY).outcome is Outcome.PENDING


def test_fake_dlr_is_caught_only_when_the_receiver_was_healthy() -> None:
    healthy = judge(probe(), [], [dlr("DELIVRD", 5)], [], now_ns=at(1000), policy=POLICY)
    assert (healthy.outcome, healthy.dlr) == (Outcome.LOST, DlrTruth.FAKE_SUCCESS)
    down = [UnhealthySpan(at(100), at(200), "not_registered")]
    sick = judge(probe(), [], [dlr("DELIVRD", 5)], down, now_ns=at(1000), policy=POLICY)
    assert (sick.outcome, sick.dlr) == (Outcome.INCONCLUSIVE, DlrTruth.UNVERIFIABLE)
    assert "receiver:not_registered" in sick.reasons


def test_a_non_arrival_waits_for_the_receiver_to_vouch_for_the_whole_window() -> None:
    # Health is in only up to t=590 s; give-up is at 600 s. Lost (and a fake DLR) only
    # once a sample after the window shows the receiver was still listening.
    awaiting = [UnhealthySpan(at(590), at(605), "awaiting_health")]
    v = judge(probe(), [], [dlr("DELIVRD", 5)], awaiting, now_ns=at(605), policy=POLICY)
    assert v.outcome is Outcome.PENDING and v.dlr is DlrTruth.PENDING
    assert "awaiting_receiver_health" in v.reasons
    # An arrival needs no vouching.
    got = judge(probe(), [arrival(5)], [], awaiting, now_ns=at(605), policy=POLICY)
    assert got.outcome is Outcome.DELIVERED and not got.reasons
    late = judge(probe(), [arrival(120)], [], awaiting, now_ns=at(605), policy=POLICY)
    assert late.outcome is Outcome.LATE
    # Another problem in the window decides at once.
    down = [*awaiting, UnhealthySpan(at(100), at(200), "not_registered")]
    sick = judge(probe(), [], [], down, now_ns=at(605), policy=POLICY)
    assert sick.outcome is Outcome.INCONCLUSIVE


def test_unhealthy_outside_the_window_does_not_matter() -> None:
    before = [UnhealthySpan(at(-500), at(-1), "not_measured")]
    after = [UnhealthySpan(at(700), at(900), "agent_disconnected")]
    v = judge(probe(), [], [], before + after, now_ns=at(1000), policy=POLICY)
    assert v.outcome is Outcome.LOST and v.dlr is DlrTruth.MISSING


def test_arrival_beats_an_unhealthy_receiver_but_lateness_does_not() -> None:
    down = [UnhealthySpan(at(0), at(300), "not_registered")]
    on_time = judge(probe(), [arrival(5)], [], down, now_ns=at(1000), policy=POLICY)
    assert on_time.outcome is Outcome.DELIVERED
    late = judge(probe(), [arrival(400)], [], down, now_ns=at(1000), policy=POLICY)
    assert late.outcome is Outcome.INCONCLUSIVE


def test_false_failure_late_and_missing_dlrs() -> None:
    ff = judge(probe(), [arrival(5)], [dlr("UNDELIV", 9)], [], now_ns=at(1000), policy=POLICY)
    assert ff.dlr is DlrTruth.FALSE_FAILURE
    late = judge(probe(), [arrival(5)], [dlr("DELIVRD", 400)], [], now_ns=at(1000), policy=POLICY)
    assert late.dlr is DlrTruth.LATE
    waiting = judge(probe(), [arrival(5)], [], [], now_ns=at(100), policy=POLICY)
    assert waiting.dlr is DlrTruth.PENDING
    missing = judge(probe(), [arrival(5)], [], [], now_ns=at(1000), policy=POLICY)
    assert missing.dlr is DlrTruth.MISSING


def test_intermediate_states_never_override_a_final_one() -> None:
    v = judge(
        probe(),
        [arrival(5)],
        [dlr("DELIVRD", 8), dlr("ENROUTE", 9)],
        [],
        now_ns=at(1000),
        policy=POLICY,
    )
    assert v.dlr_claim is DlrClaim.SUCCESS and v.dlr is DlrTruth.CONSISTENT


def test_multipart_success_needs_every_part() -> None:
    p = probe(vendor_message_ids=("m1", "m2"), parts=2)
    one = judge(p, [], [dlr("DELIVRD", 5, "m1")], [], now_ns=at(1000), policy=POLICY)
    assert one.dlr_claim is DlrClaim.NONE and one.dlr is DlrTruth.MISSING
    both = judge(
        p,
        [],
        [dlr("DELIVRD", 5, "m1"), dlr("DELIVRD", 6, "m2")],
        [],
        now_ns=at(1000),
        policy=POLICY,
    )
    assert both.dlr is DlrTruth.FAKE_SUCCESS


def test_rejected_and_ambiguous_submits() -> None:
    rejected = judge(probe(submit_status="rejected"), [], [], [], now_ns=at(1), policy=POLICY)
    assert (rejected.outcome, rejected.dlr) == (Outcome.REJECTED, DlrTruth.NOT_APPLICABLE)
    amb = judge(
        probe(submit_status="ambiguous"), [arrival(3)], [], [], now_ns=at(1000), policy=POLICY
    )
    assert amb.outcome is Outcome.DELIVERED and "ambiguous_submit" in amb.reasons
    never = judge(probe(submit_status="ambiguous"), [], [dlr("DELIVRD", 5)], [], now_ns=at(1000),
                  policy=POLICY)  # fmt: skip
    assert (never.outcome, never.dlr) == (Outcome.INCONCLUSIVE, DlrTruth.UNVERIFIABLE)


def test_duplicates_partial_and_modified_content() -> None:
    arrivals = [arrival(5, uuid="a1"), arrival(7, uuid="a2", text=TEXT + "拒收请回复R")]
    v = judge(probe(), arrivals, [], [], now_ns=at(1000), policy=POLICY)
    assert v.duplicates == 1 and v.arrival_uuids == ("a1", "a2")
    assert v.content is ContentVerdict.INTACT  # judged on the first complete arrival
    partial = Arrival("a3", TEXT[:10], "106", arrival(5).parts, total_parts=2, missing_parts=(2,))
    pv = judge(probe(parts=2), [partial], [], [], now_ns=at(1000), policy=POLICY)
    assert pv.missing_parts == (2,) and pv.content is ContentVerdict.TRUNCATED


def test_revision_when_a_late_arrival_comes_in() -> None:
    lost = judge(probe(), [], [dlr("DELIVRD", 5)], [], now_ns=at(700), policy=POLICY)
    revised = judge(probe(), [arrival(650)], [dlr("DELIVRD", 5)], [], now_ns=at(700), policy=POLICY)
    assert (lost.outcome, lost.dlr) == (Outcome.LOST, DlrTruth.FAKE_SUCCESS)
    assert (revised.outcome, revised.dlr) == (Outcome.LATE, DlrTruth.CONSISTENT)


def test_arrivals_are_matched_by_token_on_the_right_sim() -> None:
    a = arrival(1, text="【X】您的验证码为482913。")
    b = arrival(1, text="垃圾短信 123 456", uuid="b")
    other_sim = arrival(1, text="【X】您的验证码为482913。", uuid="c")
    m = match_arrivals([("sim1", a), ("sim1", b), ("sim2", other_sim)], {"sim1": {"482913": "p1"}})
    assert m.by_probe["p1"] == [a]
    assert m.unsolicited == [b, other_sim]


def test_dlr_ids_in_hex_at_submit_and_decimal_in_receipt_and_back() -> None:
    index = DlrIndex()
    index.add("p1", "v", ["ABC1"])  # hex at submit
    index.add("p2", "v", ["43970"])  # decimal at submit
    index.add("p3", "w", ["0000A1"])
    assert index.lookup("v", "43969") == ("p1", IdRule.HEX_SUBMIT_DEC_DLR)
    assert index.lookup("v", "abc2") == ("p2", IdRule.DEC_SUBMIT_HEX_DLR)
    assert index.lookup("w", "a1\x00") == ("p3", IdRule.SAME)
    assert index.lookup("v", "99999999") is None


def test_ambiguous_dlr_id_is_left_unattributed() -> None:
    index = DlrIndex()
    index.add("p1", "v", ["10"])  # hex 0x10 = 16
    index.add("p2", "v", ["16"])  # both spellings collide under the cross rules
    assert index.lookup("v", "10") == ("p1", IdRule.SAME)  # exact form wins
    index2 = DlrIndex()
    index2.add("p1", "v", ["10"])
    index2.add("p2", "v", ["0010"])
    assert index2.lookup("v", "10") is None


def test_one_id_per_message_vendors_need_one_dlr_for_a_long_message() -> None:
    # HTTP aggregators give one id for a 3-part message and send one DLR for it.
    p = probe(vendor_message_ids=("m1",), parts=3)
    v = judge(p, [arrival(5)], [dlr("DELIVRD", 6, "m1")], [], now_ns=at(1000), policy=POLICY)
    assert v.dlr_claim is DlrClaim.SUCCESS and v.dlr is DlrTruth.CONSISTENT
