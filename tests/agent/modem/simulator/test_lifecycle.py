"""Reboots, re-enumeration, fleets, the control API and the CLI edge."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import serial
from gsmmodem.pdu import decodeSmsPdu

from agent.common.tomlconfig import ConfigError
from agent.modem.simulator import (
    Fault,
    Fleet,
    FleetConfig,
    FleetThread,
    ModemSimulatorControl,
    ModemSimulatorControlError,
    load_fleet,
)
from tests.plugins.modems import AtPort, fast_spec, wait_for

Start = Callable[..., FleetThread]
Open = Callable[..., AtPort]


def test_reboot_loses_volatile_settings_and_has_sms_not_ready_window(
    tmp_path: Path, start_fleet: Start, open_port: Open
) -> None:
    # timing_scale 0.5: RDY at 0.25 s, +CPIN: READY at 0.5 s, SMS DONE at 1 s.
    start_fleet(fast_spec("m1", tmp_path, timing_scale=0.5))
    port = open_port(tmp_path / "m1")
    for cmd in ("ATE0", "AT+CMEE=2", "AT+CMGF=1", "AT+CNMI=2,1,0,0,0"):
        assert port.command(cmd) == ["OK"]
    assert port.command("AT+CFUN=1,1") == ["OK"]  # OK first, then the reset
    port.wait_line("RDY")
    port.wait_line("+CPIN: READY")
    assert port.command("AT+CMEE=1") == ["OK"]  # echo is back: command() strips it
    assert port.command("AT+CMGL=4") == ["+CMS ERROR: 302"]  # SMS not ready yet
    port.wait_line("SMS DONE")
    assert port.command("AT+CMGF?") == ["+CMGF: 0", "OK"]
    assert port.command("AT+CNMI?") == ["+CNMI: 0,0,0,0,0", "OK"]
    port.write(b"AT\r")
    assert port.read_until(b"OK\r\n") == b"AT\r\r\nOK\r\n"


def test_quectel_reset_reenumerates_usb(
    tmp_path: Path, start_fleet: Start, open_port: Open
) -> None:
    sims = start_fleet(fast_spec("m1", tmp_path, profile="quectel_ec25", reenumerate_s=20.0))
    port = open_port(tmp_path / "m1")
    port.command("ATE0")
    assert port.command("AT+CFUN=1,1") == ["OK"]
    with pytest.raises(serial.SerialException):
        port.read_for(2.0)  # all ttyUSB disappear, come back 5-20 s (scaled) later
    port.close()
    wait_for(lambda: sims.control.status()[0]["present"], what="re-enumerated")
    again = open_port(tmp_path / "m1")
    again.sync()
    # Until +QIND: SMS DONE the module answers SMS commands with +CMS ERROR: 500.
    deadline = time.monotonic() + 5
    while not (cpms := [x for x in again.command("AT+CPMS?") if x.startswith("+CPMS:")]):
        assert time.monotonic() < deadline, "SMS never became ready"
    assert cpms[0].startswith('+CPMS: "ME",')  # Quectel default storage again
    assert sims.control.status()[0]["counters"]["reboots"] == 1


def test_fleet_from_toml_with_mo_loopback(tmp_path: Path, open_port: Open) -> None:
    toml = tmp_path / "fleet.toml"
    toml.write_text(
        f"""
