"""Two collectors on one PostgreSQL ledger, each running the lost_backlog unit under its
lease keeper (as `serve` does): the queued gaps of an agent gone past the grace are
reported by the holder of the probing lease, once; the other collector stands by."""

from __future__ import annotations

import asyncio
import time

from collector.config import AgentDefaults
from collector.coordination.config import CoordinationConfig
from collector.coordination.keeper import LeaseKeeper
from collector.health.board import HealthBoard, UnitState, service_unit
from collector.health.supervise import Unit
from collector.ledger import Ledger, open_ledger
from collector.ledger.leases import LEASE_NAMES, PROBING
from collector.lost_backlog import lost_backlog_unit
from tests.collector.ledger.builders import NOW, NS, T0, record, registration

AGENT = registration().agent_id


def test_two_collectors_report_a_lost_backlog_once(postgres_url: str) -> None:
    async def main() -> tuple[list[str], dict[str, bool]]:
        ledgers: list[Ledger] = [open_ledger(postgres_url) for _ in range(2)]
        setup = ledgers[0]
        setup.register_agent(registration(last_seq=10), at_ns=NOW)
        setup.ingest_batch(AGENT, [record(11)], [], at_ns=NOW + 1)  # live ahead: 1..10 queued
        setup.touch_agent(AGENT, at_ns=NOW + 2, outbox_depth=10, oldest_pending_ns=T0 + NS,
                          clock_offset_ms=0.0, clock_uncertainty_ms=1.0)  # fmt: skip
        setup.set_connected(AGENT, False, at_ns=NOW + 3, via="c1")  # gone since (2026)
        config = CoordinationConfig(lease_ttl_s=5.0, renew_interval_s=0.2)
        stop = asyncio.Event()
        boards: list[tuple[LeaseKeeper, HealthBoard]] = []
        tasks: list[asyncio.Future[None]] = []
        for i, ledger in enumerate(ledgers):
            keeper = LeaseKeeper(ledger, f"c{i}", LEASE_NAMES, config)
            await keeper.renew_once()
            board = HealthBoard(time.time_ns)
            body = lost_backlog_unit(
                ledger, AgentDefaults(backlog_grace_s=1.0), keeper=keeper, interval_s=0.05
            )
            unit = Unit(board, service_unit("lost_backlog"), stop)
            tasks += [asyncio.create_task(keeper.run(stop)), asyncio.ensure_future(body(unit))]
            boards.append((keeper, board))

        def settled() -> bool:
            return not any(g.queued for g in setup.gaps(AGENT)) and all(
                b.get(service_unit("lost_backlog")) is not None for _, b in boards
            )

        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not settled():
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.3)  # a few more passes of both units
        holders = {k.instance: k.current(PROBING) is not None for k, _ in boards}
        running = {
            k.instance: b.is_state(service_unit("lost_backlog"), UnitState.RUNNING)
            for k, b in boards
        }
        stop.set()
        await asyncio.gather(*tasks)
        kinds = [e.kind for e in setup.events(AGENT) if e.kind == "seq_gap_detected"]
        for ledger in ledgers:
            ledger.close()
        assert running == holders  # the holder ran it, the other stood by
        return kinds, holders

    kinds, holders = asyncio.run(main())
    assert kinds == ["seq_gap_detected"]
    assert sorted(holders.values()) == [False, True]
