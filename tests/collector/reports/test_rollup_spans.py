"""Not-measured spans against the month report's slices (SQLite and a real PostgreSQL): a
month period sums the rollups per 6-hour slice cut at Shanghai's midnights (16:00 UTC),
so slices start at 00, 06, 12, 16 and 18 UTC. A span cuts hours that are read raw; the
rest of its slice is counted, and must be judged by the send times it holds, not by the
slice's start (which the span may cover). Spans of every shape: whole hours at a slice's
start, in a slice's middle, ending and starting exactly on a slice boundary, crossing a
local midnight, covering whole slices, cutting a few minutes of an hour, still open at
the period's end. The report through the rollups equals the raw rows' figure for figure."""

from __future__ import annotations

import random
from typing import Any
from zoneinfo import ZoneInfo

from agent.common.units import NS
from collector.billing.config import BillingConfig
from collector.billing.load import not_measured
from collector.correlation.model import ContentVerdict, DlrClaim, DlrTruth, Outcome, Verdict
from collector.ledger.health import SpanChange
from collector.ledger.probes import ProbePlan, Submission
from collector.ledger.rollups import HOUR_NS, Slices
from collector.probes.bands import Periods
from collector.reports.build import Gap, build_report
from collector.reports.config import ReportsConfig
from collector.reports.figures import Thresholds
from collector.reports.judged import load_judged, load_tallies, sent_hours_cut
from collector.reports.period import period_report, period_slices, rollups_serve

T0 = 1_767_225_600 * NS  # 2026-01-01T00:00:00Z, 08:00 in Shanghai
H, M = HOUR_NS, 60 * NS
SHANGHAI = ZoneInfo("Asia/Shanghai")
SINCE, UNTIL = T0 + 17 * NS, T0 + 601 * H + 5 * M  # 600 h and more: 6-hour slices
D1, D2, D3 = T0 + 48 * H, T0 + 72 * H, T0 + 96 * H
OPENED = UNTIL - 150 * M  # still open at the period's end
# (vendor, start, end): the shapes named in the module docstring
SPANS = [
    ("bolt", D1 + 6 * H, D1 + 8 * H),  # whole hours at a slice's start (06 UTC)
    ("bolt", D1 + 20 * H + 10 * M, D1 + 21 * H + 20 * M),  # in a slice's middle
    ("acme", D2 + 10 * H, D2 + 12 * H),  # ends exactly on a slice boundary (12 UTC)
    ("bolt", D2 + 12 * H, D2 + 13 * H),  # starts exactly on it
    ("cheap", D2 + 15 * H + 20 * M, D2 + 16 * H + 40 * M),  # across a local midnight
    ("bolt", D3, D3 + 6 * H),  # a whole slice
    ("acme", D3 + 16 * H, D3 + 18 * H),  # the short slice after a local midnight, whole
    ("acme", D3 + 6 * H + 20 * M, D3 + 6 * H + 40 * M),  # inside a slice's first hour
    ("cheap", D3 + 11 * H + 50 * M, D3 + 12 * H + 10 * M),  # cuts a slice's first hour
]
VENDORS = ("acme", "bolt", "cheap")
SIMS = [("+8613800000001", "china_mobile", ""), ("+8617000000002", "china_unicom", "mvno1")]


