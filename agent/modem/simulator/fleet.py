"""Several simulated modems in one process: typed config, TOML loader, and the runner.

Fleet TOML (strict: unknown keys are rejected with their key path):

    control = "127.0.0.1:7300"        # optional control API address
    transcript = "sim-at.log"         # optional AT transcript file (all modems)
    seed = 1

    [defaults]                        # optional, any [[modem]] key
    profile = "quectel_ec25"
    timing_scale = 0.2

    [[modem]]
    name = "m1"
    link = "/tmp/sims/m1"
    msisdn = "+8613800000001"         # identity fields default to Identity.derive(n)
    faults = ["lost_urc:probability=0.3"]

    [generate]                        # optional: N more modems with derived identities
    count = 8
    link_pattern = "/tmp/sims/modem{n:02d}"
    first = 1
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import tomllib
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import structlog

from agent.modem.simulator.config import Identity, ModemSimulatorConfig, Timing
from agent.modem.simulator.control import ControlServer
from agent.modem.simulator.faults import Fault, parse_fault
from agent.modem.simulator.modem import ModemSimulator
from agent.modem.simulator.network import RetrySchedule
from agent.modem.simulator.pdu import DeliverPart
from agent.modem.simulator.personalities import get_personality
from agent.modem.simulator.pty import AUX_KINDS, ModemServer
from agent.modem.simulator.scenario import load_scenario, play_scenario
from agent.modem.simulator.transcript import Transcript

log = structlog.get_logger(__name__)


class FleetConfigError(ValueError):
    """Invalid fleet / modem configuration; the message names the key path."""


@dataclass(frozen=True)
class PreloadMessage:
    sender: str
    text: str
    scts: datetime | None = None
    message_class: int | None = None
    encoding: str = "auto"


@dataclass(frozen=True)
class ModemSpec:
    name: str
    profile: str = "generic"
    link: Path | None = None
    listen: tuple[str, int] | None = None
    pty: bool = True
    msisdn: str | None = None
    imsi: str | None = None
    iccid: str | None = None
    imei: str | None = None
    operator: str = "46000"
    faults: tuple[str, ...] = ()
    preload: tuple[PreloadMessage, ...] = ()
    seed: int | None = None
    sm_capacity: int = 30
    me_capacity: int | None = None
    timing_scale: float = 1.0
    noise_interval_s: float = 10.0
    inter_part_s: float = 1.0
    reenumerate_s: float = 5.0
    cnma_timeout_s: float = 15.0
    report_delay_s: float = 2.0
    retry_s: tuple[float, ...] = (5.0, 15.0, 60.0, 300.0, 900.0)
    cold_boot: bool = False
    cnum_written: bool = True
    rssi: int = 21
    rssi_walk_s: float = 0.0
    aux_ports: tuple[str, ...] = ()  # "nmea", "diag": extra ttys of the device (docs/modems.md)


@dataclass(frozen=True)
class FleetConfig:
    modems: tuple[ModemSpec, ...]
    control: tuple[str, int] | None = None
    transcript: Path | None = None
    seed: int = 0
    scenario: Path | None = None  # JSONL of timed control requests (scenario.py)


def parse_hostport(value: str, key: str = "listen") -> tuple[str, int]:
    host, sep, port = value.rpartition(":")
    if not sep or not port.isdigit():
        raise FleetConfigError(f"{key}: expected HOST:PORT, got {value!r}")
    return host or "127.0.0.1", int(port)


def load_preload(path: Path) -> tuple[PreloadMessage, ...]:
    """JSONL: {"sender", "text", "scts" (ISO-8601), optional "class", "encoding"}."""
    out: list[PreloadMessage] = []
    for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        where = f"{path}:{lineno}"
        try:
            item = json.loads(line)
        except json.JSONDecodeError as exc:
            raise FleetConfigError(f"{where}: not JSON ({exc.msg})") from exc
        unknown = set(item) - {"sender", "text", "scts", "class", "encoding"}
        if unknown:
            raise FleetConfigError(f"{where}: unknown key(s) {sorted(unknown)}")
        try:
            scts = datetime.fromisoformat(item["scts"]) if item.get("scts") else None
            out.append(
                PreloadMessage(
                    sender=str(item["sender"]),
                    text=str(item["text"]),
                    scts=scts,
                    message_class=item.get("class"),
                    encoding=str(item.get("encoding", "auto")),
                )
            )
        except (KeyError, ValueError) as exc:
            raise FleetConfigError(f"{where}: {exc}") from exc
    return tuple(out)


_SPEC_KEYS = {f for f in ModemSpec.__dataclass_fields__}


def _non_finite(value: Any) -> bool:
    if isinstance(value, list):
        return any(_non_finite(item) for item in value)
    return isinstance(value, float) and not math.isfinite(value)


def _spec_from_table(table: dict[str, Any], where: str, base: Path) -> ModemSpec:
    unknown = set(table) - _SPEC_KEYS
    if unknown:
        raise FleetConfigError(f"{where}: unknown key(s) {sorted(unknown)}")
    for key, value in table.items():  # TOML has nan/inf literals
        if _non_finite(value):
            raise FleetConfigError(f"{where}.{key}: expected finite numbers, got {value!r}")
    values = dict(table)
    try:
        if "link" in values:
            values["link"] = Path(values["link"])
        if "listen" in values:
            values["listen"] = parse_hostport(values["listen"], f"{where}.listen")
        if "faults" in values:
            for spec in values["faults"]:
                parse_fault(spec)
            values["faults"] = tuple(values["faults"])
        if "aux_ports" in values:
            values["aux_ports"] = tuple(values["aux_ports"])
            for kind in values["aux_ports"]:
                if kind not in AUX_KINDS:
                    raise FleetConfigError(f"{where}.aux_ports: unknown port kind {kind!r}")
        if "retry_s" in values:
            values["retry_s"] = tuple(float(v) for v in values["retry_s"])
        if "preload" in values:
            path = Path(values["preload"])
            values["preload"] = load_preload(path if path.is_absolute() else base / path)
        get_personality(values.get("profile", "generic"))
        return ModemSpec(**values)
    except (TypeError, ValueError) as exc:
        if isinstance(exc, FleetConfigError):
            raise
        raise FleetConfigError(f"{where}: {exc}") from exc


def load_fleet(path: Path) -> FleetConfig:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise FleetConfigError(f"{path}: {exc}") from exc
    unknown = set(data) - {
        "control",
        "transcript",
        "seed",
        "defaults",
        "modem",
        "generate",
        "scenario",
    }
    if unknown:
        raise FleetConfigError(f"{path}: unknown key(s) {sorted(unknown)}")
    defaults = data.get("defaults", {})
    specs: list[ModemSpec] = []
    for i, table in enumerate(data.get("modem", [])):
        merged = {"name": f"modem{i + 1}", **defaults, **table}
        specs.append(_spec_from_table(merged, f"modem[{i}]", path.parent))
    generate = data.get("generate")
    if generate is not None:
        unknown = set(generate) - {"count", "link_pattern", "first"}
        if unknown:
            raise FleetConfigError(f"generate: unknown key(s) {sorted(unknown)}")
        first = int(generate.get("first", len(specs) + 1))
        pattern = generate.get("link_pattern")
        for n in range(first, first + int(generate.get("count", 0))):
            table = {**defaults, "name": f"modem{n:02d}"}
            if pattern:
                table["link"] = pattern.format(n=n)
            specs.append(_spec_from_table(table, f"generate[{n}]", path.parent))
    control = data.get("control")
    names = [s.name for s in specs]
    if len(set(names)) != len(names):
        raise FleetConfigError(f"{path}: modem names are not unique: {names}")
    return FleetConfig(
        modems=tuple(specs),
        control=parse_hostport(control, "control") if control else None,
        transcript=Path(data["transcript"]) if data.get("transcript") else None,
        seed=int(data.get("seed", 0)),
        scenario=_scenario_path(data.get("scenario"), path.parent),
    )


def _scenario_path(value: str | None, base: Path) -> Path | None:
    if value is None:
        return None
    path = Path(value) if Path(value).is_absolute() else base / value
    load_scenario(path)  # validate now, with file:line in the error
    return path


def build_modem_simulator(
    spec: ModemSpec, n: int, *, seed: int = 0, transcript: Transcript | None = None
) -> ModemSimulator:
    """A ModemSimulator for `spec`; `n` numbers derived identities (1-based)."""
    derived = Identity.derive(n, spec.operator)
    identity = Identity(
        msisdn=spec.msisdn or derived.msisdn,
        imsi=spec.imsi or derived.imsi,
        iccid=spec.iccid or derived.iccid,
        imei=spec.imei or derived.imei,
        operator=spec.operator,
    )
    timing = Timing(
        scale=spec.timing_scale,
        noise_interval_s=spec.noise_interval_s,
        inter_part_s=spec.inter_part_s,
        reenumerate_s=spec.reenumerate_s,
        cnma_timeout_s=spec.cnma_timeout_s,
        report_delay_s=spec.report_delay_s,
    )
    config = ModemSimulatorConfig(
        identity=identity,
        personality=get_personality(spec.profile),
        name=spec.name,
        sm_capacity=spec.sm_capacity,
        me_capacity=spec.me_capacity,
        timing=timing,
        retry=RetrySchedule(delays_s=spec.retry_s),
        seed=spec.seed if spec.seed is not None else seed * 1000 + n,
        cold_boot=spec.cold_boot,
        cnum_written=spec.cnum_written,
        rssi=spec.rssi,
        rssi_walk_s=spec.rssi_walk_s,
    )
    simulator = ModemSimulator(config, transcript=transcript)
    for fault_spec in spec.faults:
        fault, params = parse_fault(fault_spec)
        simulator.set_fault(fault, True, **params)
    for message in spec.preload:
        simulator.deliver_text(
            message.sender,
            message.text,
            message.scts,
            message_class=message.message_class,
            encoding=message.encoding,
        )
    return simulator


@dataclass
class RunningModem:
    spec: ModemSpec
    simulator: ModemSimulator
    server: ModemServer

    def describe(self) -> dict[str, Any]:
        return {
            **self.simulator.status(),
            "link": str(self.spec.link) if self.spec.link else None,
            "tty": self.server.slave_path,
            "tcp": "{}:{}".format(*self.server.tcp_address) if self.server.tcp_address else None,
            "aux_ports": {
                a.kind: str(a.link) if a.link else a.slave_path for a in self.server.aux_ports
            },
        }


@dataclass
class Fleet:
    """Running simulated modems (+ optional control server). Use `async with`."""

    config: FleetConfig
    modems: list[RunningModem] = field(default_factory=list)
    transcript: Transcript | None = None
    control_address: tuple[str, int] | None = None
    _control: Any = None
    _scenario_task: asyncio.Task[list[dict[str, Any]]] | None = None

    async def start(self) -> None:
        # Always kept in memory (control op `transcript`); also appended to a file if asked.
        self.transcript = Transcript(self.config.transcript, keep=5000)
        for n, spec in enumerate(self.config.modems, start=1):
            simulator = build_modem_simulator(
                spec, n, seed=self.config.seed, transcript=self.transcript
            )
            simulator.mo_router = self._route_mo
            server = ModemServer(
                simulator, spec.link, listen=spec.listen, pty=spec.pty, aux=spec.aux_ports
            )
            await server.start()
            self.modems.append(RunningModem(spec, simulator, server))
        if self.config.control is not None:
            self._control = ControlServer(self)
            self.control_address = await self._control.start(*self.config.control)
        if self.config.scenario is not None:
            steps = load_scenario(self.config.scenario)
            self._scenario_task = asyncio.create_task(play_scenario(self, steps))

    async def close(self) -> None:
        if self._scenario_task is not None:
            self._scenario_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._scenario_task
            self._scenario_task = None
        if self._control is not None:
            await self._control.close()
            self._control = None
        for modem in self.modems:
            await modem.server.close()
        self.modems.clear()
        if self.transcript is not None:
            self.transcript.close()

    async def __aenter__(self) -> Fleet:
        try:
            await self.start()
        except BaseException:
            await self.close()
            raise
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def find(self, key: str) -> RunningModem:
        """By name, msisdn (with or without +), imsi, iccid or imei."""
        for modem in self.modems:
            if modem.spec.name == key or modem.simulator.identity.matches(key):
                return modem
        raise KeyError(f"no simulated modem {key!r}")

    def _route_mo(self, origin: object, destination: str, part: DeliverPart) -> bool:
        # A simulated carrier network: MO SMS to another fleet member's MSISDN loops back.
        for modem in self.modems:
            if modem.simulator is not origin and modem.simulator.identity.matches(destination):
                modem.simulator.deliver_parts([part])
                return True
        return False

    def describe(self) -> list[dict[str, Any]]:
        return [m.describe() for m in self.modems]


async def run_fleet(config: FleetConfig, ready: asyncio.Event | None = None) -> None:
    """Run the fleet until cancelled; `ready` is set once every port and the API are up."""
    async with Fleet(config) as fleet:
        log.info("sim_fleet_started", modems=len(fleet.modems), control=fleet.control_address)
        if ready is not None:
            ready.set()
        await asyncio.Event().wait()


__all__ = [
    "Fault",
    "Fleet",
    "FleetConfig",
    "FleetConfigError",
    "ModemSpec",
    "PreloadMessage",
    "RunningModem",
    "build_modem_simulator",
    "load_fleet",
    "load_preload",
    "run_fleet",
]
