"""`smsprobe-collector agents [--json] [--show-numbers] --config collector.toml`: every agent
and modem with last seen, health, clock offset and outbox lag, and per SIM its number
(masked unless `--show-numbers`, which is written to the audit log first), carrier, MVNO
segment and kind of line (collector/reports/lines.py, with `[reports.lines]` over it),
straight from the ledger."""

from __future__ import annotations

import json
import math
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import click

from agent.common.logs import mask_msisdn
from agent.common.numberplan import mvno_segment, national
from agent.common.units import NS
from collector.audit.record import entry, record
from collector.ledger import LedgerError, open_ledger
from collector.ledger.audit import AuditKind
from collector.ledger.model import AgentStatus, ModemStatus
from collector.reports.lines import line_type
from collector.reports.options import load_settings


def _age_s(now_ns: int, at_ns: int) -> float | None:
    return None if at_ns <= 0 else max(0.0, (now_ns - at_ns) / NS)


def _finite(x: float) -> float | None:
    return x if math.isfinite(x) else None


def masked_number(msisdn: str) -> str:
    """The number masked for display: a Chinese mobile number in its national form, so
    its segment shows (`138******78`); any other as it is (`mask_msisdn`)."""
    n = national(msisdn)
    return mask_msisdn(n if len(n) == 11 else msisdn)


