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
import json
import math
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import structlog

from agent.modem.simulator.control import ControlledFleet, handle_request

log = structlog.get_logger(__name__)

_OPS = {
    "deliver",
    "deliver_pdus",
    "set_fault",
    "set_registration",
    "set_signal",
    "power_cycle",
    "unplug",
}


class ScenarioError(ValueError):
    """An invalid scenario line; the message names file and line."""


def _finite(text: str) -> float:
    # json accepts NaN, Infinity and 1e999; none of them is a time or a parameter.
    number = float(text)
    if not math.isfinite(number):
        raise ValueError(f"{text} is not a finite number")
    return number


@dataclass(frozen=True)
class ScenarioStep:
    at_s: float
    request: dict[str, Any]


def load_scenario(path: Path) -> tuple[ScenarioStep, ...]:
    steps: list[ScenarioStep] = []
    for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        where = f"{path}:{lineno}"
        try:
            item = json.loads(line, parse_float=_finite, parse_constant=_finite)
        except json.JSONDecodeError as exc:
            raise ScenarioError(f"{where}: not JSON ({exc.msg})") from exc
        except ValueError as exc:
            raise ScenarioError(f"{where}: {exc}") from exc
        if not isinstance(item, dict) or "at_s" not in item:
            raise ScenarioError(f"{where}: needs an object with at_s")
        if item.get("op") not in _OPS:
            raise ScenarioError(f"{where}: op must be one of {sorted(_OPS)}")
        at_s = item.pop("at_s")
        if isinstance(at_s, bool) or not isinstance(at_s, int | float):
            raise ScenarioError(f"{where}: at_s must be a number of seconds")
        steps.append(ScenarioStep(float(at_s), item))
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
