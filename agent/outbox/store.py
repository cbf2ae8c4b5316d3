"""The durable outbox: SQLite in WAL mode, every commit that stores a record fsynced
(synchronous=FULL); only ack marks are not (see `Outbox.mark_acked`).

The receive path persists each raw PDU here *before* it deletes it from the modem
(docs/modems.md, "Storage"); concatenated parts are grouped here, so a crash between two parts
loses nothing. Every uploadable record gets a uuid4 and a per-agent, gap-free, strictly
increasing sequence number in the same transaction that stores it. The uplink sees the
outbox through `agent.uplink.client.RecordSource`.

All methods are synchronous and short (one transaction each); they are guarded by a lock
so the uplink may call them from another thread. The agent calls them from one writer
thread (agent/outbox/io.py), never from the event loop: a commit fsyncs.

Storage errors are `OutboxError` with a reason; nothing the failing call wrote is
visible afterwards, with one exception SQLite cannot avoid: when the WAL frames of a
commit were written but their fsync failed (EIO), the commit is reported failed, yet the
frames are in the WAL and are recovered when the connection is reopened. The receive
path then sees the part as already stored (a re-read) and deletes the SIM's copy; that
is right as long as the page cache reaches the disk, and wrong if the device dropped
those pages (Linux marks them clean after a failed write-back). No file-level check can
tell the two apart; a disk that fails fsync must be replaced.
"""

from __future__ import annotations

import contextlib
import enum
import json
import sqlite3
import threading
import time
import typing
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, fields, is_dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from agent.outbox.reassembly import (
    GroupView,
    PartFacts,
    assign,
    build_message,
    concat_key,
    contiguous_runs,
    is_complete,
    payload_of,
)
from agent.wire.records import (
    AgentEvent,
    CanarySent,
    ClockEstimate,
    ModemHealth,
    ReceivedSms,
    Record,
    RecordBody,
    SmsPart,
    StatusReport,
)
from agent.wire.serde import WireRecord, new_wire_record, record_from_wire, record_to_wire

if TYPE_CHECKING:
    from agent.config import AgentConfig
    from agent.wire.signing import RecordSigner

ClockProvider = Callable[[], ClockEstimate]

_KINDS: dict[str, type[Any]] = {
    "received_sms": ReceivedSms,
    "status_report": StatusReport,
    "modem_health": ModemHealth,
    "agent_event": AgentEvent,
    "canary_sent": CanarySent,
}
_KIND_OF: dict[type[Any], str] = {cls: kind for kind, cls in _KINDS.items()}
# outbox kind -> the smsprobe.v1.Record body oneof name
_WIRE_KIND: dict[str, str] = {
    "received_sms": "sms",
    "status_report": "status_report",
    "modem_health": "health",
    "agent_event": "event",
    "canary_sent": "canary",
}

