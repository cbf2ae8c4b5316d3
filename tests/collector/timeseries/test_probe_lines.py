"""The `probe` series encoded straight from ledger rows, in pages, is byte for byte what the
schema-checked path (JudgedProbe -> make_point -> to_line, tests/.../reference.py) gives,
on a mixed ledger on SQLite and a real PostgreSQL: every outcome, pending and unjudged
probes (no point), revisions, kinds of line (home, MVNO segment, ported, unknown, a
[reports.lines] override), empty tags, tag values that need escaping, missing delays."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

import pytest

from agent.common.units import NS
from collector.correlation.model import ContentVerdict, DlrClaim, DlrTruth, Outcome, Verdict
from collector.ledger.probes import ProbePlan, Submission
from collector.reports.judged import judged_probe
from collector.timeseries.points import to_line, to_lines
from collector.timeseries.writer import PROBE_CURSOR, TimeSeriesWriter, WriterSettings
from tests.collector.timeseries.reference import probe_point

T = 1_800_000_000_000_000_000
# (msisdn, carrier, mvno, site, iccid, region): home, an MVNO segment, a ported number,
# no carrier from the IMSI, a site and a region that need escaping, empty tags
SIMS = [
    ("+8613800000001", "china_mobile", "", "site-1", "8986001", "east"),
    ("+8617000000002", "china_unicom", "170", "site-1", "8986002", "east"),
    ("+8613000000003", "china_mobile", "", "site 2,b", "8986003", "we=st"),
    ("13900000004", "", "", "", "", ""),
    ("+8613300000005", "other", "", "site-1", "8986005", "east"),
]
OUTCOMES = [Outcome.DELIVERED, Outcome.LATE, Outcome.LOST, Outcome.PARTIAL,
            Outcome.INCONCLUSIVE, Outcome.PENDING, None]  # fmt: skip


class RecordingSink:
    """The sink boundary: keeps the bodies the writer posts (InfluxDB would parse them;
    here the bytes themselves are compared)."""

    def __init__(self) -> None:
        self.bodies: list[bytes] = []

    async def write(self, points: Any) -> None:
        await self.write_lines(to_lines(points))

    async def write_lines(self, body: bytes) -> None:
        self.bodies.append(body)

    async def close(self) -> None:
        pass


def _verdict(i: int, outcome: Outcome, revised: bool = False) -> Verdict:
    arrived = outcome in (Outcome.DELIVERED, Outcome.LATE)
    dlr = DlrTruth.CONSISTENT if arrived else (DlrTruth.FAKE_SUCCESS if i % 2 else DlrTruth.MISSING)
    return Verdict(
        f"p{i}", outcome, dlr, DlrClaim.SUCCESS if i % 3 else DlrClaim.NONE,
        ContentVerdict.INTACT if arrived and i % 4 else ContentVerdict.MODIFIED,
        # latency on a lost probe too: the point leaves it out unless the probe arrived
        latency_s=None if i % 9 == 0 else 1.0 + i / 7 + (0.5 if revised else 0),
        vendor_delay_s=None if i % 5 == 0 else i / 3,
        carrier_delay_s=None if i % 6 == 0 else 0.1 * i,
        # one or three parts missing: the arrival series counts them from the stored list
        missing_parts=((2,) if i % 2 else (1, 3, 4)) if outcome is Outcome.PARTIAL else (),
    )  # fmt: skip


def _mixed(ledger: Any) -> None:
    for i in range(70):
        msisdn, carrier, mvno, site, iccid, region = SIMS[i % len(SIMS)]
        at = T + i * 37 * NS
        ledger.add_probe(ProbePlan(
            probe_id=f"p{i}", vendor=f"v{i % 3}", msisdn=msisdn, profile="otp" if i % 2 else "n",
            token=f"T{i}", body="b", expected_text="e", planned_at_ns=at, carrier=carrier,
            mvno=mvno, region=region, site=site, agent_id=f"a{i % 2}", modem_imei="86",
            iccid=iccid,
        ))  # fmt: skip
        if i % 11 != 10:  # some never submitted: the point's time is the planned time
            ledger.record_submission(Submission(f"p{i}", "accepted", at + 3, at + NS, (f"m{i}",)))
        outcome = OUTCOMES[i % len(OUTCOMES)]
        if outcome is not None:
            ledger.save_verdicts([_verdict(i, outcome)], at_ns=at)
    # revisions: a lost probe found delivered, a pending one judged, a delivered one lost
    revised = [_verdict(2, Outcome.DELIVERED, True), _verdict(5, Outcome.LOST, True),
               _verdict(7, Outcome.LOST, True)]  # fmt: skip
    ledger.save_verdicts(revised, at_ns=T + 10**12)


def _reference(ledger: Any, lines: Mapping[str, str]) -> list[str]:
    """The points as the writer built them before: verdict pages, probes by id,
    JudgedProbe, make_point."""
    verdicts = {v.verdict.probe_id: v for v in ledger.verdicts_changed_after(0, 10_000)}
    out = []
    for p in ledger.probes(probe_ids=sorted(verdicts)):
        v = verdicts[p.plan.probe_id]
        if v.verdict.outcome is not Outcome.PENDING:
            out.append(to_line(probe_point(judged_probe(p, v), p, lines)))
    return sorted(out)


@pytest.mark.parametrize("lines", [{}, {"13900000004": "ported", "13800000001": "mvno"}])
def test_probe_lines_in_pages_equal_the_schema_checked_points(
    ledger: Any, lines: dict[str, str]
) -> None:
    _mixed(ledger)
    expected = _reference(ledger, lines)
    # 70 probes, 10 pending and 10 never judged; one of them (5) judged later
    assert len(expected) == 51
    for batch in (1, 7, 5000):
        ledger.set_cursor(PROBE_CURSOR, 0, at_ns=T)
        sink = RecordingSink()
        writer = TimeSeriesWriter(
            ledger, sink, WriterSettings(batch=batch, lines=lines), clock=lambda: T
        )
        written = asyncio.run(writer._probes())
        got = [line.decode() for body in sink.bodies for line in body.split(b"\n")]
        assert written == 51
        assert len(sink.bodies) == -(-51 // batch)  # one body a page
        assert sorted(got) == expected, batch
        assert ledger.cursor(PROBE_CURSOR) == max(
            v.change_seq for v in ledger.verdicts_changed_after(0, 10_000)
            if v.verdict.outcome is not Outcome.PENDING
        )  # fmt: skip
