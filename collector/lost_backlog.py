"""`service:lost_backlog`: queued gaps of agents that never came back, reported missing.

A queued gap (docs/ingest.md, "Gaps while the backlog drains") waits for the agent's
backlog. If the agent is down for longer than `[agents] backlog_grace_s` — counted from
when it stopped being up, as `[agents] offline_after_s` defines it — its backlog is given
up: each such gap gets its seq_gap_detected event and warning
(`Ledger.report_lost_backlog`). The pass runs every few seconds on the holder of the
probing lease only, its writes fenced by it; the ledger reports each gap once whoever
calls, so a takeover between two passes neither loses nor repeats one.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable

from collector.config import AgentDefaults
from collector.coordination.keeper import LeaseKeeper, UnitBody, leased
from collector.health.supervise import Unit
from collector.ledger import Ledger
from collector.ledger.leases import PROBING

MAX_INTERVAL_S = 30.0  # a gap is reported at most this long after its bound passed


def pass_interval_s(grace_s: float) -> float:
    """A quarter of the bound (at least 0.1 s), at most MAX_INTERVAL_S."""
    return min(max(grace_s / 4, 0.1), MAX_INTERVAL_S)


def lost_backlog_unit(
    ledger: Ledger,
    defaults: AgentDefaults,
    *,
    keeper: LeaseKeeper | None = None,
    clock: Callable[[], int] = time.time_ns,
    interval_s: float | None = None,
) -> UnitBody:
    """The unit's body; with `keeper`, run by the holder of the probing lease only.
    `interval_s`: between passes (default: pass_interval_s of the grace)."""
    if keeper is not None:
        ledger = ledger.fenced(keeper.fence(PROBING))
    every_s = pass_interval_s(defaults.backlog_grace_s) if interval_s is None else interval_s

    async def run(unit: Unit) -> None:
        while not unit.stop.is_set():
            await asyncio.to_thread(
                ledger.report_lost_backlog,
                at_ns=clock(),
                offline_after_s=defaults.offline_after_s,
                grace_s=defaults.backlog_grace_s,
            )
            unit.running()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(unit.stop.wait(), timeout=every_s)

    return run if keeper is None else leased(keeper, PROBING, run)
