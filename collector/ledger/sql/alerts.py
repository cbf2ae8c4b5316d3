"""Alerts (start, end, delivery notes) and the cursors (high-water marks) of the ledger's
consumers: the alert engine, the time-series writer."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from collector.ledger.probes import AlertRow
from collector.ledger.sql.leases import LeaseSql
from collector.ledger.sql.query import Where


class AlertSql(LeaseSql):
    # ----------------------------------------------------------------- cursors
    def cursor(self, name: str) -> int:
        with self._transaction(write=False) as tx:
            rows = tx.all("SELECT position FROM cursors WHERE name = ?", (name,))
        return int(rows[0]["position"]) if rows else 0

    def set_cursor(self, name: str, position: int, *, at_ns: int) -> None:
        with self._transaction() as tx:
            self._check_fence(tx)  # a writer's high-water mark, under its lease
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
        where = Where().add("started_at_ns >= ?", since_ns).when(open_only, "ended_at_ns = 0")
        with self._transaction(write=False) as tx:
            rows = tx.all(
                "SELECT alert_id, kind, subject, started_at_ns, ended_at_ns, figures,"
                f" end_figures, notified FROM alerts{where} ORDER BY alert_id",
                where.params,
            )
        return [
            AlertRow(
                alert_id=int(r["alert_id"]),
                kind=r["kind"],
                subject=json.loads(r["subject"]),
                started_at_ns=int(r["started_at_ns"]),
                ended_at_ns=int(r["ended_at_ns"]),
                figures=json.loads(r["figures"]),
                end_figures=json.loads(r["end_figures"]),
                notified=r["notified"],
            )
            for r in rows
        ]

    def start_alert(
        self,
        kind: str,
        subject: dict[str, str],
        *,
        at_ns: int,
        figures: dict[str, Any],
        deliver_to: Sequence[str] = (),
    ) -> int:
        subject_json = json.dumps(subject, sort_keys=True)
        with self._transaction() as tx:
            self._check_fence(tx)
            tx.run(
                "INSERT INTO alerts (kind, subject, started_at_ns, figures) VALUES (?, ?, ?, ?)",
                (kind, subject_json, at_ns, json.dumps(figures, sort_keys=True, default=str)),
            )
            rows = tx.all(
                "SELECT MAX(alert_id) AS alert_id FROM alerts WHERE kind = ? AND subject = ?",
                (kind, subject_json),
            )
            alert_id = int(rows[0]["alert_id"])
            self._queue_deliveries(tx, alert_id, "start", tuple(deliver_to))
        return alert_id

    def end_alert(
        self,
        kind: str,
        subject: dict[str, str],
        *,
        at_ns: int,
        figures: dict[str, Any],
        deliver_to: Sequence[str] = (),
    ) -> int:
        """End the open alert of (kind, subject); returns its id (0 when none was open)."""
        subject_json = json.dumps(subject, sort_keys=True)
        with self._transaction() as tx:
            self._check_fence(tx)
            rows = tx.all(
                "SELECT alert_id FROM alerts WHERE kind = ? AND subject = ? AND ended_at_ns = 0",
                (kind, subject_json),
            )
            tx.run(
                "UPDATE alerts SET ended_at_ns = ?, end_figures = ? WHERE kind = ? AND subject = ?"
                " AND ended_at_ns = 0",
                (at_ns, json.dumps(figures, sort_keys=True, default=str), kind, subject_json),
            )
            ids = [int(r["alert_id"]) for r in rows]
            for alert_id in ids:
                self._queue_deliveries(tx, alert_id, "end", tuple(deliver_to))
        return max(ids, default=0)

    def note_alert_delivery(self, alert_id: int, note: str) -> None:
        with self._transaction() as tx:
            self._check_fence(tx)
            tx.run(
                "UPDATE alerts SET notified = notified || ? WHERE alert_id = ?",
                (note + "\n", alert_id),
            )
