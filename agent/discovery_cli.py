"""`smsprobe-agent discover`: find the ports that answer AT and identify modem and SIM
(agent/discovery.py does the probing)."""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Final

import click

from agent.common.logs import configure_logging
from agent.discovery import DEFAULT_PORT_GLOBS, DiscoveredModem, discover
from agent.modem.profiles import load_profiles

_COLUMNS: Final[tuple[tuple[str, Callable[[DiscoveredModem], str]], ...]] = (
    ("PORT", lambda m: m.port.url),
    ("PROFILE", lambda m: m.profile),
    ("MODEL", lambda m: m.identity.model),
    ("FIRMWARE", lambda m: m.identity.firmware),
    ("IMEI", lambda m: m.identity.imei),
    ("IMSI", lambda m: m.identity.imsi),
    ("ICCID", lambda m: m.identity.iccid),
    ("MSISDN", lambda m: m.identity.msisdn),
    ("PLMN", lambda m: m.identity.operator_mcc_mnc),
    ("CARRIER", lambda m: m.carrier.carrier),
    ("MVNO", lambda m: m.carrier.mvno),
)


def format_table(modems: Sequence[DiscoveredModem]) -> str:
    rows = [[h for h, _ in _COLUMNS]] + [
        [str(get(m) or "-") for _, get in _COLUMNS] for m in modems
    ]
    widths = [max(len(r[i]) for r in rows) for i in range(len(_COLUMNS))]
    return "\n".join(
        "  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)).rstrip() for r in rows
    )


@click.command("discover")
@click.option("--json", "as_json", is_flag=True, help="One JSON array on stdout.")
@click.option(
    "--ports",
    "patterns",
    multiple=True,
    metavar="GLOB|URL",
    help="Port globs or pyserial URLs (repeatable). Default: " + ", ".join(DEFAULT_PORT_GLOBS),
)
@click.argument("more_ports", nargs=-1, metavar="[PORT]...")
@click.option(
    "--timeout-s",
    default=3.0,
    show_default=True,
    type=click.FloatRange(min=0.1),
    help="Per-command deadline while probing a port.",
)
@click.option(
    "--profiles-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Modem profiles (default: firmware-config/).",
)
@click.option(
    "--transcript-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Write every byte in/out of each probed port, timestamped, to DIR/<port>.log.",
)
@click.option(
    "--log-level",
    default="warning",
    show_default=True,
    type=click.Choice(["debug", "info", "warning", "error"]),
    help="Logs go to stderr; stdout carries only the result.",
)
def discover_command(
    as_json: bool,
    patterns: tuple[str, ...],
    more_ports: tuple[str, ...],
    timeout_s: float,
    profiles_dir: Path | None,
    transcript_dir: Path | None,
    log_level: str,
) -> None:
    """Find modems answering AT; print model, IMEI, SIM identity and carrier (from the IMSI).

    Exit status 0 when at least one modem was found, 1 otherwise.
    """
    configure_logging(log_level)
    # `--ports /dev/ttyUSB*` unquoted: the shell expands it, the rest arrive as arguments.
    patterns = (*patterns, *more_ports)
    profiles = load_profiles(profiles_dir) if profiles_dir else load_profiles()
    modems = asyncio.run(
        discover(
            patterns or DEFAULT_PORT_GLOBS,
            timeout_s,
            profiles=profiles,
            transcript_dir=transcript_dir,
        )
    )
    if as_json:
        click.echo(json.dumps([m.to_json() for m in modems], indent=2, ensure_ascii=False))
    elif modems:
        click.echo(format_table(modems))
    else:
        click.echo("no modem answered AT on: " + " ".join(patterns or DEFAULT_PORT_GLOBS), err=True)
    sys.exit(0 if modems else 1)
