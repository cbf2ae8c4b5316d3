"""Counted tallies carrying several send times (`Tally.sends`: load_tallies gives one per
key and local day holding its slices' sums): the report reads each send where it reads
send times — the rate series, the span a bucket is chosen from, the calendar label and
the not-measured spans — so a tally of several sends gives the report of one tally per
send, even when its sends fall on days of other kinds or partly inside a gap."""

from __future__ import annotations

import random
from dataclasses import replace
from typing import Any

from agent.common.units import NS
from collector.ledger.rollups import HOUR_NS
from collector.reports.build import build_report, merge_gaps
from collector.reports.figures import JudgedProbe, Tally, Thresholds

T0 = 1_767_225_600 * NS  # 2026-01-01T00:00:00Z
DAY = 24 * HOUR_NS


def probe(rng: random.Random, at: int) -> JudgedProbe:
    arrived = rng.random() < 0.85
    return JudgedProbe(
        probe_id="", vendor=rng.choice("ab"), carrier=rng.choice(["cm", "cu"]),
        region="n", profile="otp", band=rng.choice(["peak", "night"]), submitted_at_ns=at,
        accepted=True, outcome="delivered" if arrived else "lost", dlr="consistent",
        dlr_claim="success", content="intact", sim=rng.choice(["1", "2"]), line="home",
        vendor_billed_parts=None,
    )  # fmt: skip


def tallies(seed: int) -> tuple[list[Tally], list[Tally]]:
    """Multi-send tallies over 3 days (sends up to 20 h apart: some cross a midnight) and
    the same probes as one tally per send, the values on the first send's."""
    rng = random.Random(seed)
    whole, single = [], []
    for _ in range(400):
        first = T0 + rng.randrange(0, 3 * 24) * HOUR_NS
        times = sorted({first, *(first + rng.randrange(1, 21) * HOUR_NS
                                 for _ in range(rng.randrange(0, 4)))})  # fmt: skip
        sends = [(at, rng.randrange(1, 5)) for at in times]
        p = probe(rng, first)
        k = rng.randrange(1, 6)
        values = (("latency", sorted(rng.random() * 30 for _ in range(k)), [1] * k),) \
            if p.outcome == "delivered" else ()  # fmt: skip
        n = sum(c for _, c in sends)
        whole.append(Tally(p, n, values, tuple(sends) if len(sends) > 1 else ()))
        for i, (at, c) in enumerate(sends):
            one = replace(p, submitted_at_ns=at) if i else p
            single.append(Tally(one, c, values if i == 0 else ()))
    return whole, single


def doc(items: list[Tally], **kw: Any) -> dict[str, Any]:
    built = build_report(
        items, since="s", until="u", generated_at="g", software_version="v",
        thresholds=Thresholds(arrival_rate=0.9), **kw,
    )  # fmt: skip
    return {**built.to_json(), "latencies": {v: list(xs) for v, xs in built.latencies.items()}}


def test_a_tally_of_several_sends_reports_as_one_tally_per_send() -> None:
    whole, single = tallies(3)
    assert any(len(t.sends) > 2 for t in whole)
    # a gap from 10:00 to 31:30 for vendor a: some tallies' sends lie on both sides of it
    since, until = T0, T0 + 4 * DAY
    gaps = merge_gaps([("a", T0 + 10 * HOUR_NS, T0 + 31 * HOUR_NS + 1800 * NS, "probing")],
                      since_ns=since, until_ns=until)  # fmt: skip
    inside = [t for t in whole if t.probe.vendor == "a" and len({
        T0 + 10 * HOUR_NS <= at < T0 + 31 * HOUR_NS + 1800 * NS for at, _ in t.send_times()
    }) == 2]  # fmt: skip
    assert inside

    def kind(at: int) -> str:  # Shanghai days, alternately
        return "holiday" if (at + 8 * HOUR_NS) // DAY % 2 else "workday"

    crossing = [t for t in whole if len({kind(at) for at, _ in t.send_times()}) == 2]
    assert crossing
    for kw in (
        {"bucket_s": 3600},
        {"bucket_s": 6 * 3600, "day_kind": kind},
        {"bucket_s": 3600, "not_measured": gaps, "period_ns": (since, until), "day_kind": kind},
        {"not_measured": gaps, "period_ns": (since, until)},  # the bucket chosen from sends
    ):
        want = doc(single, **kw)
        assert want["tables"]["vendor"][0]["judged"] > 100
        assert doc(whole, **kw) == want, kw
    with_gap = doc(whole, not_measured=gaps, period_ns=(since, until))
    assert with_gap["not_measured"]["a"]["probes_excluded"] > 0


def test_parted_splits_counts_keeps_values_with_the_first_send() -> None:
    whole, _ = tallies(11)
    for t in whole:

        def label(at: int) -> bool:
            return at >= T0 + DAY

        parts = t.parted(label)
        assert sum(p.n for _, p in parts) == t.n
        assert sorted(s for _, p in parts for s in p.send_times()) == sorted(t.send_times())
        assert parts[0][0] == label(t.probe.submitted_at_ns)
        assert parts[0][1].values == t.values and all(not p.values for _, p in parts[1:])
        for name, p in parts:
            assert {label(at) for at, _ in p.send_times()} == {name}
            assert p.probe.submitted_at_ns == p.send_times()[0][0]
