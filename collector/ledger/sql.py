"""The ledger over SQL, shared by SQLite and PostgreSQL.

Backends differ only in how a transaction is opened, the parameter style and row
locking; every query here is portable SQL with `?` parameters (the PostgreSQL backend
rewrites them). One lock serialises calls on the one connection each ledger owns.
"""

from __future__ import annotations

import hashlib
import json
import math
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import AbstractContextManager
from typing import Any, Protocol, TypeVar

import structlog

from collector.ingest import (
    DEFAULT_LIMITS,
    IngestLimits,
    SeqState,
    advance_seq,
    classify_batch,
    scrub_strings,
)
from collector.ledger.base import (
    AgentStatus,
    BatchOutcome,
    EventSource,
    GapSpan,
    HealthSummary,
    LedgerEvent,
    LedgerEventKind,
    LedgerUnavailableError,
    MigrationError,
    ModemStatus,
    QuarantineEntry,
    RecordRejection,
    RegistrationOutcome,
    StoredHealth,
    StoredSms,
    StoredStatusReport,
    UnknownAgentError,
)
from collector.ledger.health import HealthLedgerMixin
from collector.ledger.migrations import Dialect, load
from collector.ledger.probes import ProbeLedgerMixin
from collector.records import (
    AgentEvent,
    AgentRegistration,
    CanarySent,
    ClockEstimate,
    IngestRecord,
    ModemHealth,
    Quarantined,
    QuarantineReason,
    ReceivedSms,
    RecordKind,
    Registration,
    SimInfo,
    SmsPart,
    StatusReport,
)

log = structlog.get_logger("collector.ledger")

Row = tuple[Any, ...]
T = TypeVar("T")
# records.kind per body type: collector.records.kind_of, as plain str for the hot loop
_KIND_VALUE: dict[type, str] = {
    ReceivedSms: RecordKind.SMS.value,
    StatusReport: RecordKind.STATUS_REPORT.value,
    ModemHealth: RecordKind.HEALTH.value,
    AgentEvent: RecordKind.EVENT.value,
    CanarySent: RecordKind.CANARY.value,
}
_CHUNK = 500  # parameters per IN (...) list; far below SQLite's and PostgreSQL's limits


class Tx(Protocol):
    """One open transaction. SQL uses `?` placeholders."""

    def all(self, sql: str, params: Sequence[Any] = ()) -> list[Row]: ...

    def run(self, sql: str, params: Sequence[Any] = ()) -> int: ...

    def many(self, sql: str, rows: Sequence[Sequence[Any]]) -> int: ...


def _chunks(items: Sequence[T], n: int = _CHUNK) -> Iterator[Sequence[T]]:
    for i in range(0, len(items), n):
        yield items[i : i + n]


def _marks(n: int) -> str:
    return ",".join("?" * n)


def _opt_float(x: float) -> float | None:
    """NaN/inf are stored as NULL (SQLite turns NaN into NULL anyway; keep both alike)."""
    return None if math.isnan(x) or math.isinf(x) else x


def _nan(x: float | None) -> float:
    return float("nan") if x is None else float(x)


def _inf(x: float | None) -> float:
    return float("inf") if x is None else float(x)


def _ints(text: str) -> tuple[int, ...]:
    return tuple(int(v) for v in text.split(",") if v)


def _strs(text: str, sep: str = ",") -> tuple[str, ...]:
    return tuple(v for v in text.split(sep) if v)


def _attrs(text: str) -> dict[str, str]:
    loaded = json.loads(text)
    return {str(k): str(v) for k, v in loaded.items()}


def _clock(offset: float, unc: float | None, measured: int) -> ClockEstimate:
    return ClockEstimate(offset_ms=float(offset), uncertainty_ms=_inf(unc), measured_at_ns=measured)


