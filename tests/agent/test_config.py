"""Strict agent config: the example loads; every invalid file fails with its own message,
through `smsprobe-agent run`, with exit 2 and before any modem port is opened."""

from __future__ import annotations

import math
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from agent.cli import main
from agent.config import MAX_DURATION_S, ConfigError, load_config
from agent.modem.profiles import DEFAULT_PROFILE_DIR, load_profile
from agent.modem.simulator.faults import parse_fault
from agent.modem.simulator.fleet import load_fleet
from agent.modem.simulator.scenario import load_scenario

ROOT = Path(__file__).resolve().parents[2]
DATA = Path(__file__).parent / "data" / "invalid"
EXAMPLE = ROOT / "agent" / "agent.example.toml"
INVALID = sorted(DATA.glob("*.toml"))
MINIMAL = '[agent]\nid = "a1"\n[outbox]\npath = "o.sqlite"\n[[modems]]\nport = "/dev/ttyUSB0"\n'


def _expected(path: Path) -> str:
    return path.read_text().splitlines()[0].removeprefix("# ")


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "agent.toml"
    path.write_text(text)
    return path


@pytest.fixture
def pty_port() -> Iterator[tuple[str, int]]:
    """A pseudo-terminal standing in for a modem: (port path, master fd to watch)."""
    master, slave = os.openpty()
    os.set_blocking(master, False)
    try:
        yield os.ttyname(slave), master
    finally:
        os.close(master)
        os.close(slave)


def _nothing_written(master: int) -> bool:
    try:
        os.read(master, 4096)
    except BlockingIOError:
        return True
    return False


def test_example_config_loads_with_typed_values() -> None:
    # The example's /var/lib/smsprobe belongs to the field host, not to the test machine.
    config = load_config(EXAMPLE, check_outbox=False)
    assert config.agent_id == "sh-01"
    assert len(config.modems) == 2
    assert config.modems[0].power_cycle_command[0] == "/usr/sbin/uhubctl"
    assert config.modems[1].profile == "auto" and config.modems[1].imei == ""
    assert config.outbox.alarm_fraction == 0.8 and config.outbox.max_bytes == 536870912
    assert config.collector is not None and not config.collector.insecure
    assert config.collector.address == "collector.example.net:7443"
    assert config.metrics_port == 9108 and config.log.format == "auto"


def test_relative_paths_resolve_against_the_config_file(tmp_path: Path) -> None:
    path = _write(tmp_path, MINIMAL.replace('"o.sqlite"', '"state/o.sqlite"'))
    config = load_config(path)
    assert config.outbox.path == tmp_path.resolve() / "state" / "o.sqlite"
    assert config.collector is None and config.receive.sweep_interval_s == 300.0
    # Checking the path neither creates the directory nor leaves its probe file behind.
    assert sorted(p.name for p in tmp_path.iterdir()) == ["agent.toml"]


def test_there_is_one_file_per_message() -> None:
    messages = [_expected(p) for p in INVALID]
    assert len(INVALID) >= 45 and len(set(messages)) == len(messages)


@pytest.mark.timeout(30)  # a file that wrongly loads would run the agent until killed
@pytest.mark.parametrize("path", INVALID, ids=[p.stem for p in INVALID])
def test_run_refuses_invalid_config_before_touching_a_port(
    path: Path, tmp_path: Path, pty_port: tuple[str, int]
) -> None:
    port, master = pty_port
    copy = tmp_path / path.name
    copy.write_text(path.read_text().replace("/dev/ttyUSB0", port))
    result = CliRunner().invoke(main, ["run", "--config", str(copy)])
    expected = _expected(path)
    assert result.exit_code == 2, result.output
    assert result.stdout == "" and result.stderr.count("\n") == 1
    if expected == "invalid TOML":
        assert result.stderr.startswith(f"config error: {path.name}: invalid TOML:")
    else:
        assert result.stderr == f"config error: {path.name}: {expected}\n"
    assert _nothing_written(master), "the agent talked to the modem port"
    assert sorted(p.name for p in tmp_path.iterdir()) == [path.name], "outbox was created"


