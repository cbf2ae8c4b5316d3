"""The supervisor: units restarted with back-off, a fatal unit that cannot recover ends
the process (gave_up), the others keep running; the time-series writer restarted after a
real InfluxDB was stopped and started again; unit states and spans on the board."""

from __future__ import annotations

import asyncio
import json
import time
import urllib.parse
import urllib.request
from typing import Any

from collector.health.board import HealthBoard, UnitState
from collector.health.recorder import HealthRecorder
from collector.health.supervise import RestartPolicy, Supervisor, Unit
from collector.probes.service import timeseries_unit
from collector.timeseries.config import TimeSeriesConfig
from collector.timeseries.sinks import InfluxV1Config
from tests.servers.influx import InfluxServer

FAST = RestartPolicy(fatal=True, max_failures=3, window_s=60, backoff_base_s=0.01,
                     backoff_max_s=0.05)  # fmt: skip


async def _until(check: Any, timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.01)


def test_a_unit_that_cannot_recover_gives_up_while_the_others_run() -> None:
    async def scenario() -> tuple[Supervisor, HealthBoard, int, int]:
        board = HealthBoard(time.time_ns, vendors=("acme",))
        stop = asyncio.Event()
        sup = Supervisor(board, stop)
        ticks = {"steady": 0, "broken": 0}

        async def steady(unit: Unit) -> None:
            unit.running()
            while not unit.stop.is_set():
                ticks["steady"] += 1
                await asyncio.sleep(0.005)

        async def broken(unit: Unit) -> None:
            ticks["broken"] += 1
            raise OSError("read-only file system")

        sup.spawn("service:steady", steady, FAST)
        sup.spawn("service:judge", broken, FAST)
        await asyncio.wait_for(sup.gave_up.wait(), 30)
        during = ticks["steady"]
        await asyncio.sleep(0.05)
        after = ticks["steady"]
        stop.set()
        await sup.join(5)
        return sup, board, ticks["broken"], after - during

    sup, board, attempts, steady_ticks_after = asyncio.run(scenario())
    assert attempts == 3  # started, restarted twice, then gave up
    assert "service:judge failed 3 times" in sup.reason and "read-only" in sup.reason
    judge = board.get("service:judge")
    assert judge is not None and judge.state is UnitState.FAILED and judge.restarts == 2
    assert steady_ticks_after > 0  # the healthy unit kept working after the give-up
    # The judge never ran: acme was never measured, one span per cause, none closed.
    events = board.take_events()
    assert {(e.phase, e.cause) for e in events if e.vendor == "acme"} == {
        ("open", "vendor:acme"), ("open", "service:scheduler"), ("open", "service:judge")
    }  # fmt: skip


def test_a_vendor_unit_is_never_fatal() -> None:
    async def scenario() -> tuple[bool, int]:
        board = HealthBoard(time.time_ns)
        stop = asyncio.Event()
        sup = Supervisor(board, stop)
        tries = 0

        async def unbindable(unit: Unit) -> None:
            nonlocal tries
            tries += 1
            raise TimeoutError("not bound within 10.0s")

        sup.spawn("vendor:bolt", unbindable, RestartPolicy(fatal=False, max_failures=2,
                  backoff_base_s=0.001, backoff_max_s=0.002))  # fmt: skip
        await _until(lambda: tries >= 10)
        stop.set()
        await sup.join(5)
        return sup.gave_up.is_set(), tries

    gave_up, tries = asyncio.run(scenario())
    assert not gave_up and tries >= 10


def _count(influx: InfluxServer, db: str) -> int:
    q = urllib.parse.urlencode({"db": db, "q": 'SELECT count("up") FROM "collector_unit"'})
    with urllib.request.urlopen(f"{influx.url}/query?{q}", timeout=10) as resp:
        series = json.load(resp)["results"][0].get("series", [])
    return int(series[0]["values"][0][1]) if series else 0


def test_the_writer_is_restarted_after_influxdb_was_killed(
    ledger: Any, influxdb: InfluxServer
) -> None:
    db = "health"
    influxdb.create_database(db)
    ts = TimeSeriesConfig(InfluxV1Config(influxdb.url, db, timeout_s=2), interval_s=0.05)

    async def scenario() -> tuple[HealthBoard, int]:
        board = HealthBoard(time.time_ns)
        stop = asyncio.Event()
        sup = Supervisor(board, stop)
        recorder = HealthRecorder(ledger, board, "w-test", interval_s=0.05)
        sup.spawn("service:health", recorder.run, FAST)
        policy = RestartPolicy(fatal=False, backoff_base_s=0.05, backoff_max_s=0.2)
        sup.spawn("service:timeseries", timeseries_unit(ledger, ts, time.time_ns, 180.0), policy)
        await _until(lambda: board.running("service:timeseries") and _count(influxdb, db) > 0)
        influxdb.stop()  # the real server goes away
        try:
            await _until(lambda: board.get("service:timeseries").failures >= 2)  # type: ignore[union-attr]
        finally:
            influxdb.start()
        written_before = _count(influxdb, db)
        await _until(lambda: board.running("service:timeseries"))
        await _until(lambda: _count(influxdb, db) > written_before)
        stop.set()
        await sup.join(5)
        return board, _count(influxdb, db) - written_before

    board, new_points = asyncio.run(scenario())
    unit = board.get("service:timeseries")
    assert unit is not None and unit.restarts >= 2 and new_points > 0
    # The restarts are in the ledger too, where `status` reads them.
    rows = {u.unit: u for u in ledger.collector_units("w-test")}
    assert rows["service:timeseries"].restarts >= 2
