"""Every dashboard panel query runs on a real InfluxDB 1.x and returns the right numbers."""

from __future__ import annotations

import json
import pathlib
import time
import urllib.parse
import urllib.request
from typing import Any

import pytest

from collector.timeseries.points import make_point, to_lines
from dashboards import build
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
