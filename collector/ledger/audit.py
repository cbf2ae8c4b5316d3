"""The operators' audit log in the ledger (migration 0008): one row per action. Plain
values; the SQL is in collector/ledger/sql/audit.py, who and what in collector/audit."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any


class AuditKind(enum.StrEnum):
    """Stable codes of the audited actions."""

    EVIDENCE_EXPORT = "evidence_export"
    CONFIG_RELOAD = "config_reload"
    REVOCATION = "revocation"  # the deny list changed
    RETENTION_RUN = "retention_run"
    CERT_ISSUE = "cert_issue"
    NUMBERS_SHOWN = "numbers_shown"  # `agents --show-numbers`: SIM numbers in full
    INVOICE_IMPORT = "invoice_import"  # a vendor's invoice/CDR file (also one refused)


@dataclass(frozen=True, slots=True)
class AuditEntry:
    at_ns: int  # collector clock
    kind: str  # an AuditKind value
    actor: str  # OS user ("root (sudo by alice)")
    summary: str
    arguments: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    host: str = ""
    outcome: str = "ok"  # ok | failed: <why>
    audit_id: int = 0  # assigned by the ledger
