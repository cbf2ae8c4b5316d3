"""The ingest write path: a batch of an agent's records judged (ingest_rules.py, pure)
and stored in one transaction, with its sequence gaps and quarantine.

Idempotent by record uuid; a record that breaks a rule is stored raw in quarantine and
still acked. The hot loop builds plain tuples per table and inserts them with one
executemany each.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable, Iterable, Sequence
from typing import Any, TypeVar

import structlog
from smsprobe.v1 import agent_pb2

from agent.wire.records import (
    AgentEvent,
    CanarySent,
    ModemHealth,
    ReceivedSms,
    Record,
    RecordKind,
    StatusReport,
)
from collector.ledger.base import LedgerUnavailableError, UnknownAgentError
from collector.ledger.ingest_rules import (
    Accepted,
    PlainSms,
    SeqState,
    advance_seq,
    classify_batch,
    classify_wire,
    hold_announced,
    read_plain,
    uuids_to_look_up,
)
from collector.ledger.model import (
    BatchOutcome,
    EventSource,
    GapSpan,
    LedgerEvent,
    LedgerEventKind,
    RecordRejection,
)
from collector.ledger.sql.convert import GAP_COLUMNS, gap_of, opt_float
from collector.ledger.sql.core import SqlCore
from collector.ledger.sql.query import Tx, chunks, marks
from collector.quarantine import Quarantined, QuarantineReason

log = structlog.get_logger("collector.ledger")

# records.kind per body type: kind_of (agent/wire/records.py), as plain str for the hot loop
_KIND_VALUE: dict[type, str] = {
    ReceivedSms: RecordKind.SMS.value,
    StatusReport: RecordKind.STATUS_REPORT.value,
    ModemHealth: RecordKind.HEALTH.value,
    AgentEvent: RecordKind.EVENT.value,
    CanarySent: RecordKind.CANARY.value,
}
Values = tuple[Any, ...]
B = TypeVar("B")  # a batch, decoded or as uploaded


class IngestSql(SqlCore):
    def ingest_batch(
        self,
        agent_id: str,
        records: Sequence[Record],
        quarantined: Sequence[Quarantined],
        *,
        at_ns: int,
    ) -> BatchOutcome:
        with self._transaction() as tx:
            outcome = self._ingest_in(tx, agent_id, records, quarantined, at_ns)
        self._log_gaps(agent_id, outcome)
        return outcome

    def ingest_batches(
        self,
        agent_id: str,
        batches: Sequence[tuple[Sequence[Record], Sequence[Quarantined]]],
        *,
        at_ns: int,
    ) -> list[BatchOutcome]:
        """Several batches of one agent in one transaction (group commit): each outcome is
        what `ingest_batch` would have returned for its batch in this order, and all of
        them are committed (one fsync) when this returns, or none is."""
        with self._transaction() as tx:
            outcomes = [self._ingest_in(tx, agent_id, r, q, at_ns) for r, q in batches]
        for outcome in outcomes:
            self._log_gaps(agent_id, outcome)
        return outcomes

    def ingest_agents(
        self,
        commits: Sequence[tuple[str, Sequence[tuple[Sequence[Record], Sequence[Quarantined]]]]],
        *,
        at_ns: int,
    ) -> list[list[BatchOutcome]]:
        """Group commits of several agents in one transaction (the ingest writer's
        cross-agent group commit): outcomes per commit, in the order given, each what
        `ingest_batches` would have returned; all committed when this returns, or none.
        Agents are taken in id order, so collectors sharing a PostgreSQL ledger lock their
        rows (FOR UPDATE) in one order and never deadlock on them."""
        return self._in_agent_order(
            commits, lambda tx, agent_id, b: self._ingest_in(tx, agent_id, *b, at_ns)
        )

    def ingest_wire(
        self,
        commits: Sequence[tuple[str, Sequence[agent_pb2.Batch]]],
        *,
        at_ns: int,
    ) -> list[list[BatchOutcome]]:
        """`ingest_agents` of the batches as uploaded: the same outcomes and rows as with
        each batch decoded by `records_from_batch` (collector/quarantine.py), without
        decoding the common SMS record (`classify_wire`): its rows come from the proto."""
        return self._in_agent_order(
            commits,
            lambda tx, agent_id, b: self._ingest_wire_in(tx, agent_id, b.records, at_ns),
        )

    def _ingest_wire_in(
        self, tx: Tx, agent_id: str, records: Sequence[agent_pb2.Record], at_ns: int
    ) -> BatchOutcome:
        """One uploaded batch, its fresh SMS records' uuids not looked up (idempotence by
        the unique index: `uuids_to_look_up`); should one of them be stored already, the
        batch is undone to its savepoint and judged again with every uuid looked up, so
        the outcome is the reference path's in either case."""
        tx.run("SAVEPOINT ingest_batch")
        try:
            outcome = self._ingest_in(tx, agent_id, (), (), at_ns, wire=records)
        except _StoredAlready:
            tx.run("ROLLBACK TO SAVEPOINT ingest_batch")
            outcome = self._ingest_in(tx, agent_id, (), (), at_ns, wire=records, look_up_all=True)
        tx.run("RELEASE SAVEPOINT ingest_batch")
        return outcome

    def _in_agent_order(
        self,
        commits: Sequence[tuple[str, Sequence[B]]],
        ingest: Callable[[Tx, str, B], BatchOutcome],
    ) -> list[list[BatchOutcome]]:
        """`ingest` of every batch in one transaction, agents in id order (ingest_agents);
        outcomes per commit in the order given."""
        order = sorted(range(len(commits)), key=lambda i: commits[i][0])
        outcomes: dict[int, list[BatchOutcome]] = {}
        with self._transaction() as tx:
            for i in order:
                agent_id, batches = commits[i]
                outcomes[i] = [ingest(tx, agent_id, b) for b in batches]
        for i, (agent_id, _) in enumerate(commits):
            for outcome in outcomes[i]:
                self._log_gaps(agent_id, outcome)
        return [outcomes[i] for i in range(len(commits))]

    def _ingest_in(
        self,
        tx: Tx,
        agent_id: str,
        records: Sequence[Record],
        quarantined: Sequence[Quarantined],
        at_ns: int,
        *,
        wire: Sequence[agent_pb2.Record] | None = None,
        look_up_all: bool = False,
    ) -> BatchOutcome:
        """One batch: `records` and `quarantined` decoded, or `wire`, its records as
        uploaded (`_ingest_wire_in`; `look_up_all`: every uuid looked up)."""
        row = tx.all(
            "SELECT seq_epoch, max_seq, max_seq_persisted_ns, registered_at_ns,"
            " reported_last_seq FROM agents WHERE agent_id = ?" + self._for_update,
            (agent_id,),
        )
        # A row without registration comes from set_connected/touch_agent only.
        if not row or not row[0]["registered_at_ns"]:
            raise UnknownAgentError(agent_id)
        agent = row[0]
        epoch, max_seq = int(agent["seq_epoch"]), int(agent["max_seq"])
        max_ns = int(agent["max_seq_persisted_ns"])
        state = SeqState(agent_id, epoch, max_seq, max_ns, self._load_gaps(tx, agent_id, epoch))
        modems = {
            str(r["imei"]): str(r["iccid"])
            for r in tx.all("SELECT imei, iccid FROM modems WHERE agent_id = ?", (agent_id,))
        }
        # classify_batch scrubs every record (ingest_rules.scrub_nul) before judging it:
        # look the uuids up as they would have been stored.
        # (With `wire`, also the uuids of records that will not decode: looked up for nothing.)
        plains: list[PlainSms | None] = []
        if wire is None:
            uuids = [r.uuid.replace("\x00", "\ufffd") for r in records if r.uuid]
        else:
            plains = read_plain(wire, now_ns=at_ns, known_imeis=modems.keys(), limits=self._limits)
            uuids = (
                [r.uuid.replace("\x00", "\ufffd") for r in wire if r.uuid]
                if look_up_all
                else uuids_to_look_up(wire, plains, state)
            )
        existing: set[str] = set()
        for chunk in chunks(uuids):
            existing.update(
                str(r["uuid"])
                for r in tx.all(
                    f"SELECT uuid FROM records WHERE uuid IN ({marks(len(chunk))})", chunk
                )
            )
        if wire is None:
            cls = classify_batch(
                records,
                quarantined,
                now_ns=at_ns,
                known_imeis=modems.keys(),
                existing_uuids=existing,
                seq_state=state,
                limits=self._limits,
            )
        else:
            cls = classify_wire(
                wire,
                plains,
                now_ns=at_ns,
                known_imeis=modems.keys(),
                existing_uuids=existing,
                seq_state=state,
                limits=self._limits,
            )
        # A quarantined record did arrive: its seq is accounted for (stored raw), so it
        # neither holds committed_seq back nor counts as a not-measured gap.
        arrivals = [(r.seq, r.persisted_at_ns) for r in cls.accepted]
        taken = {r.seq for r in cls.accepted}
        for q in cls.quarantined:
            if (
                q.seq > 0
                and q.reason is not QuarantineReason.SEQ_CONFLICT
                and q.seq not in taken
                and state.is_free(q.seq)
            ):
                arrivals.append((q.seq, q.persisted_at_ns))
                taken.add(q.seq)
        new_state, opened = advance_seq(state, arrivals, at_ns=at_ns)
        # A live batch committed ahead of the agent's backlog opens a gap the backlog will
        # fill: kept (a not-measured span meanwhile) but not reported as missing yet.
        new_state, opened = hold_announced(
            new_state, opened, announced_seq=int(agent["reported_last_seq"])
        )

        ingested = self._insert_records(tx, agent_id, epoch, cls.accepted, modems, at_ns)
        self._insert_quarantine(tx, agent_id, cls.quarantined, at_ns)
        self._save_gaps(tx, state.gaps, new_state.gaps)
        self._insert_events(tx, [gap_detected(g, at_ns) for g in opened if not g.queued])
        committed = new_state.committed_seq
        tx.run(
            "UPDATE agents SET max_seq = ?, max_seq_persisted_ns = ?, committed_seq = ?,"
            " last_seen_ns = ? WHERE agent_id = ?",
            (new_state.max_seq, new_state.max_seq_persisted_ns, committed, at_ns, agent_id),
        )
        rejections = tuple(
            RecordRejection(uuid=q.uuid, seq=q.seq, reason=f"{q.reason.value}: {q.detail}")
            for q in cls.quarantined
        )
        return BatchOutcome(
            ingested=ingested,
            duplicates=cls.duplicates + (len(cls.accepted) - ingested),
            quarantined=len(cls.quarantined),
            rejections=rejections,
            committed_seq=committed,
            new_gaps=opened,
        )

    def _log_gaps(self, agent_id: str, outcome: BatchOutcome) -> None:
        log_gaps(agent_id, outcome.new_gaps)

    def _load_gaps(self, tx: Tx, agent_id: str, epoch: int) -> tuple[GapSpan, ...]:
        rows = tx.all(
            f"SELECT {GAP_COLUMNS} FROM gaps WHERE agent_id = ? AND seq_epoch = ?"
            " ORDER BY first_seq",
            (agent_id, epoch),
        )
        return tuple(gap_of(r) for r in rows)

    def _save_gaps(self, tx: Tx, old: Iterable[GapSpan], new: Iterable[GapSpan]) -> None:
        old_set, new_set = set(old), set(new)
        gone = old_set - new_set
        added = new_set - old_set
        if gone:
            tx.many(
                "DELETE FROM gaps WHERE agent_id = ? AND seq_epoch = ? AND first_seq = ?",
                [(g.agent_id, g.epoch, g.first_seq) for g in gone],
            )
        if added:
            tx.many(
                "INSERT INTO gaps (agent_id, seq_epoch, first_seq, last_seq, start_ns, end_ns,"
                " detected_at_ns, queued) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    (
                        g.agent_id,
                        g.epoch,
                        g.first_seq,
                        g.last_seq,
                        g.start_ns,
                        g.end_ns,
                        g.detected_at_ns,
                        int(g.queued),
                    )
                    for g in added
                ],
            )

    def _insert_records(
        self,
        tx: Tx,
        agent_id: str,
        epoch: int,
        records: Sequence[Accepted],
        modems: dict[str, str],
        at_ns: int,
    ) -> int:
        if not records:
            return 0
        rows: list[Values] = []
        sms_rows: list[Values] = []
        part_rows: list[Values] = []
        sr_rows: list[Values] = []
        health_rows: list[Values] = []
        canary_rows: list[Values] = []
        events: list[LedgerEvent] = []
        latest_health: dict[str, ModemHealth] = {}
        sms_iccids = {
            r.iccid or modems.get(r.modem_imei, "")
            for r in records
            if isinstance(r, PlainSms) or isinstance(r.body, ReceivedSms)
        }
        sms_iccids.discard("")
        msisdns: dict[str, str] = {}
        for chunk in chunks(sorted(sms_iccids)):
            msisdns.update(
                (str(r["iccid"]), str(r["msisdn"]))
                for r in tx.all(
                    f"SELECT iccid, msisdn FROM sims WHERE iccid IN ({marks(len(chunk))})", chunk
                )
            )
        ids = self._allocate_ids(tx, len(records))
        # The hot loop of ingest: locals bound once, the common SMS first, no generators
        # for the single-part case.
        rows_append, sms_append, parts_append = rows.append, sms_rows.append, part_rows.append
        isfinite = math.isfinite
        msisdn_of = msisdns.get
        iccid_of = modems.get
        for rid, r in zip(ids, records, strict=True):
            if isinstance(r, PlainSms):  # an SMS record classify_wire took as uploaded
                uuid, seq, at, offset, unc, measured, imei, iccid, raw, first, tail, pieces = r
                rows_append((rid, uuid, agent_id, epoch, seq, "sms", at, offset, unc, measured,
                             imei, iccid, at_ns, raw))  # fmt: skip
                msisdn = msisdn_of(iccid or iccid_of(imei, ""), "")
                sms_append((rid, agent_id, first, msisdn, *tail))
                for piece in pieces:
                    parts_append((rid, *piece))
                continue
            c = r.clock
            b = r.body
            offset, unc = c.offset_ms, c.uncertainty_ms
            rows_append(
                (
                    rid,
                    r.uuid,
                    agent_id,
                    epoch,
                    r.seq,
                    _KIND_VALUE[type(b)],
                    r.persisted_at_ns,
                    offset if isfinite(offset) else 0.0,
                    unc if isfinite(unc) else None,
                    c.measured_at_ns,
                    r.modem_imei,
                    r.iccid,
                    at_ns,
                    r.raw or None,  # as received: the agent's signature is over these bytes
                )
            )
            if isinstance(b, ReceivedSms):
                parts = b.parts
                iccid = r.iccid or iccid_of(r.modem_imei, "")
                sms_append(
                    (
                        rid,
                        agent_id,
                        parts[0].received_at_ns
                        if len(parts) == 1
                        else min(p.received_at_ns for p in parts),
                        msisdn_of(iccid, ""),
                        b.smsc,
                        b.sender,
                        b.sender_ton,
                        b.text,
                        b.encoding,
                        b.message_class,
                        b.pid,
                        b.dcs,
                        b.concat_ref,
                        b.concat_total,
                        int(b.partial),
                        ",".join([str(n) for n in b.missing_parts]) if b.missing_parts else "",
                        int(b.undecodable),
                        b.user_data,
                    )
                )
                for i, p in enumerate(parts):
                    parts_append(
                        (
                            rid,
                            i,
                            p.uuid,
                            p.raw_pdu,
                            p.storage,
                            p.index,
                            p.received_at_ns,
                            p.scts_ns,
                            p.scts_tz_minutes,
                            p.part_seq,
                            p.decode_error,
                        )
                    )
            elif isinstance(b, StatusReport):
                sr_rows.append(
                    (
                        rid,
                        agent_id,
                        b.raw_pdu,
                        b.storage,
                        b.index,
                        b.received_at_ns,
                        b.recipient,
                        b.message_reference,
                        b.status,
                        b.scts_ns,
                        b.discharge_time_ns,
                        b.decode_error,
                    )
                )
            elif isinstance(b, ModemHealth):
                health_rows.append(
                    (
                        rid,
                        agent_id,
                        r.modem_imei,
                        b.at_ns,
                        int(b.responding),
                        opt_float(b.rssi_dbm),
                        b.ber,
                        int(b.registration),
                        b.rat,
                        b.operator_mcc_mnc,
                        b.sim_state,
                        b.storage_used,
                        b.storage_total,
                        int(b.healthy),
                        ",".join(b.reasons),
                        b.last_sms_at_ns,
                        b.iccid,
                    )
                )
                prev = latest_health.get(r.modem_imei)
                if prev is None or b.at_ns >= prev.at_ns:
                    latest_health[r.modem_imei] = b
            elif isinstance(b, AgentEvent):
                events.append(
                    LedgerEvent(
                        agent_id=agent_id,
                        at_ns=b.at_ns,
                        kind=b.kind,
                        source=EventSource.AGENT,
                        modem_imei=r.modem_imei,
                        detail=b.detail,
                        attributes=dict(b.attributes),
                        record_uuid=r.uuid,
                    )
                )
            elif isinstance(b, CanarySent):
                canary_rows.append(
                    (
                        rid,
                        agent_id,
                        b.canary_id,
                        b.sent_at_ns,
                        b.to_msisdn,
                        ",".join(str(n) for n in b.message_references),
                        b.error,
                        b.text,
                    )
                )
        inserted = tx.insert(
            "INSERT INTO records (id, uuid, agent_id, seq_epoch, seq, kind, persisted_at_ns,"
            " clock_offset_ms, clock_uncertainty_ms, clock_measured_at_ns, modem_imei, iccid,"
            " ingested_at_ns, raw) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
            " ON CONFLICT DO NOTHING",
            rows,
        )
        if inserted != len(rows):
            # A uuid stored already: one ingest_wire did not look up (it judges the batch
            # again), or another writer committed it since our look-up. Detail rows would
            # point at ids never inserted: undone, and the agent's resend is counted as
            # duplicates.
            raise _StoredAlready("records ingested concurrently elsewhere; retry")
        if sms_rows:
            tx.insert(
                "INSERT INTO sms (record_id, agent_id, received_at_ns, msisdn, smsc, sender,"
                " sender_ton, text, encoding, message_class, pid, dcs, concat_ref, concat_total,"
                " partial, missing_parts, undecodable, user_data)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
                " ON CONFLICT DO NOTHING",
                sms_rows,
            )
            tx.insert(
                "INSERT INTO sms_parts (record_id, position, uuid, raw_pdu, storage,"
                " storage_index, received_at_ns, scts_ns, scts_tz_minutes, part_seq, decode_error)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
                part_rows,
            )
        if sr_rows:
            tx.insert(
                "INSERT INTO status_reports (record_id, agent_id, raw_pdu, storage,"
                " storage_index, received_at_ns, recipient, message_reference, status, scts_ns,"
                " discharge_time_ns, decode_error) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
                " ON CONFLICT DO NOTHING",
                sr_rows,
            )
        if health_rows:
            tx.insert(
                "INSERT INTO modem_health (record_id, agent_id, modem_imei, at_ns, responding,"
                " rssi_dbm, ber, registration, rat, operator_mcc_mnc, sim_state, storage_used,"
                " storage_total, healthy, reasons, last_sms_at_ns, iccid)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
                " ON CONFLICT DO NOTHING",
                health_rows,
            )
            tx.many(
                "UPDATE modems SET last_health_at_ns = ?, last_healthy = ?, last_rssi_dbm = ?,"
                " last_registration = ?, last_reasons = ?"
                " WHERE agent_id = ? AND imei = ? AND last_health_at_ns <= ?",
                [
                    (
                        h.at_ns,
                        int(h.healthy),
                        opt_float(h.rssi_dbm),
                        int(h.registration),
                        ",".join(h.reasons),
                        agent_id,
                        imei,
                        h.at_ns,
                    )
                    for imei, h in latest_health.items()
                ],
            )
        if canary_rows:
            tx.insert(
                "INSERT INTO canaries (record_id, agent_id, canary_id, sent_at_ns, to_msisdn,"
                " message_references, error, text) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
                " ON CONFLICT DO NOTHING",
                canary_rows,
            )
        self._insert_events(tx, events)
        return inserted

    def _insert_quarantine(
        self, tx: Tx, agent_id: str, items: Sequence[Quarantined], at_ns: int
    ) -> None:
        if not items:
            return
        rows = []
        for q in items:
            h = hashlib.sha256()
            for piece in (q.uuid.encode(), str(q.seq).encode(), q.reason.value.encode(), q.raw):
                h.update(len(piece).to_bytes(8, "big"))
                h.update(piece)
            rows.append(
                (agent_id, q.uuid, q.seq, q.reason.value, q.detail, q.raw, h.hexdigest(), at_ns)
            )
        # A replayed bad record is acked (and reported) again but stored once.
        tx.many(
            "INSERT INTO quarantine (agent_id, uuid, seq, reason, detail, raw, digest,"
            " received_at_ns) VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
            rows,
        )


