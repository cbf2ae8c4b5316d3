"""`smsprobe-collector agents [--json] --config collector.toml`: every agent and modem with
last seen, health, clock offset and outbox lag, straight from the ledger."""

from __future__ import annotations

import json
import math
import time
from pathlib import Path
from typing import Any

import click

from agent.common.units import NS
from collector.config import load_config
from collector.ledger import LedgerError, open_ledger
from collector.ledger.model import AgentStatus, ModemStatus


def _age_s(now_ns: int, at_ns: int) -> float | None:
    return None if at_ns <= 0 else max(0.0, (now_ns - at_ns) / NS)


def _finite(x: float) -> float | None:
    return x if math.isfinite(x) else None


def modem_to_json(m: ModemStatus, now_ns: int) -> dict[str, Any]:
    h = m.last_health
    return {
        "imei": m.imei,
        "model": m.model,
        "manufacturer": m.manufacturer,
        "port": m.port,
        "present": m.present,
        "iccid": m.sim.iccid if m.sim else "",
        "carrier": m.sim.carrier if m.sim else "",
        "healthy": h.healthy if h else None,
        "health_reasons": list(h.reasons) if h else [],
        "rssi_dbm": _finite(h.rssi_dbm) if h else None,
        "registration": h.registration.name.lower() if h else None,
        "health_age_s": _age_s(now_ns, h.at_ns) if h else None,
    }


def agent_to_json(a: AgentStatus, now_ns: int, offline_after_s: float = 180.0) -> dict[str, Any]:
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
        "modems": [modem_to_json(m, now_ns) for m in a.modems],
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
            lines.append(
                f"  {m['imei']}  {m['model'] or '?'}  iccid={m['iccid'] or '-'}  "
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
def agents_command(config_path: Path, as_json: bool) -> None:
    """Every agent and modem: last seen, health, clock offset, outbox lag."""

    try:
        config = load_config(config_path)
        ledger = open_ledger(config.ledger.url)
    except (LedgerError, ValueError, OSError) as exc:
        raise click.ClickException(str(exc)) from exc
    try:
        now = time.time_ns()
        offline = config.agent_defaults.offline_after_s
        agents = [agent_to_json(a, now, offline) for a in ledger.agents()]
    finally:
        ledger.close()
    if as_json:
        click.echo(json.dumps({"agents": agents}, indent=2, sort_keys=True))
    else:
        click.echo(render_text(agents))
