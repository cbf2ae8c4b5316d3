"""`smsprobe-collector sim-vendor`: run the vendor simulator as its own process.

Prints one JSON line per simulated vendor once it listens, e.g.
`{"vendor": "sim106", "protocol": "http", "host": "127.0.0.1", "port": 41234,
"url": "http://127.0.0.1:41234"}`, then `{"ready": true}`, and runs until SIGINT/SIGTERM.
"""

from __future__ import annotations

import asyncio
import json
import signal
import ssl
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

import click
import structlog

from agent.common.logs import configure_logging
from agent.common.tomlconfig import ConfigError
from agent.modem.simulator.control import ModemSimulatorControl
from collector.vendors.simulator.fronts import http_front
from collector.vendors.simulator.gateway_api import GatewayVendorSimulator
from collector.vendors.simulator.network import (
    CarrierNetwork,
    ModemControlSink,
    ModemSink,
    RecordingModemSink,
)
from collector.vendors.simulator.scenario import VendorProtocol, load_scenario
from collector.vendors.simulator.smpp_api import SmppVendorSimulator
from collector.vendors.simulator.truth import TruthLog

if TYPE_CHECKING:
    from collector.vendors.simulator.http_api import HttpVendorSimulator
    from collector.vendors.simulator.smpp_api import SmppVendorSimulator

__all__ = ["vendor_simulator_command"]

log = structlog.get_logger(__name__)


def _hostport(value: str) -> tuple[str, int]:
    host, sep, port = value.rpartition(":")
    if not sep or not port.isdigit():
        raise click.BadParameter(f"expected HOST:PORT, got {value!r}")
    return host or "127.0.0.1", int(port)


async def _serve(
    scenario_path: Path,
    modem_control: str | None,
    truth_path: Path | None,
    seed: int | None,
    host: str,
    tls: ssl.SSLContext | None = None,
) -> None:

    scenario = load_scenario(scenario_path)
    if seed is not None:
        scenario = replace(scenario, seed=seed)
    control = None
    modems: ModemSink
    if modem_control is not None:
        control = ModemSimulatorControl(*_hostport(modem_control))
        modems = ModemControlSink(control)
    else:
        log.warning("sim_vendor_without_modems", detail="deliveries are kept in memory only")
        modems = RecordingModemSink()
    network = CarrierNetwork(scenario, modems, TruthLog(truth_path))
    fronts: list[HttpVendorSimulator | SmppVendorSimulator | GatewayVendorSimulator] = []
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        for name, vendor in scenario.vendors.items():
            if vendor.protocol.is_gateway:
                gateway = GatewayVendorSimulator(network, name, host=host, port=vendor.port)
                await gateway.start()
                fronts.append(gateway)
                line = {"vendor": name, "protocol": vendor.protocol.value, "host": host,
                        "port": gateway.port, "account": vendor.account}  # fmt: skip
            elif vendor.protocol is not VendorProtocol.SMPP:
                api = http_front(network, name, host=host, port=vendor.port, tls=tls)
                await api.start()
                fronts.append(api)
                line = {"vendor": name, "protocol": vendor.protocol.value, "host": host,
                        "port": api.port, "url": api.base_url}  # fmt: skip
            else:
                smpp = SmppVendorSimulator(network, name, host=host, port=vendor.port)
                await smpp.start()
                fronts.append(smpp)
                line = {"vendor": name, "protocol": "smpp", "host": host, "port": smpp.port,
                        "system_id": vendor.account}  # fmt: skip
            click.echo(json.dumps(line, ensure_ascii=False))
        click.echo(json.dumps({"ready": True}))
        await stop.wait()
    finally:
        await network.close()
        for front in fronts:
            await front.close()
        if control is not None:
            await control.close()
        log.info("sim_vendor_stopped", truth_lines=len(network.truth.records))


@click.command("sim-vendor")
@click.option(
    "--scenario",
    "scenario_path",
    required=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Scenario file (.toml or .json).",
)
@click.option("--modem-control", metavar="HOST:PORT", help="Modem simulator control API.")
@click.option(
    "--truth",
    "truth_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Append ground truth here, one JSON line per message.",
)
@click.option("--seed", type=int, help="Override the scenario's seed.")
@click.option("--host", default="127.0.0.1", show_default=True, help="Listen address.")
@click.option(
    "--tls-cert",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Serve the HTTP vendors over HTTPS with this PEM certificate (chain); "
    "with --tls-key (e.g. server.pem/server.key of `certs init`).",
)
@click.option("--tls-key", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--log-level", default="info", show_default=True)
def vendor_simulator_command(
    scenario_path: Path,
    modem_control: str | None,
    truth_path: Path | None,
    seed: int | None,
    host: str,
    tls_cert: Path | None,
    tls_key: Path | None,
    log_level: str,
) -> None:
    """Run simulated SMS vendors (HTTP and SMPP) over a simulated carrier network."""

    tls = _server_tls(tls_cert, tls_key)
    if modem_control is not None:
        _hostport(modem_control)
    try:
        load_scenario(scenario_path)  # fail fast, before anything listens
    except ConfigError as exc:  # names the file and the key path
        raise click.UsageError(str(exc)) from exc
    configure_logging(log_level)
    asyncio.run(_serve(scenario_path, modem_control, truth_path, seed, host, tls))


def _server_tls(cert: Path | None, key: Path | None) -> ssl.SSLContext | None:
    if cert is None and key is None:
        return None
    if cert is None or key is None:
        raise click.UsageError("--tls-cert and --tls-key go together")
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    try:
        context.load_cert_chain(cert, key)
    except ssl.SSLError as exc:
        raise click.UsageError(
            f"--tls-cert {cert} / --tls-key {key}: expected a PEM certificate and its key "
            f"({exc.reason or exc})"
        ) from None
    return context
