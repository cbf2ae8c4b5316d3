"""Every dashboard panel query runs on a real InfluxDB 1.x and returns the right numbers,
and refers only to measurements, tags and fields the writer's own points carry."""

from __future__ import annotations

import json
import pathlib
import re
import time
import urllib.parse
import urllib.request
from typing import Any

import pytest

from collector.ledger.channels import ChannelObservation
from collector.ledger.health import UnitChange, UnmeasuredSpan
from collector.ledger.model import AgentSample
from collector.ledger.probes import HealthRow, ProbePlan, StoredProbe
from collector.reports.figures import JudgedProbe
from collector.timeseries.points import make_point, to_lines
from collector.timeseries.writer import (
    agent_point,
    channel_point,
    health_point,
    measured_points,
    silence_point,
    unit_point,
)
from dashboards import build
from tests.collector.timeseries.reference import arrival_points, probe_point
from tests.servers.influx import InfluxServer

DB = "smsprobe_dash"
HERE = pathlib.Path(build.__file__).resolve().parent
NOW = (time.time_ns() // 3_600_000_000_000) * 3_600_000_000_000  # top of this hour
H = 3_600_000_000_000


def substitute(query: str, **variables: str) -> str:
    """What Grafana does before sending the query."""
    query = query.replace("$timeFilter", f"time >= {NOW - 24 * H} AND time <= {NOW + H}")
    query = query.replace("$__interval", "5m")
    for name in ("vendor", "carrier", "region"):
        query = query.replace(f"${name}", variables.get(name, ".*"))
    return query


def all_queries() -> list[tuple[str, str, str]]:
    return [
        (name, panel["title"], target["query"])
        for name, dash in build.DASHBOARDS.items()
        for panel in dash["panels"]
        for target in panel["targets"]
    ]


def _arrival(i: int, vendor: str, carrier: str, sender: str, latency: float) -> ChannelObservation:
    at = NOW - 2 * H + i * 60_000_000_000
    arrived = at + int(latency * 1e9)
    return ChannelObservation(
        f"c{i}", vendor, carrier, "notification", at, arrived, latency, sender, "+8613800100500"
    )


# v1 moves China Mobile from 10690303 to 106903039 (slower) after three arrivals; v2 uses one.
CHANNEL_OBSERVATIONS = [
    _arrival(0, "v1", "china_mobile", "10690303", 2.0),
    _arrival(1, "v1", "china_mobile", "10690303", 4.0),
    _arrival(2, "v1", "china_mobile", "10690303", 6.0),
    _arrival(3, "v1", "china_mobile", "106903039", 20.0),
    _arrival(4, "v1", "china_mobile", "106903039", 40.0),
    _arrival(5, "v2", "china_telecom", "10690505", 3.0),
]


def test_committed_json_is_current() -> None:
    for name, text in build.render().items():
        assert (HERE / name).read_text() == text, f"run python dashboards/build.py ({name})"


@pytest.fixture(scope="module")
def loaded(influxdb: InfluxServer) -> InfluxServer:
    influxdb.create_database(DB)
    points = []
    # Two vendors × two carriers, 3 hourly windows each; v2/china_telecom loses a lot.
    for h in range(3):
        t = NOW - (3 - h) * H
        for vendor, carrier, delivered, lost, inconclusive in (
            ("v1", "china_mobile", 99, 1, 0),
            ("v1", "china_telecom", 98, 2, 1),
            ("v2", "china_mobile", 97, 3, 0),
            ("v2", "china_telecom", 80, 20, 5),
        ):
            sent = delivered + lost + inconclusive
            points.append(
                make_point(
                    "arrival",
                    {
                        "vendor": vendor,
                        "carrier": carrier,
                        "region": "east",
                        "profile": "notification",
                        "window": "1h",
                    },
                    {
                        "sent": sent,
                        "delivered": delivered,
                        "lost": lost,
                        "inconclusive": inconclusive,
                        "rate": delivered / (delivered + lost),
                    },
                    t,
                )
            )
            for i in range(5):
                points.append(
                    make_point(
                        "probe",
                        {
                            "vendor": vendor,
                            "carrier": carrier,
                            "region": "east",
                            "profile": "notification",
                            "agent": "a1",
                        },
                        {
                            "latency_s": 2.0 + i,
                            "vendor_delay_s": 1.0,
                            "carrier_delay_s": 1.0 + i,
                            "delivered": 1,
                            "verdict": "delivered",
                            "dlr_status": "consistent",
                            "fake_dlr": 0,
                            "intact": 1,
                        },
                        t + i * 60_000_000_000,
                    )
                )
            points.append(
                make_point(
                    "probe",
                    {
                        "vendor": vendor,
                        "carrier": carrier,
                        "region": "east",
                        "profile": "notification",
                        "agent": "a1",
                    },
                    {
                        "delivered": 0,
                        "verdict": "lost",
                        "dlr_status": "fake_success",
                        "fake_dlr": 1,
                        "intact": 0,
                    },
                    t + 10 * 60_000_000_000,
                )
            )
    points.append(
        make_point(
            "agent",
            {"agent": "a1", "site": "hz"},
            {"up": 1, "outbox_depth": 3, "clock_offset_ms": 1.5, "clock_uncertainty_ms": 0.5},
            NOW - H,
        )
    )
    points.append(
        make_point(
            "modem",
            {"agent": "a1", "site": "hz", "iccid": "8986001", "carrier": "china_mobile"},
            {"rssi_dbm": -71.0, "registered": 1, "storage_used": 2, "healthy": 1},
            NOW - H,
        )
    )
    points.extend(channel_point(o) for o in CHANNEL_OBSERVATIONS)
    body = to_lines(points)
    url = influxdb.url + "/write?" + urllib.parse.urlencode({"db": DB, "precision": "ns"})
    with urllib.request.urlopen(urllib.request.Request(url, data=body, method="POST"), timeout=10):
        pass
    return influxdb


@pytest.mark.parametrize(("dashboard", "title", "query"), all_queries())
def test_every_panel_query_runs_and_returns_data(
    loaded: InfluxServer, dashboard: str, title: str, query: str
) -> None:
    series = loaded.query(substitute(query), DB)
    assert series, f"{dashboard} / {title}: no data for\n{substitute(query)}"


def _rate_table(server: InfluxServer, **variables: str) -> dict[tuple[str, str], float]:
    panel = build.FLEET["panels"][0]
    series: list[dict[str, Any]] = server.query(
        substitute(panel["targets"][0]["query"], **variables), DB
    )
    return {(s["tags"]["vendor"], s["tags"]["carrier"]): s["values"][0][1] for s in series}


def test_fleet_matrix_numbers(loaded: InfluxServer) -> None:
    rates = _rate_table(loaded)
    assert rates == pytest.approx(
        {
            ("v1", "china_mobile"): 297 / 300,
            ("v1", "china_telecom"): 294 / 300,
            ("v2", "china_mobile"): 291 / 300,
            ("v2", "china_telecom"): 240 / 300,
        }
    )
    # Template variables narrow the matrix the way Grafana's regex substitution does.
    assert set(_rate_table(loaded, vendor="(v2)")) == {
        ("v2", "china_mobile"),
        ("v2", "china_telecom"),
    }


def test_fake_dlr_and_latency_panels(loaded: InfluxServer) -> None:
    fake = build.FLEET["panels"][3]["targets"][0]["query"]
    q = substitute(fake).replace("GROUP BY time(5m), ", "GROUP BY ")
    series = loaded.query(q, DB)
    assert {s["tags"]["vendor"]: s["values"][0][1] for s in series} == pytest.approx(
        {"v1": 1 / 6, "v2": 1 / 6}
    )
    latency = build.FLEET["panels"][2]["targets"][0]["query"]
    q = substitute(latency).replace("GROUP BY time(5m), ", "GROUP BY ")
    series = loaded.query(q, DB)
    p50 = {s["tags"]["vendor"]: s["values"][0][1] for s in series}
    assert p50 == {"v1": 4.0, "v2": 4.0}


def test_dashboards_are_influxql_with_variables() -> None:
    for name, dash in build.DASHBOARDS.items():
        names = {v["name"] for v in dash["templating"]["list"]}
        assert names == {"vendor", "carrier", "region"}, name
        for panel in dash["panels"]:
            for target in panel["targets"]:
                assert target["rawQuery"] and target["query"].startswith("SELECT"), panel["title"]
    json.dumps(build.DASHBOARDS)  # serialisable


def test_channel_panels_count_arrivals_per_channel(loaded: InfluxServer) -> None:
    [table] = [
        p for p in build.VENDOR_DETAIL["panels"] if p["title"] == "Channels: vendor × carrier"
    ]
    rows = {
        (s["tags"]["vendor"], s["tags"]["carrier"], s["tags"]["channel"]): s["values"][0][1:]
        for s in loaded.query(substitute(table["targets"][0]["query"]), DB)
    }
    assert rows == {
        ("v1", "china_mobile", "10690303/0"): [3, 4.0],
        ("v1", "china_mobile", "106903039/0"): [2, 20.0],
        ("v2", "china_telecom", "10690505/0"): [1, 3.0],
    }
    [over_time] = [p for p in build.VENDOR_DETAIL["panels"] if p["title"] == "Arrivals per channel"]
    q = substitute(over_time["targets"][0]["query"], vendor="(v1)")
    per_channel = {
        s["tags"]["channel"]: sum(v[1] for v in s["values"]) for s in loaded.query(q, DB)
    }
    assert per_channel == {"10690303/0": 3, "106903039/0": 2}


# ------------------------------------------------ every name a panel uses is written

_FROM = re.compile(r'FROM "([^"]+)"')
_ALIAS = re.compile(r'AS "([^"]+)"')
_GROUP_BY = re.compile(r"GROUP BY (.*?)(?: fill\(|$)")


def written_names() -> dict[str, tuple[set[str], set[str]]]:
    """measurement -> (tags, fields) that the writer's own point builders put on points,
    fed with a fully populated example of each source row."""
    # (imported here: that module imports this one)
    from tests.collector.timeseries.test_line_panels import _points as line_probe_points

    sample = AgentSample(1, "a1", "hz", NOW, True, 3, NOW, 1.5, 0.5, 0, False)
    plan = ProbePlan("p", "v", "13800000000", "notification", "T", "b", "e", NOW,
                     carrier="china_mobile", region="east", iccid="8986", site="hz",
                     agent_id="a1", mvno="170")  # fmt: skip
    stored = StoredProbe(plan, "accepted", NOW, NOW, (), b"", b"", "", "", True)
    full = JudgedProbe("p", "v", "china_mobile", "east", "notification", "day", NOW, True,
                       "delivered", "consistent", "success", "intact", latency_s=3.0,
                       vendor_delay_s=1.0, carrier_delay_s=2.0, line="mvno")  # fmt: skip
    probes = [*line_probe_points(), probe_point(full, stored)]
    judged = [
        JudgedProbe("p", "v", "china_mobile", "east", "notification", "day", NOW, True, o,
                    "consistent", "success", "intact", latency_s=3.0)
        for o in ("delivered", "lost", "inconclusive")
    ]  # fmt: skip
    points = [
        *probes,
        *arrival_points(judged, "1h", NOW),
        health_point(
            HealthRow(1, "a1", "86", NOW, -71.0, 1, 2, True, "8986", "hz", "china_mobile")
        ),
        agent_point(sample),
        silence_point(sample.agent_id, sample.site, NOW),
        channel_point(CHANNEL_OBSERVATIONS[0]),
        unit_point(UnitChange(1, "c1", "vendor:v1", "running", 0, 1, NOW)),
        *measured_points([UnmeasuredSpan("c1", "v1", "vendor:v1", "", NOW, NOW + H)]),
    ]
    out: dict[str, tuple[set[str], set[str]]] = {}
    for point in points:
        tags, fields = out.setdefault(point.measurement, (set(), set()))
        tags.update(k for k, _ in point.tags)
        fields.update(k for k, _ in point.fields)
    return out


def unknown_names(query: str, written: dict[str, tuple[set[str], set[str]]]) -> list[str]:
    """Names the query uses that no point of its measurement carries; GROUP BY must name tags."""
    [measurement] = _FROM.findall(query)
    if measurement not in written:
        return [f"measurement {measurement}"]
    tags, fields = written[measurement]
    aliases = set(_ALIAS.findall(query))
    used = set(re.findall(r'"([^"]+)"', query)) - aliases - {measurement}
    bad = sorted(f"{name}" for name in used - tags - fields)
    group = _GROUP_BY.search(query)
    grouped = set(re.findall(r'"([^"]+)"', group.group(1))) if group else set()
    bad += sorted(f"group by {name} (not a tag)" for name in grouped - tags)
    return bad


def test_every_panel_uses_only_what_the_writer_writes() -> None:
    written = written_names()
    # The check itself catches a wrong name (a field, a tag, a grouping on a field).
    assert unknown_names('SELECT mean("latency") FROM "probe" GROUP BY "vendor"', written) == [
        "latency"
    ]
    assert unknown_names('SELECT count("arrived") FROM "channel" GROUP BY "region"', written) == [
        "region", "group by region (not a tag)"
    ]  # fmt: skip
    assert unknown_names('SELECT last("up") FROM "agents"', written) == ["measurement agents"]
    problems = {
        (dashboard, title): bad
        for dashboard, title, query in all_queries()
        if (bad := unknown_names(query, written))
    }
    assert problems == {}
    # Variables read tag values the probe points carry.
    for dash in build.DASHBOARDS.values():
        for variable in dash["templating"]["list"]:
            assert variable["name"] in written["probe"][0]
