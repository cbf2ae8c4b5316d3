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
- `agent`: every change of an agent's row the ledger kept (`agent_samples`: touch,
  connect, disconnect, registration; cursor over the sample id), at its time; an agent
  connected but silent for `offline_after_s` gets an `up` 0 point at the moment it went
  silent (from its next sample, or from the clock while none came), so `up` is the
  `agents` command's notion of up and every point follows from the ledger alone.
- `collector_unit`: every change of a collector unit's state (cursor over `unit_changes`);
  `collector_vendor`: `measured` 0 where a not-measured span starts, 1 where it ends.
- `channel`: every arrived probe's channel observation (cursor over its write sequence),
  at its arrival time (collector/channels).

A backfill moves the cursors back and runs the same passes: it writes exactly the points
the live writer wrote (tests/collector/timeseries/test_backfill.py compares them).
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
from collections import defaultdict
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import MappingProxyType
from typing import NamedTuple, TypeVar

import structlog

from agent.common.units import NS
from collector.channels.fingerprint import Fingerprint
from collector.ledger.base import Ledger
from collector.ledger.channels import ChannelObservation
from collector.ledger.health import UnitChange, UnmeasuredSpan
from collector.ledger.model import AgentSample
from collector.ledger.probes import ArrivalRow, HealthRow, ProbeSeriesRow
from collector.timeseries.arrivals import Arrival, arrival_of, arrival_points
from collector.timeseries.points import Point, make_point, to_lines
from collector.timeseries.probe_lines import ProbeLines
from collector.timeseries.schema import ARRIVAL_WINDOWS_S
from collector.timeseries.sinks import SinkRejectedError, SinkUnavailableError, TimeSeriesSink

log = structlog.get_logger("smsprobe.timeseries")

PROBE_CURSOR = "timeseries.probe"
HEALTH_CURSOR = "timeseries.modem"
AGENT_CURSOR = "timeseries.agent"
CHANNEL_CURSOR = "timeseries.channel"
UNIT_CURSOR = "timeseries.collector_unit"
SPAN_CURSOR = "timeseries.collector_vendor"  # a time: spans ending after it are rewritten
SPAN_MARGIN_NS = 60 * NS
WINDOWS_READ_NS = 86400 * NS  # closed arrival windows read and written at once
REBUILD_READ_NS = 4 * 3600 * NS  # a backfill's read of probes: whole hours (every window)


def arrival_cursor(window: str) -> str:
    return f"timeseries.arrival.{window}"


@dataclass(frozen=True, slots=True)
class WriterSettings:
    give_up_s: float = 600.0
    offline_after_s: float = 180.0  # [agents] offline_after_s: the agent series' `up`
    batch: int = 5000
    interval_s: float = 5.0
    # [reports.lines]: national MSISDN -> kind of line, the probe series' `line` tag
    lines: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))


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


def agent_point(s: AgentSample) -> Point:
    """The agent's row as one change left it; heard from then, so up = connected."""
    unc = s.clock_uncertainty_ms if s.clock_uncertainty_ms != float("inf") else None
    return make_point(
        "agent",
        {"agent": s.agent_id, "site": s.site},
        {
            "outbox_depth": s.outbox_depth,
            "clock_offset_ms": s.clock_offset_ms,
            "clock_uncertainty_ms": unc,
            "up": int(s.connected),
        },
        s.at_ns,
    )


def silence_point(agent_id: str, site: str, at_ns: int) -> Point:
    """Connected but nothing heard for offline_after_s: no longer up from `at_ns`."""
    return make_point("agent", {"agent": agent_id, "site": site}, {"up": 0}, at_ns)


def agent_points(samples: Sequence[AgentSample], offline_after_s: float) -> list[Point]:
    """Each sample, preceded by the silence before it when the agent was connected and
    then heard nothing for longer than `offline_after_s`."""
    off = int(offline_after_s * NS)
    points = []
    for s in samples:
        if s.prev_at_ns and s.prev_connected and s.at_ns - s.prev_at_ns > off:
            # The silence belongs to the sample before (its site, whatever came next).
            points.append(silence_point(s.agent_id, s.prev_site, s.prev_at_ns + off))
        points.append(agent_point(s))
    return points


