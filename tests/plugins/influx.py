"""Time-series server fixtures (registered in tests/conftest.py): a real InfluxDB and a real
VictoriaMetrics per test module (tests/servers/influx.py)."""

from __future__ import annotations

import pathlib
from collections.abc import Iterator

import pytest

from tests.servers.influx import (
    InfluxServer,
    VictoriaMetricsServer,
    influx_server,
    victoria_metrics_server,
)


@pytest.fixture(scope="module")
def influxdb(tmp_path_factory: pytest.TempPathFactory) -> Iterator[InfluxServer]:
    yield from influx_server(pathlib.Path(tmp_path_factory.mktemp("influxdb")))


@pytest.fixture(scope="module")
def victoria(tmp_path_factory: pytest.TempPathFactory) -> Iterator[VictoriaMetricsServer]:
    yield from victoria_metrics_server(pathlib.Path(tmp_path_factory.mktemp("vm")))
