"""Reading back what agents uploaded: SMS, status reports, modem health, events, gaps,
quarantine, canaries sent, health rows for the time series, and the records as received
(for evidence signatures)."""

from __future__ import annotations

from collections.abc import Sequence

from agent.wire.records import ModemHealth, ReceivedSms, Registration, SmsPart, StatusReport
from collector.ledger.model import (
    EventSource,
    GapSpan,
    LedgerEvent,
    QuarantineEntry,
    ReceivedTextRow,
    SmsPartRow,
    SmsRow,
    StoredHealth,
    StoredSms,
    StoredStatusReport,
)
from collector.ledger.probes import HealthRow, StoredCanary
from collector.ledger.sql.convert import GAP_COLUMNS, attrs, clock_of, gap_of, ints, nan, strs
from collector.ledger.sql.core import SqlCore
from collector.ledger.sql.query import Row, Tx, Where, chunks

# The columns of `records` every stored record carries (r: records).
_RECORD_COLUMNS = (
    "r.id, r.uuid, r.seq, r.persisted_at_ns, r.clock_offset_ms, r.clock_uncertainty_ms,"
    " r.clock_measured_at_ns, r.modem_imei, r.iccid, r.ingested_at_ns, r.minimised,"
    " r.minimised_at_ns, r.raw_sha256"
)
_SMS_COLUMNS = (
    "s.agent_id, s.msisdn, s.smsc, s.sender, s.sender_ton, s.text, s.encoding,"
    " s.message_class, s.pid, s.dcs, s.concat_ref, s.concat_total, s.partial,"
    " s.missing_parts, s.undecodable, s.user_data"
)
# SmsRow and SmsPartRow (Tx.tuples): the SELECT lists are the NamedTuples' fields.
_SMS_ROW_COLUMNS = ", ".join(
    "r.id" if f == "record_id" else f"s.{f}" if f" s.{f}," in f" {_SMS_COLUMNS}," else f"r.{f}"
    for f in SmsRow._fields
)
_PART_ROW_COLUMNS = ", ".join(SmsPartRow._fields)
_PART_COLUMNS = (
    "record_id, uuid, raw_pdu, storage, storage_index, received_at_ns, scts_ns,"
    " scts_tz_minutes, part_seq, decode_error"
)
_REPORT_COLUMNS = (
    "t.agent_id, t.raw_pdu, t.storage, t.storage_index, t.received_at_ns, t.recipient,"
    " t.message_reference, t.status, t.scts_ns, t.discharge_time_ns, t.decode_error"
)
_HEALTH_COLUMNS = (
    "h.agent_id, h.at_ns, h.responding, h.rssi_dbm, h.ber, h.registration, h.rat,"
    " h.operator_mcc_mnc, h.sim_state, h.storage_used, h.storage_total, h.healthy,"
    " h.reasons, h.last_sms_at_ns"
)


