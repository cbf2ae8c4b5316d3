"""The live writer and a backfill write the same points, on a real InfluxDB 1.x: agents
touching, going silent, disconnecting; collector units changing state; a vendor not
measured for a while (two overlapping spans); channel observations, one replaced. The live
writer passes at chosen moments while the ledger changes; the backfill runs once at the end
into a second database."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

from click.testing import CliRunner

from agent.common.units import NS
from collector.correlation.model import Outcome
from collector.ledger import open_ledger
from collector.ledger.health import SpanChange, UnitRow
from collector.timeseries.cli import backfill_command
from collector.timeseries.sinks import InfluxV1Config, InfluxV1Sink
from collector.timeseries.writer import TimeSeriesWriter, WriterSettings
from tests.collector.ledger.builders import registration
from tests.collector.ledger.test_channel_contract import T as OBS_T
from tests.collector.ledger.test_channel_contract import obs
from tests.collector.timeseries.test_writer import BASE, add
from tests.e2e.test_demo_influx import every_point
from tests.servers.influx import InfluxServer

OFF = 180.0  # [agents] offline_after_s
T = BASE


def _writer(ledger: Any, influx: InfluxServer, db: str, now: Callable[[], int]) -> Any:
    sink = InfluxV1Sink(InfluxV1Config(influx.url, db))
    return sink, TimeSeriesWriter(ledger, sink, WriterSettings(offline_after_s=OFF), clock=now)


def test_backfill_rebuilds_every_point_the_live_writer_wrote(
    tmp_path: Path, influxdb: InfluxServer
) -> None:
    ledger = open_ledger(f"sqlite:///{tmp_path}/ledger.db")
    ledger.migrate()
    now = [T]
    loop = asyncio.new_event_loop()
    live_sink, live = _writer(ledger, influxdb, "live", lambda: now[0])

    def at(s: float) -> int:
        return T + int(s * NS)

    def touch(s: float, depth: int) -> None:
        ledger.touch_agent("agent-1", at_ns=at(s), outbox_depth=depth, oldest_pending_ns=0,
                           clock_offset_ms=1.5, clock_uncertainty_ms=0.5)  # fmt: skip

    def units(s: float, state: str, failures: int = 0, restarts: int = 0,
              spans: tuple[SpanChange, ...] = ()) -> None:  # fmt: skip
        ledger.save_health("c1", [UnitRow("c1", "vendor:bolt", state, at(s), at(s), failures,
                                          restarts)], list(spans))  # fmt: skip

    def live_pass(s: float) -> None:
        now[0] = at(s)
        loop.run_until_complete(live.write_once())

    ledger.set_connected("agent-1", True, at_ns=at(0), via="c1")
    ledger.register_agent(registration("agent-1"), at_ns=at(1))
    units(0, "starting")
    touch(5, 3)
    live_pass(10)
    touch(20, 4)
    units(25, "backoff", failures=1, spans=(SpanChange("open", "bolt", "vendor:bolt", at(25)),))
    ledger.save_health("c1", [], [SpanChange("open", "bolt", "service:judge", at(30))])
    ledger.save_channel_observations([obs("p1", 40), obs("p2", 50)])
    live_pass(60)
    units(70, "running", restarts=1, spans=(SpanChange("close", "bolt", "vendor:bolt", at(70)),))
    ledger.save_health("c1", [], [SpanChange("close", "bolt", "service:judge", at(80))])
    live_pass(100)
    live_pass(20 + OFF + 1)  # silent since 20 s: no longer up from 200 s
    touch(400, 0)  # heard again
    ledger.save_channel_observations([obs("p2", 50, sender="106903039")])
    ledger.set_connected("agent-1", False, at_ns=at(420), via="c1")
    live_pass(430)
    loop.run_until_complete(live_sink.close())

    rebuilt_sink, rebuilt = _writer(ledger, influxdb, "rebuilt", lambda: now[0])
    loop.run_until_complete(rebuilt.backfill(T))
    loop.run_until_complete(rebuilt_sink.close())
    loop.close()
    ledger.close()

    live_points, rebuilt_points = every_point(influxdb, "live"), every_point(influxdb, "rebuilt")
    agent = sorted(
        ((t - T) // NS, f.get("up"), f.get("outbox_depth"))
        for (m, _, t), f in live_points.items() if m == "agent"
    )  # fmt: skip
    # connect, registration, two touches, the silence at 20 + 180 s, a touch, the disconnect
    assert agent == [(0, 1, 0), (1, 1, 0), (5, 1, 3), (20, 1, 4), (200, 0, None), (400, 1, 0),
                     (420, 0, 0)]  # fmt: skip
    measured = sorted(
        ((t - T) // NS, f["measured"]) for (m, _, t), f in live_points.items()
        if m == "collector_vendor"
    )  # fmt: skip
    assert measured == [(25, 0), (30, 0), (80, 1)]  # measured again when both spans ended
    units_seen = sorted(
        ((t - T) // NS, f["state"]) for (m, _, t), f in live_points.items()
        if m == "collector_unit"
    )  # fmt: skip
    assert units_seen == [(0, "starting"), (25, "backoff"), (70, "running")]
    channels = sorted(
        ((t - OBS_T) / NS, dict(tags)["channel"]) for (m, tags, t), f in live_points.items()
        if m == "channel"
    )  # fmt: skip
    # p2's replaced observation arrived at the same moment over another channel: the live
    # database keeps the first point too (documented: a backfill into an empty one does not).
    assert channels == [(44.5, "10690303/0"), (54.5, "10690303/0"), (54.5, "106903039/0")]
    stale = next(k for k in live_points if k[0] == "channel" and k[2] == OBS_T + 54_500_000_000
                 and dict(k[1])["channel"] == "10690303/0")  # fmt: skip
    assert set(live_points) - set(rebuilt_points) == {stale}
    del live_points[stale]
    assert live_points == rebuilt_points


def test_backfill_cli_tags_probes_with_the_configured_kind_of_line(
    tmp_path: Path, influxdb: InfluxServer
) -> None:
    """`[reports.lines]` reaches the probe points' `line` tag, as reports and `agents` show
    it: +8613800000001 is a China Mobile number on a China Mobile SIM (home), the buyer
    says ported."""
    url = f"sqlite:///{tmp_path}/ledger.db"
    ledger = open_ledger(url)
    ledger.migrate()
    for i in range(4):
        add(ledger, i, Outcome.DELIVERED)
    ledger.close()
    lines = {}
    for db, override in (("lines_derived", ""), ("lines_override", '"13800000001" = "ported"')):
        config = tmp_path / f"{db}.toml"
        config.write_text(
            f'[ledger]\nurl = "{url}"\n[timeseries]\napi = "v1"\nurl = "{influxdb.url}"\n'
            f'database = "{db}"\n[reports.lines]\n{override}\n'
        )
        result = CliRunner().invoke(
            backfill_command, ["--config", str(config), "--since", "2000-01-01"]
        )
        assert result.exit_code == 0, result.output
        series = influxdb.query('SELECT count("delivered") FROM "probe" GROUP BY "line"', db)
        lines[db] = {s["tags"]["line"]: s["values"][0][1] for s in series}
    assert lines == {"lines_derived": {"home": 4}, "lines_override": {"ported": 4}}