def channel_point(o: ChannelObservation) -> Point:
    """One arrival over a channel: `channel` is what a change of channel changes (sender
    code and PID, Fingerprint.route); the SMSC follows the SIM's network and is a tag
    beside it."""
    fp = Fingerprint(o.sender, o.smsc, o.pid)
    return make_point(
        "channel",
        {"vendor": o.vendor, "carrier": o.carrier, "profile": o.profile, "channel": fp.route,
         "smsc": o.smsc},
        {"arrived": 1, "latency_s": o.latency_s, "dcs": o.dcs},
        o.arrived_at_ns,
    )  # fmt: skip


def unit_point(c: UnitChange) -> Point:
    return make_point(
        "collector_unit",
        {"instance": c.instance, "unit": c.unit, "kind": c.unit.split(":", 1)[0]},
        {"up": int(c.state == "running"), "state": c.state, "failures": c.failures,
         "restarts": c.restarts},
        c.at_ns,
    )  # fmt: skip


def measured_points(spans: Sequence[UnmeasuredSpan]) -> list[Point]:
    """`measured` 0 where a not-measured span starts, 1 where one ends and no other span
    of that instance and vendor still runs (spans of several causes overlap)."""
    points = []
    for s in spans:
        tags = {"instance": s.instance, "vendor": s.vendor}
        points.append(make_point("collector_vendor", tags, {"measured": 0}, s.start_ns))
        end = s.end_ns
        covered = any(
            o.instance == s.instance and o.vendor == s.vendor and o.start_ns <= end
            and (o.end_ns == 0 or o.end_ns > end)
            for o in spans
        )  # fmt: skip
        if end and not covered:
            points.append(make_point("collector_vendor", tags, {"measured": 1}, end))
    return points


class Encoded(NamedTuple):
    body: bytes  # line protocol
    points: int


class Rebuilt(NamedTuple):
    """A span of a backfill's rebuild, encoded: probe points in pages, the arrival windows
    closed in it per kind, and where each kind's cursor then moves."""

    probes: list[Encoded]
    arrivals: dict[str, Encoded]
    done: dict[str, int]


class Span(NamedTuple):
    """Closed arrival windows to write, per kind: from start[kind] to end[kind]."""

    start: dict[str, int]
    end: dict[str, int]


K = TypeVar("K")
R = TypeVar("R")
E = TypeVar("E")


async def pipelined(
    first: K,
    read: Callable[[K], R],
    following: Callable[[K, R], K | None],
    encode: Callable[[R], E],
    depth: int = 2,
) -> AsyncIterator[tuple[R, E]]:
    """`read(key)` from `first` on, each key `following` the last read (None: the end), in
    order on one thread while each read is encoded on another, up to `depth` reads ahead
    of the consumer: the ledger's engine (which releases the GIL), our encoding and the
    consumer's posting (InfluxDB ingests in its own process) overlap."""
    queue: asyncio.Queue[tuple[R, asyncio.Future[E]] | BaseException | None] = asyncio.Queue(depth)

    async def produce() -> None:
        key: K | None = first
        try:
            while key is not None:
                item = await asyncio.to_thread(read, key)
                await queue.put((item, asyncio.ensure_future(asyncio.to_thread(encode, item))))
                key = following(key, item)
            await queue.put(None)
        except Exception as exc:  # handed to the consumer, raised there
            await queue.put(exc)

    task = asyncio.ensure_future(produce())
    try:
        while (got := await queue.get()) is not None:
            if isinstance(got, BaseException):
                raise got
            item, encoded = got
            yield item, await encoded
    finally:
        task.cancel()


