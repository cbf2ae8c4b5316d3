"""The demo's live progress line, read from the collector's SQLite ledger while it runs."""

from __future__ import annotations

import sqlite3
from collections import Counter
from pathlib import Path


def progress_line(out: Path) -> tuple[str, int]:
    """One line of live figures from the ledger (read-only, WAL lets us read alongside),
    and how many probes are not settled yet: pending, or waiting for a receipt that is not
    due yet (the demo's end waits for both, so no verdict is cut short by the stop)."""
    try:
        db = sqlite3.connect(f"file:{out / 'ledger.db'}?mode=ro", uri=True, timeout=1)
        db.row_factory = sqlite3.Row
        rows = db.execute(
            "SELECT p.vendor AS vendor, COALESCE(v.outcome, CASE WHEN p.submit_status ="
            " 'rejected' THEN 'rejected' ELSE 'pending' END) AS outcome, COUNT(*) AS n"
            " FROM probes p LEFT JOIN verdicts v ON v.probe_id = p.probe_id GROUP BY 1, 2"
        ).fetchall()
        agents = _count(db, "SELECT COUNT(*) AS n FROM agents WHERE connected = 1")
        sms = _count(db, "SELECT COUNT(*) AS n FROM sms")
        dlr_pending = _count(
            db, "SELECT COUNT(*) AS n FROM verdicts WHERE dlr = 'pending' AND outcome != 'pending'"
        )
        db.close()
    except sqlite3.Error:
        return "waiting for the collector's ledger…", 0
    by: dict[str, Counter[str]] = {}
    for row in rows:
        by.setdefault(row["vendor"], Counter())[row["outcome"]] += row["n"]
    pending = sum(c["pending"] for c in by.values()) + dlr_pending
    parts = [f"agents {agents}/2", f"sms {sms}"]
    for vendor in sorted(by):
        c = by[vendor]
        parts.append(
            f"{vendor}: {sum(c.values())} sent {c['delivered']}✓ {c['late']}late "
            f"{c['lost']}✗ {c['inconclusive']}? {c['rejected']}rej {c['pending']}…"
        )
    return " | ".join(parts), pending


def _count(db: sqlite3.Connection, sql: str) -> int:
    """The `n` column of a one-row COUNT query."""
    return int(db.execute(sql).fetchone()["n"])
