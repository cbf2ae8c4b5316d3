from __future__ import annotations

from agent.common.units import NS
from collector.correlation.receiver import HealthSample, unhealthy_spans


def s(t: int, healthy: bool = True, *reasons: str) -> HealthSample:
    return HealthSample(t * NS, healthy, reasons)


def reasons(spans):  # type: ignore[no-untyped-def]
    return [(sp.start_ns // NS, sp.end_ns // NS, sp.reason) for sp in spans]


def test_healthy_and_regularly_sampled_is_clean() -> None:
    samples = [s(t) for t in range(0, 1000, 30)]
    assert unhealthy_spans(samples, [], start_ns=100 * NS, end_ns=900 * NS, max_silence_s=90) == []


def test_unhealthy_sample_covers_until_the_next_one() -> None:
    samples = [s(0), s(30, False, "not_registered"), s(60), s(90)]
    got = unhealthy_spans(samples, [], start_ns=0, end_ns=90 * NS, max_silence_s=90)
    assert reasons(got) == [(30, 60, "not_registered")]


def test_silence_and_gaps_are_not_measured() -> None:
    samples = [s(0), s(30), s(400), s(430)]
    got = unhealthy_spans(
        samples, [(500 * NS, 600 * NS)], start_ns=0, end_ns=700 * NS, max_silence_s=90
    )
    # A gap longer than max_silence is unknown from end to end: the sample before it
    # vouches for its own moment only (the receiver may have gone deaf right after it).
    assert reasons(got) == [
        (30, 400, "not_measured"),
        (430, 700, "not_measured"),
        (500, 600, "not_measured"),
    ]


def test_no_samples_at_all_means_nothing_can_be_proven() -> None:
    got = unhealthy_spans([], [], start_ns=0, end_ns=60 * NS, max_silence_s=90)
    assert reasons(got) == [(0, 60, "not_measured")]


def test_the_last_sample_vouches_for_nothing_after_it() -> None:
    # A receiver that hangs stops reporting: its last healthy sample must not cover the
    # SMS it then failed to read. Until max_silence has passed the time after it is
    # "awaiting_health" (a verdict waits), then "not_measured".
    samples = [s(0), s(3), s(6)]
    soon = unhealthy_spans(samples, [], start_ns=0, end_ns=20 * NS, max_silence_s=30)
    assert reasons(soon) == [(6, 20, "awaiting_health")]
    later = unhealthy_spans(samples, [], start_ns=0, end_ns=60 * NS, max_silence_s=30)
    assert reasons(later) == [(6, 60, "not_measured")]


def test_nothing_before_the_first_sample_is_vouched_for() -> None:
    got = unhealthy_spans([s(50), s(80)], [], start_ns=10 * NS, end_ns=80 * NS, max_silence_s=90)
    assert reasons(got) == [(10, 50, "not_measured")]
