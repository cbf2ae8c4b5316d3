"""Recovery policy for one modem: what to try next, and how long to wait first.

Escalation ladder (docs/modems.md, "Reboots"): no answer -> reopen the port;
still no answer -> AT+CFUN=1,1; still none -> the configured power-cycle command (if any);
then keep retrying at the slowest pace (rate-limited: a reset storm can leave a modem that
never enumerates again). A port that vanished (USB re-enumeration) is waited for and found
again by its by-id path, or by IMEI among the candidate ports. The policy is pure; the
back-off (agent.common.backoff) returns durations and never sleeps.
"""

from __future__ import annotations

import asyncio
import enum
import glob
import os
from collections.abc import Awaitable, Callable, Sequence

import structlog

_log = structlog.get_logger("agent.recovery")


class Action(enum.Enum):
    REOPEN = "reopen"
    RESET = "reset"  # AT+CFUN=1,1
    POWER_CYCLE = "power_cycle"
    WAIT_FOR_PORT = "wait_for_port"


def next_action(failures: int, port_present: bool, can_power_cycle: bool) -> Action:
    """The step after `failures` consecutive failed recoveries (0 = first failure)."""
    if not port_present:
        # Gone from the bus: a reset cannot be sent; a power cycle may bring it back.
        if can_power_cycle and failures >= 3 and failures % 3 == 0:
            return Action.POWER_CYCLE
        return Action.WAIT_FOR_PORT
    if failures == 0:
        return Action.REOPEN
    if failures == 1:
        return Action.RESET
    if failures == 2 and can_power_cycle:
        return Action.POWER_CYCLE
    # Past the ladder: alternate reopen and reset at the slowest backoff pace.
    return Action.RESET if failures % 2 else Action.REOPEN


def is_local_path(port: str) -> bool:
    """pyserial URLs (socket://, rfc2217://, loop://) have no path to watch."""
    return "://" not in port


def port_present(port: str) -> bool:
    return not is_local_path(port) or os.path.exists(port)


def candidate_ports() -> list[str]:
    """Where a re-enumerated modem may reappear, stable names first."""
    found: list[str] = []
    for pattern in ("/dev/serial/by-id/*", "/dev/ttyUSB*", "/dev/ttyACM*"):
        found.extend(sorted(glob.glob(pattern)))
    return found


ProbeImei = Callable[[str], Awaitable[str]]


async def probe_imei(port: str, timeout_s: float = 3.0) -> str:
    """IMEI of the modem answering AT on `port` ("" if none), via agent.discovery."""
    from agent.discovery import probe_port

    found = await probe_port(port, timeout_s)
    return found.identity.imei if found is not None else ""


async def find_port(
    configured: str,
    imei: str,
    candidates: Sequence[str],
    probe_imei: ProbeImei | None,
    busy: frozenset[str] = frozenset(),
) -> str | None:
    """The configured port if it exists; else, when the IMEI is known, the candidate port
    whose modem answers AT+CGSN with that IMEI (ports other modems hold are skipped)."""
    if port_present(configured):
        return configured
    if not imei or probe_imei is None:
        return None
    held = {os.path.realpath(b) for b in busy}
    for port in candidates:
        if os.path.realpath(port) in held:
            continue
        try:
            found = await probe_imei(port)
        except Exception as exc:  # a port that does not answer is simply not ours
            _log.debug("port_probe_failed", port=port, error=str(exc))
            continue
        if found == imei:
            return port
    return None


async def run_power_cycle(argv: Sequence[str], timeout_s: float = 60.0) -> tuple[int, str]:
    """Run the operator's power-cycle command; (exit code, tail of its output)."""
    proc = await asyncio.create_subprocess_exec(
        *argv,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    try:
        out, _ = await asyncio.wait_for(proc.communicate(), timeout_s)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        return -1, "timed out"
    return int(proc.returncode or 0), out.decode("utf-8", "replace")[-500:]
