"""The probe side of the ledger: plans, submissions, raw DLRs, verdicts, cursors, alerts.

A mixin over `SqlLedger` (same transactions, both backends). Order of writes is what
makes a crash harmless: the plan is stored before the submit, the raw DLR before the
vendor gets its ack, the verdict with its revision log in one transaction.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any, Protocol

from collector.correlation.model import ContentVerdict, DlrClaim, DlrTruth, Outcome, Verdict

Row = tuple[Any, ...]


class _Tx(Protocol):
    def all(self, sql: str, params: Sequence[Any] = ()) -> list[Row]: ...

    def run(self, sql: str, params: Sequence[Any] = ()) -> int: ...

    def many(self, sql: str, rows: Sequence[Sequence[Any]]) -> int: ...


@dataclass(frozen=True, slots=True)
class ProbePlan:
    probe_id: str
    vendor: str
    msisdn: str
    profile: str
    token: str
    body: str
    expected_text: str
    planned_at_ns: int
    signature: str = ""
    parts: int = 1
    cost: float = 0.0
    band: str = ""
    carrier: str = ""
    mvno: str = ""
    region: str = ""
    site: str = ""
    agent_id: str = ""
    modem_imei: str = ""
    iccid: str = ""


@dataclass(frozen=True, slots=True)
class Submission:
    probe_id: str
    status: str  # accepted | rejected | ambiguous
    submitted_at_ns: int
    answered_at_ns: int
    message_ids: tuple[str, ...] = ()
    raw_request: bytes = b""
    raw_response: bytes = b""
    error_kind: str = ""
    error_detail: str = ""


@dataclass(frozen=True, slots=True)
class StoredCanary:
    """A CanarySent record as ingested; sent_at_ns on the agent's clock."""

    canary_id: str
    agent_id: str
    modem_imei: str  # the sending modem
    to_msisdn: str
    sent_at_ns: int
    clock_offset_ms: float  # collector time = agent time + offset
    message_references: tuple[int, ...]
    error: str
    text: str
    uuid: str


@dataclass(frozen=True, slots=True)
class StoredProbe:
    plan: ProbePlan
    submit_status: str
    submitted_at_ns: int
    answered_at_ns: int
    message_ids: tuple[str, ...]
    raw_request: bytes
    raw_response: bytes
    error_kind: str
    error_detail: str
    final: bool


@dataclass(frozen=True, slots=True)
class StoredDlr:
    dlr_id: int
    vendor: str
    message_id: str
    status: str
    vendor_status_raw: str
    err: str
    done_at_ns: int
    received_at_ns: int
    source: str
    raw: bytes
    copies: int
    probe_id: str | None
    id_rule: str


@dataclass(frozen=True, slots=True)
class QuarantinedDlrRow:
    """A vendor report that could not be read, kept raw (vendors.base.QuarantinedDlr)."""

    vendor: str
    source: str
    reason: str
    raw: bytes
    received_at_ns: int


@dataclass(frozen=True, slots=True)
class StoredVerdict:
    verdict: Verdict
    revision: int
    judged_at_ns: int
    change_seq: int


@dataclass(frozen=True, slots=True)
class Revision:
    probe_id: str
    revision: int
    at_ns: int
    old: tuple[str, str, str]  # outcome, dlr, content
    new: tuple[str, str, str]


@dataclass(frozen=True, slots=True)
class HealthRow:
    record_id: int
    agent_id: str
    modem_imei: str
    at_ns: int  # collector clock (agent time + the record's clock offset)
    rssi_dbm: float | None
    registration: int  # smsprobe.v1.Registration
    storage_used: int
    healthy: bool
    iccid: str
    site: str
    carrier: str


@dataclass(frozen=True, slots=True)
class AlertRow:
    alert_id: int
    kind: str
    subject: dict[str, str]
    started_at_ns: int
    ended_at_ns: int
    figures: dict[str, Any]
    end_figures: dict[str, Any]
    notified: str


