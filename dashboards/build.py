"""Generate the Grafana dashboards in this folder from one compact spec.

Every query is InfluxQL (InfluxDB 1.x, 2.x through DBRP, 3.x). The JSON files are committed;
`tests/collector/timeseries/test_dashboards.py` checks they are current, runs every panel
query against a real InfluxDB and checks every name a query uses is on the writer's points.
Regenerate with `python dashboards/build.py`.
"""

from __future__ import annotations

import json
import pathlib
from dataclasses import dataclass, field
from typing import Any

HERE = pathlib.Path(__file__).resolve().parent
# A fixed uid: the provisioned datasource (provisioning/datasources/smsprobe.yaml) has it.
DATASOURCE = {"type": "influxdb", "uid": "smsprobe-influxdb"}
SLA_ARRIVAL = 0.97

VENDOR = '"vendor" =~ /^$vendor$/'
CARRIER = '"carrier" =~ /^$carrier$/'
REGION = '"region" =~ /^$region$/'
FILTER = f"{VENDOR} AND {CARRIER} AND {REGION}"
# Probes judged arrived or lost (not inconclusive, rejected or pending): the rate's base.
JUDGED = "(\"verdict\" = 'delivered' OR \"verdict\" = 'late' OR \"verdict\" = 'lost')"


@dataclass(frozen=True)
class Panel:
    title: str
    description: str
    queries: tuple[str, ...]
    kind: str = "timeseries"  # timeseries | table | stat
    unit: str = "none"
    width: int = 12
    height: int = 8
    thresholds: tuple[tuple[float | None, str], ...] = ()
    extra: dict[str, Any] = field(default_factory=dict)


def _variables(*names: str) -> list[dict[str, Any]]:
    out = []
    for name in names:
        out.append(
            {
                "name": name,
                "label": name,
                "type": "query",
                "datasource": DATASOURCE,
                "query": f'SHOW TAG VALUES FROM "probe" WITH KEY = "{name}"',
                "definition": f'SHOW TAG VALUES FROM "probe" WITH KEY = "{name}"',
                "includeAll": True,
                "multi": True,
                "allValue": ".*",
                "current": {"selected": True, "text": ["All"], "value": ["$__all"]},
                "refresh": 2,
                "sort": 1,
            }
        )
    return out


def _panel(p: Panel, pid: int, x: int, y: int) -> dict[str, Any]:
    steps = [{"color": color, "value": value} for value, color in p.thresholds] or [
        {"color": "green", "value": None}
    ]
    return {
        "id": pid,
        "type": p.kind,
        "title": p.title,
        "description": p.description,
        "datasource": DATASOURCE,
        "gridPos": {"x": x, "y": y, "w": p.width, "h": p.height},
        "fieldConfig": {
            "defaults": {
                "unit": p.unit,
                "thresholds": {"mode": "absolute", "steps": steps},
                **(
                    {"custom": {"thresholdsStyle": {"mode": "line+area"}}}
                    if p.thresholds and p.kind == "timeseries"
                    else {}
                ),
            },
            "overrides": [],
        },
        "options": p.extra,
        "targets": [
            {
                "refId": chr(ord("A") + i),
                "datasource": DATASOURCE,
                "rawQuery": True,
                "resultFormat": "table" if p.kind == "table" else "time_series",
                "query": q,
            }
            for i, q in enumerate(p.queries)
        ],
    }


def dashboard(uid: str, title: str, description: str, panels: list[Panel]) -> dict[str, Any]:
    laid_out = []
    x = y = row_height = 0
    for pid, panel in enumerate(panels, start=1):
        if x + panel.width > 24:
            x, y, row_height = 0, y + row_height, 0
        laid_out.append(_panel(panel, pid, x, y))
        x += panel.width
        row_height = max(row_height, panel.height)
    return {
        "uid": uid,
        "title": title,
        "description": description,
        "tags": ["smsprobe"],
        "timezone": "browser",
        "schemaVersion": 39,
        "version": 1,
        "refresh": "1m",
        "time": {"from": "now-24h", "to": "now"},
        "templating": {"list": _variables("vendor", "carrier", "region")},
        "panels": laid_out,
    }


SLA = ((None, "red"), (SLA_ARRIVAL, "green"))

