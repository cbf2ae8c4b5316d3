"""The `arrival` windows from the ledger's lean rows, read a span of windows at a time, are
byte for byte the report cells' points (reference.arrival_points over JudgedProbe, one
window at a time as the writer read them before), on a mixed ledger on SQLite and a real
PostgreSQL: every outcome, partial probes with missing parts, pending and never-judged
probes (sent only), cells by vendor, carrier, region and profile with empty tags; closed
windows (cursor moved) and open ones (written provisionally)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from agent.common.units import NS
from collector.reports.judged import judged_probe
from collector.timeseries import writer as writer_module
from collector.timeseries.points import to_line
from collector.timeseries.schema import ARRIVAL_WINDOWS_S
from collector.timeseries.writer import TimeSeriesWriter, WriterSettings, arrival_cursor
from tests.collector.timeseries.reference import arrival_points
from tests.collector.timeseries.test_probe_lines import RecordingSink, T, _mixed

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
