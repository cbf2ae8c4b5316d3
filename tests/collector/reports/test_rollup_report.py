"""The month report from the hourly rollups equals the report from the raw rows, figure for
figure, on the same ledger (SQLite and a real PostgreSQL): a period with unaligned edges,
a not-measured span cutting hours, burst probes, probes billed above the rule, planned,
rejected and unjudged probes, verdicts judged again, ns-resolution latencies."""

from __future__ import annotations

import dataclasses
import math
import random
from dataclasses import replace
from typing import Any
from zoneinfo import ZoneInfo

from agent.common.units import NS
from collector.billing.config import BillingConfig
from collector.correlation.model import ContentVerdict, DlrClaim, DlrTruth, Outcome, Verdict
from collector.ledger.health import SpanChange
from collector.ledger.probes import ProbePlan, Submission
from collector.ledger.rollups import HOUR_NS, Slices
from collector.probes.bands import Periods
from collector.probes.bursts import burst_of, burst_probe_id
from collector.reports.build import build_report, merge_gaps
from collector.reports.bursts import burst_figures
from collector.reports.config import ReportsConfig
from collector.reports.figures import JudgedProbe, Tally, Thresholds
from collector.reports.judged import (
    load_judged,
    load_judged_rollups,
    load_tallies,
    new_probe,
    sent_hours_cut,
)
from collector.reports.period import load_period, period_report, rollups_serve
from collector.stats import Ordered, percentile, quantile_ci, quantile_test

T0 = 1_767_225_600 * NS  # 2026-01-01T00:00:00Z
SIMS = [
    ("+8613800000001", "china_mobile", ""),
    ("+8617000000002", "china_unicom", "mvno1"),
    ("+8613300000003", "china_telecom", ""),
    ("+8618600000004", "china_mobile", ""),
]


def build(ledger: Any, rng: random.Random, n: int, hours: int = 30) -> None:
    verdicts = []
    for i in range(n):
        msisdn, carrier, mvno = rng.choice(SIMS)
        burst = i % 40 == 7  # a burst in hour 5
        at = T0 + (5 * HOUR_NS + i * NS if burst else rng.randrange(0, hours * HOUR_NS))
        pid = burst_probe_id("storm", T0, i) if burst else f"p{i:05d}"
        ledger.add_probe(
            ProbePlan(
                probe_id=pid, vendor=rng.choice(["acme", "bolt", "cheap"]), msisdn=msisdn,
                profile=rng.choice(["otp", "notification"]), token=f"{i:06d}", body="b",
                expected_text="b", planned_at_ns=at, parts=rng.choice([1, 1, 2]),
                band=rng.choice(["peak", "night"]), carrier=carrier, mvno=mvno,
                region=rng.choice(["north", "south"]), agent_id="a1", modem_imei="86",
            )
        )  # fmt: skip
        if rng.random() < 0.05:
            continue  # stays planned: never sent
        status = rng.choice(["accepted"] * 8 + ["rejected", "ambiguous"])
        billed = 3 if i % 150 == 0 else rng.choice([None, None, 1])  # 3: above the rule
        sent = at + rng.randrange(0, 90 * NS)  # some cross into the next hour
        ledger.record_submission(
            Submission(pid, status, sent, sent + NS // 5, ("m",), b"", b"", "", "",
                       billed_parts=billed, billed_from="fee" if billed else "")
        )  # fmt: skip
        if status == "rejected" or rng.random() < 0.08:
            continue  # no verdict (yet)
        outcome = rng.choice([Outcome.DELIVERED] * 12 + [Outcome.LATE, Outcome.LOST,
                             Outcome.LOST, Outcome.PARTIAL, Outcome.INCONCLUSIVE,
                             Outcome.PENDING])  # fmt: skip
        arrived = outcome in (Outcome.DELIVERED, Outcome.LATE, Outcome.PARTIAL)
        content = (rng.choice([ContentVerdict.INTACT] * 5 + [ContentVerdict.MODIFIED])
                   if arrived else ContentVerdict.NONE)  # fmt: skip
        verdicts.append(
            Verdict(
                pid, outcome, rng.choice(list(DlrTruth)), rng.choice(list(DlrClaim)), content,
                latency_s=rng.randrange(1_000_000, 90 * NS) / NS if arrived else None,
                latency_uncertainty_s=rng.choice([0.0035, 0.0045, 0.25]),
                vendor_delay_s=rng.randrange(0, 5 * NS) / NS if arrived else None,
                carrier_delay_s=rng.randrange(0, 5 * NS) / NS if arrived else None,
                duplicates=rng.choice([0] * 9 + [1]),
                missing_parts=(2,) if outcome is Outcome.PARTIAL else (),
                # an arrival the ledger does not hold: its change cannot be classified
                arrival_uuids=(f"u-{pid}",) if content is ContentVerdict.MODIFIED else (),
            )
        )  # fmt: skip
    rng.shuffle(verdicts)
    for k in range(0, len(verdicts), 50):
        ledger.save_verdicts(verdicts[k : k + 50], at_ns=T0)
    # judged again: a fifth of them change class
    again = [Verdict(v.probe_id, Outcome.LOST, DlrTruth.FAKE_SUCCESS, DlrClaim.SUCCESS,
                     ContentVerdict.NONE, latency_uncertainty_s=0.0035)
             for v in verdicts[::5]]  # fmt: skip
    ledger.save_verdicts(again, at_ns=T0 + NS)


