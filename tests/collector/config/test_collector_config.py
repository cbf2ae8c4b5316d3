"""collector/config.py, the strict reader (agent/common/tomlconfig.py) and the whole-config check
(collector/validation.py): strict loading, one file per error."""

from __future__ import annotations

import math
import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner

from agent.common.tomlconfig import ConfigError, Table
from collector.cli import main
from collector.config import (
    AgentDefaults,
    ModemSpec,
    ServerConfig,
    load_config,
    parse_config,
)
from collector.validation import check_config
from tests.collector.config.pki import make_pki

INVALID = sorted((Path(__file__).parent / "data" / "invalid").glob("*.toml"))


@dataclass(frozen=True)
class Case:
    """One invalid file: `# error: <message>` ({dir}: the file's directory), then
    optionally `# args: <config check options>`."""

    message: str
    args: tuple[str, ...]


def _case(path: Path) -> Case:
    lines = path.read_text(encoding="utf-8").splitlines()
    assert lines[0].startswith("# error: "), f"{path.name} must start with '# error: <message>'"
    args = lines[1].removeprefix("# args: ").split() if lines[1].startswith("# args: ") else []
    return Case(lines[0].removeprefix("# error: "), tuple(args))


@pytest.fixture(scope="module")
def pki_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_pki(tmp_path_factory.mktemp("pki"))


def _place(path: Path, directory: Path, pki: Path) -> Path:
    """The invalid file as `collector.toml` beside a real PKI (pki/)."""
    shutil.copytree(pki, directory / "pki")
    target = directory / "collector.toml"
    shutil.copy(path, target)
    return target


def test_there_is_an_invalid_file_per_error() -> None:
    assert len(INVALID) >= 50


@pytest.mark.parametrize("path", INVALID, ids=lambda p: p.stem)
def test_invalid_config_is_refused_with_its_message(
    path: Path, tmp_path: Path, pki_dir: Path
) -> None:
    case = _case(path)
    target = _place(path, tmp_path, pki_dir)
    with pytest.raises(ConfigError) as caught:
        check_config(target, insecure="--insecure" in case.args)
    assert str(caught.value) == case.message.replace("{dir}", str(tmp_path))
    assert caught.value.file == "collector.toml"
    assert isinstance(caught.value, ValueError)  # callers catch ValueError at the CLI edge


@pytest.mark.parametrize("path", INVALID, ids=lambda p: p.stem)
def test_config_check_prints_one_line_and_exits_2(
    path: Path, tmp_path: Path, pki_dir: Path
) -> None:
    case = _case(path)
    target = _place(path, tmp_path, pki_dir)
    result = CliRunner().invoke(main, ["config", "check", "--config", str(target), *case.args])
    assert result.exit_code == 2, result.output
    assert result.stderr == "error: " + case.message.replace("{dir}", str(tmp_path)) + "\n"
    assert result.stdout == ""


def test_an_empty_file_gives_defaults(tmp_path: Path) -> None:
    path = tmp_path / "collector.toml"
    path.write_text("")
    cfg = load_config(path)
    assert cfg.server == ServerConfig()
    assert cfg.ledger.url == str(tmp_path / "ledger.db")
    assert cfg.tls.ca_cert is None and not cfg.tls.insecure
    assert cfg.metrics.listen == ""
    assert cfg.agent_defaults == AgentDefaults()
    assert dict(cfg.agents) == {} and dict(cfg.vendors) == {}


FULL = """
[server]
listen = "[::]:7443"
max_message_bytes = 8388608

[tls]
ca_cert = "pki/ca.pem"
cert = "/etc/smsprobe/collector.pem"
key = "pki/collector.key"
deny_agents = ["agent-7", "sha256:ab12"]

[ledger]
url = "sqlite:///data/ledger.db"

[metrics]
listen = "127.0.0.1:9464"

[log]
level = "debug"
format = "json"

[agents]
health_interval_s = 30
offline_after_s = 120.5

[agents.bj-pi-01]
site = "bj-1"
region = "north"
health_interval_s = 15
expected_modems = [
  { imei = "860000000000001", iccid = "8986000000000000001", msisdn = "+8613800000001" },
  { imei = "860000000000002" },
]

[agents."sh.pi-02"]

[vendors.acme]
kind = "http"
rate_per_s = 5

[probes]
interval_s = 300

[timeseries]
[alerts]
[reports]
"""