class _StoredAlready(LedgerUnavailableError):
    """An accepted record's uuid was in the records table after all (`_insert_records`)."""


def gap_detected(gap: GapSpan, at_ns: int) -> LedgerEvent:
    """The seq_gap_detected event of a gap known missing (opened, or queued and no longer
    pending at the agent: Ledger.touch_agent)."""
    detail = f"seq {gap.first_seq}..{gap.last_seq} missing"
    if gap.queued:
        detail += " (announced by the agent, no longer pending in its outbox)"
    return LedgerEvent(
        agent_id=gap.agent_id,
        at_ns=at_ns,
        kind=LedgerEventKind.SEQ_GAP_DETECTED,
        detail=detail,
        attributes={
            "first_seq": str(gap.first_seq),
            "last_seq": str(gap.last_seq),
            "epoch": str(gap.epoch),
        },
    )


def log_gaps(agent_id: str, gaps: Iterable[GapSpan], *, confirmed: bool = False) -> None:
    """A warning per gap known missing; a queued one (still expected from the agent's
    backlog) only at debug level. `confirmed`: queued gaps the agent no longer holds."""
    for g in gaps:
        if g.queued and not confirmed:
            log.debug("seq_gap_queued", agent_id=agent_id, first_seq=g.first_seq,
                      last_seq=g.last_seq, epoch=g.epoch)  # fmt: skip
            continue
        log.warning(
            "seq_gap_detected",
            agent_id=agent_id,
            first_seq=g.first_seq,
            last_seq=g.last_seq,
            epoch=g.epoch,
            announced=g.queued,
        )
