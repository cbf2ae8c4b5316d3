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


def test_the_rate_chart_is_labelled_in_the_zone_of_the_period_at_seconds() -> None:
    from datetime import UTC, datetime, timedelta, timezone

    r = report(since="2026-11-19T00:00:00+08:00")
    # 200 probes per vendor, 90 s apart, span 5 h: at most 66 buckets (3 probes each),
    # so 300 s buckets (120 s would make 150)
    assert r.bucket_s == 300
    first = datetime.fromtimestamp(T0 // (300 * NS) * 300, UTC)
    china = render(r, "html")
    label = first.astimezone(timezone(timedelta(hours=8))).strftime("%Y-%m-%d %H:%M:%S")
    assert f"class=axis>{label}</text>" in china and ", UTC+08:00</h1>" in china
    plain = render(report(), "html")  # a zone-less period reads as UTC
    assert f"class=axis>{first.strftime('%Y-%m-%d %H:%M:%S')}</text>" in plain


def test_bucket_size_follows_the_span() -> None:
    from collector.reports.build import MAX_BUCKETS, bucket_for

    minute, hour, day = 60 * NS, 3600 * NS, 86400 * NS
    assert bucket_for(2 * minute) == 10 and bucket_for(hour) == 30
    assert bucket_for(day) == 600 and bucket_for(7 * day) == 3600
    # Few probes make fewer, fuller buckets: 7 in 80 min at most 2 buckets, so 1 h each.
    assert bucket_for(80 * minute, 7) == 3600 and bucket_for(day, 1440) == 600
    assert bucket_for(365 * day) == 86400  # the largest step; more than MAX_BUCKETS then
    # Anything from 4 minutes to 200 days is cut into 24..MAX_BUCKETS buckets.
    for span_s in (240, 1000, 3600, 5 * 3600, 86400, 3 * 86400, 30 * 86400, 200 * 86400):
        step = bucket_for(span_s * NS)
        assert 24 <= span_s / step <= MAX_BUCKETS, (span_s, step)


def short_run(seconds: int, every_s: int = 5) -> list[JudgedProbe]:
    """acme only, one probe every `every_s` seconds, every seventh lost."""
    return [
        JudgedProbe(f"s{i}", "acme", "china_mobile", "east", "otp", "day", T0 + i * every_s * NS,
                    True, "lost" if i % 7 == 6 else "delivered", "consistent", "success",
                    "intact", latency_s=3.0)
        for i in range(seconds // every_s)
    ]  # fmt: skip


def build_short(probes: list[JudgedProbe]):  # type: ignore[no-untyped-def]
    return build_report(probes, since="2026-11-19T00:00:00+08:00",
                        until="2026-11-19T01:00:00+08:00", generated_at="2026-11-19T01:00:00Z",
                        software_version="0.1.0")  # fmt: skip


def test_a_short_period_draws_every_bucket_as_a_point() -> None:
    # Two minutes of probes, one a second: 10 s buckets, twelve of them, each drawn as a
    # marker (a line through one hourly bucket drew nothing at all).
    r = build_short(short_run(120, every_s=1))
    assert r.bucket_s == 10 and len(r.rate_series["acme"]) == 12
    page = render(r, "html")
    assert page.count("class=marker") == 12 and "10 s buckets" in page
    one = render(build_short(short_run(5)), "html")  # a single probe, a single point
    assert one.count("class=marker") == 1
    # A long series is a line with its band, no markers.
    long = build_short(short_run(3 * 3600, every_s=20))
    assert len(long.rate_series["acme"]) >= 40
    assert "class=marker" not in render(long, "html") and "<polygon" in render(long, "html")


def test_times_at_second_precision_without_microseconds() -> None:
    r = build_report(short_run(60), since="2026-11-19T00:00:00.123456+08:00",
                     until="2026-11-19T00:59:59.987654+08:00",
                     generated_at="2026-11-19T01:00:00.555555+00:00",
                     software_version="0.1.0")  # fmt: skip
    page = render(r, "html")
    assert "report 2026-11-19 00:00:00 – 2026-11-19 00:59:59, UTC+08:00" in page
    assert "Generated 2026-11-19 09:00:00" in page
    for fraction in ("123456", "987654", "555555"):
        assert fraction not in page


def test_summary_first_and_no_table_wider_than_its_group() -> None:
    import re

    page = render(report(), "html")
    assert page.index("<h2>Summary</h2>") < page.index("Arrival rate over time")
    assert page.index("<h2>Summary</h2>") < page.index("Figures by breakdown")
    widths = [len(re.findall("<th[ >]", head)) for head in re.findall("<thead>(.*?)</thead>", page)]
    # the widest: the full breakdown's 5 dimensions + the 9 counts (it was 5 + 18 columns)
    assert max(widths) == 14
    assert "<details>" in page and "details::details-content" in page
    assert "@page{size:A4 landscape" in page and "thead{display:table-header-group}" in page
    assert '"Noto Sans CJK SC"' in page


def test_sla_words_are_plain() -> None:
    page = render(report(), "html")
    assert "undecided (p=" not in page and "more probes to decide" not in page
    # bolt: 194 of 200 arrived. Minimality of both counts: tests/collector/stats.
    assert (
        "bolt: 97.00 % arrived (194 of 200 judged probes; 95 % CI 93.61 % – 98.62 %). SLA 97 %: "
        "not yet decided (p = 0.557): needs 192 more probes with no loss to confirm 97 %; "
        "5 more lost probes in a row would confirm a breach."
    ) in page
    assert "acme: 99.50 % arrived" in page and "met: at least 97 % confirmed" in page
    assert "breached: below 97 % confirmed" in page  # cheap
    assert "Cost: billed " in page  # prices configured for every vendor


def test_a_big_breakdown_prints_only_its_main_table() -> None:
    from dataclasses import replace

    from collector.reports.render import PRINT_DETAILS_UP_TO

    probes = [replace(p, sim=f"138{i:08d}") for i, p in enumerate(short_run(150))]  # 30 SIMs
    page = render(build_short(probes), "html")

    def section(title: str) -> str:
        rest = page[page.index(f"<h3>{title}</h3>") :]
        return rest[: rest.index("</section>")]

    sims = section("By vendor × SIM")
    assert sims.count("<tr class=") == 4 * 30 and PRINT_DETAILS_UP_TO < 30  # main + 3 details
    assert sims.count("<details class=screen-only>") == 3 and "left out of print" in sims
    vendor = section("By vendor")
    assert vendor.count("<details>") == 3 and "left out of print" not in vendor