FLEET = dashboard(
    "smsprobe-fleet",
    "smsprobe — fleet overview",
    "Arrival rate, latency and DLR honesty per vendor and carrier, against the SLA.",
    [
        Panel(
            "Arrival rate: vendor × carrier",
            "Share of probes that arrived (delivered or late) among those whose receiver was "
            "healthy, over the selected time range. Red below the 97 % SLA.",
            (
                'SELECT sum("delivered") / (sum("delivered") + sum("lost")) AS "rate" '
                f'FROM "arrival" WHERE "window" = \'1h\' AND {FILTER} AND $timeFilter '
                'GROUP BY "vendor", "carrier"',
            ),
            kind="table",
            unit="percentunit",
            width=12,
            thresholds=SLA,
        ),
        Panel(
            "Arrival rate over time",
            "Hourly arrival rate per vendor with the SLA line; the 95 % Wilson interval is "
            "in the ci_low/ci_high series.",
            (
                'SELECT sum("delivered") / (sum("delivered") + sum("lost")) AS "rate" '
                f'FROM "arrival" WHERE "window" = \'1h\' AND {FILTER} AND $timeFilter '
                'GROUP BY time(1h), "vendor" fill(none)',
            ),
            unit="percentunit",
            thresholds=SLA,
        ),
        Panel(
            "Latency p50 / p95",
            "Submit to arrival at the SIM, corrected by each agent's clock offset.",
            (
                'SELECT percentile("latency_s", 50) AS "p50", percentile("latency_s", 95) '
                f'AS "p95" FROM "probe" WHERE {FILTER} AND $timeFilter '
                'GROUP BY time($__interval), "vendor" fill(none)',
            ),
            unit="s",
        ),
        Panel(
            "Fake DLR rate",
            "Share of probes the vendor reported DELIVRD that never arrived (伪成功), while "
            "the receiver was healthy.",
            (
                f'SELECT mean("fake_dlr") AS "fake_dlr" FROM "probe" WHERE {FILTER} '
                'AND $timeFilter GROUP BY time($__interval), "vendor" fill(none)',
            ),
            unit="percentunit",
            thresholds=((None, "green"), (0.005, "orange"), (0.02, "red")),
        ),
        Panel(
            "Inconclusive share",
            "Probes not judged because the receiver was unhealthy or not measured; never "
            "charged to the vendor. A high share means the fleet, not the vendor, needs work.",
            (
                'SELECT sum("inconclusive") / sum("sent") AS "inconclusive" FROM "arrival" '
                f"WHERE \"window\" = '1h' AND {FILTER} AND $timeFilter "
                'GROUP BY time(1h), "vendor" fill(none)',
            ),
            unit="percentunit",
        ),
        Panel(
            "Probes by verdict",
            "Count of probes per verdict in the range.",
            (
                f'SELECT count("latency_s") AS "arrived" FROM "probe" WHERE {FILTER} '
                'AND $timeFilter GROUP BY "vendor"',
                f'SELECT sum("sent") AS "sent", sum("lost") AS "lost", sum("inconclusive") '
                f'AS "inconclusive" FROM "arrival" WHERE "window" = \'1h\' AND {FILTER} '
                'AND $timeFilter GROUP BY "vendor"',
            ),
            kind="table",
        ),
    ],
)