@pytest.mark.parametrize(
    ("case", "line"),
    [
        ("sweep_nan.toml", "receive.sweep_interval_s: expected a number of seconds"),
        ("outbox_path_is_directory.toml", "outbox.path: expected a database file path"),
    ],
)
def test_installed_entry_point_prints_one_line_and_exits_2(case: str, line: str) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "agent.cli", "run", "--config", str(DATA / case)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert result.stderr.startswith(f"config error: {case}: {line}")
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr


@pytest.mark.parametrize(
    "address",
    [
        "localhost:7443",
        "collector.example.net:7443",
        "c-1.example:1",
        "10.0.0.1:65535",
        "[::1]:7443",
        "[fe80::1%eth0]:7443",
        "dns:///collector.example.net:7443",
        "dns://10.0.0.53:53/collector.example.net:7443",
        "ipv4:10.0.0.1:7443,10.0.0.2:7443",
        "ipv6:[fd00::1]:7443,[fd00::2]:7443",
        "unix:/run/smsprobe/collector.sock",
        "unix:///run/smsprobe/collector.sock",
        "unix-abstract:smsprobe-collector",
    ],
)
def test_collector_address_forms_grpc_dials_are_accepted(tmp_path: Path, address: str) -> None:
    text = MINIMAL + f'[collector]\ninsecure = true\naddress = "{address}"\n'
    config = load_config(_write(tmp_path, text))
    assert config.collector is not None and config.collector.address == address


@pytest.mark.parametrize("agent_id", ["a", "sh-01", "A.b_c-9", "x" * 63, "10.0.0.1"])
def test_safe_agent_ids_are_accepted(tmp_path: Path, agent_id: str) -> None:
    config = load_config(_write(tmp_path, MINIMAL.replace('"a1"', f'"{agent_id}"')))
    assert config.agent_id == agent_id


def test_boundary_numbers_are_accepted(tmp_path: Path) -> None:
    text = MINIMAL.replace(
        '"o.sqlite"\n',
        f'"o.sqlite"\nalarm_fraction = 1\nretention_s = 0\nmax_age_s = {MAX_DURATION_S:.0f}\n',
    )
    text += "expected_sms_interval_s = 0\n[receive]\ncommand_timeout_s = 0.001\n"
    config = load_config(_write(tmp_path, text))
    assert config.outbox.alarm_fraction == 1.0 and config.outbox.retention_s == 0.0
    assert config.outbox.max_age_s == MAX_DURATION_S
    assert config.modems[0].expected_sms_interval_s == 0.0
    assert config.receive.command_timeout_s == 0.001


def test_existing_outbox_file_is_accepted(tmp_path: Path) -> None:
    (tmp_path / "o.sqlite").write_bytes(b"")
    assert load_config(_write(tmp_path, MINIMAL)).outbox.path == tmp_path.resolve() / "o.sqlite"


def test_unreadable_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(tmp_path / "absent.toml")


@pytest.mark.parametrize("value", ["inf", "nan", "-inf", "0"])
def test_firmware_profile_timeouts_must_be_finite_and_positive(tmp_path: Path, value: str) -> None:
    generic = (DEFAULT_PROFILE_DIR / "generic.toml").read_text()
    profile = tmp_path / "generic.toml"
    profile.write_text(generic + f"\n[timeouts]\nlist_s = {value}\n")
    assert "[timeouts]" not in generic  # else the appended table would be a TOML error
    with pytest.raises(
        ConfigError, match=rf": timeouts\.list_s: expected a number > 0\.0, got {value}$"
    ):
        load_profile(profile)
    assert math.isfinite(load_profile(DEFAULT_PROFILE_DIR / "generic.toml").timeouts.list_s)


