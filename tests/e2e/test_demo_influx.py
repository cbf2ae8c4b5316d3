"""After a demo run the time series in a real InfluxDB 1.x equal the ledger, and every
dashboard panel query (template variables substituted) runs and returns the right numbers."""

from __future__ import annotations

import os
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from collector.vendors.simulator.truthcheck import load_jsonl
from dashboards import build
from tests.collector.timeseries.test_dashboards import all_queries
from tests.servers.influx import InfluxServer, influx_server

ROOT = Path(__file__).resolve().parents[2]
DB = "smsprobe_demo"


@pytest.fixture(scope="module")
def influxdb(tmp_path_factory: pytest.TempPathFactory) -> Iterator[InfluxServer]:
    yield from influx_server(tmp_path_factory.mktemp("influx"))


def substitute(query: str) -> str:
    query = query.replace("$timeFilter", "time > now() - 1d")
    query = query.replace("$__interval", "1m")
    for name in ("vendor", "carrier", "region"):
        query = query.replace(f"${name}", ".*")
    return query


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
    # Rebuild from the ledger too: the same series whatever the writer had done live.
    backfill = subprocess.run(
        [sys.executable, "-m", "collector.cli", "timeseries", "backfill",
         "--config", str(out / "collector.toml"), "--since", "-1h"],
        cwd=ROOT, capture_output=True, text=True, timeout=120, env=env,
    )  # fmt: skip
    assert backfill.returncode == 0, backfill.stderr
    assert "wrote" in backfill.stdout

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