_PROBE_COLS = (
    "probe_id, vendor, msisdn, profile, token, body, expected_text, planned_at_ns, signature,"
    " parts, cost, band, carrier, mvno, region, site, agent_id, modem_imei, iccid,"
    " submit_status, submitted_at_ns, answered_at_ns, vendor_message_ids, raw_request,"
    " raw_response, error_kind, error_detail, final"
)
_DLR_COLS = (
    "dlr_id, vendor, message_id, status, vendor_status_raw, err, done_at_ns, received_at_ns,"
    " source, raw, copies, probe_id, id_rule"
)
_VERDICT_COLS = (
    "probe_id, revision, judged_at_ns, outcome, dlr, dlr_claim, content, content_diff,"
    " latency_s, latency_uncertainty_s, vendor_delay_s, carrier_delay_s, sender, duplicates,"
    " missing_parts, reasons, arrival_uuids, change_seq"
)


def _probe(row: Row) -> StoredProbe:
    plan = ProbePlan(
        probe_id=row[0], vendor=row[1], msisdn=row[2], profile=row[3], token=row[4],
        body=row[5], expected_text=row[6], planned_at_ns=int(row[7]), signature=row[8],
        parts=int(row[9]), cost=float(row[10]), band=row[11], carrier=row[12], mvno=row[13],
        region=row[14], site=row[15], agent_id=row[16], modem_imei=row[17], iccid=row[18],
    )  # fmt: skip
    return StoredProbe(
        plan=plan,
        submit_status=row[19],
        submitted_at_ns=int(row[20]),
        answered_at_ns=int(row[21]),
        message_ids=tuple(m for m in row[22].split("\n") if m),
        raw_request=bytes(row[23] or b""),
        raw_response=bytes(row[24] or b""),
        error_kind=row[25],
        error_detail=row[26],
        final=bool(row[27]),
    )


def _dlr(row: Row) -> StoredDlr:
    return StoredDlr(
        dlr_id=int(row[0]), vendor=row[1], message_id=row[2], status=row[3],
        vendor_status_raw=row[4], err=row[5], done_at_ns=int(row[6]),
        received_at_ns=int(row[7]), source=row[8], raw=bytes(row[9] or b""),
        copies=int(row[10]), probe_id=row[11], id_rule=row[12],
    )  # fmt: skip


def _verdict(row: Row) -> StoredVerdict:
    verdict = Verdict(
        probe_id=row[0],
        outcome=Outcome(row[3]),
        dlr=DlrTruth(row[4]),
        dlr_claim=DlrClaim(row[5]),
        content=ContentVerdict(row[6]),
        content_diff=row[7],
        latency_s=row[8],
        latency_uncertainty_s=row[9],
        vendor_delay_s=row[10],
        carrier_delay_s=row[11],
        sender=row[12],
        duplicates=int(row[13]),
        missing_parts=tuple(int(v) for v in row[14].split(",") if v),
        reasons=tuple(v for v in row[15].split("\n") if v),
        arrival_uuids=tuple(v for v in row[16].split(",") if v),
    )
    return StoredVerdict(verdict, int(row[1]), int(row[2]), int(row[17]))


