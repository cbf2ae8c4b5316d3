"""`smsprobe-agent discover` end to end: the real CLI in its own process, simulated modems
on ptys (served from this process)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from agent.modem.simulator import FleetConfig, FleetThread, ModemSpec


def fleet(tmp_path: Path) -> FleetConfig:
    return FleetConfig(
        modems=(
            ModemSpec("m1", profile="quectel_ec25", link=tmp_path / "ttyM1", timing_scale=0.01),
            ModemSpec(
                "m2",
                profile="huawei_e3372",
                link=tmp_path / "ttyM2",
                timing_scale=0.01,
                operator="46011",
                imsi="460110123456789",
            ),
        )
    )


def discover(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "agent.cli", "discover", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_discover_json(tmp_path: Path) -> None:
    with FleetThread(fleet(tmp_path)) as sims:
        # As after shell expansion of an unquoted `--ports /dev/ttyUSB*`.
        result = discover(
            "--json",
            "--timeout-s",
            "3",
            "--ports",
            str(tmp_path / "ttyM1"),
            str(tmp_path / "ttyM2"),
        )
        imeis = sims.call(lambda f: {m.spec.name: m.simulator.identity.imei for m in f.modems})
    assert result.returncode == 0, result.stderr
    found = {m["profile"]: m for m in json.loads(result.stdout)}
    assert set(found) == {"quectel_ec25", "huawei_e3372"}
    assert found["quectel_ec25"]["imei"] == imeis["m1"]
    assert found["huawei_e3372"]["carrier"] == "china_telecom"  # from the IMSI, 460-11
    assert found["huawei_e3372"]["carrier_mcc_mnc"] == "46011"
    assert found["quectel_ec25"]["url"] == str(tmp_path / "ttyM1")


def test_discover_table_and_transcript(tmp_path: Path) -> None:
    transcripts = tmp_path / "transcripts"
    with FleetThread(fleet(tmp_path)):
        result = discover(
            "--ports", str(tmp_path / "ttyM1"), "--timeout-s", "3",
            "--transcript-dir", str(transcripts),
        )  # fmt: skip
    assert result.returncode == 0, result.stderr
    header, row = result.stdout.splitlines()
    assert header.split()[:3] == ["PORT", "PROFILE", "MODEL"]
    assert "quectel_ec25" in row and "china_mobile" in row
    (log,) = transcripts.iterdir()
    text = log.read_text()
    assert " out b'AT+QCCID\\r'" in text
    assert " in " in text and "+QCCID:" in text


def test_discover_nothing_exits_1(tmp_path: Path) -> None:
    result = discover("--ports", str(tmp_path / "nothing*"), "--timeout-s", "0.5")
    assert result.returncode == 1
    assert result.stdout == ""
    assert "no modem answered AT" in result.stderr