# Outbox file format, kept in PRAGMA user_version:
#   0  records.body holds the JSON body only (decoded field by field on every read)
#   1  records.wire holds the record's serialised smsprobe.v1.Record, written once at
#      persist time, so an upload copies bytes. Rows written by format 0 keep wire NULL
#      and are encoded from their JSON body when read: opening an old file rewrites
#      nothing, and no record changes its uuid, seq or content.
#   2  what is not acked yet is a narrow row per seq in `pending`, and an ack deletes those
#      rows and notes the run of seqs and its time in `ack_runs` (retention), instead of
#      rewriting each ~1 KB record row to set records.acked_at_ns (6 us a record, most of
#      the uploader's CPU; 0.2 us now). Opening an older file fills `pending` from
#      acked_at_ns = 0; its acked_at_ns marks stay and prune still honours them. An older
#      agent opening a format-2 file would see every record as pending and send them
#      again: duplicates at the collector, nothing lost.
OUTBOX_FORMAT = 2
# The records not acked yet, `pending` walked in seq order (CROSS JOIN: SQLite keeps that
# loop order) and each looked up by its primary key; a WHERE clause follows.
_PENDING_RECORDS = "pending p CROSS JOIN records r ON r.seq = p.seq WHERE 1"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
INSERT OR IGNORE INTO meta (key, value) VALUES ('last_seq', 0);
CREATE TABLE IF NOT EXISTS records (
    seq INTEGER PRIMARY KEY,
    uuid TEXT NOT NULL UNIQUE,
    kind TEXT NOT NULL,
    persisted_at_ns INTEGER NOT NULL,
    clock TEXT NOT NULL,
    modem_imei TEXT NOT NULL,
    iccid TEXT NOT NULL,
    body TEXT NOT NULL,
    acked_at_ns INTEGER NOT NULL DEFAULT 0,
    wire BLOB
);
CREATE INDEX IF NOT EXISTS records_pending ON records (acked_at_ns, seq);
CREATE TABLE IF NOT EXISTS pending (seq INTEGER PRIMARY KEY);
CREATE TABLE IF NOT EXISTS ack_runs (
    lo INTEGER NOT NULL,
    hi INTEGER NOT NULL,
    at_ns INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS ack_runs_at ON ack_runs (at_ns);
CREATE TABLE IF NOT EXISTS parts (
    id INTEGER PRIMARY KEY,
    uuid TEXT NOT NULL UNIQUE,
    kind TEXT NOT NULL,               -- sms | status
    modem TEXT NOT NULL,
    storage TEXT NOT NULL,
    idx INTEGER NOT NULL,             -- -1 for a direct (+CMT/+CDS) delivery
    pdu BLOB NOT NULL,
    received_at_ns INTEGER NOT NULL,
    facts TEXT NOT NULL,
    deleted INTEGER NOT NULL DEFAULT 0,
    group_id INTEGER,
    part_seq INTEGER NOT NULL DEFAULT 1,
    duplicate INTEGER NOT NULL DEFAULT 0,
    record_seq INTEGER
);
CREATE INDEX IF NOT EXISTS parts_slot ON parts (modem, storage, idx, deleted);
CREATE INDEX IF NOT EXISTS parts_group ON parts (group_id);
CREATE TABLE IF NOT EXISTS groups (
    id INTEGER PRIMARY KEY,
    modem TEXT NOT NULL,
    modem_imei TEXT NOT NULL,
    iccid TEXT NOT NULL,
    sender TEXT NOT NULL,
    ref INTEGER NOT NULL,
    total INTEGER NOT NULL,
    ref_bits INTEGER NOT NULL,
    opened_at_ns INTEGER NOT NULL,
    open INTEGER NOT NULL DEFAULT 1,
    duplicates INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS groups_key ON groups (modem, sender, ref, total, ref_bits, open);
"""


class OutboxError(Exception):
    """The outbox store failed (disk full, read-only, I/O error, locked). Nothing was
    stored by the call that raised it; the receive path backs off and keeps the SIM's copy.
    `reason` is one of disk_full | read_only | io_error | locked | other."""

    def __init__(self, message: str, reason: str = "other") -> None:
        super().__init__(message)
        self.reason = reason


# SQLite's primary result codes (sqlite.org/rescode.html) as storage-trouble reasons;
# extended codes (SQLITE_IOERR_FSYNC, SQLITE_READONLY_DBMOVED...) share their prefix.
_REASONS = (
    ("SQLITE_FULL", "disk_full"),
    ("SQLITE_READONLY", "read_only"),
    ("SQLITE_IOERR", "io_error"),
    ("SQLITE_CANTOPEN", "io_error"),
    ("SQLITE_BUSY", "locked"),
    ("SQLITE_LOCKED", "locked"),
)


def _storage_error(what: str, exc: BaseException) -> OutboxError:
    name = str(getattr(exc, "sqlite_errorname", ""))
    reason = next((r for code, r in _REASONS if name.startswith(code)), "other")
    if isinstance(exc, OSError):
        reason = {28: "disk_full", 30: "read_only", 5: "io_error"}.get(exc.errno or 0, "other")
    return OutboxError(f"{what}: {exc}", reason)


def never_measured() -> ClockEstimate:
    return ClockEstimate()


@dataclass(frozen=True, slots=True)
class ModemRef:
    """Which modem a record came from. `key` scopes duplicate detection and reassembly:
    the IMEI when known (stable across re-enumeration), else the configured port."""

    key: str
    imei: str = ""
    iccid: str = ""


@dataclass(frozen=True, slots=True)
class PersistedPart:
    part_uuid: str
    new: bool  # False: this exact PDU was already persisted from this slot (re-read)
    emitted: tuple[Record, ...] = ()


@dataclass(frozen=True, slots=True)
class OutboxPressure:
    used_bytes: int
    oldest_pending_age_s: float
    fraction: float  # of the tighter bound (bytes or age)
    alarm: bool
    full: bool


# --- record body (de)serialisation: JSON, bytes as hex, typed by the dataclass hints ---


def _to_json(value: Any) -> Any:
    if is_dataclass(value) and not isinstance(value, type):
        return {f.name: _to_json(getattr(value, f.name)) for f in fields(value)}
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, tuple | list):
        return [_to_json(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _to_json(v) for k, v in value.items()}
    return value


_HINTS: dict[type[Any], dict[str, Any]] = {}


def _from_json(tp: Any, value: Any) -> Any:
    origin = typing.get_origin(tp)
    if origin is tuple:
        (item, _ellipsis) = typing.get_args(tp)
        return tuple(_from_json(item, v) for v in value)
    if origin is dict:
        return {str(k): str(v) for k, v in value.items()}
    if tp is bytes:
        return bytes.fromhex(value)
    if tp is float:
        return float(value)
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        return tp(value)
    if isinstance(tp, type) and is_dataclass(tp):
        hints = _HINTS.get(tp)
        if hints is None:
            hints = _HINTS[tp] = typing.get_type_hints(tp)
        return tp(**{name: _from_json(hints[name], v) for name, v in value.items()})
    return value


def body_to_json(body: RecordBody) -> str:
    return json.dumps(_to_json(body), ensure_ascii=False, separators=(",", ":"))


def body_from_json(kind: str, text: str) -> RecordBody:
    body: RecordBody = _from_json(_KINDS[kind], json.loads(text))
    return body


def _clock_json(clock: ClockEstimate) -> str:
    return json.dumps([clock.offset_ms, clock.uncertainty_ms, clock.measured_at_ns])


class Outbox:
    """SQLite outbox; implements `agent.uplink.client.RecordSource`."""

    def __init__(
        self,
        path: str | Path,
        *,
        max_bytes: int = 512 * 1024 * 1024,
        max_age_s: float = 30 * 86400.0,
        alarm_fraction: float = 0.8,
        retention_s: float = 86400.0,
        reassembly_timeout_s: float = 120.0,
        clock: ClockProvider = never_measured,
        now_ns: Callable[[], int] = time.time_ns,
        signer: RecordSigner | None = None,
    ) -> None:
        self.path = Path(path)
        self.signer = signer
        self.max_bytes = max_bytes
        self.max_age_s = max_age_s
        self.alarm_fraction = alarm_fraction
        self.retention_ns = int(retention_s * 1e9)
        self.reassembly_timeout_ns = int(reassembly_timeout_s * 1e9)
        self.clock = clock
        self.now_ns = now_ns
        self._lock = threading.RLock()
        self._alarmed = False
        self._broken = False  # a storage error happened: reconnect before the next use
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = self._connect()
            self._db.executescript(_SCHEMA)
        except (sqlite3.Error, OSError) as exc:
            raise _storage_error(f"cannot open outbox {self.path}", exc) from exc
        self._upgrade()

    def _connect(self) -> sqlite3.Connection:
        db = sqlite3.connect(
            str(self.path), isolation_level=None, check_same_thread=False, timeout=30.0
        )
        db.execute("PRAGMA journal_mode=WAL")
        # FULL: every COMMIT fsyncs the WAL, so "persisted" means on disk before CMGD.
        db.execute("PRAGMA synchronous=FULL")
        db.execute("PRAGMA foreign_keys=OFF")
        return db

    def _ensure_connected(self) -> None:
        """After a storage error start from a fresh connection: an I/O error can leave
        SQLite's connection unusable even once the disk is fine again."""
        if not self._broken:
            return
        with contextlib.suppress(sqlite3.Error):
            self._db.close()
        try:
            self._db = self._connect()
        except sqlite3.Error as exc:
            raise _storage_error(f"cannot reopen outbox {self.path}", exc) from exc
        self._broken = False

    @contextmanager
    def _read(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._ensure_connected()
            try:
                yield self._db
            except sqlite3.Error as exc:
                self._broken = True
                raise _storage_error("outbox read failed", exc) from exc

    def _upgrade(self) -> None:
        """Bring a file written by an older agent to OUTBOX_FORMAT (see there)."""
        with self._read() as db:
            (version,) = db.execute("PRAGMA user_version").fetchone()
        if int(version) >= OUTBOX_FORMAT:
            return
        with self._tx() as db:
            columns = {str(r[1]) for r in db.execute("PRAGMA table_info(records)")}
            if "wire" not in columns:
                db.execute("ALTER TABLE records ADD COLUMN wire BLOB")
            if int(version) < 2:
                db.execute(
                    "INSERT OR IGNORE INTO pending (seq)"
                    " SELECT seq FROM records WHERE acked_at_ns = 0"
                )
            db.execute(f"PRAGMA user_version = {OUTBOX_FORMAT}")

    def close(self) -> None:
        with self._lock, contextlib.suppress(sqlite3.Error):
            self._db.close()

    def __enter__(self) -> Outbox:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        """One transaction; any SQLite failure inside it is an OutboxError and leaves
        nothing stored. SQLite may already have rolled back by itself (a failed COMMIT on
        a full disk does): only roll back what is still open."""
        with self._lock:
            self._ensure_connected()
            try:
                self._db.execute("BEGIN IMMEDIATE")
                yield self._db
                self._db.execute("COMMIT")
            except sqlite3.Error as exc:
                error = _storage_error("outbox write failed", exc)
                self._abandon(error.reason)
                raise error from exc
            except BaseException:
                self._abandon("other")
                raise

    def _abandon(self, reason: str) -> None:
        try:
            if self._db.in_transaction:
                self._db.execute("ROLLBACK")
        except sqlite3.Error:
            self._broken = True
        # A full disk or a lock leaves the connection sound (and reopening a WAL database
        # on a full disk fails); after an I/O error reconnect rather than reuse a
        # connection whose state is unknown.
        if reason not in ("disk_full", "locked"):
            self._broken = True

    # --- appending records ---

    def _append(
        self, db: sqlite3.Connection, body: RecordBody, imei: str, iccid: str, now: int
    ) -> Record:
        (last,) = db.execute("SELECT value FROM meta WHERE key = 'last_seq'").fetchone()
        seq = int(last) + 1
        record = Record(
            uuid=str(uuid.uuid4()),
            seq=seq,
            persisted_at_ns=now,
            clock=self.clock(),
            body=body,
            modem_imei=imei,
            iccid=iccid,
        )
        db.execute("UPDATE meta SET value = ? WHERE key = 'last_seq'", (seq,))
        try:
            wire: bytes | None = record_to_wire(record).wire
        except (ValueError, TypeError):
            # A value the proto cannot carry (e.g. an int beyond int32): keep the record
            # (JSON is the durable form); reading it encodes again and fails visibly there.
            wire = None
        if wire is not None and self.signer is not None:
            # Signed once, in the transaction that persists it: the stored bytes are what
            # the upload sends and the collector's ledger keeps (records written by an older
            # agent, wire NULL, stay unsigned rather than be signed after the fact).
            wire = self.signer.sign(wire)
        db.execute(
            "INSERT INTO records (seq, uuid, kind, persisted_at_ns, clock, modem_imei, iccid, body,"
            " wire) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                seq,
                record.uuid,
                _KIND_OF[type(body)],
                now,
                _clock_json(record.clock),
                imei,
                iccid,
                body_to_json(body),
                wire,
            ),
        )
        db.execute("INSERT INTO pending (seq) VALUES (?)", (seq,))
        return record

    def append(self, body: RecordBody, modem: ModemRef | None = None) -> Record:
        """Persist one record (health, event, canary...) and return it with uuid and seq."""
        with self._tx() as db:
            return self._append(
                db, body, modem.imei if modem else "", modem.iccid if modem else "", self.now_ns()
            )

    # --- the receive path ---

    def find_unfinished(self, modem: ModemRef, storage: str, index: int, pdu: bytes) -> str:
        """uuid of a part persisted from this slot with identical bytes and not yet marked
        deleted from the modem; "" if none. This is how a re-read after a crash is known."""
        if index < 0:
            return ""
        with self._read() as db:
            row = db.execute(
                "SELECT uuid FROM parts WHERE modem = ? AND storage = ? AND idx = ?"
                " AND deleted = 0 AND pdu = ? ORDER BY id LIMIT 1",
                (modem.key, storage, index, pdu),
            ).fetchone()
        return str(row[0]) if row else ""

    def persist_part(
        self,
        modem: ModemRef,
        storage: str,
        index: int,
        pdu: bytes,
        facts: PartFacts,
        received_at_ns: int | None = None,
    ) -> PersistedPart:
        """Persist one SMS-DELIVER as read from the modem, in a single transaction with its
        reassembly step (and the ReceivedSms record when this part completes a message).

        Exactly-once across crashes: a PDU read again from the same modem, storage and index
        with identical bytes while the earlier copy is not marked deleted is the same
        message (we crashed between COMMIT and AT+CMGD) and is not stored twice. Residual
        ambiguity: if we crash after AT+CMGD succeeded but before `mark_deleted` committed,
        and the network then delivers a byte-identical PDU (same SCTS, same content) into
        the very same index, that genuine second delivery is taken for the re-read and
        recorded once. A byte-identical redelivery carries the same SCTS, so the collector
        would count it as a duplicate anyway; we accept that window.
        """
        now = self.now_ns()
        received = now if received_at_ns is None else received_at_ns
        with self._tx() as db:
            if index >= 0:
                row = db.execute(
                    "SELECT uuid FROM parts WHERE modem = ? AND storage = ? AND idx = ?"
                    " AND deleted = 0 AND pdu = ? ORDER BY id LIMIT 1",
                    (modem.key, storage, index, pdu),
                ).fetchone()
                if row:
                    return PersistedPart(str(row[0]), new=False)
            emitted = self._expire(db, now)
            part_uuid = str(uuid.uuid4())
            key = concat_key(modem.key, facts)
            part_seq = facts.concat.seq if key is not None and facts.concat else 1
            cur = db.execute(
                "INSERT INTO parts (uuid, kind, modem, storage, idx, pdu, received_at_ns, facts,"
                " part_seq) VALUES (?, 'sms', ?, ?, ?, ?, ?, ?, ?)",
                (
                    part_uuid,
                    modem.key,
                    storage,
                    index,
                    pdu,
                    received,
                    json.dumps(facts.to_json(), ensure_ascii=False),
                    part_seq,
                ),
            )
            part_id = int(cur.lastrowid or 0)
            part = _sms_part(part_uuid, pdu, storage, index, received, part_seq, facts)
            if key is None:
                body = build_message([(part, facts)])
                record = self._append(db, body, modem.imei, modem.iccid, now)
                db.execute("UPDATE parts SET record_seq = ? WHERE id = ?", (record.seq, part_id))
                return PersistedPart(part_uuid, True, (*emitted, record))
            views = self._open_groups(db, key.modem, key.sender, key.ref, key.total, key.ref_bits)
            decision = assign(views, part_seq, payload_of(facts))
            if decision.action == "duplicate":
                db.execute(
                    "UPDATE parts SET group_id = ?, duplicate = 1 WHERE id = ?",
                    (decision.group_id, part_id),
                )
                db.execute(
                    "UPDATE groups SET duplicates = duplicates + 1 WHERE id = ?",
                    (decision.group_id,),
                )
                return PersistedPart(part_uuid, True, emitted)
            if decision.action == "join":
                group_id = decision.group_id
            else:
                cur = db.execute(
                    "INSERT INTO groups (modem, modem_imei, iccid, sender, ref, total, ref_bits,"
                    " opened_at_ns) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        key.modem,
                        modem.imei,
                        modem.iccid,
                        key.sender,
                        key.ref,
                        key.total,
                        key.ref_bits,
                        received,
                    ),
                )
                group_id = int(cur.lastrowid or 0)
            db.execute("UPDATE parts SET group_id = ? WHERE id = ?", (group_id, part_id))
            seqs = {
                int(r[0])
                for r in db.execute(
                    "SELECT part_seq FROM parts WHERE group_id = ? AND duplicate = 0", (group_id,)
                )
            }
            if is_complete(key.total, seqs):
                records = self._close_group(db, group_id, now, partial=False)
                return PersistedPart(part_uuid, True, (*emitted, *records))
            return PersistedPart(part_uuid, True, emitted)

    def persist_status_report(
        self, modem: ModemRef, storage: str, index: int, report: StatusReport
    ) -> PersistedPart:
        """Persist a status report (SR storage or +CDS) with the same re-read rule."""
        now = self.now_ns()
        with self._tx() as db:
            if index >= 0:
                row = db.execute(
                    "SELECT uuid FROM parts WHERE modem = ? AND storage = ? AND idx = ?"
                    " AND deleted = 0 AND pdu = ? ORDER BY id LIMIT 1",
                    (modem.key, storage, index, report.raw_pdu),
                ).fetchone()
                if row:
                    return PersistedPart(str(row[0]), new=False)
            part_uuid = str(uuid.uuid4())
            record = self._append(db, report, modem.imei, modem.iccid, now)
            db.execute(
                "INSERT INTO parts (uuid, kind, modem, storage, idx, pdu, received_at_ns, facts,"
                " record_seq) VALUES (?, 'status', ?, ?, ?, ?, ?, '{}', ?)",
                (
                    part_uuid,
                    modem.key,
                    storage,
                    index,
                    report.raw_pdu,
                    report.received_at_ns,
                    record.seq,
                ),
            )
            return PersistedPart(part_uuid, True, (record,))

    def mark_deleted(self, part_uuid: str) -> None:
        """AT+CMGD succeeded for this part: a later identical PDU in that slot is new.

        Not fsynced (see `_relaxed_tx`): lost to a power cut, the part only looks not yet
        deleted, and what that changes is the residual case of `persist_part` (a
        byte-identical redelivery into the same slot, i.e. the same SCTS: a duplicate the
        collector discards anyway). On a slow card this halves the fsyncs per SMS."""
        with self._relaxed_tx() as db:
            db.execute("UPDATE parts SET deleted = 1 WHERE uuid = ?", (part_uuid,))

    @contextmanager
    def _relaxed_tx(self) -> Iterator[sqlite3.Connection]:
        """A transaction committed without waiting for the disk (synchronous=NORMAL): WAL
        keeps it atomic and ordered before the next FULL commit, which syncs its frames
        too (sqlite.org/pragma.html#pragma_synchronous, NORMAL in WAL mode). Only for
        marks whose loss is harmless; every stored record keeps FULL."""
        with self._lock:
            with self._read() as db:
                db.execute("PRAGMA synchronous=NORMAL")
            try:
                with self._tx() as db:
                    yield db
            finally:
                try:
                    self._db.execute("PRAGMA synchronous=FULL")
                except sqlite3.Error:
                    self._broken = True  # reconnect (FULL again) rather than go on with NORMAL

    def _open_groups(
        self, db: sqlite3.Connection, modem: str, sender: str, ref: int, total: int, bits: int
    ) -> list[GroupView]:
        views = []
        for gid, opened in db.execute(
            "SELECT id, opened_at_ns FROM groups WHERE modem = ? AND sender = ? AND ref = ?"
            " AND total = ? AND ref_bits = ? AND open = 1 ORDER BY id",
            (modem, sender, ref, total, bits),
        ).fetchall():
            payloads: dict[int, bytes] = {}
            for seq, facts in db.execute(
                "SELECT part_seq, facts FROM parts WHERE group_id = ? AND duplicate = 0"
                " ORDER BY id",
                (gid,),
            ):
                payloads.setdefault(int(seq), payload_of(PartFacts.from_json(json.loads(facts))))
            views.append(GroupView(int(gid), int(opened), payloads))
        return views

    def _close_group(
        self, db: sqlite3.Connection, group_id: int, now: int, partial: bool
    ) -> tuple[Record, ...]:
        total, imei, iccid = db.execute(
            "SELECT total, modem_imei, iccid FROM groups WHERE id = ?", (group_id,)
        ).fetchone()
        parts = []
        for row in db.execute(
            "SELECT uuid, pdu, storage, idx, received_at_ns, part_seq, facts FROM parts"
            " WHERE group_id = ? AND duplicate = 0 ORDER BY part_seq, id",
            (group_id,),
        ):
            facts = PartFacts.from_json(json.loads(row[6]))
            part = _sms_part(row[0], bytes(row[1]), row[2], row[3], row[4], row[5], facts)
            parts.append((part, facts))
        records = []
        for run in contiguous_runs(parts) if partial else [parts]:
            body = build_message(run, total=int(total), partial=partial)
            record = self._append(db, body, str(imei), str(iccid), now)
            db.execute(
                "UPDATE parts SET record_seq = ? WHERE group_id = ? AND part_seq BETWEEN ? AND ?",
                (record.seq, group_id, run[0][0].part_seq, run[-1][0].part_seq),
            )
            records.append(record)
        db.execute("UPDATE groups SET open = 0 WHERE id = ?", (group_id,))
        return tuple(records)

    def _expire(self, db: sqlite3.Connection, now: int) -> tuple[Record, ...]:
        cutoff = now - self.reassembly_timeout_ns
        expired = [
            int(r[0])
            for r in db.execute(
                "SELECT id FROM groups WHERE open = 1 AND opened_at_ns <= ? ORDER BY id",
                (cutoff,),
            )
        ]
        return tuple(r for gid in expired for r in self._close_group(db, gid, now, partial=True))

    def expire_groups(self) -> list[Record]:
        """Emit groups still missing parts after the reassembly timeout as partial messages."""
        with self._tx() as db:
            return list(self._expire(db, self.now_ns()))

    def open_group_count(self) -> int:
        with self._read() as db:
            (n,) = db.execute("SELECT COUNT(*) FROM groups WHERE open = 1").fetchone()
        return int(n)

    # --- bounds ---

    def used_bytes(self) -> int:
        """Bytes the file holds in use, acked records kept for inspection included."""
        with self._read() as db:
            (pages,) = db.execute("PRAGMA page_count").fetchone()
            (free,) = db.execute("PRAGMA freelist_count").fetchone()
            (size,) = db.execute("PRAGMA page_size").fetchone()
        return (int(pages) - int(free)) * int(size)

    def pending_bytes(self) -> int:
        """What the collector does not have yet: unacked records and parts still waiting
        for their message. Only this holds reading back; acked records never do."""
        with self._read() as db:
            (records,) = db.execute(
                "SELECT COALESCE(SUM(length(body) + COALESCE(length(wire), 0) + 200), 0)"
                f" FROM {_PENDING_RECORDS}"
            ).fetchone()
            (parts,) = db.execute(
                "SELECT COALESCE(SUM(length(pdu) + length(facts) + 100), 0) FROM parts"
                " WHERE record_seq IS NULL"
            ).fetchone()
        return int(records) + int(parts)

    def pressure(self) -> OutboxPressure:
        used = self.pending_bytes()
        oldest = self.oldest_pending_ns()
        age_s = max(0.0, (self.now_ns() - oldest) / 1e9) if oldest else 0.0
        fraction = max(used / self.max_bytes, age_s / self.max_age_s)
        return OutboxPressure(
            used_bytes=used,
            oldest_pending_age_s=age_s,
            fraction=fraction,
            alarm=fraction >= self.alarm_fraction,
            full=fraction >= 1.0,
        )

    def check_pressure(self) -> OutboxPressure:
        """Pressure now; on each crossing of the alarm threshold an AgentEvent
        `outbox_alarm` / `outbox_alarm_cleared` is recorded (edge-triggered)."""
        p = self.pressure()
        if p.alarm != self._alarmed:
            self._alarmed = p.alarm
            self.append(
                AgentEvent(
                    at_ns=self.now_ns(),
                    kind="outbox_alarm" if p.alarm else "outbox_alarm_cleared",
                    detail=f"outbox at {p.fraction:.0%} of its bound",
                    attributes={
                        "used_bytes": str(p.used_bytes),
                        "max_bytes": str(self.max_bytes),
                        "oldest_pending_age_s": f"{p.oldest_pending_age_s:.0f}",
                        "max_age_s": f"{self.max_age_s:.0f}",
                    },
                )
            )
        return p

    def prune(self) -> int:
        """Drop records acked longer than the retention ago (and their parts once the
        modem copy is deleted); while the file is over `max_bytes`, drop acked records
        sooner, oldest first (the collector has them). Returns the records removed."""
        cutoff = self.now_ns() - self.retention_ns
        with self._tx() as db:
            # Marks written by format 1, then the runs acked since (format 2).
            cur = db.execute(
                "DELETE FROM records WHERE acked_at_ns > 0 AND acked_at_ns <= ?", (cutoff,)
            )
            removed = cur.rowcount
            runs = db.execute("SELECT lo, hi FROM ack_runs WHERE at_ns <= ?", (cutoff,))
            for lo, hi in runs.fetchall():
                cur = db.execute(
                    "DELETE FROM records WHERE seq BETWEEN ? AND ?"
                    " AND seq NOT IN (SELECT seq FROM pending WHERE seq BETWEEN ? AND ?)",
                    (lo, hi, lo, hi),
                )
                removed += cur.rowcount
            db.execute("DELETE FROM ack_runs WHERE at_ns <= ?", (cutoff,))
            while self.used_bytes() > self.max_bytes:
                cur = db.execute(
                    "DELETE FROM records WHERE seq IN (SELECT seq FROM records"
                    " WHERE seq NOT IN (SELECT seq FROM pending) ORDER BY seq LIMIT 1000)"
                )
                if cur.rowcount <= 0:
                    break
                removed += cur.rowcount
            db.execute(
                "DELETE FROM parts WHERE deleted = 1 AND record_seq IS NOT NULL"
                " AND record_seq NOT IN (SELECT seq FROM records)"
            )
            db.execute(
                "DELETE FROM groups WHERE open = 0 AND id NOT IN"
                " (SELECT group_id FROM parts WHERE group_id IS NOT NULL)"
            )
        return int(removed)

    # --- RecordSource ---

    @staticmethod
    def _row_to_record(
        seq: int, uid: str, kind: str, at: int, clock: str, imei: str, iccid: str, body: str
    ) -> Record:
        offset, unc, measured = json.loads(clock)
        return Record(
            uuid=uid,
            seq=int(seq),
            persisted_at_ns=int(at),
            clock=ClockEstimate(float(offset), float(unc), int(measured)),
            body=body_from_json(kind, body),
            modem_imei=imei,
            iccid=iccid,
        )

    def _rows_to_records(self, rows: Iterable[Sequence[Any]]) -> list[Record]:
        # Decoding the stored proto (C, upb) is several times cheaper than the JSON body
        # walked field by field; rows from an older format have only the JSON.
        out = []
        for seq, uid, kind, at, clock, imei, iccid, body, wire in rows:
            if wire is None:
                out.append(self._row_to_record(seq, uid, kind, at, clock, imei, iccid, body))
            else:
                out.append(record_from_wire(WireRecord(seq, at, _WIRE_KIND[kind], wire)))
        return out

    def pending(self, after_seq: int, limit: int) -> list[Record]:
        with self._read() as db:
            rows = db.execute(
                "SELECT r.seq, uuid, kind, persisted_at_ns, clock, modem_imei, iccid, body, wire"
                f" FROM {_PENDING_RECORDS} AND p.seq > ? ORDER BY p.seq LIMIT ?",
                (after_seq, limit),
            ).fetchall()
        return self._rows_to_records(rows)

    def pending_wire(self, after_seq: int, limit: int) -> list[WireRecord]:
        """`pending` as the uplink sends it: each record's serialised proto, not decoded.

        Implements `agent.uplink.client.WireRecordSource`."""
        with self._read() as db:
            rows = db.execute(
                "SELECT r.seq, persisted_at_ns, kind, wire"
                f" FROM {_PENDING_RECORDS} AND p.seq > ? ORDER BY p.seq LIMIT ?",
                (after_seq, limit),
            ).fetchall()
            legacy = [int(r[0]) for r in rows if r[3] is None]
            encoded: dict[int, WireRecord] = {}
            for i in range(0, len(legacy), 500):  # written by format 0: encode them now
                chunk = legacy[i : i + 500]
                for row in db.execute(
                    "SELECT seq, uuid, kind, persisted_at_ns, clock, modem_imei, iccid, body"
                    f" FROM records WHERE seq IN ({','.join('?' * len(chunk))})",
                    chunk,
                ):
                    encoded[int(row[0])] = record_to_wire(self._row_to_record(*row))
        return [
            encoded[seq] if wire is None else new_wire_record(seq, at, _WIRE_KIND[kind], wire)
            for seq, at, kind, wire in rows
        ]

    def mark_acked(self, seqs: Iterable[int]) -> None:
        now = self.now_ns()
        # Acks come per batch, mostly runs of consecutive seqs: one range DELETE of the
        # narrow `pending` rows per run (format 2), and the run noted for retention.
        runs: list[tuple[int, int]] = []
        for s in sorted({int(s) for s in seqs}):
            if runs and runs[-1][1] == s - 1:
                runs[-1] = (runs[-1][0], s)
            else:
                runs.append((s, s))
        # An ack mark need not reach the disk before we go on: lost to a power cut, it
        # only makes records the collector already committed look pending again; the next
        # session's Register (committed_seq) marks them acked, and any sent again count as
        # duplicates at the collector (idempotent by uuid).
        with self._relaxed_tx() as db:
            for lo, hi in runs:
                gone = db.execute("DELETE FROM pending WHERE seq BETWEEN ? AND ?", (lo, hi))
                if gone.rowcount > 0:  # a replayed ack adds no run
                    db.execute(
                        "INSERT INTO ack_runs (lo, hi, at_ns) VALUES (?, ?, ?)", (lo, hi, now)
                    )

    def depth(self) -> int:
        with self._read() as db:
            (n,) = db.execute(f"SELECT COUNT(*) FROM {_PENDING_RECORDS}").fetchone()
        return int(n)

    def oldest_pending_ns(self) -> int:
        with self._read() as db:
            (at,) = db.execute(f"SELECT MIN(persisted_at_ns) FROM {_PENDING_RECORDS}").fetchone()
        return int(at or 0)

    def last_seq(self) -> int:
        with self._read() as db:
            (last,) = db.execute("SELECT value FROM meta WHERE key = 'last_seq'").fetchone()
        return int(last)

    # --- inspection (outbox list) ---

    def records(
        self, kinds: Sequence[str] = (), after_seq: int = 0, limit: int = -1
    ) -> list[Record]:
        """Every stored record (acked or not) in seq order, optionally of some kinds."""
        where = "seq > ?"
        args: list[Any] = [after_seq]
        if kinds:
            where += " AND kind IN (" + ",".join("?" * len(kinds)) + ")"
            args.extend(kinds)
        args.append(limit)
        with self._read() as db:
            rows = db.execute(
                "SELECT seq, uuid, kind, persisted_at_ns, clock, modem_imei, iccid, body, wire"
                f" FROM records WHERE {where} ORDER BY seq LIMIT ?",
                args,
            ).fetchall()
        return self._rows_to_records(rows)

    def duplicate_parts(self, record_seq: int) -> int:
        with self._read() as db:
            (n,) = db.execute(
                "SELECT COUNT(*) FROM parts WHERE record_seq = ? AND duplicate = 1",
                (record_seq,),
            ).fetchone()
        return int(n)


def _sms_part(
    part_uuid: str,
    pdu: bytes,
    storage: str,
    index: int,
    received_at_ns: int,
    part_seq: int,
    facts: PartFacts,
) -> SmsPart:
    return SmsPart(
        uuid=part_uuid,
        raw_pdu=pdu,
        storage=storage,
        index=index,
        received_at_ns=received_at_ns,
        scts_ns=facts.scts_ns,
        scts_tz_minutes=facts.scts_tz_minutes,
        part_seq=part_seq,
        decode_error=facts.decode_error,
    )


def open_outbox(
    config: AgentConfig,
    clock: ClockProvider = never_measured,
    signer: RecordSigner | None = None,
) -> Outbox:
    """The Outbox an agent config describes."""
    return Outbox(
        config.outbox.path,
        max_bytes=config.outbox.max_bytes,
        max_age_s=config.outbox.max_age_s,
        alarm_fraction=config.outbox.alarm_fraction,
        retention_s=config.outbox.retention_s,
        reassembly_timeout_s=config.receive.reassembly_timeout_s,
        clock=clock,
        signer=signer,
    )