class ProbeLedgerMixin:
    """Probe/DLR/verdict/cursor/alert storage; mixed into SqlLedger."""

    # Provided by SqlLedger (one transaction, committed on exit).
    _transaction: Callable[..., AbstractContextManager[_Tx]]

    # ------------------------------------------------------------------ probes
    def add_probe(self, plan: ProbePlan) -> None:
        with self._transaction() as tx:
            tx.run(
                "INSERT INTO probes (probe_id, vendor, msisdn, profile, token, body,"
                " expected_text, planned_at_ns, signature, parts, cost, band, carrier, mvno,"
                " region, site, agent_id, modem_imei, iccid)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    plan.probe_id, plan.vendor, plan.msisdn, plan.profile, plan.token, plan.body,
                    plan.expected_text, plan.planned_at_ns, plan.signature, plan.parts, plan.cost,
                    plan.band, plan.carrier, plan.mvno, plan.region, plan.site, plan.agent_id,
                    plan.modem_imei, plan.iccid,
                ),
            )  # fmt: skip

    def record_submission(self, sub: Submission) -> None:
        with self._transaction() as tx:
            changed = tx.run(
                "UPDATE probes SET submit_status = ?, submitted_at_ns = ?, answered_at_ns = ?,"
                " vendor_message_ids = ?, raw_request = ?, raw_response = ?, error_kind = ?,"
                " error_detail = ? WHERE probe_id = ?",
                (
                    sub.status, sub.submitted_at_ns, sub.answered_at_ns, "\n".join(sub.message_ids),
                    sub.raw_request, sub.raw_response, sub.error_kind, sub.error_detail,
                    sub.probe_id,
                ),
            )  # fmt: skip
            if changed != 1:
                raise KeyError(f"no planned probe {sub.probe_id!r}")

    def probes(
        self,
        *,
        open_only: bool = False,
        since_ns: int = 0,
        until_ns: int | None = None,
        vendor: str | None = None,
        probe_ids: Sequence[str] | None = None,
    ) -> list[StoredProbe]:
        """Probes planned in [since_ns, until_ns), oldest first."""
        sql = f"SELECT {_PROBE_COLS} FROM probes WHERE planned_at_ns >= ?"
        params: list[Any] = [since_ns]
        if until_ns is not None:
            sql += " AND planned_at_ns < ?"
            params.append(until_ns)
        if open_only:
            sql += " AND final = 0"
        if vendor is not None:
            sql += " AND vendor = ?"
            params.append(vendor)
        if probe_ids is not None:
            if not probe_ids:
                return []
            sql += f" AND probe_id IN ({','.join('?' * len(probe_ids))})"
            params.extend(probe_ids)
        with self._transaction(write=False) as tx:
            rows = tx.all(sql + " ORDER BY planned_at_ns, probe_id", params)
        return [_probe(r) for r in rows]

    def mark_final(self, probe_ids: Iterable[str]) -> None:
        ids = list(probe_ids)
        with self._transaction() as tx:
            tx.many("UPDATE probes SET final = 1 WHERE probe_id = ?", [(i,) for i in ids])

    # -------------------------------------------------------------------- DLRs
    def store_dlr(
        self,
        *,
        vendor: str,
        message_id: str,
        status: str,
        received_at_ns: int,
        raw: bytes,
        dedupe_key: str,
        vendor_status_raw: str = "",
        err: str = "",
        done_at_ns: int = 0,
        source: str = "",
    ) -> tuple[StoredDlr, bool]:
        """Store a raw DLR durably; (row, True) when new, (row, False) for a re-sent copy
        (same dedupe key, see RawDlr.dedupe_key): counted, not stored twice."""
        key = dedupe_key
        with self._transaction() as tx:
            if tx.run("UPDATE dlrs SET copies = copies + 1 WHERE dedupe_key = ?", (key,)) == 0:
                tx.run(
                    "INSERT INTO dlrs (vendor, message_id, status, vendor_status_raw, err,"
                    " done_at_ns, received_at_ns, source, raw, dedupe_key)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (vendor, message_id, status, vendor_status_raw, err, done_at_ns,
                     received_at_ns, source, raw, key),
                )  # fmt: skip
                new = True
            else:
                new = False
            row = tx.all(f"SELECT {_DLR_COLS} FROM dlrs WHERE dedupe_key = ?", (key,))
        return _dlr(row[0]), new

    def attribute_dlrs(self, matches: Sequence[tuple[int, str, str]]) -> None:
        """(dlr_id, probe_id, id rule) for DLRs the correlation matched."""
        with self._transaction() as tx:
            tx.many(
                "UPDATE dlrs SET probe_id = ?, id_rule = ? WHERE dlr_id = ?",
                [(probe_id, rule, dlr_id) for dlr_id, probe_id, rule in matches],
            )

    def unattributed_dlrs(self, *, since_ns: int = 0) -> list[StoredDlr]:
        with self._transaction(write=False) as tx:
            rows = tx.all(
                f"SELECT {_DLR_COLS} FROM dlrs WHERE probe_id IS NULL AND received_at_ns >= ?"
                " ORDER BY dlr_id",
                (since_ns,),
            )
        return [_dlr(r) for r in rows]

    def dlrs_of(self, probe_ids: Sequence[str]) -> dict[str, list[StoredDlr]]:
        out: dict[str, list[StoredDlr]] = defaultdict(list)
        ids = list(probe_ids)
        with self._transaction(write=False) as tx:
            for i in range(0, len(ids), 500):
                chunk = ids[i : i + 500]
                rows = tx.all(
                    f"SELECT {_DLR_COLS} FROM dlrs WHERE probe_id IN ({','.join('?' * len(chunk))})"
                    " ORDER BY received_at_ns, dlr_id",
                    chunk,
                )
                for r in rows:
                    out[r[11]].append(_dlr(r))
        return dict(out)

    def all_dlrs(self, *, since_ns: int = 0) -> list[StoredDlr]:
        with self._transaction(write=False) as tx:
            rows = tx.all(
                f"SELECT {_DLR_COLS} FROM dlrs WHERE received_at_ns >= ? ORDER BY dlr_id",
                (since_ns,),
            )
        return [_dlr(r) for r in rows]

    def quarantine_dlr(
        self, *, vendor: str, source: str, reason: str, raw: bytes, digest: str, at_ns: int
    ) -> None:
        """Keep an unreadable vendor report raw with its reason; the same one (digest)
        pushed again is kept once."""
        with self._transaction() as tx:
            tx.run(
                "INSERT INTO dlr_quarantine (vendor, source, reason, raw, digest,"
                " received_at_ns) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
                (vendor, source, reason, raw, digest, at_ns),
            )

    def dlr_quarantine(self, vendor: str | None = None) -> list[QuarantinedDlrRow]:
        sql = "SELECT vendor, source, reason, raw, received_at_ns FROM dlr_quarantine"
        params: tuple[str, ...] = ()
        if vendor is not None:
            sql, params = sql + " WHERE vendor = ?", (vendor,)
        with self._transaction(write=False) as tx:
            rows = tx.all(sql + " ORDER BY id", params)
        return [QuarantinedDlrRow(r[0], r[1], r[2], bytes(r[3]), int(r[4])) for r in rows]

    # ---------------------------------------------------------------- verdicts
    def save_verdicts(self, verdicts: Sequence[Verdict], *, at_ns: int) -> list[Revision]:
        """Store verdicts that changed; a changed outcome, DLR truth or content is a
        revision, logged with what it was before. Unchanged verdicts are not rewritten."""
        revisions: list[Revision] = []
        with self._transaction() as tx:
            ids = [v.probe_id for v in verdicts]
            current: dict[str, StoredVerdict] = {}
            for i in range(0, len(ids), 500):
                chunk = ids[i : i + 500]
                for r in tx.all(
                    f"SELECT {_VERDICT_COLS} FROM verdicts WHERE probe_id IN"
                    f" ({','.join('?' * len(chunk))})",
                    chunk,
                ):
                    current[r[0]] = _verdict(r)
            change_seq = int(tx.all("SELECT COALESCE(MAX(change_seq), 0) FROM verdicts")[0][0])
            for v in verdicts:
                old = current.get(v.probe_id)
                if old is not None and old.verdict == v:
                    continue
                change_seq += 1
                revision = 1 if old is None else old.revision + 1
                row = (
                    revision, at_ns, v.outcome.value, v.dlr.value, v.dlr_claim.value,
                    v.content.value, v.content_diff, v.latency_s, v.latency_uncertainty_s,
                    v.vendor_delay_s, v.carrier_delay_s, v.sender, v.duplicates,
                    ",".join(map(str, v.missing_parts)), "\n".join(v.reasons),
                    ",".join(v.arrival_uuids), change_seq,
                )  # fmt: skip
                if old is None:
                    tx.run(
                        f"INSERT INTO verdicts ({_VERDICT_COLS}) VALUES"
                        " (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                        (v.probe_id, *row),
                    )
                    continue
                tx.run(
                    "UPDATE verdicts SET revision = ?, judged_at_ns = ?, outcome = ?, dlr = ?,"
                    " dlr_claim = ?, content = ?, content_diff = ?, latency_s = ?,"
                    " latency_uncertainty_s = ?, vendor_delay_s = ?, carrier_delay_s = ?,"
                    " sender = ?, duplicates = ?, missing_parts = ?, reasons = ?,"
                    " arrival_uuids = ?, change_seq = ? WHERE probe_id = ?",
                    (*row, v.probe_id),
                )
                before = (
                    old.verdict.outcome.value,
                    old.verdict.dlr.value,
                    old.verdict.content.value,
                )
                after = (v.outcome.value, v.dlr.value, v.content.value)
                if before != after:
                    tx.run(
                        "INSERT INTO verdict_revisions (probe_id, revision, at_ns, old_outcome,"
                        " new_outcome, old_dlr, new_dlr, old_content, new_content)"
                        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                        (v.probe_id, revision, at_ns, before[0], after[0], before[1], after[1],
                         before[2], after[2]),
                    )  # fmt: skip
                    revisions.append(Revision(v.probe_id, revision, at_ns, before, after))
        return revisions

    def verdicts(self, probe_ids: Sequence[str] | None = None) -> dict[str, StoredVerdict]:
        sql = f"SELECT {_VERDICT_COLS} FROM verdicts"
        with self._transaction(write=False) as tx:
            if probe_ids is None:
                rows = tx.all(sql)
            else:
                rows = []
                ids = list(probe_ids)
                for i in range(0, len(ids), 500):
                    chunk = ids[i : i + 500]
                    rows += tx.all(
                        sql + f" WHERE probe_id IN ({','.join('?' * len(chunk))})", chunk
                    )
        return {r[0]: _verdict(r) for r in rows}

    def verdicts_changed_after(self, change_seq: int, limit: int) -> list[StoredVerdict]:
        with self._transaction(write=False) as tx:
            rows = tx.all(
                f"SELECT {_VERDICT_COLS} FROM verdicts WHERE change_seq > ? ORDER BY change_seq"
                " LIMIT ?",
                (change_seq, limit),
            )
        return [_verdict(r) for r in rows]

    def verdict_revisions(self, probe_id: str | None = None) -> list[Revision]:
        sql = (
            "SELECT probe_id, revision, at_ns, old_outcome, old_dlr, old_content, new_outcome,"
            " new_dlr, new_content FROM verdict_revisions"
        )
        with self._transaction(write=False) as tx:
            rows = (
                tx.all(sql + " WHERE probe_id = ? ORDER BY rev_id", (probe_id,))
                if probe_id
                else tx.all(sql + " ORDER BY rev_id")
            )
        return [
            Revision(r[0], int(r[1]), int(r[2]), (r[3], r[4], r[5]), (r[6], r[7], r[8]))
            for r in rows
        ]

    # ----------------------------------------------------------------- cursors
    def cursor(self, name: str) -> int:
        with self._transaction(write=False) as tx:
            rows = tx.all("SELECT position FROM cursors WHERE name = ?", (name,))
        return int(rows[0][0]) if rows else 0

    def set_cursor(self, name: str, position: int, *, at_ns: int) -> None:
        with self._transaction() as tx:
            if (
                tx.run(
                    "UPDATE cursors SET position = ?, updated_at_ns = ? WHERE name = ?",
                    (position, at_ns, name),
                )
                == 0
            ):
                tx.run(
                    "INSERT INTO cursors (name, position, updated_at_ns) VALUES (?, ?, ?)",
                    (name, position, at_ns),
                )

    # ------------------------------------------------------------------ alerts
    def open_alerts(self) -> list[AlertRow]:
        return self.alerts(open_only=True)

    def alerts(self, *, open_only: bool = False, since_ns: int = 0) -> list[AlertRow]:
        sql = (
            "SELECT alert_id, kind, subject, started_at_ns, ended_at_ns, figures, end_figures,"
            " notified FROM alerts WHERE started_at_ns >= ?"
        )
        if open_only:
            sql += " AND ended_at_ns = 0"
        with self._transaction(write=False) as tx:
            rows = tx.all(sql + " ORDER BY alert_id", (since_ns,))
        return [
            AlertRow(int(r[0]), r[1], json.loads(r[2]), int(r[3]), int(r[4]), json.loads(r[5]),
                     json.loads(r[6]), r[7])
            for r in rows
        ]  # fmt: skip

    def start_alert(
        self, kind: str, subject: dict[str, str], *, at_ns: int, figures: dict[str, Any]
    ) -> int:
        subject_json = json.dumps(subject, sort_keys=True)
        with self._transaction() as tx:
            tx.run(
                "INSERT INTO alerts (kind, subject, started_at_ns, figures) VALUES (?, ?, ?, ?)",
                (kind, subject_json, at_ns, json.dumps(figures, sort_keys=True, default=str)),
            )
            rows = tx.all(
                "SELECT MAX(alert_id) FROM alerts WHERE kind = ? AND subject = ?",
                (kind, subject_json),
            )
        return int(rows[0][0])

    def end_alert(
        self, kind: str, subject: dict[str, str], *, at_ns: int, figures: dict[str, Any]
    ) -> None:
        with self._transaction() as tx:
            tx.run(
                "UPDATE alerts SET ended_at_ns = ?, end_figures = ? WHERE kind = ? AND subject = ?"
                " AND ended_at_ns = 0",
                (at_ns, json.dumps(figures, sort_keys=True, default=str), kind,
                 json.dumps(subject, sort_keys=True)),
            )  # fmt: skip

    def note_alert_delivery(self, alert_id: int, note: str) -> None:
        with self._transaction() as tx:
            tx.run(
                "UPDATE alerts SET notified = notified || ? WHERE alert_id = ?",
                (note + "\n", alert_id),
            )

    # ------------------------------------------------------- health for time series
    def health_after(self, record_id: int, limit: int) -> list[HealthRow]:
        """Modem health records ingested after `record_id` (ingest order), for the writer."""
        with self._transaction(write=False) as tx:
            rows = tx.all(
                "SELECT h.record_id, h.agent_id, h.modem_imei, h.at_ns, h.rssi_dbm,"
                " h.registration, h.storage_used, h.healthy, h.iccid, r.clock_offset_ms,"
                " COALESCE(a.site, ''), COALESCE(s.carrier, '')"
                " FROM modem_health h JOIN records r ON r.id = h.record_id"
                " LEFT JOIN agents a ON a.agent_id = h.agent_id"
                " LEFT JOIN sims s ON s.iccid = h.iccid"
                " WHERE h.record_id > ? ORDER BY h.record_id LIMIT ?",
                (record_id, limit),
            )
        return [
            HealthRow(int(r[0]), r[1], r[2], int(r[3]) + round(float(r[9]) * 1e6),
                      None if r[4] is None else float(r[4]), int(r[5]), int(r[6]), bool(r[7]),
                      r[8], r[10], r[11])
            for r in rows
        ]  # fmt: skip

    # ---------------------------------------------------------------- canaries
    def canaries_sent(
        self, *, since_ns: int = 0, until_ns: int | None = None
    ) -> list[StoredCanary]:
        """CanarySent records with sent_at_ns (agent clock) in [since_ns, until_ns), oldest
        first, with the sending modem and the clock offset to put them on collector time."""
        sql = (
            "SELECT c.canary_id, c.agent_id, r.modem_imei, c.to_msisdn, c.sent_at_ns,"
            " r.clock_offset_ms, c.message_references, c.error, c.text, r.uuid"
            " FROM canaries c JOIN records r ON r.id = c.record_id WHERE c.sent_at_ns >= ?"
        )
        params: list[Any] = [since_ns]
        if until_ns is not None:
            sql += " AND c.sent_at_ns < ?"
            params.append(until_ns)
        with self._transaction(write=False) as tx:
            rows = tx.all(sql + " ORDER BY c.sent_at_ns, r.id", params)
        return [
            StoredCanary(
                canary_id=r[0], agent_id=r[1], modem_imei=r[2], to_msisdn=r[3],
                sent_at_ns=int(r[4]), clock_offset_ms=float(r[5]),
                message_references=tuple(int(x) for x in str(r[6]).split(",") if x),
                error=r[7], text=r[8], uuid=r[9],
            )
            for r in rows
        ]  # fmt: skip
