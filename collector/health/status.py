"""`smsprobe-collector status`: the collector's health from the ledger, so it works from
another process against a running collector (or one that died: its heartbeat goes stale).

    smsprobe-collector status --config collector.toml [--json] [--stale-after 30]

Exit codes: 0 every unit of every instance runs (or stands by for a lease another
collector holds) and its heartbeat is fresh, and every vendor is measured by the group;
1 something is not running, stale, or a vendor is not measured; 2 configuration error.

Several collectors on one ledger: `leases` says which collector holds which lease (token,
seconds left); a vendor is measured when the holder of the probing lease measures it.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime
from typing import Any

from agent.common.units import NS
from collector.health.board import MEASURING_SERVICES, measured_vendors
from collector.ledger.health import STANDBY_STATE, UnitRow, UnmeasuredSpan
from collector.ledger.leases import PROBING, Lease


def status_doc(
    units: list[UnitRow],
    spans: list[UnmeasuredSpan],
    *,
    now_ns: int,
    stale_after_s: float,
    leases: list[Lease] | None = None,
    ledger_now_ns: int | None = None,
) -> dict[str, Any]:
    """The status as data: per instance its units, vendors and the leases it holds; the
    leases; open not-measured spans. `ledger_now_ns`: the clock leases expire by."""
    by_instance: dict[str, list[UnitRow]] = defaultdict(list)
    for u in units:
        by_instance[u.instance].append(u)
    lease_now = now_ns if ledger_now_ns is None else ledger_now_ns
    live = {x.name: x for x in leases or () if x.expires_at_ns > lease_now}
    instances = []
    healthy = bool(units)
    group_measured: dict[str, bool] = {}
    for name, rows in sorted(by_instance.items()):
        beat = max(r.heartbeat_ns for r in rows)
        stale = (now_ns - beat) / NS > stale_after_s
        states = {r.unit: r.state for r in rows}
        standby = STANDBY_STATE in (states.get(s) for s in MEASURING_SERVICES)
        measured = measured_vendors(states)
        healthy = healthy and not stale
        healthy = healthy and all(r.state in ("running", STANDBY_STATE) for r in rows)
        if not standby:
            for v, ok in measured.items():
                group_measured[v] = group_measured.get(v, False) or (ok and not stale)
        else:
            for v in measured:
                group_measured.setdefault(v, False)
        instances.append(
            {
                "instance": name,
                "heartbeat_ns": beat,
                "heartbeat_age_s": round((now_ns - beat) / NS, 1),
                "stale": stale,
                "standby": standby,
                "holds": sorted(x.name for x in live.values() if x.holder == name),
                "vendors": [
                    {"vendor": v, "measured": ok and not stale and not standby}
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
    if leases:  # several collectors (or one keeping leases): the group must probe
        healthy = healthy and PROBING in live
    healthy = healthy and all(group_measured.values())
    lease_docs = [
        {
            "lease": x.name,
            "holder": x.holder if x.expires_at_ns > lease_now else "",
            "last_holder": x.holder,
            "token": x.token,
            "held": x.expires_at_ns > lease_now,
            "expires_in_s": round(max(0, x.expires_at_ns - lease_now) / NS, 1),
            "since": _iso(x.acquired_at_ns) if x.acquired_at_ns else "",
        }
        for x in leases or ()
    ]
    return {
        "healthy": healthy,
        "instances": instances,
        "leases": lease_docs,
        "vendors_measured": dict(sorted(group_measured.items())),
        "not_measured": open_spans,
    }


def _iso(ns: int) -> str:
    return datetime.fromtimestamp(ns / NS, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def render_text(doc: dict[str, Any]) -> str:
    if not doc["instances"]:
        return "no collector has recorded its health in this ledger yet"
    lines = []
    for lease in doc.get("leases", ()):
        who = (
            f"held by {lease['holder']} (token {lease['token']}, {lease['expires_in_s']} s left)"
            if lease["held"]
            else f"FREE (last {lease['last_holder'] or 'nobody'}, token {lease['token']})"
        )
        lines.append(f"lease {lease['lease']:<11} {who}")
    for inst in doc["instances"]:
        stale = f"  STALE (last heartbeat {inst['heartbeat_age_s']} s ago)" if inst["stale"] else ""
        holds = f"  holds {', '.join(inst['holds'])}" if inst.get("holds") else ""
        standby = "  standby for probing" if inst.get("standby") else ""
        lines.append(f"collector {inst['instance']}{holds}{standby}{stale}")
        for v in inst["vendors"]:
            shown = "probed" if v["measured"] else "NOT MEASURED"
            if inst.get("standby"):
                shown = "probed by the lease holder" if doc["vendors_measured"].get(
                    v["vendor"]) else "NOT MEASURED (by the group)"  # fmt: skip
            lines.append(f"  vendor {v['vendor']:<16} {shown}")
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