def dense(ledger: Any, n: int) -> None:
    """n probes alike in every dimension in hour 20, latencies from a few values: what the
    real density gives (count rows of many probes, repeated values)."""
    msisdn, carrier, mvno = SIMS[0]
    verdicts = []
    for i in range(n):
        pid, at = f"d{i:04d}", T0 + 20 * HOUR_NS + i * 10 * NS
        ledger.add_probe(
            ProbePlan(
                probe_id=pid, vendor="acme", msisdn=msisdn, profile="otp", token=f"{i:06d}",
                body="b", expected_text="b", planned_at_ns=at, parts=1, band="peak",
                carrier=carrier, mvno=mvno, region="north", agent_id="a1", modem_imei="86",
            )
        )  # fmt: skip
        ledger.record_submission(Submission(pid, "accepted", at, at + NS // 5, ("m",), b"", b"",
                                            "", ""))  # fmt: skip
        lost = i % 25 == 0
        verdicts.append(
            Verdict(pid, Outcome.LOST if lost else Outcome.DELIVERED,
                    DlrTruth.FAKE_SUCCESS if lost else DlrTruth.CONSISTENT, DlrClaim.SUCCESS,
                    ContentVerdict.NONE if lost else ContentVerdict.INTACT,
                    latency_s=None if lost else (1.5, 2.25, 3.0, 7.125)[i % 4],
                    latency_uncertainty_s=0.0035)
        )  # fmt: skip
    ledger.save_verdicts(verdicts, at_ns=T0)


