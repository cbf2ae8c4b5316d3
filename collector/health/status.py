"""`smsprobe-collector status`: the collector's health from the ledger, so it works from
another process against a running collector (or one that died: its heartbeat goes stale).

    smsprobe-collector status --config collector.toml [--json] [--stale-after 30]

Exit codes: 0 every unit of every instance runs and its heartbeat is fresh; 1 something
is not running, stale, or a vendor is not measured; 2 configuration error.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime
from typing import Any

from agent.common.units import NS
from collector.health.board import measured_vendors
from collector.ledger.health import UnitRow, UnmeasuredSpan


def status_doc(
    units: list[UnitRow], spans: list[UnmeasuredSpan], *, now_ns: int, stale_after_s: float
) -> dict[str, Any]:
    """The status as data: per instance its units and vendors, and open not-measured spans."""
    by_instance: dict[str, list[UnitRow]] = defaultdict(list)
    for u in units:
        by_instance[u.instance].append(u)
    instances = []
    healthy = bool(units)
    for name, rows in sorted(by_instance.items()):
        beat = max(r.heartbeat_ns for r in rows)
        stale = (now_ns - beat) / NS > stale_after_s
        measured = measured_vendors({r.unit: r.state for r in rows})
        healthy = healthy and not stale and all(r.state == "running" for r in rows)
        healthy = healthy and all(measured.values())
        instances.append(
            {
                "instance": name,
                "heartbeat_ns": beat,
                "heartbeat_age_s": round((now_ns - beat) / NS, 1),
                "stale": stale,
                "vendors": [
                    {"vendor": v, "measured": ok and not stale}
                    for v, ok in sorted(measured.items())
                ],
                "units": [
                    {
                        "unit": r.unit,
                        "state": r.state,
                        "since_ns": r.since_ns,
                        "since": _iso(r.since_ns),
                        "failures": r.failures,
                        "restarts": r.restarts,
                        "last_error": r.last_error,
                    }
                    for r in rows
                ],
            }
        )
    open_spans = [
        {"instance": s.instance, "vendor": s.vendor, "cause": s.cause, "reason": s.reason,
         "since_ns": s.start_ns, "since": _iso(s.start_ns)}
        for s in spans
        if s.end_ns == 0
    ]  # fmt: skip
    return {"healthy": healthy, "instances": instances, "not_measured": open_spans}


def _iso(ns: int) -> str:
    return datetime.fromtimestamp(ns / NS, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def render_text(doc: dict[str, Any]) -> str:
    if not doc["instances"]:
        return "no collector has recorded its health in this ledger yet"
    lines = []
    for inst in doc["instances"]:
        stale = f"  STALE (last heartbeat {inst['heartbeat_age_s']} s ago)" if inst["stale"] else ""
        lines.append(f"collector {inst['instance']}{stale}")
        for v in inst["vendors"]:
            lines.append(
                f"  vendor {v['vendor']:<16} {'probed' if v['measured'] else 'NOT MEASURED'}"
            )
        for u in inst["units"]:
            extra = f"  failures={u['failures']}" if u["failures"] else ""
            extra += f"  restarts={u['restarts']}" if u["restarts"] else ""
            extra += f"  last error: {u['last_error']}" if u["last_error"] else ""
            lines.append(f"  {u['unit']:<24} {u['state']:<9} since {u['since']}{extra}")
    for s in doc["not_measured"]:
        lines.append(
            f"not measured: {s['vendor']} since {s['since']} ({s['cause']}: {s['reason']})"
        )
    return "\n".join(lines)
