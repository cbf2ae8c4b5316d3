"""The `arrival` windows from the ledger's lean rows, read a span of windows at a time, are
byte for byte the report cells' points (reference.arrival_points over JudgedProbe, one
window at a time as the writer read them before), on a mixed ledger on SQLite and a real
PostgreSQL: every outcome, partial probes with missing parts, pending and never-judged
probes (sent only), cells by vendor, carrier, region and profile with empty tags; closed
windows (cursor moved) and open ones (written provisionally)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import pytest

from agent.common.units import NS
from collector.correlation.model import Outcome
from collector.ledger.probes import ProbePlan, Submission
from collector.reports.judged import judged_probe
from collector.timeseries import writer as writer_module
from collector.timeseries.points import to_line
from collector.timeseries.schema import ARRIVAL_WINDOWS_S
from collector.timeseries.writer import (
    PROBE_CURSOR,
    TimeSeriesWriter,
    WriterSettings,
    arrival_cursor,
)
from tests.collector.timeseries.reference import arrival_points
from tests.collector.timeseries.test_probe_lines import SIMS, RecordingSink, T, _mixed, _verdict
from tests.collector.timeseries.test_probe_lines import _reference as _probe_reference

LAST = T + 69 * 37 * NS  # the last probe's planned time


def _reference(ledger: Any, window: str, until: int) -> list[str]:
    step = ARRIVAL_WINDOWS_S[window] * NS
    out = []
    for start in range(T // step * step, until, step):
        probes = ledger.probes(since_ns=start, until_ns=start + step)
        verdicts = ledger.verdicts([p.plan.probe_id for p in probes])
        judged = [judged_probe(p, verdicts.get(p.plan.probe_id)) for p in probes]
        out += [to_line(p) for p in arrival_points(judged, window, start)]
    return sorted(out)


@pytest.mark.parametrize("read_s", [300, 86400])  # an hour a read (the longest window), a day
@pytest.mark.parametrize("after_s", [200, 3 * 3600])  # the last windows open; all closed
def test_arrival_windows_from_rows_equal_the_report_cells(
    ledger: Any, read_s: int, after_s: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(writer_module, "WINDOWS_READ_NS", read_s * NS)
    _mixed(ledger)
    give_up = 600
    now = LAST + after_s * NS
    sink = RecordingSink()
    writer = TimeSeriesWriter(ledger, sink, WriterSettings(give_up_s=give_up), clock=lambda: now)
    written = asyncio.run(writer._arrivals())  # both kinds of window
    lines = [line.decode() for body in sink.bodies for line in body.split(b"\n")]
    assert written == len(lines)
    for window, seconds in ARRIVAL_WINDOWS_S.items():
        step = seconds * NS
        got = sorted(line for line in lines if f",window={window} " in line)
        expected = _reference(ledger, window, now // step * step + step)
        assert len(expected) > 0
        assert got == expected, window
        # the cursor past the closed windows only (never set while the first is open)
        closed_until = (now - give_up * NS) // step * step
        first = T // step * step
        cursor = ledger.cursor(arrival_cursor(window))
        assert cursor == (closed_until if closed_until > first else 0)
    fields = [line.split(" ")[1] for body in sink.bodies for line in body.decode().split("\n")]
    # partial probes were counted, with one and with three parts missing
    assert any("parts_missing=1i" in f for f in fields)
    assert any("parts_missing=3i" in f for f in fields)


@pytest.mark.parametrize("since_min", [0, 20])  # every window; windows from 20 min in
def test_backfill_rebuild_from_one_read_writes_the_reference_points(
    ledger: Any, since_min: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`backfill` reads the probes once in planned order for the probe points and the closed
    windows (Ledger.probe_rows_planned); the lines are the reference's, pages of 7 and
    spans of an hour; a verdict revised after the backfill is written by the next pass."""
    monkeypatch.setattr(writer_module, "REBUILD_READ_NS", 3600 * NS)
    _mixed(ledger)
    # and probes in later hours (one at an hour's first instant, none in the third):
    # spans of an hour, an empty one before the last
    for i, minutes in ((100, 70), (101, 180), (102, 211)):
        at = T + minutes * 60 * NS
        ledger.add_probe(ProbePlan(
            probe_id=f"p{i}", vendor="v1", msisdn=SIMS[0][0], profile="otp", token=f"T{i}",
            body="b", expected_text="e", planned_at_ns=at, carrier="china_mobile",
        ))  # fmt: skip
        ledger.record_submission(Submission(f"p{i}", "accepted", at + 3, at + NS, (f"m{i}",)))
        ledger.save_verdicts([_verdict(i, Outcome.DELIVERED)], at_ns=at)
    now = T + 5 * 3600 * NS  # every window closed
    since = T + since_min * 60 * NS
    sink = RecordingSink()
    progress: list[tuple[str, int]] = []
    writer = TimeSeriesWriter(
        ledger, sink, WriterSettings(batch=7), clock=lambda: now,
        progress=lambda series, n: progress.append((series, n)),
    )  # fmt: skip
    written = asyncio.run(writer.backfill(since))
    # how far it came, span by span, up to the clock's hour (the read stops past it)
    last = datetime.fromtimestamp((now + 3600 * NS) // NS, UTC)
    assert progress[-1][0] == f"probes planned to {last:%Y-%m-%d %H:%M} UTC, their windows"
    assert [n for _, n in progress] == sorted(n for _, n in progress)
    lines = [line.decode() for body in sink.bodies for line in body.split(b"\n") if line]
    assert written == len(lines)
    assert sorted(x for x in lines if x.startswith("probe,")) == _probe_reference(ledger, {})
    for window, seconds in ARRIVAL_WINDOWS_S.items():
        step = seconds * NS
        got = sorted(line for line in lines if f",window={window} " in line)
        expected = [
            line for line in _reference(ledger, window, now // step * step)
            if int(line.rsplit(" ", 1)[1]) >= since // step * step
        ]  # fmt: skip
        assert len(expected) > 0
        assert got == expected, window
        assert ledger.cursor(arrival_cursor(window)) == (now - 600 * NS) // step * step
    assert ledger.cursor(PROBE_CURSOR) == max(
        v.change_seq for v in ledger.verdicts_changed_after(0, 10_000)
    )
    # p0 delivered -> lost after the backfill: the next pass writes its point and windows
    ledger.save_verdicts([_verdict(0, Outcome.LOST)], at_ns=now)
    sink.bodies.clear()
    asyncio.run(writer.write_once())
    lines = [line.decode() for body in sink.bodies for line in body.split(b"\n") if line]
    probe_lines = [x for x in lines if x.startswith("probe,")]
    assert len(probe_lines) == 1 and 'verdict="lost"' in probe_lines[0]
    assert sorted(x for x in _probe_reference(ledger, {}) if x in probe_lines) == probe_lines
