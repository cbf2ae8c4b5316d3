"""The pure canary core: pairing, tokens, matching, and receiver spans."""

from __future__ import annotations

from agent.canary import canary_text, canary_token
from agent.common.units import NS
from collector.canaries import (
    CANARY_FAILED,
    CanaryOutcome,
    CanarySim,
    CanaryStatus,
    ReceivedText,
    SentCanary,
    canary_spans,
    judge_canaries,
    plan_canaries,
)
from collector.canaries import canary_token as find_token
from collector.correlation.model import UnhealthySpan
from collector.correlation.tokens import TokenKind, find_tokens

T0 = 1_767_225_600 * NS


def sim(agent: str, n: int, carrier: str = "china_mobile") -> CanarySim:
    return CanarySim(agent, f"86000000000000{n}", f"+861380000000{n}", carrier)


def test_each_sim_gets_a_canary_from_another_sim_of_its_agent_preferring_another_carrier() -> None:
    sims = [
        sim("a", 1, "china_mobile"),
        sim("a", 2, "china_mobile"),
        sim("a", 3, "china_unicom"),
        sim("b", 4, "china_mobile"),
    ]
    plan = plan_canaries(sims, 900.0)
    jobs = [j for js in plan.values() for j in js]
    to = {j.to_msisdn: j for j in jobs}
    assert set(to) == {s.msisdn for s in sims}  # every SIM is a receiver, exactly once
    assert len(jobs) == 4
    # Same agent and a different carrier first.
    assert to[sims[0].msisdn].from_imei == sims[2].imei
    assert to[sims[2].msisdn].from_imei in (sims[0].imei, sims[1].imei)
    # A SIM alone on its agent gets one from another agent, of another carrier if any.
    assert to[sims[3].msisdn].from_imei == sims[2].imei
    assert to[sims[3].msisdn].agent_id == "a"
    for j in jobs:
        assert j.from_imei != next(s.imei for s in sims if s.msisdn == j.to_msisdn)
        assert j.interval_s == 900.0 and "{token}" in j.text
    # Deterministic: the same fleet gives the same plan (the pushed config hash is stable).
    assert plan_canaries(list(reversed(sims)), 900.0) == plan_canaries(sims, 900.0)


def test_no_plan_when_off_or_alone() -> None:
    assert plan_canaries([sim("a", 1), sim("a", 2)], 0.0) == {}
    assert plan_canaries([sim("a", 1)], 60.0) == {}


def test_tokens_are_fresh_letters_that_never_look_like_probe_tokens() -> None:
    tokens = {canary_token("c1", T0 + i) for i in range(2000)}
    assert len(tokens) == 2000
    for t in tokens:
        text = canary_text("smsprobe canary {token}", t)
        assert find_token(text) == t
        assert find_tokens(text, TokenKind.CODE) == []
        assert find_tokens(text, TokenKind.ORDER) == []
    assert canary_text("ping", "abcdefghijklmn") == "ping abcdefghijklmn"
    assert canary_text("", "abcdefghijklmn") == "smsprobe canary abcdefghijklmn"


def sent(at_s: float, token: str, error: str = "", to: str = "+8613800000002") -> SentCanary:
    return SentCanary(
        canary_id="c1",
        agent_id="a",
        sender_imei="860000000000001",
        to_msisdn=to,
        sent_at_ns=T0 + int(at_s * NS),
        text=f"smsprobe canary {token}",
        error=error,
        record_uuid=f"u-{at_s}",
    )


def arrival(at_s: float, token: str, to: str = "+8613800000002") -> ReceivedText:
    return ReceivedText(to, f"smsprobe canary {token}", T0 + int(at_s * NS), f"sms-{at_s}")


TOK = [canary_token("c1", i) for i in range(8)]


def test_matching_by_token_on_the_target_sim_with_deadline_and_excuses() -> None:
    canaries = [
        sent(0, TOK[0]),  # arrives after 4 s
        sent(100, TOK[1]),  # never arrives: lost
        sent(200, TOK[2], error="CmsError: 500"),  # the send failed: proves nothing
        sent(300, TOK[3]),  # never arrives, but the sender was unhealthy then
        sent(400, TOK[4]),  # arrives on another SIM only: still lost
        sent(990, TOK[5]),  # within the deadline: pending
    ]
    arrivals = [
        arrival(4, TOK[0]),
        arrival(401, TOK[4], to="+8613800000009"),
        arrival(50, "zzzzzzzzzzzzzz"),  # someone else's text
    ]
    outcomes = judge_canaries(
        canaries,
        arrivals,
        now_ns=T0 + 1000 * NS,
        deadline_s=60,
        sender_unhealthy={"860000000000001": [UnhealthySpan(T0 + 290 * NS, T0 + 310 * NS, "x")]},
    )
    assert [o.status for o in outcomes] == [
        CanaryStatus.RECEIVED,
        CanaryStatus.LOST,
        CanaryStatus.SEND_FAILED,
        CanaryStatus.EXCUSED,
        CanaryStatus.LOST,
        CanaryStatus.PENDING,
    ]
    assert outcomes[0].latency_s == 4.0 and outcomes[0].arrival_uuid == "sms-4"


def test_a_late_arrival_after_the_deadline_is_still_received() -> None:
    # The deadline only decides when to stop waiting; an arrival proves the receiver works.
    [o] = judge_canaries(
        [sent(0, TOK[0])], [arrival(500, TOK[0])], now_ns=T0 + 600 * NS, deadline_s=60
    )
    assert o.status is CanaryStatus.RECEIVED and o.latency_s == 500.0


def test_one_arrival_is_matched_to_one_canary() -> None:
    # A template without {token} falls back to the exact text: two sends, one arrival.
    a = SentCanary("c", "a", "1", "+2", T0, "ping")
    b = SentCanary("c", "a", "1", "+2", T0 + NS, "ping", record_uuid="b")
    out = judge_canaries(
        [a, b], [ReceivedText("+2", "ping", T0 + 2 * NS, "s1")], now_ns=T0 + 999 * NS,
        deadline_s=60,
    )  # fmt: skip
    assert [o.status for o in out] == [CanaryStatus.RECEIVED, CanaryStatus.LOST]


def outcome(at_s: float, status: CanaryStatus, to: str = "+2") -> CanaryOutcome:
    return CanaryOutcome(sent(at_s, TOK[0], to=to), status)


def test_spans_run_from_a_lost_canary_to_the_next_one_that_arrived() -> None:
    outcomes = [
        outcome(0, CanaryStatus.RECEIVED),
        outcome(100, CanaryStatus.LOST),
        outcome(200, CanaryStatus.LOST),  # still inside the open span
        outcome(250, CanaryStatus.SEND_FAILED),  # proves nothing: does not close it
        outcome(300, CanaryStatus.RECEIVED),
        outcome(400, CanaryStatus.PENDING),
        outcome(500, CanaryStatus.LOST),  # open until now
        outcome(50, CanaryStatus.LOST, to="+3"),
        outcome(60, CanaryStatus.RECEIVED, to="+4"),
    ]
    spans = canary_spans(outcomes, now_ns=T0 + 1000 * NS)
    assert spans["+2"] == [
        UnhealthySpan(T0 + 100 * NS, T0 + 300 * NS, CANARY_FAILED),
        UnhealthySpan(T0 + 500 * NS, T0 + 1000 * NS, CANARY_FAILED),
    ]
    assert spans["+3"] == [UnhealthySpan(T0 + 50 * NS, T0 + 1000 * NS, CANARY_FAILED)]
    assert "+4" not in spans
