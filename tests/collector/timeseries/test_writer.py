"""The writer derives the series from a real ledger and survives InfluxDB going away."""

from __future__ import annotations

import asyncio
import pathlib
import time as _time
from typing import Any

import pytest

from agent.common.units import NS
from collector.correlation.model import ContentVerdict, DlrClaim, DlrTruth, Outcome, Verdict
from collector.ledger import open_ledger
from collector.ledger.probes import ProbePlan, Submission
from collector.timeseries.sinks import (
    InfluxV1Config,
    InfluxV1Sink,
    InfluxV2Config,
    InfluxV2Sink,
    SinkUnavailableError,
)
from collector.timeseries.writer import TimeSeriesWriter, WriterSettings
from tests.servers.influx import InfluxServer, VictoriaMetricsServer

HOUR = 3600 * NS

BASE = (_time.time_ns() // HOUR - 6) * HOUR  # six hours ago, on the hour


def add(
    ledger: Any, i: int, outcome: Outcome | None, *, vendor: str = "acme", at: int | None = None
) -> None:
    t = BASE + i * 60 * NS if at is None else at
    ledger.add_probe(ProbePlan(
        probe_id=f"p{i}", vendor=vendor, msisdn="+8613800000001", profile="notification",
        token=f"T{i}", body="b", expected_text="e", planned_at_ns=t, carrier="china_mobile",
        region="east", agent_id="a1", modem_imei="86",
    ))  # fmt: skip
    ledger.record_submission(Submission(f"p{i}", "accepted", t, t + NS, (f"m{i}",)))
    if outcome is not None:
        arrived = outcome in (Outcome.DELIVERED, Outcome.LATE)
        ledger.save_verdicts([Verdict(
            f"p{i}", outcome, DlrTruth.CONSISTENT if arrived else DlrTruth.FAKE_SUCCESS,
            DlrClaim.SUCCESS, ContentVerdict.INTACT if arrived else ContentVerdict.NONE,
            latency_s=2.0 + i if arrived else None,
        )], at_ns=t)  # fmt: skip


@pytest.fixture
def ledger(tmp_path: pathlib.Path) -> Any:
    led = open_ledger(f"sqlite:///{tmp_path}/ledger.db")
    led.migrate()
    yield led
    led.close()


def count(server: InfluxServer, db: str, q: str) -> Any:
    series = server.query(q, db)
    return series[0]["values"][0][1] if series else 0


def test_probe_points_and_arrival_windows_equal_the_ledger(
    ledger: Any, influxdb: InfluxServer
) -> None:
    db = "w1"
    influxdb.create_database(db)
    for i in range(30):
        add(ledger, i, Outcome.LOST if i % 10 == 0 else Outcome.DELIVERED)
    add(ledger, 99, None)  # pending: not written
    now = [BASE + 3 * HOUR]
    sink = InfluxV1Sink(InfluxV1Config(influxdb.url, db))
    writer = TimeSeriesWriter(ledger, sink, WriterSettings(give_up_s=600), clock=lambda: now[0])
    loop = asyncio.new_event_loop()  # one loop: the sink keeps its HTTP session
    loop.run_until_complete(writer.write_once())
    assert count(influxdb, db, 'SELECT count("verdict") FROM "probe"') == 30
    assert count(influxdb, db, 'SELECT sum("fake_dlr") FROM "probe"') == 3
    hourly = influxdb.query(
        'SELECT sum("delivered"), sum("lost") FROM "arrival" WHERE "window"=\'1h\'', db
    )
    assert hourly[0]["values"][0][1:] == [27, 3]
    five = influxdb.query('SELECT sum("sent") FROM "arrival" WHERE "window"=\'5m\'', db)
    assert five[0]["values"][0][1] == 31  # the pending probe counts as sent

    # A late arrival revises p0 (lost -> late): its point and its windows are rewritten.
    late = Verdict(
        "p0",
        Outcome.LATE,
        DlrTruth.CONSISTENT,
        DlrClaim.SUCCESS,
        ContentVerdict.INTACT,
        latency_s=900.0,
    )
    ledger.save_verdicts([late], at_ns=now[0])
    loop.run_until_complete(writer.write_once())
    loop.run_until_complete(sink.close())
    loop.close()
    assert count(influxdb, db, 'SELECT count("verdict") FROM "probe"') == 30
    assert count(influxdb, db, 'SELECT sum("fake_dlr") FROM "probe"') == 2
    hourly = influxdb.query(
        'SELECT sum("delivered"), sum("lost") FROM "arrival" WHERE "window"=\'1h\'', db
    )
    assert hourly[0]["values"][0][1:] == [28, 2]


def test_influxdb_stopped_mid_run_loses_nothing(ledger: Any, influxdb: InfluxServer) -> None:
    db = "w2"
    influxdb.create_database(db)
    now = [BASE + 5 * HOUR]
    sink = InfluxV1Sink(InfluxV1Config(influxdb.url, db, timeout_s=3))
    writer = TimeSeriesWriter(ledger, sink, WriterSettings(), clock=lambda: now[0])
    loop = asyncio.new_event_loop()  # one loop: the sink keeps its HTTP session
    for i in range(10):
        add(ledger, i, Outcome.DELIVERED)
    loop.run_until_complete(writer.write_once())
    influxdb.stop()
    try:
        for i in range(10, 25):
            add(ledger, i, Outcome.DELIVERED if i % 3 else Outcome.LOST)
        with pytest.raises(SinkUnavailableError):
            loop.run_until_complete(writer.write_once())
    finally:
        influxdb.start()
    loop.run_until_complete(writer.write_once())
    loop.run_until_complete(sink.close())
    loop.close()
    verdicts = len(ledger.verdicts())
    assert count(influxdb, db, 'SELECT count("verdict") FROM "probe"') == verdicts == 25


def test_v2_write_path_values_equal_the_ledger(
    ledger: Any, victoria: VictoriaMetricsServer
) -> None:
    for i in range(8):
        add(ledger, i, Outcome.DELIVERED, vendor="vm", at=_time.time_ns() - (60 - i) * NS)
    sink = InfluxV2Sink(InfluxV2Config(victoria.url, "smsprobe"))
    writer = TimeSeriesWriter(ledger, sink, WriterSettings(), clock=_time.time_ns)

    async def go() -> None:
        await writer.write_once()
        await sink.close()

    asyncio.run(go())
    rows = victoria.wait_for_samples('probe_latency_s{vendor="vm"}', 8)
    assert sorted(v for r in rows for v in r["values"]) == [2.0 + i for i in range(8)]
