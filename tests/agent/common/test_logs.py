"""Logging: stdlib records (grpc, aiohttp, asyncio) come out through structlog.

Each case runs in a child process: logging is process-global, and the child's stderr is
exactly what an operator's log collector would read.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

CHILD = textwrap.dedent(
    """
    import asyncio, logging, sys
    import structlog
    from agent.common.logs import configure_logging

    configure_logging("info", sys.argv[1])
    configure_logging("info", sys.argv[1])  # twice: still one handler, one line per record
    structlog.get_logger().info("agent_started", modems=2)
    logging.getLogger("grpc._cython.cygrpc").warning("stream %s closed", 7)
    logging.getLogger("aiohttp.access").info('127.0.0.1 "POST /dlr" 200')
    logging.getLogger("noise").debug("below the level")
    try:
        raise ValueError("boom")
    except ValueError:
        logging.getLogger("asyncio").exception("Task exception was never retrieved")
    """
)


def _run(fmt: str) -> list[str]:
    proc = subprocess.run(
        [sys.executable, "-c", CHILD, fmt], capture_output=True, text=True, check=True
    )
    return proc.stderr.splitlines()


def test_stdlib_records_are_json_lines_in_json_mode() -> None:
    lines = _run("json")
    records = [json.loads(line) for line in lines]  # every line is one JSON object
    assert [r["event"] for r in records] == [
        "agent_started",
        "stream 7 closed",
        '127.0.0.1 "POST /dlr" 200',
        "Task exception was never retrieved",
    ]
    assert [r.get("logger") for r in records] == [
        None,
        "grpc._cython.cygrpc",
        "aiohttp.access",
        "asyncio",
    ]
    assert [r["level"] for r in records] == ["info", "warning", "info", "error"]
    assert all("timestamp" in r for r in records)
    assert "ValueError: boom" in records[3]["exception"]


def test_stdlib_records_use_the_console_renderer_in_console_mode() -> None:
    lines = _run("console")
    stdlib = [line for line in lines if "stream 7 closed" in line]
    assert len(stdlib) == 1
    assert "grpc._cython.cygrpc" in stdlib[0] and "warning" in stdlib[0]
    assert not any(line.startswith("{") for line in lines)
