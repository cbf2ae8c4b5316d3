"""The kind-of-line and per-SIM panels on a real InfluxDB, fed by the writer's own probe
points (line and iccid tags): the numbers are the hand-counted rates."""

from __future__ import annotations

import urllib.parse
import urllib.request
from typing import Any

import pytest

from collector.ledger.probes import ProbePlan, StoredProbe
from collector.reports.figures import JudgedProbe
from collector.timeseries.points import to_lines
from dashboards import build
from tests.collector.timeseries.reference import probe_point
from tests.collector.timeseries.test_dashboards import NOW, substitute
from tests.servers.influx import InfluxServer

DB = "smsprobe_lines"
# (vendor, line, iccid, arrived, lost, inconclusive): v1 whitelists SIM 8986A.
SIMS = [
    ("v1", "home", "8986A", 16, 0, 2),
    ("v1", "home", "8986B", 12, 6, 0),
    ("v1", "mvno", "8986C", 25, 5, 1),
    ("v2", "ported", "8986D", 9, 1, 0),
]


def _points() -> list[Any]:
    points = []
    for vendor, line, iccid, arrived, lost, inconclusive in SIMS:
        outcomes = ["delivered"] * arrived + ["lost"] * lost + ["inconclusive"] * inconclusive
        for i, outcome in enumerate(outcomes):
            pid = f"{iccid}-{i}"
            at = NOW - 3_600_000_000_000 + i * 1_000_000
            plan = ProbePlan(pid, vendor, "13800000000", "notification", "T", "b", "e", at,
                             carrier="china_mobile", region="east", iccid=iccid)  # fmt: skip
            stored = StoredProbe(plan, "accepted", at, at, (), b"", b"", "", "", True)
            judged = JudgedProbe(pid, vendor, "china_mobile", "east", "notification", "day", at,
                                 True, outcome, "consistent", "success", "intact",
                                 latency_s=3.0 if outcome == "delivered" else None,
                                 sim="13800000000", line=line)  # fmt: skip
            points.append(probe_point(judged, stored))
    return points


def _panel(title: str) -> str:
    [panel] = [p for p in build.VENDOR_DETAIL["panels"] if p["title"] == title]
    query: str = panel["targets"][0]["query"]
    return substitute(query)


def test_line_and_sim_panels_count_only_judged_probes(influxdb: InfluxServer) -> None:
    influxdb.create_database(DB)
    url = influxdb.url + "/write?" + urllib.parse.urlencode({"db": DB, "precision": "ns"})
    request = urllib.request.Request(url, data=to_lines(_points()), method="POST")
    with urllib.request.urlopen(request, timeout=10):
        pass
    by_line = {
        s["tags"]["line"]: s["values"][0][1:]
        for s in influxdb.query(_panel("Arrival rate by kind of line"), DB)
    }
    assert by_line["home"] == pytest.approx([28 / 34, 34])
    assert by_line["mvno"] == pytest.approx([25 / 30, 30])
    assert by_line["ported"] == pytest.approx([9 / 10, 10])
    per_sim = {
        s["tags"]["iccid"]: s["values"][0][1:]
        for s in influxdb.query(_panel("Arrival rate per SIM"), DB)
    }
    assert per_sim == {
        "8986A": [1.0, 16],
        "8986B": pytest.approx([12 / 18, 18]),
        "8986C": pytest.approx([25 / 30, 30]),
        "8986D": pytest.approx([9 / 10, 10]),
    }