class RecordSql(SqlCore):
    def gaps(self, agent_id: str | None = None) -> list[GapSpan]:
        where = Where().maybe("agent_id = ?", agent_id)
        with self._transaction(write=False) as tx:
            rows = tx.all(
                f"SELECT {GAP_COLUMNS} FROM gaps{where} ORDER BY agent_id, seq_epoch, first_seq",
                where.params,
            )
        return [gap_of(r) for r in rows]

    def events(self, agent_id: str | None = None, since_ns: int = 0) -> list[LedgerEvent]:
        where = Where().add("at_ns >= ?", since_ns).maybe("agent_id = ?", agent_id)
        with self._transaction(write=False) as tx:
            rows = tx.all(
                "SELECT agent_id, at_ns, kind, source, modem_imei, detail, attributes,"
                f" record_uuid FROM events{where} ORDER BY at_ns, id",
                where.params,
            )
        return [
            LedgerEvent(
                agent_id=r["agent_id"],
                at_ns=int(r["at_ns"]),
                kind=r["kind"],
                source=EventSource(r["source"]),
                modem_imei=r["modem_imei"],
                detail=r["detail"],
                attributes=attrs(r["attributes"]),
                record_uuid=r["record_uuid"],
            )
            for r in rows
        ]

    def received_sms(
        self, *, since_ns: int = 0, until_ns: int | None = None, agent_id: str | None = None
    ) -> list[StoredSms]:
        with self._transaction(write=False) as tx:
            rows = _received(tx, "sms s", _SMS_COLUMNS, since_ns, until_ns, agent_id)
            parts = _sms_parts(tx, [int(r["id"]) for r in rows])
        return [_stored_sms(r, parts.get(int(r["id"]), ())) for r in rows]

    def sms_of(self, uuids: Sequence[str]) -> dict[str, StoredSms]:
        out: dict[str, StoredSms] = {}
        with self._transaction(write=False) as tx:
            for chunk in chunks(sorted(set(uuids))):
                where = Where().among("r.uuid", chunk)
                rows = tx.all(
                    f"SELECT {_RECORD_COLUMNS}, {_SMS_COLUMNS} FROM sms s"
                    f" JOIN records r ON r.id = s.record_id{where}",
                    where.params,
                )
                parts = _sms_parts(tx, [int(r["id"]) for r in rows])
                out.update(
                    (str(r["uuid"]), _stored_sms(r, parts.get(int(r["id"]), ()))) for r in rows
                )
        return out

    def sms_rows(
        self, uuids: Sequence[str]
    ) -> tuple[dict[str, SmsRow], dict[int, list[SmsPartRow]]]:
        rows: dict[str, SmsRow] = {}
        parts: dict[int, list[SmsPartRow]] = {}
        with self._transaction(write=False) as tx:
            for chunk in chunks(sorted(set(uuids))):
                where = Where().among("r.uuid", chunk)
                got = list(map(SmsRow._make, tx.tuples(
                    f"SELECT {_SMS_ROW_COLUMNS} FROM sms s JOIN records r ON r.id = s.record_id"
                    f"{where}", where.params,
                )))  # fmt: skip
                rows.update((r.uuid, r) for r in got)
                for ids in chunks([r.record_id for r in got]):
                    among = Where().among("record_id", ids)
                    for p in tx.tuples(
                        f"SELECT {_PART_ROW_COLUMNS} FROM sms_parts{among}"
                        " ORDER BY record_id, position",
                        among.params,
                    ):
                        parts.setdefault(p[0], []).append(SmsPartRow._make(p))
        return rows, parts

    def received_texts(self, *, since_ns: int, msisdns: Sequence[str]) -> list[ReceivedTextRow]:
        out: list[ReceivedTextRow] = []
        with self._transaction(write=False) as tx:
            for chunk in chunks(sorted(set(msisdns))):
                part = Where().add("s.received_at_ns >= ?", since_ns).among("s.msisdn", chunk)
                rows = tx.all(
                    "SELECT r.uuid, s.msisdn, s.text, s.received_at_ns, r.clock_offset_ms"
                    f" FROM sms s JOIN records r ON r.id = s.record_id{part}"
                    " ORDER BY s.received_at_ns, r.id",
                    part.params,
                )
                out += [
                    ReceivedTextRow(
                        r["uuid"],
                        r["msisdn"],
                        r["text"],
                        int(r["received_at_ns"]) + round(float(r["clock_offset_ms"] or 0.0) * 1e6),
                    )
                    for r in rows
                ]
        return out

    def status_reports(
        self, *, since_ns: int = 0, until_ns: int | None = None, agent_id: str | None = None
    ) -> list[StoredStatusReport]:
        with self._transaction(write=False) as tx:
            rows = _received(tx, "status_reports t", _REPORT_COLUMNS, since_ns, until_ns, agent_id)
        return [
            StoredStatusReport(
                agent_id=r["agent_id"],
                uuid=r["uuid"],
                seq=int(r["seq"]),
                persisted_at_ns=int(r["persisted_at_ns"]),
                clock=clock_of(r),
                modem_imei=r["modem_imei"],
                iccid=r["iccid"],
                report=StatusReport(
                    raw_pdu=bytes(r["raw_pdu"]),
                    storage=r["storage"],
                    index=int(r["storage_index"]),
                    received_at_ns=int(r["received_at_ns"]),
                    recipient=r["recipient"],
                    message_reference=int(r["message_reference"]),
                    status=int(r["status"]),
                    scts_ns=int(r["scts_ns"]),
                    discharge_time_ns=int(r["discharge_time_ns"]),
                    decode_error=r["decode_error"],
                ),
                ingested_at_ns=int(r["ingested_at_ns"]),
            )
            for r in rows
        ]

    def modem_health(self, imei: str, since_ns: int, until_ns: int) -> list[StoredHealth]:
        # The health row's own modem and ICCID (h.), not the record's (r.).
        where = Where().add("h.modem_imei = ?", imei).add("h.at_ns >= ?", since_ns)
        where.add("h.at_ns < ?", until_ns)
        with self._transaction(write=False) as tx:
            rows = tx.all(
                "SELECT r.id, r.uuid, r.clock_offset_ms, r.clock_uncertainty_ms,"
                f" r.clock_measured_at_ns, h.modem_imei, h.iccid, {_HEALTH_COLUMNS}"
                f" FROM modem_health h JOIN records r ON r.id = h.record_id{where}"
                " ORDER BY h.at_ns, r.id",
                where.params,
            )
        return [
            StoredHealth(
                agent_id=r["agent_id"],
                uuid=r["uuid"],
                modem_imei=r["modem_imei"],
                clock=clock_of(r),
                health=ModemHealth(
                    at_ns=int(r["at_ns"]),
                    responding=bool(r["responding"]),
                    rssi_dbm=nan(r["rssi_dbm"]),
                    ber=int(r["ber"]),
                    registration=Registration(int(r["registration"])),
                    rat=r["rat"],
                    operator_mcc_mnc=r["operator_mcc_mnc"],
                    sim_state=r["sim_state"],
                    storage_used=int(r["storage_used"]),
                    storage_total=int(r["storage_total"]),
                    healthy=bool(r["healthy"]),
                    reasons=strs(r["reasons"]),
                    last_sms_at_ns=int(r["last_sms_at_ns"]),
                    iccid=r["iccid"],
                ),
            )
            for r in rows
        ]

    def quarantine(self, agent_id: str | None = None) -> list[QuarantineEntry]:
        where = Where().maybe("agent_id = ?", agent_id)
        with self._transaction(write=False) as tx:
            rows = tx.all(
                "SELECT agent_id, uuid, seq, reason, detail, raw, received_at_ns"
                f" FROM quarantine{where} ORDER BY id",
                where.params,
            )
        return [
            QuarantineEntry(
                agent_id=r["agent_id"],
                uuid=r["uuid"],
                seq=int(r["seq"]),
                reason=r["reason"],
                detail=r["detail"],
                raw=bytes(r["raw"]),
                received_at_ns=int(r["received_at_ns"]),
            )
            for r in rows
        ]

    def health_after(self, record_id: int, limit: int) -> list[HealthRow]:
        """Modem health records ingested after `record_id` (ingest order), for the writer."""
        with self._transaction(write=False) as tx:
            rows = tx.all(
                "SELECT h.record_id, h.agent_id, h.modem_imei, h.at_ns, h.rssi_dbm,"
                " h.registration, h.storage_used, h.healthy, h.iccid, r.clock_offset_ms,"
                " COALESCE(a.site, '') AS site, COALESCE(s.carrier, '') AS carrier"
                " FROM modem_health h JOIN records r ON r.id = h.record_id"
                " LEFT JOIN agents a ON a.agent_id = h.agent_id"
                " LEFT JOIN sims s ON s.iccid = h.iccid"
                " WHERE h.record_id > ? ORDER BY h.record_id LIMIT ?",
                (record_id, limit),
            )
        return [
            HealthRow(
                record_id=int(r["record_id"]),
                agent_id=r["agent_id"],
                modem_imei=r["modem_imei"],
                at_ns=int(r["at_ns"]) + round(float(r["clock_offset_ms"]) * 1e6),
                rssi_dbm=None if r["rssi_dbm"] is None else float(r["rssi_dbm"]),
                registration=int(r["registration"]),
                storage_used=int(r["storage_used"]),
                healthy=bool(r["healthy"]),
                iccid=r["iccid"],
                site=r["site"],
                carrier=r["carrier"],
            )
            for r in rows
        ]

    def canaries_sent(
        self, *, since_ns: int = 0, until_ns: int | None = None
    ) -> list[StoredCanary]:
        """CanarySent records with sent_at_ns (agent clock) in [since_ns, until_ns), oldest
        first, with the sending modem and the clock offset to put them on collector time."""
        where = Where().add("c.sent_at_ns >= ?", since_ns).maybe("c.sent_at_ns < ?", until_ns)
        with self._transaction(write=False) as tx:
            rows = tx.all(
                "SELECT c.canary_id, c.agent_id, r.modem_imei, c.to_msisdn, c.sent_at_ns,"
                " r.clock_offset_ms, c.message_references, c.error, c.text, r.uuid"
                f" FROM canaries c JOIN records r ON r.id = c.record_id{where}"
                " ORDER BY c.sent_at_ns, r.id",
                where.params,
            )
        return [
            StoredCanary(
                canary_id=r["canary_id"],
                agent_id=r["agent_id"],
                modem_imei=r["modem_imei"],
                to_msisdn=r["to_msisdn"],
                sent_at_ns=int(r["sent_at_ns"]),
                clock_offset_ms=float(r["clock_offset_ms"]),
                message_references=ints(str(r["message_references"])),
                error=r["error"],
                text=r["text"],
                uuid=r["uuid"],
            )
            for r in rows
        ]

    def record_count(self) -> int:
        with self._transaction(write=False) as tx:
            rows = tx.all("SELECT COUNT(*) AS n FROM records")
        return int(rows[0]["n"])

    def record_raw(self, uuids: Sequence[str]) -> dict[str, bytes]:
        out: dict[str, bytes] = {}
        with self._transaction(write=False) as tx:
            for chunk in chunks(list(uuids)):
                where = Where().add("raw IS NOT NULL").among("uuid", chunk)
                rows = tx.all(f"SELECT uuid, raw FROM records{where}", where.params)
                out.update((str(r["uuid"]), bytes(r["raw"])) for r in rows)
        return out


