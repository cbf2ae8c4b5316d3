"""Strict agent config: the example loads; every invalid file fails with its own message."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent.config import ConfigError, load_config

DATA = Path(__file__).parent / "data" / "invalid"
EXAMPLE = Path(__file__).parents[2] / "agent" / "agent.example.toml"
INVALID = sorted(DATA.glob("*.toml"))


def test_example_config_loads_with_typed_values() -> None:
    config = load_config(EXAMPLE)
    assert config.agent_id == "sh-01"
    assert len(config.modems) == 2
    assert config.modems[0].power_cycle_command[0] == "/usr/sbin/uhubctl"
    assert config.modems[1].profile == "auto" and config.modems[1].imei == ""
    assert config.outbox.alarm_fraction == 0.8 and config.outbox.max_bytes == 536870912
    assert config.collector is not None and not config.collector.insecure
    assert config.metrics_port == 9108 and config.log.format == "auto"


def test_relative_paths_resolve_against_the_config_file(tmp_path: Path) -> None:
    path = tmp_path / "agent.toml"
    path.write_text(
        '[agent]\nid = "x"\n[outbox]\npath = "state/o.sqlite"\n[[modems]]\nport = "/dev/a"\n'
    )
    config = load_config(path)
    assert config.outbox.path == tmp_path.resolve() / "state" / "o.sqlite"
    assert config.collector is None and config.receive.sweep_interval_s == 300.0


def test_there_is_one_file_per_message() -> None:
    messages = [p.read_text().splitlines()[0] for p in INVALID]
    assert len(INVALID) >= 15 and len(set(messages)) == len(messages)


@pytest.mark.parametrize("path", INVALID, ids=[p.stem for p in INVALID])
def test_invalid_config_names_file_key_and_expectation(path: Path) -> None:
    expected = path.read_text().splitlines()[0].removeprefix("# ")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    if expected == "invalid TOML":
        assert str(info.value).startswith(f"{path.name}: invalid TOML:")
    else:
        assert str(info.value) == f"{path.name}: {expected}"


def test_unreadable_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(tmp_path / "absent.toml")