class SqlLedger(ProbeLedgerMixin, HealthLedgerMixin, ABC):
    """Everything of the `Ledger` protocol that is plain SQL."""

    dialect: Dialect
    _for_update = ""

    def __init__(
        self, *, limits: IngestLimits = DEFAULT_LIMITS, clock: Callable[[], int] = time.time_ns
    ) -> None:
        self._lock = threading.Lock()
        self._limits = limits
        self._clock = clock

    @abstractmethod
    def _transaction(self, *, write: bool = True) -> AbstractContextManager[Tx]:
        """Begin (a writer takes the write lock where the backend has one), commit on exit."""

    @abstractmethod
    def _has_table(self, tx: Tx, name: str) -> bool: ...

    @abstractmethod
    def _allocate_ids(self, tx: Tx, n: int) -> Sequence[int]:
        """n new, unused, increasing record ids (called inside a write transaction)."""

    def _migration_lock(self, tx: Tx) -> None:
        """Serialise concurrent migrate() calls across processes where BEGIN does not."""

    @abstractmethod
    def close(self) -> None: ...

    # ------------------------------------------------------------ schema

    def migrate(self) -> None:
        known = load(self.dialect)
        # Read first: a read-only tool (`smsprobe-collector agents`) opening a live ledger
        # must not queue for the write lock when there is nothing to do.
        with self._transaction(write=False) as tx:
            if self._has_table(tx, "schema_migrations"):
                applied = {int(r[0]) for r in tx.all("SELECT version FROM schema_migrations")}
                if applied == {m.version for m in known}:
                    return
        with self._transaction() as tx:
            self._migration_lock(tx)
            tx.run(
                "CREATE TABLE IF NOT EXISTS schema_migrations ("
                " version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at_ns BIGINT NOT NULL)"
            )
            applied = {int(r[0]) for r in tx.all("SELECT version FROM schema_migrations")}
            newest = known[-1].version if known else 0
            if applied and max(applied) > newest:
                raise MigrationError(
                    f"ledger schema is at version {max(applied)}, this collector knows {newest}"
                )
            done = []
            for mig in known:
                if mig.version in applied:
                    continue
                for statement in mig.statements:
                    tx.run(statement)
                tx.run(
                    "INSERT INTO schema_migrations (version, name, applied_at_ns) VALUES (?, ?, ?)",
                    (mig.version, mig.name, self._clock()),
                )
                done.append(mig)
        for mig in done:
            log.info(
                "ledger_migrated", backend=self.dialect.value, version=mig.version, name=mig.name
            )

    def schema_version(self) -> int:
        with self._transaction(write=False) as tx:
            rows = tx.all("SELECT MAX(version) FROM schema_migrations")
        return int(rows[0][0] or 0)

    # ------------------------------------------------------------ registration

    def register_agent(self, reg: AgentRegistration, *, at_ns: int) -> RegistrationOutcome:
        reg = scrub_strings(reg)  # PostgreSQL TEXT cannot hold U+0000 (ingest.scrub_nul)
        events: list[LedgerEvent] = []
        caps = "\n".join(reg.capabilities)
        with self._transaction() as tx:
            # Insert-if-absent then lock: two replicas registering one new agent at once
            # serialise on the row instead of one failing on the primary key.
            tx.run(
                "INSERT INTO agents (agent_id) VALUES (?) ON CONFLICT (agent_id) DO NOTHING",
                (reg.agent_id,),
            )
            row = tx.all(
                "SELECT seq_epoch, max_seq, committed_seq, first_registered_at_ns FROM agents"
                " WHERE agent_id = ?" + self._for_update,
                (reg.agent_id,),
            )
            epoch, max_seq, committed, first_at = (int(v) for v in row[0])
            if reg.last_seq < max_seq:
                # The agent persisted fewer records than we already hold: its outbox was
                # lost and seqs restart. A new epoch keeps old and new seqs apart.
                events.append(
                    LedgerEvent(
                        agent_id=reg.agent_id,
                        at_ns=at_ns,
                        kind=LedgerEventKind.AGENT_SEQ_RESET,
                        detail=f"agent last_seq {reg.last_seq} < ledger max_seq {max_seq}",
                        attributes={
                            "old_epoch": str(epoch),
                            "new_epoch": str(epoch + 1),
                            "old_max_seq": str(max_seq),
                        },
                    )
                )
                tx.run(
                    "UPDATE agents SET seq_epoch = ?, max_seq = 0, max_seq_persisted_ns = 0,"
                    " committed_seq = 0 WHERE agent_id = ?",
                    (epoch + 1, reg.agent_id),
                )
                committed = 0
            tx.run(
                "UPDATE agents SET site = ?, region = ?, software_version = ?,"
                " capabilities = ?, first_registered_at_ns = ?, registered_at_ns = ?,"
                " last_seen_ns = ?, reported_last_seq = ? WHERE agent_id = ?",
                (
                    reg.site,
                    reg.region,
                    reg.software_version,
                    caps,
                    first_at or at_ns,  # 0: a bare row from set_connected/touch_agent
                    at_ns,
                    at_ns,
                    reg.last_seq,
                    reg.agent_id,
                ),
            )
            events.append(
                LedgerEvent(
                    agent_id=reg.agent_id,
                    at_ns=at_ns,
                    kind=LedgerEventKind.AGENT_REGISTERED,
                    detail=f"{reg.software_version} with {len(reg.modems)} modem(s)",
                    attributes={
                        "software_version": reg.software_version,
                        "modems": str(len(reg.modems)),
                        "last_seq": str(reg.last_seq),
                    },
                )
            )
            events.extend(self._register_modems(tx, reg, at_ns))
            self._insert_events(tx, events)
        for e in events:
            if e.kind is LedgerEventKind.AGENT_SEQ_RESET:
                log.warning("agent_seq_reset", agent_id=reg.agent_id, **e.attributes)
        return RegistrationOutcome(committed_seq=committed, events=tuple(events))

    def _register_modems(self, tx: Tx, reg: AgentRegistration, at_ns: int) -> list[LedgerEvent]:
        events: list[LedgerEvent] = []
        existing = {
            str(r[0]): (bool(r[1]), str(r[2]))
            for r in tx.all(
                "SELECT imei, present, iccid FROM modems WHERE agent_id = ?", (reg.agent_id,)
            )
        }
        modems = {m.imei: m for m in reg.modems}  # a repeated IMEI: the last entry wins

        def event(kind: LedgerEventKind, imei: str, detail: str, **attrs: str) -> None:
            events.append(
                LedgerEvent(
                    agent_id=reg.agent_id,
                    at_ns=at_ns,
                    kind=kind,
                    modem_imei=imei,
                    detail=detail,
                    attributes=attrs,
                )
            )

        modem_rows: list[Row] = []
        sim_rows: list[Row] = []
        for imei, m in modems.items():
            iccid = m.sim.iccid if m.sim else ""
            prev = existing.get(imei)
            if prev is None or not prev[0]:
                event(LedgerEventKind.MODEM_APPEARED, imei, f"{m.manufacturer} {m.model}".strip())
            if prev is not None:
                old = prev[1]
                if old and iccid and old != iccid:
                    event(
                        LedgerEventKind.SIM_SWAPPED,
                        imei,
                        f"ICCID {old} -> {iccid}",
                        old_iccid=old,
                        new_iccid=iccid,
                    )
                elif old and not iccid:
                    event(LedgerEventKind.SIM_REMOVED, imei, f"ICCID {old}", old_iccid=old)
                elif not old and iccid:
                    event(LedgerEventKind.SIM_INSERTED, imei, f"ICCID {iccid}", new_iccid=iccid)
            modem_rows.append(
                (
                    reg.agent_id,
                    imei,
                    m.manufacturer,
                    m.model,
                    m.firmware,
                    m.port,
                    m.profile,
                    iccid,
                    at_ns,
                    at_ns,
                )
            )
            if m.sim and m.sim.iccid:
                s = m.sim
                sim_rows.append(
                    (
                        s.iccid,
                        s.imsi,
                        s.msisdn,
                        s.operator_mcc_mnc,
                        s.carrier,
                        s.mvno,
                        s.registered_mcc_mnc,
                        reg.agent_id,
                        imei,
                        at_ns,
                    )
                )
        if modem_rows:
            tx.many(
                "INSERT INTO modems (agent_id, imei, manufacturer, model, firmware, port, profile,"
                " present, iccid, first_seen_ns, last_registered_ns)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, 1, ?, ?, ?)"
                " ON CONFLICT (agent_id, imei) DO UPDATE SET manufacturer = excluded.manufacturer,"
                " model = excluded.model, firmware = excluded.firmware, port = excluded.port,"
                " profile = excluded.profile, present = 1, iccid = excluded.iccid,"
                " last_registered_ns = excluded.last_registered_ns",
                modem_rows,
            )
        if sim_rows:
            tx.many(
                "INSERT INTO sims (iccid, imsi, msisdn, operator_mcc_mnc, carrier, mvno,"
                " registered_mcc_mnc, agent_id, modem_imei, last_seen_ns)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
                " ON CONFLICT (iccid) DO UPDATE SET imsi = excluded.imsi, msisdn = excluded.msisdn,"
                " operator_mcc_mnc = excluded.operator_mcc_mnc, carrier = excluded.carrier,"
                " mvno = excluded.mvno, registered_mcc_mnc = excluded.registered_mcc_mnc,"
                " agent_id = excluded.agent_id, modem_imei = excluded.modem_imei,"
                " last_seen_ns = excluded.last_seen_ns",
                sim_rows,
            )
        gone = [imei for imei, (present, _) in existing.items() if present and imei not in modems]
        for imei in gone:
            event(LedgerEventKind.MODEM_DISAPPEARED, imei, "absent from the latest registration")
        if gone:
            tx.many(
                "UPDATE modems SET present = 0 WHERE agent_id = ? AND imei = ?",
                [(reg.agent_id, imei) for imei in gone],
            )
        return events

    # ------------------------------------------------------------ ingest

    def ingest_batch(
        self,
        agent_id: str,
        records: Sequence[IngestRecord],
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
        batches: Sequence[tuple[Sequence[IngestRecord], Sequence[Quarantined]]],
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

    def _ingest_in(
        self,
        tx: Tx,
        agent_id: str,
        records: Sequence[IngestRecord],
        quarantined: Sequence[Quarantined],
        at_ns: int,
    ) -> BatchOutcome:
        row = tx.all(
            "SELECT seq_epoch, max_seq, max_seq_persisted_ns, registered_at_ns FROM agents"
            " WHERE agent_id = ?" + self._for_update,
            (agent_id,),
        )
        # A row without registration comes from set_connected/touch_agent only.
        if not row or not row[0][3]:
            raise UnknownAgentError(agent_id)
        epoch, max_seq, max_ns = (int(v) for v in row[0][:3])
        state = SeqState(agent_id, epoch, max_seq, max_ns, self._load_gaps(tx, agent_id, epoch))
        modems = {
            str(r[0]): str(r[1])
            for r in tx.all("SELECT imei, iccid FROM modems WHERE agent_id = ?", (agent_id,))
        }
        # classify_batch scrubs every record (ingest.scrub_nul) before judging it:
        # look the uuids up as they would have been stored.
        uuids = [r.uuid.replace("\x00", "\ufffd") for r in records if r.uuid]
        existing: set[str] = set()
        for chunk in _chunks(uuids):
            existing.update(
                str(r[0])
                for r in tx.all(
                    f"SELECT uuid FROM records WHERE uuid IN ({_marks(len(chunk))})", chunk
                )
            )
        cls = classify_batch(
            records,
            quarantined,
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

        ingested = self._insert_records(tx, agent_id, epoch, cls.accepted, modems, at_ns)
        self._insert_quarantine(tx, agent_id, cls.quarantined, at_ns)
        self._save_gaps(tx, state.gaps, new_state.gaps)
        self._insert_events(
            tx,
            [
                LedgerEvent(
                    agent_id=agent_id,
                    at_ns=at_ns,
                    kind=LedgerEventKind.SEQ_GAP_DETECTED,
                    detail=f"seq {g.first_seq}..{g.last_seq} missing",
                    attributes={
                        "first_seq": str(g.first_seq),
                        "last_seq": str(g.last_seq),
                        "epoch": str(g.epoch),
                    },
                )
                for g in opened
            ],
        )
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
        for g in outcome.new_gaps:
            log.warning(
                "seq_gap_detected",
                agent_id=agent_id,
                first_seq=g.first_seq,
                last_seq=g.last_seq,
                epoch=g.epoch,
            )

    def _load_gaps(self, tx: Tx, agent_id: str, epoch: int) -> tuple[GapSpan, ...]:
        return tuple(
            GapSpan(agent_id, int(a), int(b), int(s), int(e), int(d), epoch)
            for a, b, s, e, d in tx.all(
                "SELECT first_seq, last_seq, start_ns, end_ns, detected_at_ns FROM gaps"
                " WHERE agent_id = ? AND seq_epoch = ? ORDER BY first_seq",
                (agent_id, epoch),
            )
        )

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
                " detected_at_ns) VALUES (?, ?, ?, ?, ?, ?, ?)",
                [
                    (
                        g.agent_id,
                        g.epoch,
                        g.first_seq,
                        g.last_seq,
                        g.start_ns,
                        g.end_ns,
                        g.detected_at_ns,
                    )
                    for g in added
                ],
            )

    def _insert_records(
        self,
        tx: Tx,
        agent_id: str,
        epoch: int,
        records: Sequence[IngestRecord],
        modems: dict[str, str],
        at_ns: int,
    ) -> int:
        if not records:
            return 0
        rows: list[Row] = []
        sms_rows: list[Row] = []
        part_rows: list[Row] = []
        sr_rows: list[Row] = []
        health_rows: list[Row] = []
        canary_rows: list[Row] = []
        events: list[LedgerEvent] = []
        latest_health: dict[str, ModemHealth] = {}
        sms_iccids = {
            r.iccid or modems.get(r.modem_imei, "")
            for r in records
            if isinstance(r.body, ReceivedSms)
        }
        sms_iccids.discard("")
        msisdns: dict[str, str] = {}
        for chunk in _chunks(sorted(sms_iccids)):
            msisdns.update(
                (str(a), str(b))
                for a, b in tx.all(
                    f"SELECT iccid, msisdn FROM sims WHERE iccid IN ({_marks(len(chunk))})", chunk
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
                        _opt_float(b.rssi_dbm),
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
        inserted = tx.many(
            "INSERT INTO records (id, uuid, agent_id, seq_epoch, seq, kind, persisted_at_ns,"
            " clock_offset_ms, clock_uncertainty_ms, clock_measured_at_ns, modem_imei, iccid,"
            " ingested_at_ns, raw) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
            " ON CONFLICT DO NOTHING",
            rows,
        )
        if inserted != len(rows):
            # Only another writer committing the same uuids since our pre-SELECT can cause
            # this; detail rows would then point at ids never inserted. Roll back: the
            # agent resends and the replay is counted as duplicates.
            raise LedgerUnavailableError("records ingested concurrently elsewhere; retry")
        if sms_rows:
            tx.many(
                "INSERT INTO sms (record_id, agent_id, received_at_ns, msisdn, smsc, sender,"
                " sender_ton, text, encoding, message_class, pid, dcs, concat_ref, concat_total,"
                " partial, missing_parts, undecodable, user_data)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
                " ON CONFLICT DO NOTHING",
                sms_rows,
            )
            tx.many(
                "INSERT INTO sms_parts (record_id, position, uuid, raw_pdu, storage,"
                " storage_index, received_at_ns, scts_ns, scts_tz_minutes, part_seq, decode_error)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
                part_rows,
            )
        if sr_rows:
            tx.many(
                "INSERT INTO status_reports (record_id, agent_id, raw_pdu, storage,"
                " storage_index, received_at_ns, recipient, message_reference, status, scts_ns,"
                " discharge_time_ns, decode_error) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
                " ON CONFLICT DO NOTHING",
                sr_rows,
            )
        if health_rows:
            tx.many(
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
                        _opt_float(h.rssi_dbm),
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
            tx.many(
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

    def _insert_events(self, tx: Tx, events: Sequence[LedgerEvent]) -> None:
        if events:
            tx.many(
                "INSERT INTO events (agent_id, at_ns, kind, source, modem_imei, detail,"
                " attributes, record_uuid) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    (
                        e.agent_id,
                        e.at_ns,
                        str(e.kind),
                        e.source.value,
                        e.modem_imei,
                        e.detail,
                        json.dumps(dict(e.attributes), sort_keys=True),
                        e.record_uuid,
                    )
                    for e in events
                ],
            )

    # ------------------------------------------------------------ liveness

    def set_connected(
        self, agent_id: str, connected: bool, *, at_ns: int, peer: str = "", via: str = ""
    ) -> None:
        kind = LedgerEventKind.AGENT_CONNECTED if connected else LedgerEventKind.AGENT_DISCONNECTED
        with self._transaction() as tx:
            # An agent not registered yet (first connect) gets a row so liveness is kept.
            tx.run(
                "INSERT INTO agents (agent_id, peer, last_seen_ns) VALUES (?, ?, ?)"
                " ON CONFLICT (agent_id) DO UPDATE SET peer = excluded.peer,"
                " last_seen_ns = excluded.last_seen_ns",
                (agent_id, peer, at_ns),
            )
            if connected:
                tx.run(
                    "UPDATE agents SET connected = 1, connected_via = ? WHERE agent_id = ?",
                    (via, agent_id),
                )
            else:
                # Only the instance that holds the stream clears the flag: the agent may
                # already be connected through another collector.
                tx.run(
                    "UPDATE agents SET connected = 0"
                    " WHERE agent_id = ? AND connected_via IN (?, '')",
                    (agent_id, via),
                )
            self._insert_events(
                tx,
                [
                    LedgerEvent(
                        agent_id=agent_id,
                        at_ns=at_ns,
                        kind=kind,
                        detail=peer,
                        attributes={"peer": peer} if peer else {},
                    )
                ],
            )

    def remember_agent_key(self, agent_id: str, cert_pem: bytes, *, at_ns: int) -> str:
        from cryptography import x509

        from agent.signing import key_id

        cert = x509.load_pem_x509_certificate(cert_pem)
        signer = key_id(cert.public_key())  # type: ignore[arg-type]
        with self._transaction() as tx:
            tx.run(
                "INSERT INTO agent_keys (signer, agent_id, cert_pem, first_seen_ns)"
                " VALUES (?, ?, ?, ?) ON CONFLICT (signer) DO NOTHING",
                (signer, agent_id, cert_pem.decode("ascii"), at_ns),
            )
        return signer

    def agent_keys(self, signers: Sequence[str] | None = None) -> dict[str, tuple[str, bytes]]:
        sql = "SELECT signer, agent_id, cert_pem FROM agent_keys"
        params: list[Any] = []
        if signers is not None:
            if not signers:
                return {}
            sql += f" WHERE signer IN ({_marks(len(signers))})"
            params = list(signers)
        with self._transaction(write=False) as tx:
            rows = tx.all(sql, params)
        return {str(r[0]): (str(r[1]), str(r[2]).encode("ascii")) for r in rows}

    def record_raw(self, uuids: Sequence[str]) -> dict[str, bytes]:
        out: dict[str, bytes] = {}
        with self._transaction(write=False) as tx:
            for chunk in _chunks(list(uuids)):
                rows = tx.all(
                    "SELECT uuid, raw FROM records WHERE raw IS NOT NULL"
                    f" AND uuid IN ({_marks(len(chunk))})",
                    chunk,
                )
                out.update((str(r[0]), bytes(r[1])) for r in rows)
        return out

    def release_connections(self, via: str, *, at_ns: int) -> list[str]:
        """At a collector's start: the agents it held streams of before it stopped (a
        SIGKILL records no disconnect) are disconnected now, with an event each."""
        with self._transaction() as tx:
            rows = tx.all(
                "SELECT agent_id FROM agents WHERE connected = 1 AND connected_via = ?", (via,)
            )
            agents = [str(r[0]) for r in rows]
            tx.many(
                "UPDATE agents SET connected = 0 WHERE agent_id = ? AND connected_via = ?",
                [(a, via) for a in agents],
            )
            self._insert_events(
                tx,
                [
                    LedgerEvent(
                        agent_id=a,
                        at_ns=at_ns,
                        kind=LedgerEventKind.AGENT_DISCONNECTED,
                        detail=f"collector {via} restarted: the stream ended with it",
                        attributes={"collector": via},
                    )
                    for a in agents
                ],
            )
        return agents

    def touch_agent(
        self,
        agent_id: str,
        *,
        at_ns: int,
        outbox_depth: int,
        oldest_pending_ns: int,
        clock_offset_ms: float,
        clock_uncertainty_ms: float,
    ) -> None:
        with self._transaction() as tx:
            tx.run(
                "INSERT INTO agents (agent_id, last_seen_ns, outbox_depth, oldest_pending_ns,"
                " clock_offset_ms, clock_uncertainty_ms) VALUES (?, ?, ?, ?, ?, ?)"
                " ON CONFLICT (agent_id) DO UPDATE SET last_seen_ns = excluded.last_seen_ns,"
                " outbox_depth = excluded.outbox_depth,"
                " oldest_pending_ns = excluded.oldest_pending_ns,"
                " clock_offset_ms = excluded.clock_offset_ms,"
                " clock_uncertainty_ms = excluded.clock_uncertainty_ms",
                (
                    agent_id,
                    at_ns,
                    outbox_depth,
                    oldest_pending_ns,
                    clock_offset_ms if math.isfinite(clock_offset_ms) else 0.0,
                    _opt_float(clock_uncertainty_ms),
                ),
            )

    # ------------------------------------------------------------ views

    def agents(self) -> list[AgentStatus]:
        with self._transaction(write=False) as tx:
            agent_rows = tx.all(
                "SELECT agent_id, site, region, software_version, capabilities, connected, peer,"
                " registered_at_ns, last_seen_ns, clock_offset_ms, clock_uncertainty_ms,"
                " outbox_depth, oldest_pending_ns, committed_seq FROM agents ORDER BY agent_id"
            )
            modem_rows = tx.all(
                "SELECT m.agent_id, m.imei, m.manufacturer, m.model, m.firmware, m.port, m.profile,"
                " m.present, m.iccid, m.last_health_at_ns, m.last_healthy, m.last_rssi_dbm,"
                " m.last_registration, m.last_reasons, s.imsi, s.msisdn, s.operator_mcc_mnc,"
                " s.carrier, s.mvno, s.registered_mcc_mnc"
                " FROM modems m LEFT JOIN sims s ON s.iccid = m.iccid"
                " ORDER BY m.agent_id, m.imei"
            )
        by_agent: dict[str, list[ModemStatus]] = {}
        for (
            agent_id,
            imei,
            manufacturer,
            model,
            firmware,
            port,
            profile,
            present,
            iccid,
            h_at,
            h_ok,
            h_rssi,
            h_reg,
            h_reasons,
            imsi,
            msisdn,
            op,
            carrier,
            mvno,
            reg_op,
        ) in modem_rows:
            sim = (
                SimInfo(
                    iccid=iccid,
                    imsi=imsi or "",
                    msisdn=msisdn or "",
                    operator_mcc_mnc=op or "",
                    carrier=carrier or "",
                    mvno=mvno or "",
                    registered_mcc_mnc=reg_op or "",
                )
                if iccid
                else None
            )
            health = (
                HealthSummary(
                    at_ns=int(h_at),
                    healthy=bool(h_ok),
                    rssi_dbm=_nan(h_rssi),
                    registration=Registration(int(h_reg)),
                    reasons=_strs(h_reasons),
                )
                if h_at
                else None
            )
            by_agent.setdefault(agent_id, []).append(
                ModemStatus(
                    imei=imei,
                    manufacturer=manufacturer,
                    model=model,
                    firmware=firmware,
                    port=port,
                    profile=profile,
                    present=bool(present),
                    sim=sim,
                    last_health=health,
                )
            )
        return [
            AgentStatus(
                agent_id=a[0],
                site=a[1],
                region=a[2],
                software_version=a[3],
                capabilities=_strs(a[4], "\n"),
                connected=bool(a[5]),
                peer=a[6],
                registered_at_ns=int(a[7]),
                last_seen_ns=int(a[8]),
                clock_offset_ms=float(a[9]),
                clock_uncertainty_ms=_inf(a[10]),
                outbox_depth=int(a[11]),
                oldest_pending_ns=int(a[12]),
                committed_seq=int(a[13]),
                modems=tuple(by_agent.get(a[0], ())),
            )
            for a in agent_rows
        ]

    def gaps(self, agent_id: str | None = None) -> list[GapSpan]:
        sql = (
            "SELECT agent_id, first_seq, last_seq, start_ns, end_ns, detected_at_ns, seq_epoch"
            " FROM gaps"
        )
        params: tuple[Any, ...] = ()
        if agent_id is not None:
            sql += " WHERE agent_id = ?"
            params = (agent_id,)
        with self._transaction(write=False) as tx:
            rows = tx.all(sql + " ORDER BY agent_id, seq_epoch, first_seq", params)
        return [GapSpan(r[0], *(int(v) for v in r[1:])) for r in rows]

    def events(self, agent_id: str | None = None, since_ns: int = 0) -> list[LedgerEvent]:
        sql = (
            "SELECT agent_id, at_ns, kind, source, modem_imei, detail, attributes, record_uuid"
            " FROM events WHERE at_ns >= ?"
        )
        params: list[Any] = [since_ns]
        if agent_id is not None:
            sql += " AND agent_id = ?"
            params.append(agent_id)
        with self._transaction(write=False) as tx:
            rows = tx.all(sql + " ORDER BY at_ns, id", params)
        return [
            LedgerEvent(
                agent_id=r[0],
                at_ns=int(r[1]),
                kind=r[2],
                source=EventSource(r[3]),
                modem_imei=r[4],
                detail=r[5],
                attributes=_attrs(r[6]),
                record_uuid=r[7],
            )
            for r in rows
        ]

    def received_sms(
        self, *, since_ns: int = 0, until_ns: int | None = None, agent_id: str | None = None
    ) -> list[StoredSms]:
        sql = (
            "SELECT r.uuid, s.agent_id, r.seq, r.persisted_at_ns, r.clock_offset_ms,"
            " r.clock_uncertainty_ms, r.clock_measured_at_ns, r.modem_imei, r.iccid, s.msisdn,"
            " s.smsc, s.sender, s.sender_ton, s.text, s.encoding, s.message_class, s.pid, s.dcs,"
            " s.concat_ref, s.concat_total, s.partial, s.missing_parts, s.undecodable,"
            " s.user_data, r.ingested_at_ns, r.id"
            " FROM sms s JOIN records r ON r.id = s.record_id WHERE s.received_at_ns >= ?"
        )
        params: list[Any] = [since_ns]
        if until_ns is not None:
            sql += " AND s.received_at_ns < ?"
            params.append(until_ns)
        if agent_id is not None:
            sql += " AND s.agent_id = ?"
            params.append(agent_id)
        with self._transaction(write=False) as tx:
            rows = tx.all(sql + " ORDER BY s.received_at_ns, r.id", params)
            parts: dict[int, list[SmsPart]] = {}
            for chunk in _chunks([int(r[25]) for r in rows]):
                for p in tx.all(
                    "SELECT record_id, uuid, raw_pdu, storage, storage_index, received_at_ns,"
                    " scts_ns, scts_tz_minutes, part_seq, decode_error FROM sms_parts"
                    f" WHERE record_id IN ({_marks(len(chunk))}) ORDER BY record_id, position",
                    chunk,
                ):
                    parts.setdefault(int(p[0]), []).append(
                        SmsPart(
                            uuid=p[1],
                            raw_pdu=bytes(p[2]),
                            storage=p[3],
                            index=int(p[4]),
                            received_at_ns=int(p[5]),
                            scts_ns=int(p[6]),
                            scts_tz_minutes=int(p[7]),
                            part_seq=int(p[8]),
                            decode_error=p[9],
                        )
                    )
        return [
            StoredSms(
                agent_id=r[1],
                uuid=r[0],
                seq=int(r[2]),
                persisted_at_ns=int(r[3]),
                clock=_clock(r[4], r[5], int(r[6])),
                modem_imei=r[7],
                iccid=r[8],
                msisdn=r[9],
                sms=ReceivedSms(
                    parts=tuple(parts.get(int(r[25]), ())),
                    smsc=r[10],
                    sender=r[11],
                    sender_ton=int(r[12]),
                    text=r[13],
                    encoding=r[14],
                    message_class=int(r[15]),
                    pid=int(r[16]),
                    dcs=int(r[17]),
                    concat_ref=int(r[18]),
                    concat_total=int(r[19]),
                    partial=bool(r[20]),
                    missing_parts=_ints(r[21]),
                    undecodable=bool(r[22]),
                    user_data=bytes(r[23]),
                ),
                ingested_at_ns=int(r[24]),
            )
            for r in rows
        ]

    def status_reports(
        self, *, since_ns: int = 0, until_ns: int | None = None, agent_id: str | None = None
    ) -> list[StoredStatusReport]:
        sql = (
            "SELECT r.uuid, t.agent_id, r.seq, r.persisted_at_ns, r.clock_offset_ms,"
            " r.clock_uncertainty_ms, r.clock_measured_at_ns, r.modem_imei, r.iccid, t.raw_pdu,"
            " t.storage, t.storage_index, t.received_at_ns, t.recipient, t.message_reference,"
            " t.status, t.scts_ns, t.discharge_time_ns, t.decode_error, r.ingested_at_ns"
            " FROM status_reports t JOIN records r ON r.id = t.record_id"
            " WHERE t.received_at_ns >= ?"
        )
        params: list[Any] = [since_ns]
        if until_ns is not None:
            sql += " AND t.received_at_ns < ?"
            params.append(until_ns)
        if agent_id is not None:
            sql += " AND t.agent_id = ?"
            params.append(agent_id)
        with self._transaction(write=False) as tx:
            rows = tx.all(sql + " ORDER BY t.received_at_ns, r.id", params)
        return [
            StoredStatusReport(
                agent_id=r[1],
                uuid=r[0],
                seq=int(r[2]),
                persisted_at_ns=int(r[3]),
                clock=_clock(r[4], r[5], int(r[6])),
                modem_imei=r[7],
                iccid=r[8],
                report=StatusReport(
                    raw_pdu=bytes(r[9]),
                    storage=r[10],
                    index=int(r[11]),
                    received_at_ns=int(r[12]),
                    recipient=r[13],
                    message_reference=int(r[14]),
                    status=int(r[15]),
                    scts_ns=int(r[16]),
                    discharge_time_ns=int(r[17]),
                    decode_error=r[18],
                ),
                ingested_at_ns=int(r[19]),
            )
            for r in rows
        ]

    def modem_health(self, imei: str, since_ns: int, until_ns: int) -> list[StoredHealth]:
        with self._transaction(write=False) as tx:
            rows = tx.all(
                "SELECT r.uuid, h.agent_id, h.modem_imei, r.clock_offset_ms,"
                " r.clock_uncertainty_ms, r.clock_measured_at_ns, h.at_ns, h.responding,"
                " h.rssi_dbm, h.ber, h.registration, h.rat, h.operator_mcc_mnc, h.sim_state,"
                " h.storage_used, h.storage_total, h.healthy, h.reasons, h.last_sms_at_ns, h.iccid"
                " FROM modem_health h JOIN records r ON r.id = h.record_id"
                " WHERE h.modem_imei = ? AND h.at_ns >= ? AND h.at_ns < ?"
                " ORDER BY h.at_ns, r.id",
                (imei, since_ns, until_ns),
            )
        return [
            StoredHealth(
                agent_id=r[1],
                uuid=r[0],
                modem_imei=r[2],
                clock=_clock(r[3], r[4], int(r[5])),
                health=ModemHealth(
                    at_ns=int(r[6]),
                    responding=bool(r[7]),
                    rssi_dbm=_nan(r[8]),
                    ber=int(r[9]),
                    registration=Registration(int(r[10])),
                    rat=r[11],
                    operator_mcc_mnc=r[12],
                    sim_state=r[13],
                    storage_used=int(r[14]),
                    storage_total=int(r[15]),
                    healthy=bool(r[16]),
                    reasons=_strs(r[17]),
                    last_sms_at_ns=int(r[18]),
                    iccid=r[19],
                ),
            )
            for r in rows
        ]

    def quarantine(self, agent_id: str | None = None) -> list[QuarantineEntry]:
        sql = "SELECT agent_id, uuid, seq, reason, detail, raw, received_at_ns FROM quarantine"
        params: tuple[Any, ...] = ()
        if agent_id is not None:
            sql += " WHERE agent_id = ?"
            params = (agent_id,)
        with self._transaction(write=False) as tx:
            rows = tx.all(sql + " ORDER BY id", params)
        return [
            QuarantineEntry(
                agent_id=r[0],
                uuid=r[1],
                seq=int(r[2]),
                reason=r[3],
                detail=r[4],
                raw=bytes(r[5]),
                received_at_ns=int(r[6]),
            )
            for r in rows
        ]

    def record_count(self) -> int:
        with self._transaction(write=False) as tx:
            rows = tx.all("SELECT COUNT(*) FROM records")
        return int(rows[0][0])
