"""What a demo run leaves behind from the ledger: verdicts.jsonl (one line per probe, the
form the ground-truth check reads), summary.json (the per-vendor figures) and
channels.json (channels, channel changes, switch-over times: collector/channels)."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from collector.channels.figures import channel_figures
from collector.channels.observe import ChannelObserver
from collector.ledger import open_ledger
from collector.ledger.probes import StoredProbe, StoredVerdict
from collector.reports.figures import Cell, aggregate
from collector.reports.judged import judged_probe


def export(out: Path) -> dict[str, Any]:
    """verdicts.jsonl and summary.json from OUT/ledger.db; returns the summary."""
    ledger = open_ledger(str(out / "ledger.db"))
    try:
        probes = ledger.probes()
        verdicts = ledger.verdicts()
        ChannelObserver(ledger, time.time_ns).update()  # caught up if the collector was not
        channels = channel_figures(ledger, since_ns=0, until_ns=time.time_ns())
    finally:
        ledger.close()
    (out / "channels.json").write_text(json.dumps(channels, indent=2, ensure_ascii=False) + "\n")
    with (out / "verdicts.jsonl").open("w") as f:
        for p in probes:
            line = verdict_line(p, verdicts.get(p.plan.probe_id))
            f.write(json.dumps(line, ensure_ascii=False) + "\n")
    judged = [judged_probe(p, verdicts.get(p.plan.probe_id)) for p in probes]
    summary: dict[str, Any] = {
        "vendors": {
            cell.key["vendor"]: vendor_summary(cell)
            for cell in aggregate(judged, group_by=("vendor",))
        }
    }
    (out / "summary.json").write_text(json.dumps(summary, indent=2, ensure_ascii=False) + "\n")
    return summary


def verdict_line(p: StoredProbe, v: StoredVerdict | None) -> dict[str, Any]:
    """One probe as verdicts.jsonl has it."""
    j = judged_probe(p, v)
    return {
        "probe_id": p.plan.probe_id,
        "vendor": p.plan.vendor,
        "vendor_message_ids": list(p.message_ids),
        "msisdn": p.plan.msisdn,
        "carrier": p.plan.carrier,
        "mvno": p.plan.mvno,
        "agent": p.plan.agent_id,
        "profile": p.plan.profile,
        "submitted_at": _iso(p.submitted_at_ns or p.plan.planned_at_ns),
        "verdict": j.outcome,
        "dlr": j.dlr,
        "latency_s": j.latency_s,
        "latency_uncertainty_s": j.latency_uncertainty_s,
        "content": j.content,
        "content_diff": v.verdict.content_diff if v else "",
        "reasons": list(v.verdict.reasons) if v else [],
        "error": p.error_kind,
    }


def vendor_summary(cell: Cell) -> dict[str, Any]:
    return {
        "sent": cell.sent,
        "delivered": cell.delivered,
        "late": cell.late,
        "lost": cell.lost,
        "partial": cell.partial,
        "parts_missing": cell.parts_missing,
        "inconclusive": cell.inconclusive,
        "rejected": cell.rejected,
        "pending": cell.pending,
        "arrival_rate": cell.arrival_rate,
        "ci_low": cell.ci_low,
        "ci_high": cell.ci_high,
        "p50_latency_s": cell.latency_p50_s,
        "p95_latency_s": cell.latency_p95_s,
        "fake_dlr": cell.dlr["fake_success"],
        "sla": cell.sla,
    }


def _iso(ns: int) -> str:
    return datetime.fromtimestamp(ns / 1e9, UTC).isoformat()