def probes(ledger: Any, rng: random.Random) -> None:
    """A probe every 12 minutes per vendor over the three days of the spans and the
    period's last 8 hours (the open span), sent up to 90 s after its plan (some into the
    next hour, some into a span); most delivered, some lost, some unjudged."""
    times = [*range(D1, D3 + 24 * H, 12 * M), *range(UNTIL - 8 * H, UNTIL, 12 * M)]
    verdicts = []
    for i, (at, vendor) in enumerate((at, v) for at in times for v in VENDORS):
        msisdn, carrier, mvno = SIMS[i % 2]
        pid = f"s{i:05d}"
        at += rng.randrange(0, 60 * NS)
        ledger.add_probe(
            ProbePlan(
                probe_id=pid, vendor=vendor, msisdn=msisdn, profile="otp", token=f"{i:06d}",
                body="b", expected_text="b", planned_at_ns=at, parts=1, band="peak",
                carrier=carrier, mvno=mvno, region="north", agent_id="a1", modem_imei="86",
            )
        )  # fmt: skip
        sent = at + rng.randrange(0, 90 * NS)
        ledger.record_submission(
            Submission(pid, "accepted", sent, sent + NS // 5, ("m",), b"", b"", "", "")
        )
        if rng.random() < 0.05:
            continue  # not judged yet
        lost = rng.random() < 0.1
        verdicts.append(
            Verdict(
                pid, Outcome.LOST if lost else Outcome.DELIVERED,
                DlrTruth.FAKE_SUCCESS if lost else DlrTruth.CONSISTENT, DlrClaim.SUCCESS,
                ContentVerdict.NONE if lost else ContentVerdict.INTACT,
                latency_s=None if lost else rng.randrange(1_000_000, 60 * NS) / NS,
                latency_uncertainty_s=0.0035,
            )
        )  # fmt: skip
    for k in range(0, len(verdicts), 200):
        ledger.save_verdicts(verdicts[k : k + 200], at_ns=T0)
    changes = [SpanChange(phase, vendor, "probing", at)
               for vendor, start, end in SPANS
               for phase, at in (("open", start), ("close", end))]  # fmt: skip
    ledger.save_health("c1", [], [*changes, SpanChange("open", "cheap", "agent", OPENED)])


def slices() -> Slices:
    found = period_slices(SINCE, UNTIL, SHANGHAI)
    assert found == Slices(6 * H, 8 * H)
    return found


def exposed(sliced: Slices, gaps: dict[str, list[Gap]], cut: set[int]) -> set[tuple[str, int]]:
    """(vendor, slice start) where a span of the vendor covers the slice's start while
    the slice has hours no span cuts (counted): what judging a tally by its slice's start
    would get wrong."""
    found = set()
    for vendor, spans in gaps.items():
        for g in spans:
            for hour in range(g.start_ns // H * H, g.end_ns, H):
                start = max(hour // sliced.step_ns * sliced.step_ns, sliced.day(hour))
                end = min(start // sliced.step_ns * sliced.step_ns + sliced.step_ns,
                          sliced.day(start) + 24 * H, UNTIL // H * H)  # fmt: skip
                if g.start_ns <= start < g.end_ns and set(range(start, end, H)) - cut:
                    found.add((vendor, start))
    return found


def test_counted_tallies_are_judged_by_their_own_send_hours(ledger: Any) -> None:
    """build_report of load_tallies over a month's 6-hour slices, with the not-measured
    spans set apart, equals it of the raw rows: no counted probe set apart (or kept)
    because a span covers its slice's start."""
    probes(ledger, random.Random(2026))
    assert rollups_serve(SINCE, UNTIL, SHANGHAI)
    sliced = slices()
    gaps = not_measured(ledger, since_ns=SINCE, until_ns=UNTIL)
    assert [(g.start_ns, g.end_ns) for g in gaps["cheap"]][-1] == (OPENED, UNTIL)
    cut = sent_hours_cut([(g.start_ns, g.end_ns) for spans in gaps.values() for g in spans])

    def doc(probes: Any) -> dict[str, Any]:
        built = build_report(
            probes, since="s", until="u", generated_at="g", software_version="v",
            thresholds=Thresholds(arrival_rate=0.9), not_measured=gaps,
            period_ns=(SINCE, UNTIL), bucket_s=6 * 3600,
            day_kind=lambda at: str(sliced.day(at) // (24 * H) % 2),
        )  # fmt: skip
        return {**built.to_json(), "latencies": built.latencies}

    _, _, raw = load_judged(ledger, since_ns=SINCE, until_ns=UNTIL)
    kept, _, tallies = load_tallies(ledger, since_ns=SINCE, until_ns=UNTIL, raw_sent_hours=cut,
                                    slices=sliced)  # fmt: skip
    counted = [t for t in tallies if not t.probe.probe_id]
    assert sum(t.n for t in tallies) == len(raw) > 1000
    assert sum(t.n for t in counted) > len(raw) // 2 and len(kept) < len(raw) // 2
    # the slices whose start a span covers while their later hours are counted
    assert exposed(sliced, gaps, cut) == {
        ("bolt", D1 + 6 * H), ("bolt", D2 + 12 * H), ("cheap", D2 + 16 * H),
        ("cheap", D3 + 12 * H)}  # fmt: skip
    expected, got = doc(raw), doc(tallies)
    assert all(expected["not_measured"][v]["probes_excluded"] > 0 for v in VENDORS)
    for name in expected["tables"]:
        assert got["tables"][name] == expected["tables"][name], name
    for key in expected:
        assert got[key] == expected[key], key
    # no counted tally lies in a span of its vendor: its probes are all measured
    assert not [
        t for t in counted
        if any(g.start_ns <= t.probe.submitted_at_ns < g.end_ns
               for g in gaps.get(t.probe.vendor, ()))
    ]  # fmt: skip
    for vendor in VENDORS:
        one = load_tallies(ledger, since_ns=SINCE, until_ns=UNTIL, vendor=vendor,
                           raw_sent_hours=cut, slices=sliced)[2]  # fmt: skip
        raw_one = load_judged(ledger, since_ns=SINCE, until_ns=UNTIL, vendor=vendor)[2]
        assert doc(one) == doc(raw_one), vendor


def test_report_command_with_spans_on_slice_edges_equals_raw_rows(ledger: Any) -> None:
    """period_report's whole JSON (tables, rate series, not-measured spans and probes set
    apart, billing) through the rollups equals it from raw rows with those spans."""
    probes(ledger, random.Random(7))
    slices()
    docs = {}
    for rollups in (True, False):
        built, n = period_report(
            ledger, since_ns=SINCE, until_ns=UNTIL, vendor=None, reports=ReportsConfig(),
            billing=BillingConfig(), periods=Periods(timezone="Asia/Shanghai"), generated_at="g",
            rollups=rollups,
        )  # fmt: skip
        docs[rollups] = ({**built.to_json(), "latencies": built.latencies}, n)
    (got, n), (expected, n_raw) = docs[True], docs[False]
    assert n == n_raw > 1000
    assert expected["bucket_s"] == 6 * 3600
    assert {v: len(s["spans"]) for v, s in expected["not_measured"].items()} == {
        "acme": 3, "bolt": 4, "cheap": 3}  # fmt: skip
    assert expected["tables"]["vendor"][0]["judged"] > 300
    for name in expected["tables"]:
        assert got["tables"][name] == expected["tables"][name], name
    for key in expected:
        assert got[key] == expected[key], key
