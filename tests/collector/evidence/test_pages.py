"""The bundle's report is built once: report.json takes the pages' "full" and "vendor"
tables only where they are the computation verify repeats (the same thresholds and every
probe at its vendor's flat price); with a price table by carrier it is aggregated apart,
flat, as verify recomputes it."""

from __future__ import annotations

import dataclasses
import json

from agent.common.units import NS
from collector.evidence.bundle import report_for
from collector.evidence.pages import BundleReport, counted
from collector.reports.build import build_report
from collector.reports.figures import JudgedProbe, Tally, Thresholds, merge_times
from tests.collector.reports.test_figures import probe

FLAT = {"v": 0.05, "w": 0.07}
TH = Thresholds(arrival_rate=0.9)


def _judged() -> list[JudgedProbe]:
    outcomes = ("delivered", "lost", "late", "delivered", "inconclusive")
    return [
        probe(i, outcomes[i % 5], vendor="vw"[i % 2], carrier=("china_mobile", "unicom")[i % 3 % 2],
              latency=1.0 + i / 7, parts=1 + i % 2, claim=("success", "failure")[i % 4 == 3])
        for i in range(60)
    ]  # fmt: skip


def _pages(price_of: object) -> BundleReport:
    return BundleReport("v", "s", "u", "now", "t", TH, FLAT, price_of)  # type: ignore[arg-type]


def test_flat_prices_report_json_from_the_pages_tables_equals_its_own_aggregation() -> None:
    judged = _judged()
    pages = _pages(lambda p: FLAT[p.vendor])
    tables = pages.json_tables(judged, TH, FLAT)
    assert tables is not None
    assert tables["full"] is pages.report(judged).tables["full"]  # the pages' own cells
    shared = report_for(judged, TH, FLAT, tables)
    assert json.dumps(shared) == json.dumps(report_for(judged, TH, FLAT))
    assert shared["by_vendor"][0]["billed_money"] > 0  # money figures are in the comparison
    assert pages.report(judged) is pages.report(judged)  # built once


def test_a_price_by_carrier_keeps_report_json_flat() -> None:
    judged = _judged()
    pages = _pages(lambda p: 0.09 if p.carrier == "unicom" else FLAT[p.vendor])
    assert pages.json_tables(judged, TH, FLAT) is None
    # What the pages show at the carrier's price is not what verify recomputes.
    flat = report_for(judged, TH, FLAT)
    by_carrier = [c.to_dict() for c in pages.report(judged).tables["vendor"]]
    assert [c["billed_money"] for c in by_carrier] != [c["billed_money"] for c in flat["by_vendor"]]
    assert report_for(judged, TH, FLAT, pages.json_tables(judged, TH, FLAT)) == flat


def test_other_thresholds_or_prices_than_the_pages_are_aggregated_apart() -> None:
    judged = _judged()
    pages = _pages(None)  # no price per probe: the flat prices everywhere
    assert pages.json_tables(judged, TH, FLAT) is not None
    assert pages.json_tables(judged, Thresholds(), FLAT) is None
    assert pages.json_tables(judged, TH, {"v": 0.05}) is None


def test_the_report_from_id_less_tallies_is_the_report_of_the_probes() -> None:
    """build_report merges tallies without an id that differ only in their send time;
    the pages' report from them is the one of the probes one by one, the probes billed
    above the rule still listed by id."""
    judged = [
        dataclasses.replace(p, submitted_at_ns=p.submitted_at_ns * 60 * NS,
                            vendor_billed_parts=(None, p.parts, p.parts + 1)[i % 3],
                            billed_from=("", "fee", "fee")[i % 3])
        for i, p in enumerate(_judged() * 3)
    ]  # fmt: skip
    pages = _pages(lambda p: FLAT[p.vendor])
    one_by_one = build_report(
        judged, since="s", until="u", generated_at="now", software_version="t", thresholds=TH,
        prices=FLAT, price_of=lambda p: FLAT[p.vendor], filters={"vendor": "v"},
    )  # fmt: skip
    assert pages.report(judged).to_json() == one_by_one.to_json()
    inflated = one_by_one.tables["vendor"][0].inflated_probe_ids
    assert inflated and all(i.startswith("p") for i in inflated)
    tallies = list(counted(judged))
    assert len(tallies) == len(judged)  # merged inside build_report: fewer keys than probes
    assert len(merge_times(t for t in tallies if isinstance(t, Tally))) < len(judged) / 4
