"""Writing an operator action to the audit log in the ledger (collector/ledger/audit.py).

Who: the OS user running the command (and the one behind sudo). A process cannot learn
who sent it a signal, so a SIGHUP reload names the user the collector runs as and says
the sender is unknown.
"""

from __future__ import annotations

import asyncio
import getpass
import hashlib
import os
import socket
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any

import structlog

from collector.ledger import Ledger, LedgerError, open_ledger
from collector.ledger.audit import AuditEntry, AuditKind

log = structlog.get_logger("collector.audit")


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


def reload_entries(
    path: Path, before: Iterable[str], after: Iterable[str] | None, *, error: str = ""
) -> list[AuditEntry]:
    """A SIGHUP reload (and a revocation when the deny list changed). The signal's sender
    is unknown to the process: the actor is the user the collector runs as."""
    actor = f"{operator()} (SIGHUP; sender unknown)"
    args: dict[str, Any] = {"path": str(path)}
    try:
        args["config_sha256"] = hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError as exc:
        args["config_sha256"] = f"unreadable: {exc.strerror}"
    if after is None:
        summary = f"config reload refused: {error}"
        return [entry(AuditKind.CONFIG_RELOAD, summary, args, outcome=f"failed: {error}",
                      actor=actor)]  # fmt: skip
    out = [entry(AuditKind.CONFIG_RELOAD, "config reloaded", args, actor=actor)]
    added, removed = sorted(set(after) - set(before)), sorted(set(before) - set(after))
    if added or removed:
        out.append(
            entry(AuditKind.REVOCATION,
                  f"deny list: {len(added)} revoked, {len(removed)} reinstated",
                  {"revoked": added, "reinstated": removed, "path": str(path)}, actor=actor)
        )  # fmt: skip
    return out


async def audit_reload(
    ledger: Ledger,
    path: Path,
    before: Iterable[str],
    after: Iterable[str] | None,
    *,
    error: str = "",
) -> None:
    """Write the reload's entries; an audit failure is logged, never fatal to serve."""
    try:
        for e in reload_entries(path, before, after, error=error):
            await asyncio.to_thread(ledger.add_audit, e)
    except LedgerError as exc:
        log.error("audit_not_recorded", kind="config_reload", error=str(exc))