def test_a_full_config_is_typed(tmp_path: Path) -> None:
    path = tmp_path / "collector.toml"
    path.write_text(FULL)
    cfg = load_config(path)
    assert cfg.server == ServerConfig(listen="[::]:7443", max_message_bytes=8 * 1024 * 1024)
    assert cfg.tls.ca_cert == tmp_path / "pki" / "ca.pem"  # relative to the config file
    assert cfg.tls.cert == Path("/etc/smsprobe/collector.pem")
    assert cfg.tls.deny_agents == ("agent-7", "sha256:ab12")
    assert cfg.ledger.url == str(tmp_path / "data" / "ledger.db")
    assert cfg.metrics.listen == "127.0.0.1:9464"
    assert (cfg.log.level, cfg.log.format) == ("debug", "json")
    assert cfg.agent_defaults == AgentDefaults(
        health_interval_s=30.0, clock_sync_interval_s=300.0, offline_after_s=120.5
    )
    assert list(cfg.agents) == ["bj-pi-01", "sh.pi-02"]
    bj = cfg.agents["bj-pi-01"]
    assert (bj.site, bj.region, bj.health_interval_s, bj.clock_sync_interval_s) == (
        "bj-1",
        "north",
        15.0,
        None,
    )
    assert bj.expected_modems == (
        ModemSpec("860000000000001", "8986000000000000001", "+8613800000001"),
        ModemSpec("860000000000002"),
    )
    assert cfg.vendors == {"acme": {"kind": "http", "rate_per_s": 5}}
    assert cfg.raw_section("probes") == {"interval_s": 300}
    with pytest.raises(TypeError):
        cfg.vendors["x"] = {}  # type: ignore[index]  # read-only


def test_postgresql_urls_are_kept_verbatim(tmp_path: Path) -> None:
    cfg = parse_config(
        {"ledger": {"url": "postgresql://smsprobe@db:5432/ledger"}},
        file="c.toml",
        base_dir=tmp_path,
    )
    assert cfg.ledger.url == "postgresql://smsprobe@db:5432/ledger"


def test_a_missing_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"^nope.toml: cannot read"):
        load_config(tmp_path / "nope.toml")


# ------------------------------------------------------- the strict reader for other sections


def test_table_helpers_for_a_raw_section() -> None:
    t = Table(
        {"interval_s": 60, "profile": "otp", "windows": ["peak"]}, file="c.toml", path="probes"
    )
    assert t.get_float("interval_s", min_value=1.0) == 60.0
    assert t.get_choice("profile", ("otp", "marketing")) == "otp"
    assert t.get_str_list("windows") == ("peak",)
    assert t.get_int("burst", 3) == 3
    t.finish()


def test_table_rejects_unread_keys_and_wrong_types() -> None:
    t = Table({"interval_s": True, "x": 1}, file="c.toml", path="probes")
    with pytest.raises(ConfigError) as caught:
        t.get_float("interval_s")
    assert str(caught.value) == "c.toml: probes.interval_s: expected a number, got true"
    with pytest.raises(ConfigError, match=r"^c.toml: probes.x: unknown key"):
        t.finish()


def test_float_rejects_infinity() -> None:
    t = Table({"v": math.inf}, file="c.toml")
    with pytest.raises(ConfigError, match="got inf"):
        t.get_float("v")


def test_canary_keys_default_off_and_parse(tmp_path: Path) -> None:
    base = {"ledger": {"url": "l.db"}}
    off = parse_config(base, file="c.toml", base_dir=tmp_path).agent_defaults
    assert (off.canary_interval_s, off.canary_deadline_s) == (0.0, 300.0)
    on = parse_config(
        {**base, "agents": {"canary_interval_s": 20, "canary_deadline_s": 45.5, "a1": {}}},
        file="c.toml",
        base_dir=tmp_path,
    )
    assert (on.agent_defaults.canary_interval_s, on.agent_defaults.canary_deadline_s) == (
        20.0,
        45.5,
    )
    assert list(on.agents) == ["a1"]  # the canary keys are defaults, not agent ids
