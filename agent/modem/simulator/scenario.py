"""Scripted scenarios: timed control requests, so a failure reproduces.

A scenario file is JSONL; each line is a control-API request plus `at_s`, the seconds
after the fleet started when it is applied:

    {"at_s": 0.5, "op": "deliver", "modem": "m1", "sender": "10086", "text": "hi"}
    {"at_s": 2.0, "op": "set_fault", "modem": "m1", "name": "storage_full"}
    {"at_s": 9.0, "op": "set_fault", "modem": "m1", "name": "storage_full", "on": false}
    {"at_s": 12.0, "op": "unplug", "modem": "m1", "seconds": 5}

Together with the fleet seed this makes a run repeatable.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import structlog

from agent.common.tomlconfig import Table, parse_json
from agent.modem.simulator.control import ControlledFleet, handle_request

log = structlog.get_logger(__name__)

_OPS = (
    "deliver",
    "deliver_pdus",
    "power_cycle",
    "set_fault",
    "set_registration",
    "set_signal",
    "unplug",
)


@dataclass(frozen=True)
class ScenarioStep:
    at_s: float
    request: dict[str, Any]


def load_scenario(path: Path) -> tuple[ScenarioStep, ...]:
    """Every step of a JSONL scenario; an invalid line is a ConfigError naming
    `file:line` and the key. The rest of a request is checked when it is applied."""
    steps: list[ScenarioStep] = []
    for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        where = f"{path}:{lineno}"
        t = Table(parse_json(line, file=where), file=where)
        at_s = t.get_float("at_s", expected="a number of seconds")
        t.get_choice("op", _OPS)
        steps.append(ScenarioStep(at_s, {k: v for k, v in t.data.items() if k != "at_s"}))
    return tuple(sorted(steps, key=lambda step: step.at_s))


async def play_scenario(
    fleet: ControlledFleet,
    steps: tuple[ScenarioStep, ...],
    *,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> list[dict[str, Any]]:
    """Apply each step at its time; a failing step is logged and the scenario goes on."""
    results: list[dict[str, Any]] = []
    elapsed = 0.0
    for step in steps:
        if step.at_s > elapsed:
            await sleep(step.at_s - elapsed)
            elapsed = step.at_s
        try:
            result = {"ok": True, **handle_request(fleet, dict(step.request))}
        except (ValueError, KeyError, TypeError) as exc:
            result = {"ok": False, "error": str(exc)}
            log.warning("sim_scenario_step_failed", at_s=step.at_s, error=str(exc))
        else:
            log.info("sim_scenario_step_applied", at_s=step.at_s, op=step.request["op"])
        results.append(result)
    return results
