"""Derive the time series from the ledger and write them, resuming from high-water marks.

Nothing is held in memory between writes: each series has a cursor in the ledger
(`cursors` table) that moves only after the sink confirmed a batch. InfluxDB down or slow
never blocks ingest (this runs as its own task) and loses nothing: the cursor stays where
it was and the same points are written again when the server is back. Writing the same
point twice is harmless (same measurement, tags and time overwrite).

- `probe`: one point per judged probe at its submit time, rewritten when the verdict is
  revised (cursor over the verdicts' change sequence); pending probes are not written.
- `arrival`: per 5 min and 1 h window; windows still open are written provisionally on
  every pass, a window is final (cursor moves) once it closed and every probe in it
  reached give-up; rewritten when a verdict inside it is revised.
- `modem`: every health record (cursor over ingest order).
- `agent`: a snapshot of every agent each pass (outbox, clock, connected).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import structlog

from agent.common.units import NS
from collector.health.board import measured_vendors
from collector.ledger.base import Ledger
from collector.ledger.health import UnitRow
from collector.ledger.model import AgentStatus
from collector.ledger.probes import HealthRow, StoredProbe
from collector.reports.figures import JudgedProbe, aggregate
from collector.reports.judged import judged_probe
from collector.timeseries.points import Point, make_point
from collector.timeseries.schema import ARRIVAL_WINDOWS_S
from collector.timeseries.sinks import SinkRejectedError, SinkUnavailableError, TimeSeriesSink

log = structlog.get_logger("smsprobe.timeseries")

PROBE_CURSOR = "timeseries.probe"
HEALTH_CURSOR = "timeseries.modem"


def arrival_cursor(window: str) -> str:
    return f"timeseries.arrival.{window}"


@dataclass(frozen=True, slots=True)
class WriterSettings:
    give_up_s: float = 600.0
    offline_after_s: float = 180.0  # [agents] offline_after_s: the agent series' `up`
    batch: int = 5000
    interval_s: float = 5.0


def probe_point(j: JudgedProbe, probe: StoredProbe) -> Point:
    return make_point(
        "probe",
        {
            "vendor": j.vendor,
            "carrier": j.carrier,
            "mvno": probe.plan.mvno,
            "region": j.region,
            "site": probe.plan.site,
            "agent": probe.plan.agent_id,
            "profile": j.profile,
            "line": j.line,
            "iccid": probe.plan.iccid,
        },
        {
            "latency_s": j.latency_s,
            "vendor_delay_s": j.vendor_delay_s,
            "carrier_delay_s": j.carrier_delay_s,
            "delivered": int(j.outcome in ("delivered", "late")),
            "verdict": j.outcome,
            "dlr_status": j.dlr,
            "fake_dlr": int(j.dlr == "fake_success"),
            "intact": int(j.content == "intact"),
        },
        j.submitted_at_ns,
    )


def arrival_points(probes: Sequence[JudgedProbe], window: str, start_ns: int) -> list[Point]:
    cells = aggregate(probes, group_by=("vendor", "carrier", "region", "profile"))
    points = []
    for c in cells:
        points.append(
            make_point(
                "arrival",
                {**c.key, "window": window},
                {
                    "sent": c.sent,
                    "delivered": c.delivered + c.late,
                    "lost": c.lost,
                    "partial": c.partial,
                    "parts_missing": c.parts_missing,
                    "inconclusive": c.inconclusive,
                    "rate": c.arrival_rate,
                    "ci_low": c.ci_low,
                    "ci_high": c.ci_high,
                    "p50_s": c.latency_p50_s,
                    "p95_s": c.latency_p95_s,
                },
                start_ns,
            )
        )
    return points


def health_point(h: HealthRow) -> Point:
    return make_point(
        "modem",
        {"agent": h.agent_id, "site": h.site, "iccid": h.iccid, "carrier": h.carrier},
        {
            "rssi_dbm": h.rssi_dbm,
            "registered": int(h.registration in (2, 5)),  # home or roaming
            "storage_used": h.storage_used,
            "healthy": int(h.healthy),
        },
        h.at_ns,
    )


def agent_point(a: AgentStatus, now_ns: int, offline_after_s: float = 180.0) -> Point:
    unc = a.clock_uncertainty_ms if a.clock_uncertainty_ms != float("inf") else None
    return make_point(
        "agent",
        {"agent": a.agent_id, "site": a.site},
        {
            "outbox_depth": a.outbox_depth,
            "clock_offset_ms": a.clock_offset_ms,
            "clock_uncertainty_ms": unc,
            "up": int(a.up(now_ns, offline_after_s)),
        },
        now_ns,
    )


def collector_points(rows: Sequence[UnitRow], now_ns: int) -> list[Point]:
    points = []
    states: dict[str, dict[str, str]] = defaultdict(dict)
    for r in rows:
        states[r.instance][r.unit] = r.state
        points.append(
            make_point(
                "collector_unit",
                {"instance": r.instance, "unit": r.unit, "kind": r.unit.split(":", 1)[0]},
                {"up": int(r.state == "running"), "state": r.state, "failures": r.failures,
                 "restarts": r.restarts},
                now_ns,
            )
        )  # fmt: skip
    for instance, units in states.items():
        for vendor, ok in measured_vendors(units).items():
            points.append(
                make_point(
                    "collector_vendor", {"instance": instance, "vendor": vendor},
                    {"measured": int(ok)}, now_ns,
                )
            )  # fmt: skip
    return points


class TimeSeriesWriter:
    def __init__(
        self,
        ledger: Ledger,
        sink: TimeSeriesSink,
        settings: WriterSettings,
        *,
        clock: Callable[[], int],
    ) -> None:
        self._ledger = ledger
        self._sink = sink
        self._settings = settings
        self._clock = clock
        self.written = 0

    async def run(self, stop: asyncio.Event, on_pass: Callable[[], None] | None = None) -> None:
        """Write every `interval_s` until stop. An unreachable sink raises SinkUnavailableError:
        the cursors did not move, and whoever restarts this (collector/health/supervise.py,
        with back-off) writes the same points once the server is back."""
        while not stop.is_set():
            try:
                await self.write_once()
            except SinkUnavailableError as exc:
                log.warning("timeseries_sink_unavailable", error=str(exc))
                raise
            if on_pass is not None:
                on_pass()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=self._settings.interval_s)

    async def write_once(self) -> int:
        """One pass over every series; returns how many points were written."""
        written = await self._probes()
        for window in ARRIVAL_WINDOWS_S:
            written += await self._arrivals(window)
        written += await self._health()
        written += await self._agents()
        written += await self._collector()
        self.written += written
        return written

    async def _write(self, points: Sequence[Point]) -> None:
        try:
            await self._sink.write(points)
        except SinkRejectedError as exc:
            # Our own points broke the schema: a bug. Log loudly, skip the batch so the
            # series behind it still flow; the ledger keeps the truth for a backfill.
            log.error("timeseries_batch_rejected", error=str(exc), points=len(points))

    async def _probes(self) -> int:
        total = 0
        while True:
            cursor = await asyncio.to_thread(self._ledger.cursor, PROBE_CURSOR)
            changed = await asyncio.to_thread(
                self._ledger.verdicts_changed_after, cursor, self._settings.batch
            )
            if not changed:
                return total
            ids = [v.verdict.probe_id for v in changed]
            probes = {
                p.plan.probe_id: p
                for p in await asyncio.to_thread(
                    functools.partial(self._ledger.probes, probe_ids=ids)
                )
            }
            points = []
            touched: dict[str, set[int]] = defaultdict(set)
            for v in changed:
                probe = probes.get(v.verdict.probe_id)
                if probe is None or v.verdict.outcome.value == "pending":
                    continue
                j = judged_probe(probe, v)
                points.append(probe_point(j, probe))
                for window, seconds in ARRIVAL_WINDOWS_S.items():
                    step = seconds * NS
                    touched[window].add(probe.plan.planned_at_ns // step * step)
            await self._write(points)
            # Windows already written that a revision touched are rewritten now.
            for window, starts in touched.items():
                done_until = await asyncio.to_thread(self._ledger.cursor, arrival_cursor(window))
                for start in sorted(starts):
                    if start + ARRIVAL_WINDOWS_S[window] * NS <= done_until:
                        await self._write(await self._window(window, start))
            now = self._clock()
            await asyncio.to_thread(
                self._ledger.set_cursor, PROBE_CURSOR, changed[-1].change_seq, at_ns=now
            )
            total += len(points)

    async def _window(self, window: str, start: int) -> list[Point]:
        end = start + ARRIVAL_WINDOWS_S[window] * NS
        probes = await asyncio.to_thread(lambda: self._ledger.probes(since_ns=start, until_ns=end))
        verdicts = await asyncio.to_thread(self._ledger.verdicts, [p.plan.probe_id for p in probes])
        judged = [judged_probe(p, verdicts.get(p.plan.probe_id)) for p in probes]
        return arrival_points(judged, window, start)

    async def _arrivals(self, window: str) -> int:
        step = ARRIVAL_WINDOWS_S[window] * NS
        name = arrival_cursor(window)
        done_until = await asyncio.to_thread(self._ledger.cursor, name)
        if done_until == 0:
            first = await asyncio.to_thread(self._ledger.first_planned_ns)
            if first is None:
                return 0
            done_until = first // step * step
        total = 0
        give_up = int(self._settings.give_up_s * NS)
        now = self._clock()
        while done_until + step + give_up <= now:
            points = await self._window(window, done_until)
            if points:
                await self._write(points)
            done_until += step
            await asyncio.to_thread(self._ledger.set_cursor, name, done_until, at_ns=self._clock())
            total += len(points)
        # Windows still open (or within give-up) are written provisionally every pass and
        # overwritten as verdicts come in, so dashboards are live; the cursor stays put.
        start = done_until
        while start <= now:
            points = await self._window(window, start)
            if points:
                await self._write(points)
                total += len(points)
            start += step
        return total

    async def _health(self) -> int:
        total = 0
        while True:
            cursor = await asyncio.to_thread(self._ledger.cursor, HEALTH_CURSOR)
            rows = await asyncio.to_thread(self._ledger.health_after, cursor, self._settings.batch)
            if not rows:
                return total
            await self._write([health_point(h) for h in rows if h.iccid])
            await asyncio.to_thread(
                self._ledger.set_cursor, HEALTH_CURSOR, rows[-1].record_id, at_ns=self._clock()
            )
            total += len(rows)

    async def _agents(self) -> int:
        agents = await asyncio.to_thread(self._ledger.agents)
        now = self._clock()
        points = [agent_point(a, now, self._settings.offline_after_s) for a in agents]
        await self._write(points)
        return len(points)

    async def _collector(self) -> int:
        """The collector's own health as the ledger has it (every instance)."""
        rows = await asyncio.to_thread(self._ledger.collector_units)
        now = self._clock()
        points = collector_points(rows, now)
        await self._write(points)
        return len(points)

    async def backfill(self, since_ns: int) -> int:
        """Rebuild the series from the ledger: arrival windows from `since_ns`; probe and
        modem points whole (rewriting a point is idempotent)."""
        now = self._clock()
        for window, seconds in ARRIVAL_WINDOWS_S.items():
            step = seconds * NS
            await asyncio.to_thread(
                self._ledger.set_cursor, arrival_cursor(window), since_ns // step * step, at_ns=now
            )
        await asyncio.to_thread(self._ledger.set_cursor, PROBE_CURSOR, 0, at_ns=now)
        await asyncio.to_thread(self._ledger.set_cursor, HEALTH_CURSOR, 0, at_ns=now)
        return await self.write_once()
