"""Both sinks against real servers: InfluxDB 1.x (v1 write) and VictoriaMetrics (v2 write)."""

from __future__ import annotations

import asyncio
import socket
import time

import pytest

from collector.timeseries.points import make_point
from collector.timeseries.sinks import (
    InfluxV1Config,
    InfluxV1Sink,
    InfluxV2Config,
    InfluxV2Sink,
    SinkRejectedError,
    SinkUnavailableError,
)
from tests.servers.influx import InfluxServer, VictoriaMetricsServer

# Recent: VictoriaMetrics drops samples older than its retention (1 month by default).
T = (time.time_ns() // 1_000_000_000 - 3600) * 1_000_000_000


def points(n: int) -> list:  # type: ignore[type-arg]
    return [
        make_point(
            "probe",
            {"vendor": "v1", "carrier": "china_unicom", "profile": "notification"},
            {"latency_s": 1.5 + i, "delivered": 1, "verdict": "delivered"},
            T + i * 1_000_000_000,
        )
        for i in range(n)
    ]


def test_v1_sink_writes_what_influxql_reads_back(influxdb: InfluxServer) -> None:
    async def go() -> None:
        sink = InfluxV1Sink(InfluxV1Config(influxdb.url, "smsprobe_t1"))
        await sink.create_database()
        await sink.write(points(10))
        await sink.close()

    asyncio.run(go())
    series = influxdb.query(
        'SELECT count("latency_s"), sum("latency_s") FROM "probe"', "smsprobe_t1"
    )
    assert series[0]["values"][0][1:] == [10, sum(1.5 + i for i in range(10))]


def test_v1_field_type_conflict_is_rejected_not_retried(influxdb: InfluxServer) -> None:
    async def go() -> None:
        sink = InfluxV1Sink(InfluxV1Config(influxdb.url, "smsprobe_t2"))
        await sink.create_database()
        await sink.write_lines(b"probe verdict=1i " + str(T).encode())
        with pytest.raises(SinkRejectedError):
            await sink.write_lines(b'probe verdict="x" ' + str(T + 1).encode())
        await sink.close()

    asyncio.run(go())


def test_unreachable_server_is_transient() -> None:
    async def go(url: str) -> None:
        for sink in (
            InfluxV1Sink(InfluxV1Config(url, "db", timeout_s=2)),
            InfluxV2Sink(InfluxV2Config(url, "b", timeout_s=2)),
        ):
            with pytest.raises(SinkUnavailableError):
                await sink.write(points(1))
            await sink.close()

    # Bound, never listening: connections are refused, and no server of a parallel test
    # can take the port while we use it (a bare free port number could be reused).
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        asyncio.run(go(f"http://127.0.0.1:{s.getsockname()[1]}"))


def test_v2_sink_writes_through_influxdb_client(victoria: VictoriaMetricsServer) -> None:
    async def go() -> None:
        sink = InfluxV2Sink(InfluxV2Config(victoria.url, "smsprobe", org="ops"))
        await sink.write(points(7))
        await sink.close()

    asyncio.run(go())
    rows = victoria.wait_for_samples('probe_latency_s{vendor="v1"}', 7)
    values = sorted(v for r in rows for v in r["values"])
    assert values == [1.5 + i for i in range(7)]
    assert rows[0]["metric"]["carrier"] == "china_unicom"
