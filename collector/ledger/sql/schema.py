"""Running the numbered migrations (collector/ledger/migrations/) once each, in order."""

from __future__ import annotations

import structlog

from collector.ledger.base import MigrationError
from collector.ledger.migrations import load
from collector.ledger.sql.core import SqlCore

log = structlog.get_logger("collector.ledger")


class SchemaSql(SqlCore):
    def migrate(self) -> None:
        known = load(self.dialect)
        # Read first: a read-only tool (`smsprobe-collector agents`) opening a live ledger
        # must not queue for the write lock when there is nothing to do.
        with self._transaction(write=False) as tx:
            if self._has_table(tx, "schema_migrations"):
                rows = tx.all("SELECT version FROM schema_migrations")
                if {int(r["version"]) for r in rows} == {m.version for m in known}:
                    return
        with self._transaction() as tx:
            self._migration_lock(tx)
            tx.run(
                "CREATE TABLE IF NOT EXISTS schema_migrations ("
                " version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at_ns BIGINT NOT NULL)"
            )
            rows = tx.all("SELECT version FROM schema_migrations")
            applied = {int(r["version"]) for r in rows}
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
            rows = tx.all("SELECT MAX(version) AS version FROM schema_migrations")
        return int(rows[0]["version"] or 0)
