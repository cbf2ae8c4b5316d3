"""Writing an operator action to the audit log in the ledger (collector/ledger/audit.py).

Who: the OS user running the command (and the one behind sudo). A process cannot learn
who sent it a signal, so a SIGHUP reload names the user the collector runs as and says
the sender is unknown.
"""

from __future__ import annotations

import getpass
import os
import socket
import time
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from collector.ledger import Ledger, open_ledger
from collector.ledger.audit import AuditEntry, AuditKind


def operator() -> str:
    """The OS user of this process; `root (sudo by alice)` under sudo."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):  # no passwd entry for the uid (containers)
        user = f"uid {os.getuid()}"
    sudo = os.environ.get("SUDO_USER")
    return f"{user} (sudo by {sudo})" if sudo and sudo != user else user


def entry(
    kind: AuditKind,
    summary: str,
    arguments: Mapping[str, Any],
    *,
    outcome: str = "ok",
    actor: str | None = None,
) -> AuditEntry:
    return AuditEntry(
        at_ns=time.time_ns(),
        kind=kind.value,
        actor=actor or operator(),
        summary=summary,
        arguments=MappingProxyType(dict(arguments)),
        host=socket.gethostname(),
        outcome=outcome,
    )


def record(ledger: Ledger, e: AuditEntry) -> int:
    return ledger.add_audit(e)


def record_in(ledger_url: str, e: AuditEntry) -> int:
    """For a command that has no ledger open: open the configured one, append, close.
    Raises LedgerError; the caller decides whether the action may stand unaudited."""
    ledger = open_ledger(ledger_url)
    try:
        return ledger.add_audit(e)
    finally:
        ledger.close()