def day_kind(at_ns: int) -> str:
    return "holiday" if (at_ns // (86400 * NS)) % 2 else "workday"


def report(judged: Any, gaps: Any, since: int, until: int) -> dict[str, Any]:
    built = build_report(
        judged, since="s", until="u", generated_at="g", software_version="v",
        thresholds=Thresholds(arrival_rate=0.9), prices={"acme": 0.04, "bolt": 0.05},
        not_measured=gaps, period_ns=(since, until), day_kind=day_kind, bucket_s=3 * 3600,
        exclude=lambda p: bool(p.probe_id) and burst_of(p.probe_id) is not None,
    )  # fmt: skip
    return {**built.to_json(), "latencies": built.latencies}


def test_report_from_rollups_equals_report_from_raw_rows(ledger: Any) -> None:
    build(ledger, random.Random(2026), 900)
    since, until = T0 + 2 * HOUR_NS + 17 * NS, T0 + 28 * HOUR_NS + 5 * 60 * NS
    spans = [("bolt", T0 + 9 * HOUR_NS + 600 * NS, T0 + 10 * HOUR_NS + 30 * NS, "probing")]
    gaps = merge_gaps(spans, since_ns=since, until_ns=until)
    _, _, raw = load_judged(ledger, since_ns=since, until_ns=until)
    cut = sent_hours_cut([(s, e) for _, s, e, _ in spans])
    assert cut == {T0 + 9 * HOUR_NS, T0 + 10 * HOUR_NS}
    rolled = load_judged_rollups(ledger, since_ns=since, until_ns=until, raw_sent_hours=cut)
    assert len(rolled) == len(raw) > 700
    # most probes came from the rollups (no id), the cut hours and edges from raw rows
    assert sum(1 for p in rolled if not p.probe_id) > len(raw) // 2
    expected, got = report(raw, gaps, since, until), report(rolled, gaps, since, until)
    assert expected["tables"]["vendor"][0]["judged"] > 100
    assert expected["not_measured"]["bolt"]["probes_excluded"] > 0  # the span cut probes
    assert expected["sim_outliers"] and expected["latencies"]["acme"]
    for name in expected["tables"]:
        assert got["tables"][name] == expected["tables"][name], name
    assert got == expected
    for vendor in ("acme", "bolt"):
        one = load_judged_rollups(ledger, since_ns=since, until_ns=until, vendor=vendor,
                                  raw_sent_hours=cut)  # fmt: skip
        raw_one = load_judged(ledger, since_ns=since, until_ns=until, vendor=vendor)[2]
        assert report(one, gaps, since, until) == report(raw_one, gaps, since, until)


def test_report_from_counted_rollups_equals_report_from_raw_rows(ledger: Any) -> None:
    """load_tallies: the figures from the rollups' counts and value multisets (a tally per
    count row, not a probe each) give the whole report JSON of the raw rows."""
    build(ledger, random.Random(7), 900)
    dense(ledger, 240)
    since, until = T0 + 2 * HOUR_NS + 17 * NS, T0 + 28 * HOUR_NS + 5 * 60 * NS
    spans = [("bolt", T0 + 9 * HOUR_NS + 600 * NS, T0 + 10 * HOUR_NS + 30 * NS, "probing")]
    gaps = merge_gaps(spans, since_ns=since, until_ns=until)
    cut = sent_hours_cut([(s, e) for _, s, e, _ in spans])
    stored, _, raw = load_judged(ledger, since_ns=since, until_ns=until)
    kept, _, tallies = load_tallies(ledger, since_ns=since, until_ns=until, raw_sent_hours=cut)
    counted = [t for t in tallies if not t.probe.probe_id]
    # most probes counted from the rollups, the dense hour's in few tallies, repeated values
    assert sum(t.n for t in tallies) == len(raw) > 900
    assert sum(t.n for t in counted) > len(raw) // 2
    assert max(t.n for t in counted) >= 100
    assert max(k for t in counted for _, _, ks in t.values for k in ks) > 10
    assert {p.plan.probe_id for p in kept} < {p.plan.probe_id for p in stored}
    expected, got = report(raw, gaps, since, until), report(tallies, gaps, since, until)
    assert expected["bursts"] == [] and expected["tables"]["vendor"][0]["judged"] > 100
    for name in expected["tables"]:
        assert got["tables"][name] == expected["tables"][name], name
    assert got == expected
    # bursts against their baseline: the baseline from counted tallies as from raw probes
    labelled = [replace(p, calendar=day_kind(p.submitted_at_ns)) for p in raw]
    counted_labelled = [
        part.with_probe(replace(part.probe, calendar=kind))
        for t in tallies
        for kind, part in t.parted(day_kind)
    ]
    want = burst_figures(stored, labelled, alpha=0.05)
    assert want and want[0]["baseline"]["judged"] > 50
    assert burst_figures(kept, counted_labelled, alpha=0.05) == want
    # raw_if: the hours holding a matching row are read raw
    _, _, more = load_tallies(ledger, since_ns=since, until_ns=until, raw_sent_hours=cut,
                              raw_if=lambda _, content: content == "modified")  # fmt: skip
    modified = [t for t in more if t.probe.content == "modified"]
    assert modified and all(t.probe.probe_id and t.n == 1 for t in modified)
    assert report(more, gaps, since, until) == expected


def test_counted_order_statistics_equal_listed_ones() -> None:
    """stats.Ordered from (value, count) pairs gives the percentiles, their intervals and
    the quantile test of the values listed one by one."""
    rng = random.Random(3)
    values = [rng.choice([0.25, 0.5, 1.5]) if rng.random() < 0.3 else rng.random()
              for _ in range(2000)]  # fmt: skip
    other = [v * 1.1 for v in values[:700]]
    pairs = [(v, values.count(v)) for v in set(values)]
    counted = Ordered.counted(pairs)
    assert len(counted) == len(values) and counted.values == sorted(set(values))
    for q in (0, 1, 50, 90, 95, 99, 100):
        assert percentile(counted, q) == sorted(values)[round((len(values) - 1) * q / 100)] or (
            percentile(counted, q) == percentile(values, q)
        )
        assert percentile(counted, q) == percentile(values, q)
    for q in (50, 90, 99):
        assert quantile_ci(counted, q) == quantile_ci(values, q) is not None
    assert quantile_test(counted, other, 50) == quantile_test(values, other, 50)
    assert counted.at_most(0.5) == sum(1 for v in values if v <= 0.5)
    assert counted.exact_mean() == math.fsum(values) / len(values)


def test_report_command_from_rollups_equals_it_from_raw_rows(ledger: Any) -> None:
    """The `report` command's whole report (period.period_report: every table, the rate
    series, SIM outliers, bursts, content changes, billing) read through the rollups equals
    it read from raw rows, for a period long enough that the rollups serve it (hourly
    buckets at least) in a whole-hour zone."""
    build(ledger, random.Random(11), 1200, hours=130)
    dense(ledger, 240)
    since, until = T0 + 17 * NS, T0 + 126 * HOUR_NS + 5 * 60 * NS
    shanghai = ZoneInfo("Asia/Shanghai")
    assert rollups_serve(since, until, shanghai)
    assert not rollups_serve(since, until, ZoneInfo("Asia/Kolkata"))  # +05:30
    assert not rollups_serve(since, since + 99 * HOUR_NS, shanghai)  # sub-hour buckets
    dark = (T0 + 9 * HOUR_NS + 600 * NS, T0 + 10 * HOUR_NS + 30 * NS)
    ledger.save_health("c1", [], [SpanChange("open", "bolt", "probing", dark[0]),
                                  SpanChange("close", "bolt", "probing", dark[1])])  # fmt: skip
    docs = {}
    for rollups in (True, False):
        data = load_period(ledger, since_ns=since, until_ns=until, vendor=None,
                           gaps={}, tz=shanghai, rollups=rollups)  # fmt: skip
        assert data.from_rollups is rollups
        built, probes = period_report(
            ledger, since_ns=since, until_ns=until, vendor=None, reports=ReportsConfig(),
            billing=BillingConfig(), periods=Periods(), generated_at="g", rollups=rollups,
        )  # fmt: skip
        docs[rollups] = ({**built.to_json(), "latencies": built.latencies}, probes, data)
    (got, n, counted), (expected, n_raw, raw) = docs[True], docs[False]
    assert n == n_raw > 1200 and len(counted.stored) < len(raw.stored) // 2
    assert expected["bucket_s"] >= 3600 and expected["bursts"] and expected["sim_outliers"]
    assert expected["content_changes"]["acme"]["unclassified"] > 0
    assert expected["not_measured"]["bolt"]["probes_excluded"] > 0
    assert expected["billing"] and expected["tables"]["vendor"][0]["judged"] > 200
    for name in expected["tables"]:
        assert got["tables"][name] == expected["tables"][name], name
    for key in expected:
        assert got[key] == expected[key], key


def test_exact_mean_of_repeated_values_equals_fsum_of_them_listed() -> None:
    """A fixed uncertainty repeated over a month: the mean from each value × its count
    (exact, rounded once) is fsum's over the values listed, bit for bit, where a plain
    sum drifts."""
    rng = random.Random(4)
    for pairs in ([(0.0035, 5000), (0.25, 7), (1e-9, 3)], [(0.1, 10), (0.2, 7), (0.3, 1)],
                  [(rng.random() * 10 ** rng.randrange(-6, 4), rng.randrange(5, 900))
                   for _ in range(40)]):  # fmt: skip
        listed = [v for v, n in pairs for _ in range(n)]
        counted = Ordered.counted(pairs)
        assert len(counted.values) * 4 <= len(counted)  # the value × count path
        assert counted.exact_mean() == math.fsum(listed) / len(listed)
        assert Ordered.of(listed).exact_mean() == math.fsum(listed) / len(listed)
    drift = [0.1] * 10
    assert sum(drift) != math.fsum(drift)  # why the sum must be exact


def test_tallies_merged_across_send_times_give_the_same_cells() -> None:
    """merge_times: counted tallies alike but for the send time pooled into one give
    every cell of every breakdown the unmerged tallies give (values in any order)."""
    from collector.reports.build import BREAKDOWNS
    from collector.reports.figures import JudgedProbe, aggregate, merge_times

    rng = random.Random(5)
    tallies = []
    for i in range(300):
        arrived = rng.random() < 0.9
        p = JudgedProbe(
            probe_id="" if i % 7 else f"id{i}", vendor=rng.choice("ab"), carrier="c",
            region=rng.choice(["n", "s"]), profile="otp", band="peak",
            submitted_at_ns=T0 + rng.randrange(0, 48) * HOUR_NS, accepted=True,
            outcome="delivered" if arrived else "lost", dlr="consistent", dlr_claim="success",
            content="intact", sim=rng.choice(["1", "2", "3"]), line="home",
            vendor_billed_parts=rng.choice([None, 1, 2]),
        )  # fmt: skip
        k = rng.randrange(1, 4)
        values = [("latency", tuple(sorted(rng.random() * 9 for _ in range(k))), (1,) * k)] \
            if arrived else []  # fmt: skip
        values.append(("uncertainty", (0.0035,), (k,)))
        tallies.append(Tally(p, k, tuple(values)))
    merged = merge_times(tallies)
    assert len(merged) < len(tallies) // 2
    assert sum(t.n for t in merged) == sum(t.n for t in tallies)
    memo: dict[Any, Any] = {}
    for dims in BREAKDOWNS.values():
        want = [c.to_dict() for c in aggregate(tallies, group_by=dims)]
        assert [c.to_dict() for c in aggregate(merged, group_by=dims, memo=memo)] == want


def test_tallies_summed_per_slice_give_the_report_of_raw_rows(ledger: Any) -> None:
    """load_tallies with the counts summed in SQL per 3-hour step cut at Shanghai's
    midnights (16:00 UTC) and the values per Shanghai day: fewer tallies than hour by
    hour, and the whole report of the raw rows with 3-hour buckets and calendar labels of
    Shanghai days."""
    build(ledger, random.Random(19), 900, hours=40)
    dense(ledger, 240)
    since, until = T0 + 2 * HOUR_NS + 17 * NS, T0 + 38 * HOUR_NS + 5 * 60 * NS
    offset = 8 * HOUR_NS

    def local_day(at_ns: int) -> str:
        return "holiday" if ((at_ns + offset) // (86400 * NS)) % 2 else "workday"

    def doc(probes: Any) -> dict[str, Any]:
        built = build_report(
            probes, since="s", until="u", generated_at="g", software_version="v",
            thresholds=Thresholds(arrival_rate=0.9), day_kind=local_day, bucket_s=3 * 3600,
            exclude=lambda p: bool(p.probe_id) and burst_of(p.probe_id) is not None,
        )  # fmt: skip
        return {**built.to_json(), "latencies": built.latencies}

    _, _, raw = load_judged(ledger, since_ns=since, until_ns=until)
    hourly = load_tallies(ledger, since_ns=since, until_ns=until)[2]
    sliced = load_tallies(ledger, since_ns=since, until_ns=until,
                          slices=Slices(3 * HOUR_NS, offset))[2]  # fmt: skip
    assert sum(t.n for t in sliced) == len(raw) > 900
    # sparse test data: few keys repeat within a slice, yet some do
    assert len(sliced) < len(hourly)
    # both calendar labels and several buckets a day are present
    expected = doc(raw)
    assert {c["key"]["calendar"] for c in expected["tables"]["vendor_calendar"]} == {
        "holiday", "workday"}  # fmt: skip
    assert doc(sliced) == expected
    # compacted days: the values sliced from the day blobs give the same
    ledger.compact_rollups(before_ns=T0 + 100 * HOUR_NS)
    again = load_tallies(ledger, since_ns=since, until_ns=until,
                         slices=Slices(3 * HOUR_NS, offset))[2]  # fmt: skip
    assert doc(again) == expected


def test_the_fast_probe_maker_makes_the_same_frozen_probe() -> None:
    """load_tallies makes each tally's probe with `new_probe` (each slot set by its
    descriptor, not the frozen dataclass' __init__): the same probe, equal, hashing
    alike, frozen, every field in its place."""
    rng = random.Random(3)
    for _ in range(50):
        fields = [rng.choice(["", "a", "b"]) for _ in JudgedProbe.__dataclass_fields__]
        fields[6], fields[7] = rng.randrange(10**18), rng.random() < 0.5
        fields[12] = rng.choice([None, rng.random()])
        fields[16], fields[19] = rng.randrange(3), rng.choice([None, 2])
        want, got = JudgedProbe(*fields), new_probe(*fields)
        assert type(got) is JudgedProbe and got == want and hash(got) == hash(want)
        assert dataclasses.astuple(got) == tuple(fields)
        try:
            got.vendor = "x"  # type: ignore[misc]
        except dataclasses.FrozenInstanceError:
            pass
        else:
            raise AssertionError("the probe made is not frozen")