control = "127.0.0.1:0"
seed = 7
[defaults]
profile = "simcom_sim800"
timing_scale = 0.01
noise_interval_s = 0.0
[[modem]]
name = "a"
link = "{tmp_path}/a"
msisdn = "+8613800000101"
profile = "huawei_e3372"
[generate]
count = 3
link_pattern = "{tmp_path}/gen{{n:02d}}"
"""
    )
    config = load_fleet(toml)
    assert [m.name for m in config.modems] == ["a", "modem02", "modem03", "modem04"]
    with FleetThread(config) as sims:
        status = sims.control.status()
        assert len({s["imsi"] for s in status}) == 4 and len({s["tty"] for s in status}) == 4
        ports = {s["name"]: open_port(s["link"]) for s in status}
        for s in status:
            ports[s["name"]].command("ATE0")
            assert ports[s["name"]].command("AT+CIMI") == [s["imsi"], "OK"]
        # MO from modem02 to modem "a" is carried by the simulated network into a's SIM.
        b = ports["modem02"]
        a = ports["a"]
        a.command("AT+CNMI=2,1,0,0,0")
        b.write(b"AT+CMGS=20\r")
        b.read_until(b"> ")
        b.write(b"0011000D91683108000001F10000AA05E8329BFD06\x1a")
        b.wait_line("+CMGS:")
        assert a.wait_line("+CMTI:") == '+CMTI: "SM",0'
        decoded = decodeSmsPdu(a.command("AT+CMGR=0")[1])
        assert decoded["text"] == "hello" and decoded["number"] == status[1]["msisdn"]


def test_fleet_config_errors_name_the_key(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('[[modem]]\nname = "x"\nprofle = "generic"\n')
    with pytest.raises(
        ConfigError, match=r"^bad\.toml: modem\[0\]\.profle: unknown key \(known here: "
    ):
        load_fleet(bad)
    bad.write_text('[[modem]]\nname = "x"\nprofile = "nokia_3310"\n')
    with pytest.raises(
        ConfigError, match=r'^bad\.toml: modem\[0\]\.profile: expected one of "generic", '
    ):
        load_fleet(bad)
    bad.write_text('[[modem]]\nname = "x"\nfaults = ["melted"]\n')
    with pytest.raises(
        ConfigError, match=r"modem\[0\]\.faults\[0\]: expected a fault \(unknown fault"
    ):
        load_fleet(bad)


def test_async_control_api(tmp_path: Path) -> None:
    async def scenario() -> None:
        config = FleetConfig(
            modems=(fast_spec("m1", tmp_path), fast_spec("m2", tmp_path, imei="861234567890125")),
            control=("127.0.0.1", 0),
        )
        async with Fleet(config) as fleet:
            assert fleet.control_address is not None
            async with ModemSimulatorControl(*fleet.control_address) as ctl:
                # Modems are addressed by name, msisdn (with/without +), imsi, iccid or imei.
                assert (await ctl.deliver("861234567890125", "10086", "x" * 170))["parts"] == 2
                assert (await ctl.deliver("8613800000001", "10086", "hi"))["parts"] == 1
                with pytest.raises(ModemSimulatorControlError, match="no simulated modem"):
                    await ctl.deliver("nobody", "10086", "hi")
                with pytest.raises(ModemSimulatorControlError):
                    await ctl.set_fault("m1", "melted")
                for _ in range(200):
                    status = {s["name"]: s for s in await ctl.status()}
                    if status["m2"]["storage"]["SM"][0] == 2:
                        break
                    await asyncio.sleep(0.01)
                assert status["m2"]["storage"]["SM"] == [2, 30]
                assert status["m1"]["storage"]["SM"] == [1, 30]
                truth = await ctl.truth("m2")
                assert [t["part_no"] for t in truth] == [1, 2]
                assert all(t["read_at"] is None for t in truth)
                await ctl.set_registration("m1", 3)
                assert {s["name"]: s for s in await ctl.status()}["m1"]["registration"] == 3

    asyncio.run(scenario())


def test_cli_runs_a_modem_and_prints_where(tmp_path: Path) -> None:
    link = tmp_path / "cli-modem"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "agent.cli",
            "sim-modem",
            "--profile",
            "quectel_eg25",
            "--link",
            str(link),
            "--msisdn",
            "+8613811112222",
            "--control",
            "127.0.0.1:0",
            "--fault",
            "lost_urc:probability=0",
            "--transcript",
            str(tmp_path / "at.log"),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env={**os.environ, "PYTHONPATH": os.getcwd()},
    )
    try:
        assert proc.stdout is not None
        ready = json.loads(proc.stdout.readline())
        assert ready["event"] == "sim_modem_ready"
        (modem,) = ready["modems"]
        assert modem["link"] == str(link) and modem["msisdn"] == "+8613811112222"
        port = AtPort(link)
        try:
            assert port.command("AT+QCCID")[0].startswith("+QCCID: 8986")
        finally:
            port.close()
        deadline = time.monotonic() + 3
        while b"AT+QCCID" not in (tmp_path / "at.log").read_bytes():
            assert time.monotonic() < deadline, "transcript not written"
            time.sleep(0.01)
    finally:
        proc.terminate()
        rc = proc.wait(timeout=10)
        if proc.stdout is not None:
            proc.stdout.close()
    assert rc == 0 and not link.exists()  # SIGTERM: clean exit, symlink removed


def test_shipped_fleet_example_is_valid() -> None:
    example = Path(__file__).parents[4] / "agent/modem/simulator/fleet.example.toml"
    config = load_fleet(example)
    assert len(config.modems) == 10 and config.control == ("127.0.0.1", 7300)
    assert {m.profile for m in config.modems} >= {"quectel_ec25", "huawei_e3372"}


def test_aux_ports_nmea_and_diag_are_not_at_ports(
    tmp_path: Path, start_fleet: Start, open_port: Open
) -> None:
    sims = start_fleet(fast_spec("m1", tmp_path, aux_ports=("nmea", "diag")))
    aux = sims.control.status()[0]["aux_ports"]
    assert aux == {"nmea": f"{tmp_path}/m1-nmea", "diag": f"{tmp_path}/m1-diag"}
    nmea = open_port(aux["nmea"])
    line = nmea.wait_line("$GP", timeout=3)
    assert line.startswith(("$GPGGA,", "$GPRMC,")) and "*" in line
    diag = open_port(aux["diag"])
    diag.write(b"AT\r")
    raw = diag.read_for(0.3)
    assert raw.startswith(b"\x7e") and raw.endswith(b"\x7e") and b"OK" not in raw
    assert open_port(tmp_path / "m1").command("AT") == ["OK"]  # the AT port is the real one
    sims.control.unplug("m1", 0.3)  # USB gone: every interface of the device goes
    wait_for(lambda: not Path(aux["diag"]).exists(), what="aux link removed")
    wait_for(lambda: Path(aux["diag"]).exists(), what="aux link back")


def test_scenario_file_replays_control_requests(tmp_path: Path) -> None:
    from agent.modem.simulator.scenario import load_scenario, play_scenario

    path = tmp_path / "scenario.jsonl"
    path.write_text(
        "# storage fills, then a message waits at the SMSC\n"
        '{"at_s": 2.0, "op": "set_fault", "modem": "m1", "name": "storage_full"}\n'
        '{"at_s": 0.5, "op": "deliver", "modem": "m1", "sender": "10086", "text": "a"}\n'
        '{"at_s": 2.5, "op": "deliver", "modem": "nobody", "sender": "10086", "text": "b"}\n'
    )
    steps = load_scenario(path)
    assert [s.at_s for s in steps] == [0.5, 2.0, 2.5]  # applied in time order
    slept: list[float] = []

    async def fake_sleep(seconds: float) -> None:  # injected: the test does not wait
        slept.append(seconds)

    async def scenario() -> list[dict[str, object]]:
        async with Fleet(FleetConfig(modems=(fast_spec("m1", tmp_path),))) as fleet:
            results = await play_scenario(fleet, steps, sleep=fake_sleep)
            assert fleet.find("m1").simulator.faults.active(Fault.STORAGE_FULL)
            return results

    results = asyncio.run(scenario())
    assert slept == [0.5, 1.5, 0.5]
    assert [r["ok"] for r in results] == [True, True, False]
    path.write_text('{"at_s": 1, "op": "explode", "modem": "m1"}\n')
    with pytest.raises(ConfigError, match=r'scenario\.jsonl:1: op: expected one of "deliver", '):
        load_scenario(path)


def test_transcript_via_control(tmp_path: Path, start_fleet: Start, open_port: Open) -> None:
    sims = start_fleet(fast_spec("m1", tmp_path))
    open_port(tmp_path / "m1").command("AT+CGMM")
    lines = sims.control.transcript("m1")
    assert any("< b'AT+CGMM\\r'" in line for line in lines)
    assert any("SIM-MODEM" in line and " > " in line for line in lines)
