"""`smsprobe-collector agents`: rendering of what the ledger knows, including the unknowns
(never seen, never measured clock, modem without health)."""

from __future__ import annotations

import asyncio
import json
import math
from pathlib import Path

from click.testing import CliRunner

from agent.outbox.store import Outbox
from agent.wire.records import ModemInfo, Registration, SimInfo
from collector.agents_cli import agent_to_json, agents_command, render_text
from collector.ledger import open_ledger
from collector.ledger.model import AgentStatus, HealthSummary, ModemStatus
from tests.collector.audit.test_reload_audit import entries
from tests.grpc.conftest import Pki
from tests.grpc.harness import imei_of, in_process_collector, uploader, wait_until

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


# ------------------------------------------------------------ through the real ingest path

LEDGER_CONFIG = """
[ledger]
url = "{url}"
[reports.lines]
"15300001111" = "home"   # a China Telecom number the buyer knows is its own home line
"""
# (MSISDN, IMSI, carrier from the IMSI, MVNO segment the agent reported): a home line, a
# 170 MVNO line, a China Mobile number ported to China Unicom, one the override decides,
# and a SIM that does not carry its number.
SIMS = [
    ("+8613812345678", "460001234567890", "china_mobile", ""),
    ("+8617012340001", "460011234567891", "china_unicom", "170"),
    ("+8613900004444", "460011234567892", "china_unicom", ""),
    ("+8615300001111", "460031234567893", "china_mobile", ""),
    ("", "460031234567894", "china_telecom", ""),
]


def _register(pki: Pki, ledger_url: str, tmp_path: Path) -> None:
    """The agent registers its modems over real mTLS gRPC into the ledger."""
    modems = [
        ModemInfo(
            imei=imei_of("agent-a", i),
            model="EC25",
            sim=SimInfo(
                iccid=f"8986{i:016d}", imsi=imsi, msisdn=msisdn, carrier=carrier, mvno=mvno
            ),
        )
        for i, (msisdn, imsi, carrier, mvno) in enumerate(SIMS)
    ]

    async def main() -> None:
        ledger = open_ledger(ledger_url)
        try:
            async with in_process_collector(ledger, pki) as col:
                up = uploader(pki, "agent-a", col.address, Outbox(tmp_path / "o.db"), modems)
                stop = asyncio.Event()
                task = asyncio.create_task(up.run(stop))
                await wait_until(
                    lambda: any(len(a.modems) == len(SIMS) for a in ledger.agents()),
                    what="registration in the ledger",
                )
                stop.set()
                await asyncio.wait_for(task, 10)
        finally:
            ledger.close()

    asyncio.run(main())


def _agents_cli(config: Path, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(agents_command, ["--config", str(config), *args])
    return result.exit_code, result.output


def test_numbers_carrier_and_line_from_a_registered_agent(pki: Pki, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/ledger.db"
    config = tmp_path / "collector.toml"
    config.write_text(LEDGER_CONFIG.format(url=url))
    _register(pki, url, tmp_path)

    code, out = _agents_cli(config, "--json")
    assert code == 0, out
    [agent] = json.loads(out)["agents"]
    got = [(m["msisdn"], m["imsi"], m["carrier"], m["mvno"], m["mvno_segment"], m["line"])
           for m in agent["modems"]]  # fmt: skip
    assert got == [
        ("138******78", "460**********90", "china_mobile", False, "", "home"),
        ("170******01", "460**********91", "china_unicom", True, "170", "mvno"),
        ("139******44", "460**********92", "china_unicom", False, "", "ported"),
        ("153******11", "460**********93", "china_mobile", False, "", "home"),  # override
        ("", "460**********94", "china_telecom", False, "", "unknown"),
    ]
    assert "13812345678" not in out and "460001234567890" not in out
    entries_before = entries(url)
    assert entries_before == []  # masked output is no disclosure

    code, text = _agents_cli(config)
    assert code == 0, text
    assert "msisdn=170******01 china_unicom line=mvno mvno=170" in text
    assert "msisdn=139******44 china_unicom line=ported" in text
    assert "13812345678" not in text

    code, out = _agents_cli(config, "--json", "--show-numbers")
    assert code == 0, out
    shown = [(m["msisdn"], m["imsi"]) for m in json.loads(out)["agents"][0]["modems"]]
    assert shown == [(msisdn, imsi) for msisdn, imsi, _, _ in SIMS]
    [audit] = entries(url)
    assert audit.kind == "numbers_shown" and audit.outcome == "ok"
    assert dict(audit.arguments) == {"agents": 1, "numbers": 4, "json": True}


def test_a_bad_line_override_is_a_config_error(tmp_path: Path) -> None:
    config = tmp_path / "collector.toml"
    config.write_text(LEDGER_CONFIG.format(url=f"sqlite:///{tmp_path}/l.db").replace(
        '= "home"', '= "roaming"'))  # fmt: skip
    code, out = _agents_cli(config)
    assert code == 2
    assert "collector.toml: reports.lines.15300001111: expected one of" in out
