from __future__ import annotations

import csv
import io
import json
import random

from agent.common.units import NS
from collector.reports.build import build_report
from collector.reports.figures import JudgedProbe
from collector.reports.render import render

T0 = 1_795_000_000 * NS


def sample(seed: int = 3) -> list[JudgedProbe]:
    rng = random.Random(seed)
    probes = []
    for i in range(600):
        vendor = ("acme", "bolt", "cheap")[i % 3]
        carrier = ("china_mobile", "china_unicom", "china_telecom")[(i // 3) % 3]
        lose = rng.random() < {"acme": 0.01, "bolt": 0.04, "cheap": 0.12}[vendor]
        outcome = "lost" if lose else ("late" if rng.random() < 0.02 else "delivered")
        probes.append(
            JudgedProbe(
                f"p{i}",
                vendor,
                carrier,
                "east",
                "notification",
                "peak" if i % 4 == 0 else "day",
                T0 + i * 30 * NS,
                True,
                outcome,
                "fake_success" if lose and vendor == "cheap" else "consistent",
                "success" if outcome != "lost" or vendor == "cheap" else "failure",
                "intact" if outcome != "lost" else "none",
                latency_s=None if lose else rng.lognormvariate(1.5, 0.6),
                latency_uncertainty_s=None if lose else 0.6,
                vendor_delay_s=None if lose else 1.0,
                carrier_delay_s=None if lose else 2.0,
                parts=1 + (i % 5 == 0),
            )
        )
    return probes


def report(since: str = "2026-11-19"):  # type: ignore[no-untyped-def]
    return build_report(
        sample(),
        since=since,
        until="2026-11-20",
        generated_at="2026-11-20T00:00:00Z",
        software_version="0.1.0",
        prices={"acme": 0.04, "bolt": 0.035, "cheap": 0.03},
    )


def test_html_is_self_contained_with_the_three_charts() -> None:
    page = render(report(), "html")
    assert page.count("<svg") == 2 and "class=heat" in page
    assert "http://" not in page and "https://" not in page and "<script" not in page
    assert "SLA 97%" in page and "cheap" in page and "@media print" in page


def test_json_csv_md_carry_the_same_figures() -> None:
    r = report()
    data = json.loads(render(r, "json"))
    vendors = {c["key"]["vendor"]: c for c in data["tables"]["vendor"]}
    assert vendors["cheap"]["arrival_rate"] < vendors["acme"]["arrival_rate"]
    rows = list(csv.DictReader(io.StringIO(render(r, "csv"))))
    assert sum(int(row["sent"]) for row in rows) == 600
    md = render(r, "md")
    assert md.startswith("# smsprobe SLA report") and "| acme |" in md


def test_unknown_format() -> None:
    try:
        render(report(), "pdf")
    except ValueError as exc:
        assert "html, json, csv or md" in str(exc)
    else:
        raise AssertionError("no error")


def test_the_rate_chart_is_labelled_in_the_zone_of_the_period() -> None:
    from datetime import UTC, datetime, timedelta, timezone

    first = datetime.fromtimestamp(T0 / NS, UTC).replace(minute=0, second=0)  # hourly buckets
    china = render(report(since="2026-11-19T00:00:00+08:00"), "html")
    assert (first.astimezone(timezone(timedelta(hours=8))).strftime("%Y-%m-%d %H:%M")
            + " UTC+08:00") in china  # fmt: skip
    plain = render(report(), "html")  # a zone-less period reads as UTC
    assert first.strftime("%Y-%m-%d %H:%M") + " UTC" in plain
