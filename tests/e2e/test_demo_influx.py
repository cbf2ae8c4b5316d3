"""After a demo run the time series in a real InfluxDB 1.x equal the ledger, a backfill into
a second database rebuilds every point the live writer wrote (measurement, tags, fields,
time), and every dashboard panel query (template variables substituted) runs and returns
the right numbers."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from collector.config import load_config
from collector.ledger import open_ledger
from collector.timeseries.config import parse_timeseries
from collector.timeseries.writer import TimeSeriesWriter, WriterSettings
from collector.vendors.simulator.truthcheck import load_jsonl
from dashboards import build
from tests.collector.timeseries.test_dashboards import all_queries
from tests.servers.influx import InfluxServer, influx_server

ROOT = Path(__file__).resolve().parents[2]
DB = "smsprobe_demo"
REBUILT = "smsprobe_rebuilt"


@pytest.fixture(scope="module")
def influxdb(tmp_path_factory: pytest.TempPathFactory) -> Iterator[InfluxServer]:
    yield from influx_server(tmp_path_factory.mktemp("influx"))


def substitute(query: str) -> str:
    query = query.replace("$timeFilter", "time > now() - 1d")
    query = query.replace("$__interval", "1m")
    for name in ("vendor", "carrier", "region"):
        query = query.replace(f"${name}", ".*")
    return query


def write_pass(config_path: Path, db: str, clock: int) -> None:
    """One pass of the live writer on the demo's ledger, its cursors where the demo left them."""
    config = load_config(config_path)
    ts = parse_timeseries(config.raw_section("timeseries"), file=config.source)
    assert ts is not None
    ledger = open_ledger(config.ledger.url)
    settings = WriterSettings(offline_after_s=config.agent_defaults.offline_after_s)

    async def go() -> None:
        sink = ts.make_sink()
        try:
            await TimeSeriesWriter(ledger, sink, settings, clock=lambda: clock).write_once()
        finally:
            await sink.close()

    try:
        asyncio.run(go())
    finally:
        ledger.close()


def rebuild_config(config: Path) -> Path:
    """The demo's collector config writing into the second database."""
    text = config.read_text()
    assert f'database = "{DB}"' in text
    copy = config.with_name("rebuild.toml")  # beside it: relative paths stay right
    copy.write_text(text.replace(f'database = "{DB}"', f'database = "{REBUILT}"'))
    return copy


Key = tuple[str, tuple[tuple[str, str], ...], int]


def every_point(server: InfluxServer, db: str) -> dict[Key, dict[str, Any]]:
    """(measurement, tags, time) -> fields of every point in the database."""
    points: dict[Key, dict[str, Any]] = {}
    names = [row[0] for s in server.query("SHOW MEASUREMENTS", db) for row in s["values"]]
    for name in names:
        for s in server.query(f'SELECT * FROM "{name}" GROUP BY *', db):
            tags = tuple(sorted((k, v) for k, v in s.get("tags", {}).items() if v))
            columns = s["columns"][1:]
            for row in s["values"]:
                fields = {c: v for c, v in zip(columns, row[1:], strict=True) if v is not None}
                points[(name, tags, int(row[0]))] = fields
    return points


def test_demo_series_and_dashboards_equal_the_ledger(
    tmp_path: Path, influxdb: InfluxServer
) -> None:
    out = tmp_path / "demo"
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    result = subprocess.run(
        [sys.executable, "-m", "collector.cli", "demo", "--duration", "20", "--seed", "31",
         "--out", str(out), "--influx-url", influxdb.url, "--influx-api", "v1",
         "--influx-bucket", DB],
        cwd=ROOT, capture_output=True, text=True, timeout=400, env=env,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    config = out / "collector.toml"
    # The live writer's last pass came up to a few seconds before the demo stopped; one more
    # pass, as if it kept running, brings the live database up to the ledger. Then the
    # CLI's backfill rebuilds everything into a second database. (Both agents disconnected
    # at the end: no silence falls between the two by the clock.)
    write_pass(config, DB, time.time_ns())
    backfill = subprocess.run(
        [sys.executable, "-m", "collector.cli", "timeseries", "backfill",
         "--config", str(rebuild_config(config)), "--since", "-1h"],
        cwd=ROOT, capture_output=True, text=True, timeout=120, env=env,
    )  # fmt: skip
    assert backfill.returncode == 0, backfill.stderr
    assert "wrote" in backfill.stdout
    live, rebuilt = every_point(influxdb, DB), every_point(influxdb, REBUILT)
    by_measurement = Counter(key[0] for key in live)
    # The demo's run has every series: probes, windows, modems, agents, channels, units.
    assert set(by_measurement) >= {"probe", "arrival", "modem", "agent", "channel",
                                   "collector_unit"}, by_measurement  # fmt: skip
    assert by_measurement["agent"] > 2 * 2  # more than one snapshot of the two agents
    missing = sorted(set(live) - set(rebuilt))[:5]
    extra = sorted(set(rebuilt) - set(live))[:5]
    assert not missing and not extra, f"live only: {missing}; rebuilt only: {extra}"
    differ = [(k, live[k], rebuilt[k]) for k in live if live[k] != rebuilt[k]][:5]
    assert not differ, differ

    verdicts = [v for v in load_jsonl(out / "verdicts.jsonl") if v["verdict"] != "pending"]
    assert verdicts
    count = influxdb.query('SELECT count("verdict") FROM "probe"', DB)
    assert count[0]["values"][0][1] == len(verdicts)

    # Every panel of every dashboard runs and returns data.
    for dashboard, title, query in all_queries():
        assert influxdb.query(substitute(query), DB), f"{dashboard} / {title}: no data"

    # The fleet matrix equals the ledger's arrival rate per vendor × carrier.
    arrived: Counter[tuple[str, str]] = Counter()
    judged: Counter[tuple[str, str]] = Counter()
    for v in verdicts:
        key = (v["vendor"], v["carrier"])
        if v["verdict"] in ("delivered", "late", "lost"):
            judged[key] += 1
            arrived[key] += v["verdict"] != "lost"
    matrix = build.FLEET["panels"][0]["targets"][0]["query"]
    got = {
        (s["tags"]["vendor"], s["tags"]["carrier"]): s["values"][0][1]
        for s in influxdb.query(substitute(matrix), DB)
    }
    assert got == pytest.approx({k: arrived[k] / judged[k] for k in judged})

    # Fake DLR rate per vendor equals the ledger's.
    fake = influxdb.query('SELECT mean("fake_dlr") FROM "probe" GROUP BY "vendor"', DB)
    fakes = Counter(v["vendor"] for v in verdicts if v["dlr"] == "fake_success")
    totals = Counter(v["vendor"] for v in verdicts)
    assert {s["tags"]["vendor"]: s["values"][0][1] for s in fake} == pytest.approx(
        {vendor: fakes[vendor] / n for vendor, n in totals.items()}
    )
