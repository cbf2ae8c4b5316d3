"""`smsprobe-collector agents`: rendering of what the ledger knows, including the unknowns
(never seen, never measured clock, modem without health)."""

from __future__ import annotations

import json
import math

from agent.wire.records import Registration, SimInfo
from collector.agents_cli import agent_to_json, render_text
from collector.ledger.model import AgentStatus, HealthSummary, ModemStatus

S = 1_000_000_000
NOW = 1_800_000_000 * S


def _agent(**kw: object) -> AgentStatus:
    base: dict[str, object] = dict(
        agent_id="sz-01",
        site="shenzhen",
        region="south",
        software_version="0.1.0",
        capabilities=("sms-receive",),
        connected=True,
        peer="ipv4:10.0.0.7:5555",
        registered_at_ns=NOW - 3600 * S,
        last_seen_ns=NOW - 5 * S,
        clock_offset_ms=-12.5,
        clock_uncertainty_ms=3.25,
        outbox_depth=42,
        oldest_pending_ns=NOW - 90 * S,
        committed_seq=1000,
        modems=(
            ModemStatus(
                imei="861234567890123",
                manufacturer="Quectel",
                model="EC25",
                firmware="R1",
                port="/dev/serial/by-id/x",
                profile="quectel_ec25",
                present=True,
                sim=SimInfo(iccid="8986001", carrier="china_mobile"),
                last_health=HealthSummary(
                    at_ns=NOW - 30 * S,
                    healthy=False,
                    rssi_dbm=-101.0,
                    registration=Registration.SEARCHING,
                    reasons=("not_registered",),
                ),
            ),
            ModemStatus(
                imei="861234567890124",
                manufacturer="",
                model="",
                firmware="",
                port="",
                profile="",
                present=False,
                sim=None,
                last_health=None,
            ),
        ),
    )
    base.update(kw)
    return AgentStatus(**base)  # type: ignore[arg-type]


def test_json_carries_lag_health_and_clock() -> None:
    doc = agent_to_json(_agent(), NOW)
    assert doc["outbox_lag_s"] == 90.0
    assert doc["last_seen_age_s"] == 5.0
    assert doc["clock_offset_ms"] == -12.5
    m1, m2 = doc["modems"]
    assert (m1["healthy"], m1["health_reasons"], m1["registration"]) == (
        False,
        ["not_registered"],
        "searching",
    )
    assert m2["healthy"] is None and m2["present"] is False
    json.dumps(doc, allow_nan=False)  # strict JSON


def test_unknowns_render_as_such() -> None:
    never = _agent(
        connected=False,
        last_seen_ns=0,
        clock_uncertainty_ms=math.inf,
        outbox_depth=0,
        oldest_pending_ns=0,
        modems=(),
    )
    doc = agent_to_json(never, NOW)
    assert doc["clock_uncertainty_ms"] is None and doc["last_seen_age_s"] is None
    json.dumps(doc, allow_nan=False)
    text = render_text([doc, agent_to_json(_agent(), NOW)])
    assert "sz-01  disconnected  seen never  clock unknown  outbox 0 (lag 0.0s)" in text
    assert "clock -12.5±3.2 ms" in text or "clock -12.5±3.3 ms" in text
    assert "UNHEALTHY (not_registered) rssi -101 dBm" in text
    assert "no health yet" in text and "[absent]" in text
    assert render_text([]) == "no agents registered"


def test_connected_but_silent_past_offline_after_is_not_up() -> None:
    # A stream kept open by keepalives while nothing came through for 10 minutes.
    silent = _agent(last_seen_ns=NOW - 600 * S)
    doc = agent_to_json(silent, NOW, offline_after_s=180)
    assert doc["connected"] is True and doc["up"] is False
    assert "sz-01  connected, nothing heard  seen 10m ago" in render_text([doc])
    fresh = agent_to_json(_agent(), NOW, offline_after_s=180)
    assert fresh["up"] is True and "sz-01  connected  seen 5s ago" in render_text([fresh])
