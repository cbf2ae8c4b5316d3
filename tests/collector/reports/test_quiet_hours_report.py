"""Quiet-hour suppressions reach the report: the real runner over a real scheduler keeps
each marketing send held back by quiet hours in the ledger (SQLite and PostgreSQL), and
`report` counts them per vendor and profile, only inside its period."""

from __future__ import annotations

import asyncio
import json
import random
from datetime import datetime
from pathlib import Path
from typing import Any

from click.testing import CliRunner

from collector.ledger import open_ledger
from collector.probes.bands import Periods
from collector.probes.runner import ProbeRunner, RunnerSettings
from collector.probes.scheduler import Scheduler, Target, VendorPlan
from collector.reports.cli import report_command
from tests.collector.reports.world import NS, TZ, write_config

START = int(datetime(2026, 11, 24, 20, 30, tzinfo=TZ).timestamp()) * NS  # after 20:00
SIMS = [Target("+8613800000001", carrier="china_mobile"), Target("+8613900000002")]


def _scheduler() -> Scheduler:
    plans = [
        VendorPlan("acme", ("marketing", "notification"), interval_s=600, signature="S"),
        VendorPlan("bolt", ("marketing",), interval_s=600, signature="S"),
    ]
    parts = {("acme", "marketing"): 1, ("acme", "notification"): 1, ("bolt", "marketing"): 1}
    return Scheduler(plans, SIMS, start_ns=START, rng=random.Random(5), parts_of=parts,
                     periods=Periods(marketing_hours=(9, 20)))  # fmt: skip


async def _run_until_held(ledger: Any, scheduler: Scheduler, lanes: int) -> None:
    """The runner on a clock that moves a minute per reading, until every marketing lane
    was held back (no vendor is connected: nothing is sent, only held back)."""
    now = [START]

    def clock() -> int:
        now[0] += 60 * NS
        return now[0]

    runner = ProbeRunner(ledger, {}, scheduler, RunnerSettings(b"k" * 32, {}), clock=clock)
    stop = asyncio.Event()
    task = asyncio.create_task(runner.run(stop))
    for _ in range(2000):
        if len(await asyncio.to_thread(ledger.suppressions)) >= lanes or task.done():
            break
        await asyncio.sleep(0.01)
    stop.set()
    await task
    assert now[0] < START + 12 * 3600 * NS  # still before 09:00: each lane held once


def _report(config: Path, since: str, until: str, fmt: str) -> str:
    out = config.parent / f"report-{since}-{until}.{fmt}"
    result = CliRunner().invoke(
        report_command,
        ["--config", str(config), "--since", since, "--until", until, "--out", str(out)],
    )
    assert result.exit_code == 0, result.output
    return out.read_text(encoding="utf-8")


def test_suppressions_are_kept_and_counted_per_vendor_and_profile(
    ledger_url: str, tmp_path: Path
) -> None:
    scheduler = _scheduler()
    ledger = open_ledger(ledger_url)
    try:
        asyncio.run(_run_until_held(ledger, scheduler, lanes=4))
        kept = ledger.suppressions()
    finally:
        ledger.close()
    # Two SIMs × (acme marketing, bolt marketing): each lane held once, at its first due time.
    assert sorted((s.vendor, s.msisdn, s.profile) for s in kept) == sorted(
        (v, t.msisdn, "marketing") for v in ("acme", "bolt") for t in SIMS
    )
    assert all(s.local_day == "2026-11-24" and s.at_ns > START for s in kept)
    resume = int(datetime(2026, 11, 25, 9, 0, tzinfo=TZ).timestamp()) * NS
    assert all(resume <= s.resume_at_ns <= resume + 600 * NS for s in kept)  # 09:00 + jitter
    assert sum(scheduler.suppressed.values()) == len(kept)  # the scheduler's own count

    config = write_config(tmp_path, ledger_url)
    doc = json.loads(_report(config, "2026-11-24T20:00", "2026-11-25T00:00", "json"))
    assert doc["quiet_hours_suppressed"] == {"acme": {"marketing": 2}, "bolt": {"marketing": 2}}
    md = _report(config, "2026-11-24T20:00", "2026-11-25T00:00", "md")
    assert "acme: 2 marketing send(s) held back by quiet hours (marketing 2)" in md
    before = json.loads(_report(config, "2026-11-24T00:00", "2026-11-24T20:30", "json"))
    assert before["quiet_hours_suppressed"] == {}  # none inside that period