def _received(
    tx: Tx, table: str, columns: str, since_ns: int, until_ns: int | None, agent_id: str | None
) -> Sequence[Row]:
    """Rows of `table` ("name alias") with their records' columns, received in
    [since_ns, until_ns), of one agent or all, oldest first."""
    alias = table.split()[1]
    where = (
        Where()
        .add(f"{alias}.received_at_ns >= ?", since_ns)
        .maybe(f"{alias}.received_at_ns < ?", until_ns)
        .maybe(f"{alias}.agent_id = ?", agent_id)
    )
    return tx.all(
        f"SELECT {_RECORD_COLUMNS}, {columns}"
        f" FROM {table} JOIN records r ON r.id = {alias}.record_id{where}"
        f" ORDER BY {alias}.received_at_ns, r.id",
        where.params,
    )


def _sms_parts(tx: Tx, record_ids: Sequence[int]) -> dict[int, list[SmsPart]]:
    parts: dict[int, list[SmsPart]] = {}
    for chunk in chunks(record_ids):
        where = Where().among("record_id", chunk)
        for p in tx.all(
            f"SELECT {_PART_COLUMNS} FROM sms_parts{where} ORDER BY record_id, position",
            where.params,
        ):
            parts.setdefault(int(p["record_id"]), []).append(
                SmsPart(
                    uuid=p["uuid"],
                    raw_pdu=bytes(p["raw_pdu"]),
                    storage=p["storage"],
                    index=int(p["storage_index"]),
                    received_at_ns=int(p["received_at_ns"]),
                    scts_ns=int(p["scts_ns"]),
                    scts_tz_minutes=int(p["scts_tz_minutes"]),
                    part_seq=int(p["part_seq"]),
                    decode_error=p["decode_error"],
                )
            )
    return parts


def _stored_sms(r: Row, parts: Sequence[SmsPart]) -> StoredSms:
    return StoredSms(
        agent_id=r["agent_id"],
        uuid=r["uuid"],
        seq=int(r["seq"]),
        persisted_at_ns=int(r["persisted_at_ns"]),
        clock=clock_of(r),
        modem_imei=r["modem_imei"],
        iccid=r["iccid"],
        msisdn=r["msisdn"],
        sms=ReceivedSms(
            parts=tuple(parts),
            smsc=r["smsc"],
            sender=r["sender"],
            sender_ton=int(r["sender_ton"]),
            text=r["text"],
            encoding=r["encoding"],
            message_class=int(r["message_class"]),
            pid=int(r["pid"]),
            dcs=int(r["dcs"]),
            concat_ref=int(r["concat_ref"]),
            concat_total=int(r["concat_total"]),
            partial=bool(r["partial"]),
            missing_parts=ints(r["missing_parts"]),
            undecodable=bool(r["undecodable"]),
            user_data=bytes(r["user_data"]),
        ),
        ingested_at_ns=int(r["ingested_at_ns"]),
        minimised=r["minimised"],
        minimised_at_ns=int(r["minimised_at_ns"]),
        raw_sha256=r["raw_sha256"],
    )
