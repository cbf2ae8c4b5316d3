"""The operators' audit log in SQL (migration 0008)."""

from __future__ import annotations

import json
from types import MappingProxyType

from collector.ledger.audit import AuditEntry
from collector.ledger.sql.core import SqlCore
from collector.ledger.sql.query import Where

_COLS = "audit_id, at_ns, kind, actor, host, summary, arguments, outcome"


class AuditSql(SqlCore):
    def add_audit(self, entry: AuditEntry) -> int:
        """Append one action; returns its id."""
        with self._transaction() as tx:
            rows = tx.all(
                "INSERT INTO audit_log (at_ns, kind, actor, host, summary, arguments, outcome)"
                " VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING audit_id AS id",
                (entry.at_ns, entry.kind, entry.actor, entry.host, entry.summary,
                 json.dumps(dict(entry.arguments), sort_keys=True, default=str),
                 entry.outcome),
            )  # fmt: skip
        return int(rows[0]["id"])

    def audit_entries(
        self, *, since_ns: int = 0, until_ns: int | None = None, kind: str | None = None
    ) -> list[AuditEntry]:
        where = Where().add("at_ns >= ?", since_ns).maybe("at_ns < ?", until_ns)
        where.maybe("kind = ?", kind)
        with self._transaction(write=False) as tx:
            rows = tx.all(
                f"SELECT {_COLS} FROM audit_log{where} ORDER BY at_ns, audit_id", where.params
            )
        return [
            AuditEntry(
                at_ns=int(r["at_ns"]),
                kind=r["kind"],
                actor=r["actor"],
                summary=r["summary"],
                arguments=MappingProxyType(json.loads(r["arguments"] or "{}")),
                host=r["host"],
                outcome=r["outcome"],
                audit_id=int(r["audit_id"]),
            )
            for r in rows
        ]
