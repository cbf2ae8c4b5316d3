"""`SqlLedger`: the `Ledger` protocol (collector/ledger/base.py) over portable SQL, shared
by SQLite and PostgreSQL.

Each part below holds the SQL of one responsibility and stands on `SqlCore` (the
backend's transaction hooks); `SqliteLedger` and `PostgresLedger` fill in the hooks.

| part | module |
|---|---|
| migrations | schema.py |
| registration, liveness, signing keys, agents view | agents.py |
| the ingest write path | ingest.py |
| reading agents' records back | records.py |
| probes, DLRs, verdicts | probes.py |
| alerts and consumers' cursors | alerts.py |
| leases (fencing tokens), alert deliveries | leases.py |
| the collector's own health | health.py |
| vendor channels and failover sends | channels.py |
| quiet-hour suppressions, burst requests | periods.py |
| imported invoices and CDR lines | invoices.py |
| the billing statement's listed probes | charges.py |
| retention (masking, purging) and the audit log | retention.py, audit.py |
| transactions, rows by column name, the WHERE builder | core.py, query.py, convert.py |
"""

from __future__ import annotations

from abc import ABC

from collector.ledger.sql.agents import AgentSql
from collector.ledger.sql.alerts import AlertSql
from collector.ledger.sql.audit import AuditSql
from collector.ledger.sql.channels import ChannelSql
from collector.ledger.sql.charges import ChargeSql
from collector.ledger.sql.health import HealthSql
from collector.ledger.sql.ingest import IngestSql
from collector.ledger.sql.invoices import InvoiceSql
from collector.ledger.sql.leases import LeaseSql
from collector.ledger.sql.periods import PeriodSql
from collector.ledger.sql.probes import ProbeSql
from collector.ledger.sql.query import Row, Tx
from collector.ledger.sql.records import RecordSql
from collector.ledger.sql.retention import RetentionSql
from collector.ledger.sql.schema import SchemaSql

__all__ = ["Row", "SqlLedger", "Tx"]


class SqlLedger(
    SchemaSql,
    AgentSql,
    IngestSql,
    RecordSql,
    ProbeSql,
    AlertSql,
    LeaseSql,
    HealthSql,
    RetentionSql,
    AuditSql,
    ChannelSql,
    PeriodSql,
    InvoiceSql,
    ChargeSql,
    ABC,
):
    """Everything of the `Ledger` protocol; a backend adds its connection (SqlCore hooks)."""
