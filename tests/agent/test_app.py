"""`smsprobe-agent run` at its edges: exit codes, the power-cycle hook, health records,
sending (canaries) through a supervised modem."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

from agent.common.backoff import ExponentialBackoff
from agent.config import ModemConfig, ReceiveConfig
from agent.modem.simulator.faults import Fault
from agent.outbox.io import OutboxIO
from agent.outbox.store import Outbox
from agent.receive.gsm_session import open_gsm_session
from agent.receive.supervisor import ModemSupervisor
from agent.wire.records import CanarySent, ModemHealth
from tests.agent.harness import eventually, make_sim, running_agent

ROOT = Path(__file__).resolve().parents[2]


def _run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "agent.cli", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_config_error_exits_2_and_names_the_key(tmp_path: Path) -> None:
    bad = tmp_path / "agent.toml"
    bad.write_text('[agent]\nid = "a"\n[outbox]\npath = "o.sqlite"\n[[modems]]\nport = 3\n')
    result = _run_cli("run", "--config", str(bad))
    assert result.returncode == 2
    assert "agent.toml: modems[0].port: expected a non-empty string, got 3" in result.stderr


def test_unknown_modem_profile_is_a_config_error(tmp_path: Path) -> None:
    bad = tmp_path / "agent.toml"
    bad.write_text(
        '[agent]\nid = "a"\n[outbox]\npath = "o.sqlite"\n'
        '[[modems]]\nport = "/dev/x"\nprofile = "nokia_3310"\n'
    )
    result = _run_cli("run", "--config", str(bad))
    assert result.returncode == 2 and "modems[0].profile" in result.stderr
    assert not (tmp_path / "o.sqlite").exists()


def test_outbox_list_without_outbox_fails_cleanly(tmp_path: Path) -> None:
    cfg = tmp_path / "agent.toml"
    cfg.write_text('[agent]\nid = "a"\n[outbox]\npath = "o.sqlite"\n[[modems]]\nport = "/dev/x"\n')
    result = _run_cli("outbox", "list", "--config", str(cfg), "--json")
    assert result.returncode == 1 and "no outbox" in result.stderr


def test_health_is_recorded_per_modem(tmp_path: Path) -> None:
    async def scenario() -> None:
        sim = make_sim(30)
        async with running_agent(tmp_path, [sim], health_s=0.2) as agent:

            def healths() -> list[ModemHealth]:
                return [
                    r.body
                    for r in agent.reader.records(kinds=("modem_health",))
                    if isinstance(r.body, ModemHealth)
                ]

            await eventually(lambda: len(healths()) >= 2)
            h = healths()[-1]
            assert h.responding and h.healthy, h.reasons
            assert h.rssi_dbm < 0 and h.operator_mcc_mnc == "46000"
            assert h.storage_total > 0 and h.iccid == sim.identity.iccid
            sim.set_fault(Fault.NOT_REGISTERED)
            await eventually(lambda: "not_registered" in healths()[-1].reasons)
            assert not healths()[-1].healthy

    asyncio.run(scenario())


def test_hard_hang_escalates_to_the_power_cycle_command(tmp_path: Path) -> None:
    marker = tmp_path / "power-cycled"
    command = (sys.executable, "-c", f"open({str(marker)!r}, 'w').write('x')")

    async def scenario() -> None:
        sim = make_sim(31)
        async with running_agent(
            tmp_path, [sim], command_timeout_s=0.3, power_cycle=command
        ) as agent:
            await eventually(lambda: "modem_connected" in agent.events())
            sim.set_fault(Fault.HARD_HANG)
            # The hook ran (a real subprocess); we are the USB hub it switched.
            await eventually(marker.exists, timeout_s=60)
            sim.power_cycle()
            await eventually(lambda: "modem_reinitialised" in agent.events(), timeout_s=30)
            kinds = agent.events()
            assert kinds.index("modem_reset") < kinds.index("modem_power_cycled")
            sim.deliver_text("10690001", "alive again")
            await eventually(lambda: [m.text for m in agent.messages()] == ["alive again"])

    asyncio.run(scenario())


def test_send_sms_records_a_canary(tmp_path: Path) -> None:
    async def scenario() -> None:
        from agent.modem.simulator.pty import ModemServer

        sim = make_sim(32)
        link = tmp_path / "modem"
        async with ModemServer(sim, link):
            outbox = Outbox(tmp_path / "o.sqlite")
            sup = ModemSupervisor(
                ModemConfig(port=str(link), profile="quectel_ec25"),
                ReceiveConfig(sweep_interval_s=5, health_interval_s=5, command_timeout_s=2),
                OutboxIO(outbox),
                open_gsm_session,
                backoff=ExponentialBackoff(base_s=0.1, max_s=0.1),
            )
            stop = asyncio.Event()
            task = asyncio.create_task(sup.run(stop))
            await asyncio.wait_for(sup.connected.wait(), 20)
            refs = await sup.send_sms("+8613900000001", "canary " + "y" * 200, canary_id="c-1")
            assert len(refs) == 2  # two parts, one reference each
            await eventually(lambda: len(sim.sent) == 2)
            stop.set()
            await asyncio.wait_for(task, 20)
            (rec,) = outbox.records(kinds=("canary_sent",))
            assert isinstance(rec.body, CanarySent)
            assert rec.body.message_references == refs and rec.body.error == ""
            assert rec.modem_imei == sim.identity.imei
            outbox.close()

    asyncio.run(scenario())


def test_metrics_endpoint_reports_outbox_depth(tmp_path: Path) -> None:
    import urllib.request

    from collector.ports import free_port

    port = free_port()  # for the metrics listener

    async def scenario() -> None:
        sim = make_sim(33)
        async with running_agent(tmp_path, [sim], health_s=0.2, metrics_port=port) as agent:
            await eventually(lambda: "modem_connected" in agent.events())

            def depth() -> float:
                url = f"http://127.0.0.1:{port}/metrics"
                with urllib.request.urlopen(url, timeout=5) as resp:
                    text = resp.read().decode()
                for line in text.splitlines():
                    if line.startswith("smsprobe_agent_outbox_depth "):
                        return float(line.split()[1])
                return 0.0

            await eventually(lambda: depth() >= 2, timeout_s=20)

    asyncio.run(scenario())