class TimeSeriesWriter:
    def __init__(
        self,
        ledger: Ledger,
        sink: TimeSeriesSink,
        settings: WriterSettings,
        *,
        clock: Callable[[], int],
        progress: Callable[[str, int], None] | None = None,
    ) -> None:
        """`progress(series, points so far)`: called after each page of a long series."""
        self._ledger = ledger
        self._progress = progress
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
        written += await self._arrivals()
        written += await self._health()
        written += await self._agents()
        written += await self._channels()
        written += await self._collector()
        self.written += written
        return written

    async def _write(self, points: Sequence[Point]) -> None:
        if points:
            await self._write_lines(to_lines(points), len(points))

    async def _write_lines(self, body: bytes, points: int) -> None:
        try:
            await self._sink.write_lines(body)
        except SinkRejectedError as exc:
            # Our own points broke the schema: a bug. Log loudly, skip the batch so the
            # series behind it still flow; the ledger keeps the truth for a backfill.
            log.error("timeseries_batch_rejected", error=str(exc), points=points)

    async def _probes(self) -> int:
        """Judged probes in verdict-change order, a page at a time, read and encoded ahead
        while the page before is posted (`pipelined`)."""
        encoder = ProbeLines(self._settings.lines)
        cursor = await asyncio.to_thread(self._ledger.cursor, PROBE_CURSOR)
        batch = self._settings.batch
        # Only _arrivals (after this) moves these: windows before them are written already.
        done_until = {
            w: await asyncio.to_thread(self._ledger.cursor, arrival_cursor(w))
            for w in ARRIVAL_WINDOWS_S
        }
        total = 0
        pages = pipelined(
            cursor,
            lambda after: self._ledger.probe_series_after(after, batch),
            lambda _, rows: rows[-1].change_seq if len(rows) == batch else None,
            encoder.encode,
        )
        async for rows, body in pages:
            if not rows:
                break
            await self._write_lines(body, len(rows))
            # Windows already written that a revision touched are rewritten now (a cursor
            # is a window's start: a row before it is in a written window).
            for window, seconds in ARRIVAL_WINDOWS_S.items():
                step = seconds * NS
                starts = {
                    r.planned_at_ns // step * step
                    for r in rows
                    if r.planned_at_ns < done_until[window]
                }
                for start in sorted(starts):
                    await self._write(await self._window(window, start))
            await asyncio.to_thread(
                self._ledger.set_cursor, PROBE_CURSOR, rows[-1].change_seq, at_ns=self._clock()
            )
            total += len(rows)
            if self._progress is not None:
                self._progress("probe", total)
        return total

    @staticmethod
    def _points(rows: Sequence[Arrival], window: str, start: int, end: int) -> list[Point]:
        """The points of every `window` starting in [start, end), from rows planned in (at
        least) that span, oldest first (as Ledger.arrival_rows orders them)."""
        step = ARRIVAL_WINDOWS_S[window] * NS
        times = [r[0] for r in rows]
        points = []
        lo = bisect.bisect_left(times, start)
        while lo < len(times) and times[lo] < end:
            first = times[lo] // step * step
            hi = bisect.bisect_left(times, min(first + step, end), lo)
            points += arrival_points(rows[lo:hi], window, first)
            lo = hi
        return points

    async def _window(self, window: str, start: int) -> list[Point]:
        end = start + ARRIVAL_WINDOWS_S[window] * NS
        rows = await asyncio.to_thread(self._ledger.arrival_rows, start, end)
        return self._points(rows, window, start, end)

    async def _arrivals(self) -> int:
        """Every window kind. Closed windows (past give-up) are final: up to a day of them
        from one read that serves every kind (a backfill walks a year of them), written at
        once, then each kind's cursor moves past them; the next days are read and encoded
        ahead while one is posted (`pipelined`). Windows still open (or within give-up)
        are written provisionally every pass and overwritten as verdicts come in, so
        dashboards are live; their cursor stays put."""
        steps = {w: seconds * NS for w, seconds in ARRIVAL_WINDOWS_S.items()}
        done: dict[str, int] = {}
        for window, step in steps.items():
            done[window] = await asyncio.to_thread(self._ledger.cursor, arrival_cursor(window))
            if done[window] == 0:
                first = await asyncio.to_thread(self._ledger.first_planned_ns)
                if first is None:
                    return 0
                done[window] = first // step * step
        give_up = int(self._settings.give_up_s * NS)
        now = self._clock()
        totals = dict.fromkeys(steps, 0)

        def closed(start: dict[str, int]) -> Span:
            """Per kind, from start[kind] to the end of its closed windows that fit in one
            read (a day from the earliest start); no span when none is closed."""
            hi = min(start.values()) + max(WINDOWS_READ_NS, *steps.values())
            ends = {}
            for window, step in steps.items():
                fit = min(max(0, (now - give_up - start[window]) // step),
                          max(0, (hi - start[window]) // step))  # fmt: skip
                ends[window] = start[window] + fit * step
            return Span(start, ends)

        def read(span: Span) -> tuple[Span, list[ArrivalRow]]:
            lo, hi = min(span.start.values()), max(span.end.values())
            return span, self._ledger.arrival_rows(lo, hi)

        def encode(read: tuple[Span, list[ArrivalRow]]) -> dict[str, Encoded]:
            span, rows = read
            out = {}
            for window, end in span.end.items():
                if end != span.start[window]:
                    points = self._points(rows, window, span.start[window], end)
                    out[window] = Encoded(to_lines(points) if points else b"", len(points))
            return out

        def following(span: Span, _: object) -> Span | None:
            after = closed(span.end)
            return after if after.end != after.start else None

        todo = closed(done)
        if todo.end != todo.start:
            async for (span, _), encoded in pipelined(todo, read, following, encode):
                for window, (body, n) in encoded.items():
                    if n:
                        await self._write_lines(body, n)
                    done[window] = span.end[window]
                    await asyncio.to_thread(
                        self._ledger.set_cursor, arrival_cursor(window), done[window],
                        at_ns=self._clock(),
                    )  # fmt: skip
                    totals[window] += n
                    if self._progress is not None:
                        self._progress(f"arrival {window}", totals[window])
        ends = {w: (now - done[w]) // steps[w] * steps[w] + done[w] + steps[w] for w in steps}
        opened = [w for w in steps if done[w] <= now]
        if opened:
            lo = min(done[w] for w in opened)
            rows = await asyncio.to_thread(self._ledger.arrival_rows, lo, max(ends.values()))
            for window in opened:
                points = self._points(rows, window, done[window], ends[window])
                await self._write(points)
                totals[window] += len(points)
        return sum(totals.values())

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
        off = self._settings.offline_after_s
        total = 0
        while True:
            cursor = await asyncio.to_thread(self._ledger.cursor, AGENT_CURSOR)
            samples = await asyncio.to_thread(
                self._ledger.agent_samples_after, cursor, self._settings.batch
            )
            if not samples:
                break
            points = agent_points(samples, off)
            await self._write(points)
            await asyncio.to_thread(
                self._ledger.set_cursor, AGENT_CURSOR, samples[-1].sample_id, at_ns=self._clock()
            )
            total += len(points)
        # An agent silent since its latest sample: the same point its next sample would
        # bring, written as soon as the silence is long enough (rewriting it is harmless).
        now = self._clock()
        silent = [
            silence_point(s.agent_id, s.site, s.at_ns + int(off * NS))
            for s in await asyncio.to_thread(self._ledger.last_agent_samples)
            if s.connected and s.at_ns + int(off * NS) <= now
        ]
        await self._write(silent)
        return total + len(silent)

    async def _channels(self) -> int:
        total = 0
        while True:
            cursor = await asyncio.to_thread(self._ledger.cursor, CHANNEL_CURSOR)
            rows = await asyncio.to_thread(
                self._ledger.channel_observations_after, cursor, self._settings.batch
            )
            if not rows:
                return total
            await self._write([channel_point(o) for _, o in rows])
            await asyncio.to_thread(
                self._ledger.set_cursor, CHANNEL_CURSOR, rows[-1][0], at_ns=self._clock()
            )
            total += len(rows)

    async def _collector(self) -> int:
        """The collector's own health as the ledger kept it (every instance): each unit
        change, and the spans in which a vendor was not measured."""
        total = 0
        while True:
            cursor = await asyncio.to_thread(self._ledger.cursor, UNIT_CURSOR)
            changes = await asyncio.to_thread(
                self._ledger.unit_changes_after, cursor, self._settings.batch
            )
            if not changes:
                break
            await self._write([unit_point(c) for c in changes])
            await asyncio.to_thread(
                self._ledger.set_cursor, UNIT_CURSOR, changes[-1].change_id, at_ns=self._clock()
            )
            total += len(changes)
        # Spans change in place (an end is set): every span still open or ended since the
        # last pass (a margin for clocks of other collectors) is written again.
        since = await asyncio.to_thread(self._ledger.cursor, SPAN_CURSOR)
        now = self._clock()
        spans = await asyncio.to_thread(lambda: self._ledger.unmeasured_spans(since_ns=since))
        points = measured_points(spans)
        await self._write(points)
        await asyncio.to_thread(
            self._ledger.set_cursor, SPAN_CURSOR, max(0, now - SPAN_MARGIN_NS), at_ns=now
        )
        return total + len(points)

    async def backfill(self, since_ns: int) -> int:
        """Rebuild the series from the ledger: arrival windows from `since_ns`; probe,
        modem, agent and channel points whole (rewriting a point is idempotent). The probe
        points and the closed arrival windows come from one read of the probes in planned
        order (`_rebuild`), the rest from a pass as the live writer makes it."""
        now = self._clock()
        # Windows before the first probe are empty: not walked one by one (a --since of
        # years ago was millions of empty 5-minute windows).
        first = await asyncio.to_thread(self._ledger.first_planned_ns)
        since_ns = 0 if first is None else max(since_ns, first)  # 0: from the first probe
        for window, seconds in ARRIVAL_WINDOWS_S.items():
            step = seconds * NS
            await asyncio.to_thread(
                self._ledger.set_cursor, arrival_cursor(window), since_ns // step * step, at_ns=now
            )
        for name in (PROBE_CURSOR, HEALTH_CURSOR, AGENT_CURSOR, CHANNEL_CURSOR, UNIT_CURSOR,
                     SPAN_CURSOR):  # fmt: skip
            await asyncio.to_thread(self._ledger.set_cursor, name, 0, at_ns=now)
        rebuilt = 0 if first is None else await self._rebuild(first, since_ns, now)
        return rebuilt + await self.write_once()

    async def _rebuild(self, first: int, since_ns: int, now: int) -> int:
        """Every probe point and the closed arrival windows from `since_ns`, from the probes
        read a span of hours at a time in planned order (Ledger.probe_rows_planned: one
        read for both series instead of one by change order and one by planned time), read
        and encoded ahead while the span before is posted. Verdicts are written in one
        order (change_seq), so every verdict up to the highest change taken first is in
        what is read after; the probe cursor then moves there and the next pass writes
        what changed since. Judged probes are planned before `now` (a verdict follows a
        submission); the read goes on past it only while it still finds probes."""
        changed_until = await asyncio.to_thread(self._ledger.last_change_seq)
        steps = {w: seconds * NS for w, seconds in ARRIVAL_WINDOWS_S.items()}
        give_up = int(self._settings.give_up_s * NS)
        # per kind: windows from `since_ns` to the end of the closed ones
        lo = {w: since_ns // step * step for w, step in steps.items()}
        hi = {w: max(lo[w], (now - give_up) // step * step) for w, step in steps.items()}
        encoder = ProbeLines(self._settings.lines)
        batch = self._settings.batch

        def read(start: int) -> tuple[int, list[ProbeSeriesRow]]:
            return start, self._ledger.probe_rows_planned(start, start + REBUILD_READ_NS)

        def following(start: int, got: tuple[int, list[ProbeSeriesRow]]) -> int | None:
            nxt = start + REBUILD_READ_NS
            return nxt if nxt <= now or got[1] else None

        def encode(got: tuple[int, list[ProbeSeriesRow]]) -> Rebuilt:
            start, rows = got
            judged = [r for r in rows if r.outcome and r.outcome != "pending"]
            probes = [
                Encoded(encoder.encode(judged[i : i + batch]), len(judged[i : i + batch]))
                for i in range(0, len(judged), batch)
            ]
            arrivals = {}
            end = start + REBUILD_READ_NS
            view = [arrival_of(r) for r in rows]
            for window in steps:
                a, b = max(start, lo[window]), min(end, hi[window])
                if a < b:
                    points = self._points(view, window, a, b)
                    arrivals[window] = Encoded(to_lines(points) if points else b"", len(points))
            return Rebuilt(probes, arrivals, {w: min(end, hi[w]) for w in steps})

        def move(cursors: dict[str, int]) -> None:
            for window, end in cursors.items():
                self._ledger.set_cursor(arrival_cursor(window), end, at_ns=self._clock())

        totals: dict[str, int] = defaultdict(int)
        # A span's cursors are written (a durable commit) while the next span is posted:
        # after its own bodies were confirmed, before the next span's cursors.
        moving: asyncio.Future[None] | None = None
        spans = pipelined(first // REBUILD_READ_NS * REBUILD_READ_NS, read, following, encode)
        async for (start, _), (probes, arrivals, done) in spans:
            for body, n in probes:
                await self._write_lines(body, n)
                totals["probe"] += n
            for window, (body, n) in arrivals.items():
                if n:
                    await self._write_lines(body, n)
                totals[f"arrival {window}"] += n
            if moving is not None:
                await moving
            moved = {w: end for w, end in done.items() if end > lo[w]}
            moving = asyncio.ensure_future(asyncio.to_thread(move, moved)) if moved else None
            if self._progress is not None:  # how far: the probes planned up to this span's end
                until = datetime.fromtimestamp((start + REBUILD_READ_NS) // NS, UTC)
                self._progress(
                    f"probes planned to {until:%Y-%m-%d %H:%M} UTC, their windows",
                    sum(totals.values()),
                )
        if moving is not None:
            await moving
        await asyncio.to_thread(
            self._ledger.set_cursor, PROBE_CURSOR, changed_until, at_ns=self._clock()
        )
        return sum(totals.values())