def sim_to_json(
    m: ModemStatus, *, show_numbers: bool, lines: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """The SIM's identity as the ledger has it from the agent's registration: the number
    masked unless shown, the carrier from the IMSI, the MVNO segment and the kind of line
    (derived exactly as the reports derive it, `[reports.lines]` overriding)."""
    s = m.sim
    if s is None:
        return {"iccid": "", "imsi": "", "msisdn": "", "carrier": "", "mvno": False,
                "mvno_segment": "", "line": ""}  # fmt: skip
    segment = s.mvno or (mvno_segment(s.msisdn) if s.msisdn else "")
    return {
        "iccid": s.iccid,
        "imsi": s.imsi if show_numbers else mask_msisdn(s.imsi) if s.imsi else "",
        "msisdn": s.msisdn if show_numbers or not s.msisdn else masked_number(s.msisdn),
        "carrier": s.carrier,
        "mvno": bool(segment),
        "mvno_segment": segment,
        "line": line_type(s.msisdn, s.carrier, s.mvno, lines) if s.msisdn else "unknown",
    }


def modem_to_json(
    m: ModemStatus,
    now_ns: int,
    *,
    show_numbers: bool = False,
    lines: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    h = m.last_health
    return {
        "imei": m.imei,
        "model": m.model,
        "manufacturer": m.manufacturer,
        "port": m.port,
        "present": m.present,
        **sim_to_json(m, show_numbers=show_numbers, lines=lines),
        "healthy": h.healthy if h else None,
        "health_reasons": list(h.reasons) if h else [],
        "rssi_dbm": _finite(h.rssi_dbm) if h else None,
        "registration": h.registration.name.lower() if h else None,
        "health_age_s": _age_s(now_ns, h.at_ns) if h else None,
    }


def agent_to_json(
    a: AgentStatus,
    now_ns: int,
    offline_after_s: float = 180.0,
    *,
    show_numbers: bool = False,
    lines: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    return {
        "agent_id": a.agent_id,
        "site": a.site,
        "region": a.region,
        "software_version": a.software_version,
        "connected": a.connected,
        "up": a.up(now_ns, offline_after_s),
        "peer": a.peer,
        "last_seen_ns": a.last_seen_ns,
        "last_seen_age_s": _age_s(now_ns, a.last_seen_ns),
        "clock_offset_ms": _finite(a.clock_offset_ms),
        "clock_uncertainty_ms": _finite(a.clock_uncertainty_ms),
        "outbox_depth": a.outbox_depth,
        "outbox_lag_s": a.outbox_lag_ns(now_ns) / NS,
        "committed_seq": a.committed_seq,
        "modems": [
            modem_to_json(m, now_ns, show_numbers=show_numbers, lines=lines) for m in a.modems
        ],
    }


def _fmt_age(age: float | None) -> str:
    if age is None:
        return "never"
    if age < 120:
        return f"{age:.0f}s ago"
    if age < 7200:
        return f"{age / 60:.0f}m ago"
    return f"{age / 3600:.1f}h ago"


def render_text(agents: list[dict[str, Any]]) -> str:
    if not agents:
        return "no agents registered"
    lines = []
    for a in agents:
        state = (
            ("connected" if a["up"] else "connected, nothing heard")
            if a["connected"]
            else "disconnected"
        )
        clock = (
            "clock unknown"
            if a["clock_uncertainty_ms"] is None
            else f"clock {a['clock_offset_ms']:+.1f}±{a['clock_uncertainty_ms']:.1f} ms"
        )
        lines.append(
            f"{a['agent_id']}  {state}  seen {_fmt_age(a['last_seen_age_s'])}  {clock}  "
            f"outbox {a['outbox_depth']} (lag {a['outbox_lag_s']:.1f}s)  "
            f"site={a['site'] or '-'} region={a['region'] or '-'}"
        )
        for m in a["modems"]:
            health = {True: "healthy", False: "UNHEALTHY", None: "no health yet"}[m["healthy"]]
            reasons = f" ({', '.join(m['health_reasons'])})" if m["health_reasons"] else ""
            rssi = "" if m["rssi_dbm"] is None else f" rssi {m['rssi_dbm']:.0f} dBm"
            gone = "" if m["present"] else " [absent]"
            sim = (
                f"msisdn={m['msisdn'] or '-'} {m['carrier'] or '?'} line={m['line']}"
                + (f" mvno={m['mvno_segment']}" if m["mvno"] else "")
                if m["iccid"]
                else "no SIM"
            )
            lines.append(
                f"  {m['imei']}  {m['model'] or '?'}  iccid={m['iccid'] or '-'}  {sim}  "
                f"{health}{reasons}{rssi}  health {_fmt_age(m['health_age_s'])}{gone}"
            )
    return "\n".join(lines)


@click.command("agents")
@click.option(
    "--config",
    "config_path",
    type=click.Path(path_type=Path, exists=True, dir_okay=False),
    required=True,
)
@click.option("--json", "as_json", is_flag=True, help="One JSON document instead of text.")
@click.option(
    "--show-numbers",
    is_flag=True,
    help="Phone numbers and IMSIs in full (recorded in the audit log); masked otherwise.",
)
def agents_command(config_path: Path, as_json: bool, show_numbers: bool) -> None:
    """Every agent and modem: last seen, health, clock offset, outbox lag; per SIM the
    number (masked), carrier, MVNO segment and kind of line."""

    config, reports = load_settings(str(config_path))  # exit 2 with the message when bad
    try:
        ledger = open_ledger(config.ledger.url)
    except (LedgerError, ValueError, OSError) as exc:
        raise click.ClickException(str(exc)) from exc
    try:
        now = time.time_ns()
        offline = config.agent_defaults.offline_after_s
        status = ledger.agents()
        if show_numbers:
            # Personal data leaves the ledger: not without its line in the audit log.
            sims = sum(1 for a in status for m in a.modems if m.sim and m.sim.msisdn)
            arguments = {"agents": len(status), "numbers": sims, "json": as_json}
            record(ledger, entry(AuditKind.NUMBERS_SHOWN, f"agents --show-numbers: {sims} numbers",
                                 arguments))  # fmt: skip
        agents = [
            agent_to_json(a, now, offline, show_numbers=show_numbers, lines=reports.lines)
            for a in status
        ]
    except LedgerError as exc:
        click.echo(f"error: ledger: {exc}", err=True)
        sys.exit(1)
    finally:
        ledger.close()
    if as_json:
        click.echo(json.dumps({"agents": agents}, indent=2, sort_keys=True))
    else:
        click.echo(render_text(agents))
