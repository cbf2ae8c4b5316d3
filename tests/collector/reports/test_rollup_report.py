"""The month report from the hourly rollups equals the report from the raw rows, figure for
figure, on the same ledger (SQLite and a real PostgreSQL): a period with unaligned edges,
a not-measured span cutting hours, burst probes, probes billed above the rule, planned,
rejected and unjudged probes, verdicts judged again, ns-resolution latencies."""

from __future__ import annotations

import random
from typing import Any

from agent.common.units import NS
from collector.correlation.model import ContentVerdict, DlrClaim, DlrTruth, Outcome, Verdict
from collector.ledger.probes import ProbePlan, Submission
from collector.ledger.rollups import HOUR_NS
from collector.probes.bursts import burst_of, burst_probe_id
from collector.reports.build import build_report, merge_gaps
from collector.reports.figures import Thresholds
from collector.reports.judged import load_judged, load_judged_rollups, sent_hours_cut

T0 = 1_767_225_600 * NS  # 2026-01-01T00:00:00Z
SIMS = [
    ("+8613800000001", "china_mobile", ""),
    ("+8617000000002", "china_unicom", "mvno1"),
    ("+8613300000003", "china_telecom", ""),
    ("+8618600000004", "china_mobile", ""),
]


def build(ledger: Any, rng: random.Random, n: int) -> None:
    verdicts = []
    for i in range(n):
        msisdn, carrier, mvno = rng.choice(SIMS)
        burst = i % 40 == 7  # a burst in hour 5
        at = T0 + (5 * HOUR_NS + i * NS if burst else rng.randrange(0, 30 * HOUR_NS))
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
        verdicts.append(
            Verdict(
                pid, outcome, rng.choice(list(DlrTruth)), rng.choice(list(DlrClaim)),
                rng.choice([ContentVerdict.INTACT] * 5 + [ContentVerdict.MODIFIED])
                if arrived else ContentVerdict.NONE,
                latency_s=rng.randrange(1_000_000, 90 * NS) / NS if arrived else None,
                latency_uncertainty_s=rng.choice([0.0035, 0.0045, 0.25]),
                vendor_delay_s=rng.randrange(0, 5 * NS) / NS if arrived else None,
                carrier_delay_s=rng.randrange(0, 5 * NS) / NS if arrived else None,
                duplicates=rng.choice([0] * 9 + [1]),
                missing_parts=(2,) if outcome is Outcome.PARTIAL else (),
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
