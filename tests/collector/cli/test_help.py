"""Every subcommand the CLIs list imports and answers --help (click conventions)."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from agent.cli import main as agent_main
from collector.cli import main as collector_main

COMMANDS = [(agent_main, name) for name in agent_main.list_commands(None)] + [  # type: ignore[arg-type]
    (collector_main, name)
    for name in collector_main.list_commands(None)  # type: ignore[arg-type]
]


@pytest.mark.parametrize(("group", "name"), COMMANDS, ids=[f"{g.name}-{n}" for g, n in COMMANDS])
def test_subcommand_help(group, name: str) -> None:  # type: ignore[no-untyped-def]
    result = CliRunner().invoke(group, [name, "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage:" in result.output


def test_top_level_help_lists_every_command_without_importing_them() -> None:
    for group in (agent_main, collector_main):
        result = CliRunner().invoke(group, ["--help"])
        assert result.exit_code == 0
        for name in group.list_commands(None):  # type: ignore[arg-type]
            assert name in result.output


def test_unknown_command_is_a_usage_error() -> None:
    assert CliRunner().invoke(agent_main, ["nope"]).exit_code == 2
