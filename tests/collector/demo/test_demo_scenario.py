"""`demo --scenario FILE`: the user's knobs for the demo's three vendors, DLR pushes pointed
at the running demo."""

from __future__ import annotations

from pathlib import Path

import click
import pytest

from collector.demo.cli import custom_scenario
from collector.demo.configs import scenario_toml
from collector.demo.world import demo_modems
from collector.vendors.simulator.scenario import load_scenario


def test_a_previous_runs_scenario_is_pointed_at_this_run(tmp_path: Path) -> None:
    old = scenario_toml(demo_modems(), 40001, seed=3, hour=12)
    edited = old.replace("p_arrive = 0.85", "p_arrive = 0.5")
    path = tmp_path / "mine.toml"
    path.write_text(edited.replace("http://127.0.0.1:40001/dlr/cheap", "{webhook}/cheap"))
    text = custom_scenario(path, 50002, trouble=False)
    assert "40001" not in text and "{webhook}" not in text
    assert text.count("http://127.0.0.1:50002/dlr/") == 2  # acme and cheap push receipts
    (tmp_path / "out.toml").write_text(text)
    scenario = load_scenario(tmp_path / "out.toml")
    assert scenario.vendors["cheap"].dlr_push_url == "http://127.0.0.1:50002/dlr/cheap"
    assert scenario.vendors["cheap"].knobs.p_arrive == 0.5


def test_a_scenario_the_demo_cannot_run_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "mine.toml"
    path.write_text(scenario_toml(demo_modems(), 40001, 3, 12).replace('"aliyun"', '"http"'))
    with pytest.raises(click.BadParameter, match=r'vendors\.acme: expected .*"aliyun"'):
        custom_scenario(path, 1, trouble=False)
    path.write_text("seed = [")
    with pytest.raises(click.BadParameter, match=r"mine\.toml"):
        custom_scenario(path, 1, trouble=False)
    with pytest.raises(click.UsageError):
        custom_scenario(path, 1, trouble=True)