VENDOR_DETAIL = dashboard(
    "smsprobe-vendor",
    "smsprobe — vendor detail",
    "One vendor by carrier, region and profile; vendor-side vs carrier-side delay.",
    [
        Panel(
            "Arrival rate by carrier",
            "Hourly arrival rate per destination carrier.",
            (
                'SELECT sum("delivered") / (sum("delivered") + sum("lost")) AS "rate" '
                f'FROM "arrival" WHERE "window" = \'1h\' AND {FILTER} AND $timeFilter '
                'GROUP BY time(1h), "carrier" fill(none)',
            ),
            unit="percentunit",
            thresholds=SLA,
        ),
        Panel(
            "Arrival rate by region",
            "Hourly arrival rate per region of the receiving agent.",
            (
                'SELECT sum("delivered") / (sum("delivered") + sum("lost")) AS "rate" '
                f'FROM "arrival" WHERE "window" = \'1h\' AND {FILTER} AND $timeFilter '
                'GROUP BY time(1h), "region" fill(none)',
            ),
            unit="percentunit",
            thresholds=SLA,
        ),
        Panel(
            "Arrival rate by profile",
            "Verification codes, notifications, marketing, links and long messages take "
            "different routes.",
            (
                'SELECT sum("delivered") / (sum("delivered") + sum("lost")) AS "rate" '
                f'FROM "arrival" WHERE "window" = \'1h\' AND {FILTER} AND $timeFilter '
                'GROUP BY "profile"',
            ),
            kind="table",
            unit="percentunit",
            thresholds=SLA,
        ),
        Panel(
            "Latency by hour",
            "p95 latency per hour: evening-peak slowdowns show here.",
            (
                f'SELECT percentile("latency_s", 95) AS "p95" FROM "probe" WHERE {FILTER} '
                'AND $timeFilter GROUP BY time(1h), "carrier" fill(none)',
            ),
            unit="s",
        ),
        Panel(
            "Vendor-side vs carrier-side delay",
            "Split at the SMSC time stamp: before it the vendor and interconnect, after it the "
            "carrier's delivery to the handset.",
            (
                'SELECT mean("vendor_delay_s") AS "vendor side", mean("carrier_delay_s") AS '
                f'"carrier side" FROM "probe" WHERE {FILTER} AND $timeFilter '
                "GROUP BY time($__interval) fill(none)",
            ),
            unit="s",
        ),
        Panel(
            "Arrival rate by kind of line",
            "Home-network, MVNO (162/165/167/170/171) and number-ported test lines apart: "
            "a vendor can route each differently.",
            (
                f'SELECT mean("delivered") AS "rate", count("delivered") AS "judged" FROM "probe" '
                f'WHERE {FILTER} AND {JUDGED} AND $timeFilter GROUP BY "line"',
            ),
            kind="table",
            unit="percentunit",
            thresholds=SLA,
        ),
        Panel(
            "Arrival rate per SIM",
            "One row per test SIM: a SIM far above the vendor's others suggests the vendor "
            "knows (whitelists) that number; the report's per-SIM test decides it.",
            (
                f'SELECT mean("delivered") AS "rate", count("delivered") AS "judged" FROM "probe" '
                f"WHERE {FILTER} AND {JUDGED} AND $timeFilter "
                'GROUP BY "vendor", "line", "iccid"',
            ),
            kind="table",
            unit="percentunit",
            thresholds=SLA,
        ),
        Panel(
            "Arrivals per channel",
            "Arrivals by the channel they came over (sender code/PID, as the handset sees "
            "them): a change of channel (通道切换) is one channel's line ending where "
            "another's starts. `smsprobe-collector channels` names the confirmed changes and "
            "the switch-over times.",
            (
                f'SELECT count("arrived") AS "arrivals" FROM "channel" WHERE {VENDOR} AND '
                f'{CARRIER} AND $timeFilter GROUP BY time($__interval), "vendor", "carrier", '
                '"channel" fill(none)',
            ),
            width=24,
        ),
        Panel(
            "Channels: vendor × carrier",
            "Every channel a vendor used per carrier in the range: arrivals over it and their "
            "median latency (its regime: fast under 10 s, slow under 60 s).",
            (
                'SELECT count("arrived") AS "arrivals", percentile("latency_s", 50) AS "p50" '
                f'FROM "channel" WHERE {VENDOR} AND {CARRIER} AND $timeFilter '
                'GROUP BY "vendor", "carrier", "channel"',
            ),
            kind="table",
        ),
        Panel(
            "Content intact",
            "Share of arrived probes whose text arrived exactly as sent (signature, links and "
            "suffix included).",
            (
                f'SELECT mean("intact") AS "intact" FROM "probe" WHERE {FILTER} AND '
                '"delivered" = 1 AND $timeFilter GROUP BY time($__interval), "vendor" fill(none)',
            ),
            unit="percentunit",
        ),
    ],
)

RECEIVERS = dashboard(
    "smsprobe-receivers",
    "smsprobe — receivers",
    "Agents and modems: are the receivers healthy enough to judge vendors?",
    [
        Panel(
            "Agents up",
            "1 while the agent is connected to the collector.",
            ('SELECT last("up") AS "up" FROM "agent" WHERE $timeFilter GROUP BY "agent"',),
            kind="table",
        ),
        Panel(
            "Clock offset",
            "Agent clock offset to the collector and its uncertainty (ms).",
            (
                'SELECT mean("clock_offset_ms") AS "offset", mean("clock_uncertainty_ms") AS '
                '"uncertainty" FROM "agent" WHERE $timeFilter GROUP BY time($__interval), '
                '"agent" fill(none)',
            ),
            unit="ms",
        ),
        Panel(
            "Outbox depth",
            "Records waiting on the agent for the collector's ack.",
            (
                'SELECT max("outbox_depth") AS "depth" FROM "agent" WHERE $timeFilter '
                'GROUP BY time($__interval), "agent" fill(none)',
            ),
        ),
        Panel(
            "Modem signal",
            "RSSI per SIM (dBm).",
            (
                f'SELECT mean("rssi_dbm") AS "rssi" FROM "modem" WHERE {CARRIER} AND '
                '$timeFilter GROUP BY time($__interval), "iccid" fill(none)',
            ),
            unit="dBm",
        ),
        Panel(
            "Modems healthy / registered",
            "Last health sample per SIM: healthy means it can receive SMS now.",
            (
                'SELECT last("healthy") AS "healthy", last("registered") AS "registered", '
                'last("storage_used") AS "storage_used" FROM "modem" WHERE '
                f'{CARRIER} AND $timeFilter GROUP BY "agent", "iccid"',
            ),
            kind="table",
        ),
    ],
)

DASHBOARDS = {
    "fleet-overview.json": FLEET,
    "vendor-detail.json": VENDOR_DETAIL,
    "receivers.json": RECEIVERS,
}


def render() -> dict[str, str]:
    return {
        name: json.dumps(d, indent=2, ensure_ascii=False) + "\n" for name, d in DASHBOARDS.items()
    }


def main() -> None:
    for name, text in render().items():
        (HERE / name).write_text(text)


if __name__ == "__main__":
    main()
