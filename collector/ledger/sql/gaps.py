"""Queued gaps given up (GapSpan.queued, migration 0018): reported missing — a
seq_gap_detected event and a warning, once — when the agent's outbox view says the seqs
are not pending there (Ledger.touch_agent), when it registers with a restarted outbox
(Ledger.register_agent), or when it has been down longer than `[agents] backlog_grace_s`
(Ledger.report_lost_backlog, run by the holder of the probing lease).

The gap itself stays what it was, a not-measured span of the agent's receivers; only
`queued` is cleared. Every path locks the agent's row first (as ingest does), so a gap a
concurrent batch is filling or splitting is seen as that batch left it, and a gap is
reported by one transaction only (`queued = 1` in the UPDATE is the last guard).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import structlog

from collector.ledger.lost_backlog import AGENT_GONE, backlog_given_up
from collector.ledger.model import GapSpan, LedgerEvent
from collector.ledger.sql.convert import GAP_COLUMNS, gap_of
from collector.ledger.sql.core import SqlCore
from collector.ledger.sql.ingest import gap_detected
from collector.ledger.sql.query import Row, Tx

log = structlog.get_logger("collector.ledger")


class GapSql(SqlCore):
    def report_lost_backlog(
        self, *, at_ns: int, offline_after_s: float, grace_s: float
    ) -> list[GapSpan]:
        # Read first: most passes find nothing, and take no write lock for it.
        with self._transaction(write=False) as tx:
            candidates = tx.all(
                "SELECT agent_id, connected, last_seen_ns FROM agents WHERE agent_id IN"
                " (SELECT agent_id FROM gaps WHERE queued = 1) ORDER BY agent_id"
            )
        gone = [str(c["agent_id"]) for c in candidates if _gone(c, at_ns, offline_after_s, grace_s)]
        if not gone:
            return []
        reported: list[GapSpan] = []
        with self._transaction() as tx:
            self._check_fence(tx)
            for agent_id in gone:  # in id order, as ingest locks agents
                # Locked, then judged again: it may have come back meanwhile.
                (row,) = tx.all(
                    "SELECT connected, last_seen_ns FROM agents WHERE agent_id = ?"
                    + self._for_update,
                    (agent_id,),
                )
                if _gone(row, at_ns, offline_after_s, grace_s):
                    gaps = self._queued_gaps(tx, agent_id)
                    reported += self._report_queued(tx, gaps, at_ns, AGENT_GONE)
        for agent_id in sorted({g.agent_id for g in reported}):
            log_reported(agent_id, [g for g in reported if g.agent_id == agent_id], AGENT_GONE)
        return reported

    def _queued_gaps(self, tx: Tx, agent_id: str, epoch: int | None = None) -> list[GapSpan]:
        """The agent's queued gaps (of `epoch` only, when given), in seq order."""
        sql = f"SELECT {GAP_COLUMNS} FROM gaps WHERE agent_id = ? AND queued = 1"
        params: tuple[object, ...] = (agent_id,)
        if epoch is not None:
            sql += " AND seq_epoch = ?"
            params += (epoch,)
        return [gap_of(r) for r in tx.all(sql + " ORDER BY seq_epoch, first_seq", params)]

    def _report_queued(
        self, tx: Tx, gaps: Sequence[GapSpan], at_ns: int, why: str
    ) -> list[GapSpan]:
        """Clear `queued` of these gaps (the caller holds the agent's row lock) and write
        each one's seq_gap_detected event; returns the gaps this call reported."""
        reported = [
            g
            for g in gaps
            if tx.run(
                "UPDATE gaps SET queued = 0"
                " WHERE agent_id = ? AND seq_epoch = ? AND first_seq = ? AND queued = 1",
                (g.agent_id, g.epoch, g.first_seq),
            )
        ]
        self._insert_events(tx, [gap_event(g, at_ns, why) for g in reported])
        return reported


def _gone(agent: Row, at_ns: int, offline_after_s: float, grace_s: float) -> bool:
    return backlog_given_up(
        now_ns=at_ns,
        connected=bool(agent["connected"]),
        last_seen_ns=int(agent["last_seen_ns"]),
        offline_after_s=offline_after_s,
        grace_s=grace_s,
    )


def gap_event(gap: GapSpan, at_ns: int, why: str) -> LedgerEvent:
    """A queued gap's seq_gap_detected event, saying why it was given up."""
    event = gap_detected(gap, at_ns)
    return replace(
        event,
        detail=f"seq {gap.first_seq}..{gap.last_seq} missing (announced by the agent, {why})",
        attributes={**event.attributes, "why": why},
    )


def log_reported(agent_id: str, gaps: Sequence[GapSpan], why: str) -> None:
    """The warning of each queued gap given up (ingest's log_gaps shape, with why)."""
    for g in gaps:
        log.warning("seq_gap_detected", agent_id=agent_id, first_seq=g.first_seq,
                    last_seq=g.last_seq, epoch=g.epoch, announced=True, why=why)  # fmt: skip