def test_full_or_read_only_disk_is_a_storage_state_not_a_config_error(tmp_path: Path) -> None:
    """A real tmpfs with no free inode, then remounted read-only (in a private mount
    namespace): the outbox cannot be created, yet the config loads, because the running
    agent must start and report storage trouble instead of exiting with a config error."""
    disk = tmp_path / "disk"
    disk.mkdir()
    config = _write(tmp_path, MINIMAL.replace('"o.sqlite"', f'"{disk}/state/o.sqlite"'))
    load = (
        f"{sys.executable} -c 'from agent.config import load_config as l; "
        f'l("{config}"); print("loaded")\''
    )
    script = (
        f"mount -t tmpfs -o size=64k,nr_inodes=2 tmpfs {disk} && mkdir {disk}/state && "
        f"touch {disk}/state/probe; echo touch=$?; {load}; "
        f"mount -o remount,ro {disk} && touch {disk}/state/probe; echo touch=$?; {load}"
    )
    result = subprocess.run(
        ["unshare", "--map-root-user", "--mount", "sh", "-c", script],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert "No space left on device" in result.stderr
    assert "Read-only file system" in result.stderr
    assert result.stdout.split() == ["touch=1", "loaded", "touch=1", "loaded"], result.stderr


@pytest.mark.parametrize(
    ("line", "message"),
    [
        (
            "timing_scale = nan",
            r"^fleet\.toml: modem\[0\]\.timing_scale: expected a number, got nan$",
        ),
        (
            "inter_part_s = inf",
            r"^fleet\.toml: modem\[0\]\.inter_part_s: expected a number, got inf$",
        ),
        (
            "retry_s = [5.0, -inf]",
            r"^fleet\.toml: modem\[0\]\.retry_s\[1\]: expected a number, got -inf$",
        ),
        (
            'faults = ["slow_final:delay_s=inf"]',
            r"^fleet\.toml: modem\[0\]\.faults\[0\]: expected a fault \(.*\['delay_s'\] for fault "
            r"slow_final must be finite numbers\), got \"slow_final:delay_s=inf\"$",
        ),
    ],
)
def test_simulator_fleet_refuses_non_finite_numbers(
    tmp_path: Path, line: str, message: str
) -> None:
    fleet = tmp_path / "fleet.toml"
    fleet.write_text(f'[[modem]]\nname = "m1"\n{line}\n')
    with pytest.raises(ConfigError, match=message):
        load_fleet(fleet)
    fleet.write_text('[[modem]]\nname = "m1"\ntiming_scale = 0.5\nretry_s = [1.0, 2]\n')
    assert load_fleet(fleet).modems[0].timing_scale == 0.5


def test_fault_parameters_must_be_finite() -> None:
    assert parse_fault("slow_final:delay_s=3")[1] == {"delay_s": 3.0}
    for value in ("nan", "inf", "-inf"):
        with pytest.raises(ValueError, match="must be finite numbers"):
            parse_fault(f"lost_urc:probability={value}")


@pytest.mark.parametrize(
    ("line", "message"),
    [
        (
            '{"at_s": NaN, "op": "unplug", "modem": "m1", "seconds": 5}',
            "at_s: expected a finite number, got nan",
        ),
        (
            '{"at_s": 1e999, "op": "unplug", "modem": "m1", "seconds": 5}',
            "at_s: expected a finite number, got inf",
        ),
        (
            '{"at_s": 1, "op": "unplug", "modem": "m1", "seconds": Infinity}',
            "seconds: expected a finite number, got inf",
        ),
        (
            '{"at_s": "nan", "op": "unplug", "modem": "m1", "seconds": 5}',
            'at_s: expected a number of seconds, got "nan"',
        ),
    ],
)
def test_simulator_scenario_refuses_non_finite_numbers(
    tmp_path: Path, line: str, message: str
) -> None:
    scenario = tmp_path / "s.jsonl"
    scenario.write_text('{"at_s": 0.5, "op": "unplug", "modem": "m1", "seconds": 5}\n' + line)
    with pytest.raises(ConfigError) as caught:
        load_scenario(scenario)
    assert str(caught.value) == f"{scenario}:2: {message}"
    scenario.write_text('{"at_s": 2, "op": "unplug", "modem": "m1", "seconds": 5}\n')
    assert load_scenario(scenario)[0].at_s == 2.0


def test_several_collector_addresses_in_their_order(tmp_path: Path) -> None:
    text = MINIMAL + (
        '[collector]\ninsecure = true\naddresses = ["c1.example:7443", "[::1]:7444",'
        ' "unix:/run/c3.sock"]\n'
    )
    config = load_config(_write(tmp_path, text))
    assert config.collector is not None
    assert config.collector.addresses == ("c1.example:7443", "[::1]:7444", "unix:/run/c3.sock")
    assert config.collector.address == "c1.example:7443"


def test_one_address_is_a_list_of_one(tmp_path: Path) -> None:
    text = MINIMAL + '[collector]\ninsecure = true\naddress = "c1.example:7443"\n'
    config = load_config(_write(tmp_path, text))
    assert config.collector is not None and config.collector.addresses == ("c1.example:7443",)
