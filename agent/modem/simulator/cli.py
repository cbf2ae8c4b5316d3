"""`smsprobe-agent sim-modem`: run the modem simulator — one simulated modem, or a fleet from a
TOML file."""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import sys
from dataclasses import replace
from pathlib import Path

import click

from agent.common.logs import configure_logging
from agent.modem.simulator.faults import fault_names, parse_fault
from agent.modem.simulator.fleet import (
    Fleet,
    FleetConfig,
    ModemSpec,
    load_fleet,
    load_preload,
    parse_hostport,
)
from agent.modem.simulator.personalities import personality_names
from agent.modem.simulator.scenario import load_scenario


async def _serve(config: FleetConfig) -> None:
    async with Fleet(config) as fleet:
        ready = {
            "event": "sim_modem_ready",
            "control": "{}:{}".format(*fleet.control_address) if fleet.control_address else None,
            "modems": fleet.describe(),
        }
        # One JSON line on stdout so scripts (demo, benchmarks) can find ports and links.
        sys.stdout.write(json.dumps(ready) + "\n")
        sys.stdout.flush()
        # SIGTERM/SIGINT end the run cleanly: ptys closed, --link symlinks removed.
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop.set)
        await stop.wait()


@click.command("sim-modem")
@click.option("--profile", type=click.Choice(personality_names()), default="generic")
@click.option("--link", type=click.Path(path_type=Path), help="symlink to the pty slave")
@click.option("--msisdn")
@click.option("--imsi")
@click.option("--iccid")
@click.option("--imei")
@click.option("--operator", default="46000", show_default=True, help="MCC-MNC")
@click.option("--preload", type=click.Path(exists=True, path_type=Path), help="JSONL messages")
@click.option("--listen", help="HOST:PORT: also serve on TCP (pyserial socket://)")
@click.option("--no-pty", is_flag=True, help="TCP only (needs --listen)")
@click.option("--transcript", type=click.Path(path_type=Path), help="append AT transcript here")
@click.option(
    "--fault",
    "faults",
    multiple=True,
    help=f"name[:key=value,...]; repeatable. Names: {', '.join(fault_names())}",
)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--sm-capacity", type=int, default=30, show_default=True)
@click.option(
    "--timing-scale",
    type=float,
    default=1.0,
    show_default=True,
    help="multiplies boot/SMS-ready/re-enumeration delays",
)
@click.option("--cold-boot", is_flag=True, help="start with the power-up URC sequence")
@click.option("--fleet", type=click.Path(exists=True, path_type=Path), help="fleet TOML")
@click.option("--control", help="HOST:PORT of the control API (JSON lines)")
@click.option(
    "--scenario",
    type=click.Path(exists=True, path_type=Path),
    help="JSONL of timed control requests (see agent/modem/simulator/scenario.py)",
)
@click.option("--log-level", default="info", show_default=True)
def modem_simulator_command(
    profile: str,
    link: Path | None,
    msisdn: str | None,
    imsi: str | None,
    iccid: str | None,
    imei: str | None,
    operator: str,
    preload: Path | None,
    listen: str | None,
    no_pty: bool,
    transcript: Path | None,
    faults: tuple[str, ...],
    seed: int,
    sm_capacity: int,
    timing_scale: float,
    cold_boot: bool,
    fleet: Path | None,
    control: str | None,
    scenario: Path | None,
    log_level: str,
) -> None:
    """Modem simulator: simulated USB modem(s) speaking AT on a pseudo-terminal, with a
    carrier-side control API."""
    configure_logging(log_level)
    try:
        for fault_spec in faults:
            parse_fault(fault_spec)
        if fleet is not None:
            config = load_fleet(fleet)
        else:
            if no_pty and not listen:
                raise click.UsageError("--no-pty needs --listen")
            spec = ModemSpec(
                name="modem1",
                profile=profile,
                link=link,
                listen=parse_hostport(listen) if listen else None,
                pty=not no_pty,
                msisdn=msisdn,
                imsi=imsi,
                iccid=iccid,
                imei=imei,
                operator=operator,
                faults=faults,
                preload=load_preload(preload) if preload else (),
                sm_capacity=sm_capacity,
                timing_scale=timing_scale,
                cold_boot=cold_boot,
            )
            config = FleetConfig(modems=(spec,), seed=seed)
        if control:
            config = replace(config, control=parse_hostport(control, "--control"))
        if transcript:
            config = replace(config, transcript=transcript)
        if scenario:
            load_scenario(scenario)
            config = replace(config, scenario=scenario)
    except ValueError as exc:  # a ConfigError, or a bad option value
        raise click.BadParameter(str(exc)) from exc
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve(config))
