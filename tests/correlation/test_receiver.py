from __future__ import annotations

from collector.correlation.model import NS
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
    got = unhealthy_spans(samples, [], start_ns=0, end_ns=100 * NS, max_silence_s=90)
    assert reasons(got) == [(30, 60, "not_registered")]


def test_silence_and_gaps_are_not_measured() -> None:
    samples = [s(0), s(30), s(400), s(430)]
    got = unhealthy_spans(
        samples, [(500 * NS, 600 * NS)], start_ns=0, end_ns=700 * NS, max_silence_s=90
    )
    assert reasons(got) == [
        (120, 400, "not_measured"),
        (520, 700, "not_measured"),
        (500, 600, "not_measured"),
    ]


def test_no_samples_at_all_means_nothing_can_be_proven() -> None:
    got = unhealthy_spans([], [], start_ns=0, end_ns=60 * NS, max_silence_s=90)
    assert reasons(got) == [(0, 60, "not_measured")]
