"""Several simulated modems in one process: typed config, TOML loader, and the runner.

Fleet TOML, read with the one strict reader (agent/common/tomlconfig.py): unknown keys
and wrong types are a ConfigError naming the key path (`fleet.toml: modem[0].profle: ...`).

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
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import structlog

from agent.common.tomlconfig import MISSING, ConfigError, Table, load_toml, parse_json
from agent.modem.simulator.config import Identity, ModemSimulatorConfig, Timing
from agent.modem.simulator.control import ControlServer
from agent.modem.simulator.faults import Fault, parse_fault
from agent.modem.simulator.modem import ModemSimulator
from agent.modem.simulator.network import RetrySchedule
from agent.modem.simulator.pdu import DeliverPart
from agent.modem.simulator.personalities import get_personality, personality_names
from agent.modem.simulator.pty import AUX_KINDS, ModemServer
from agent.modem.simulator.scenario import load_scenario, play_scenario
from agent.modem.simulator.transcript import Transcript

log = structlog.get_logger(__name__)


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


def parse_hostport(value: str, key: str = "listen", *, file: str = "") -> tuple[str, int]:
    host, sep, port = value.rpartition(":")
    if not sep or not port.isdigit():
        raise ConfigError(file, key, "HOST:PORT", value)
    return host or "127.0.0.1", int(port)


def load_preload(path: Path) -> tuple[PreloadMessage, ...]:
    """JSONL: {"sender", "text", "scts" (ISO-8601), optional "class", "encoding"}."""
    out: list[PreloadMessage] = []
    for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        where = f"{path}:{lineno}"
        t = Table(parse_json(line, file=where), file=where)
        scts_text = t.get_str("scts", "")
        try:
            scts = datetime.fromisoformat(scts_text) if scts_text else None
        except ValueError:
            raise t.error("scts", "an ISO 8601 time", scts_text) from None
        out.append(
            PreloadMessage(
                sender=_text(t, "sender"),
                text=_text(t, "text"),
                scts=scts,
                message_class=t.get_optional_int("class", min_value=0),
                encoding=t.get_str("encoding", "auto"),
            )
        )
        t.finish()
    return tuple(out)


def _text(t: Table, key: str) -> str:
    # The JSON may carry a number (a short code like 10086); it is the same text.
    value = t.get_value(key, MISSING)
    if value is MISSING:
        raise t.error(key, "a string")
    return str(value)


def _optional_path(t: Table, key: str) -> Path | None:
    value = t.get_optional_str(key, expected="a path")
    return Path(value) if value else None


def _spec_from_table(t: Table, base: Path) -> ModemSpec:
    profile = t.get_choice("profile", personality_names(), "generic")
    faults = t.get_str_list("faults", ())
    for i, fault in enumerate(faults):
        try:
            parse_fault(fault)
        except ValueError as exc:
            where = f"{t.key_path('faults')}[{i}]"
            raise ConfigError(t.file, where, f"a fault ({exc})", fault) from None
    listen = t.get_optional_str("listen", expected="HOST:PORT")
    preload = t.get_optional_str("preload", expected="a path")
    defaults = ModemSpec(name="")
    spec = ModemSpec(
        name=t.get_str("name", non_empty=True, expected="a non-empty string"),
        profile=profile,
        link=_optional_path(t, "link"),
        listen=parse_hostport(listen, t.key_path("listen"), file=t.file) if listen else None,
        pty=t.get_bool("pty", defaults.pty),
        msisdn=t.get_optional_str("msisdn"),
        imsi=t.get_optional_str("imsi"),
        iccid=t.get_optional_str("iccid"),
        imei=t.get_optional_str("imei"),
        operator=t.get_str("operator", defaults.operator),
        faults=faults,
        preload=_preload(base / preload) if preload else (),
        seed=t.get_optional_int("seed"),
        sm_capacity=t.get_int("sm_capacity", defaults.sm_capacity),
        me_capacity=t.get_optional_int("me_capacity"),
        timing_scale=t.get_float("timing_scale", defaults.timing_scale),
        noise_interval_s=t.get_float("noise_interval_s", defaults.noise_interval_s),
        inter_part_s=t.get_float("inter_part_s", defaults.inter_part_s),
        reenumerate_s=t.get_float("reenumerate_s", defaults.reenumerate_s),
        cnma_timeout_s=t.get_float("cnma_timeout_s", defaults.cnma_timeout_s),
        report_delay_s=t.get_float("report_delay_s", defaults.report_delay_s),
        retry_s=t.get_float_list("retry_s", defaults.retry_s),
        cold_boot=t.get_bool("cold_boot", defaults.cold_boot),
        cnum_written=t.get_bool("cnum_written", defaults.cnum_written),
        rssi=t.get_int("rssi", defaults.rssi),
        rssi_walk_s=t.get_float("rssi_walk_s", defaults.rssi_walk_s),
        aux_ports=t.get_str_list("aux_ports", (), choices=AUX_KINDS),
    )
    t.finish()
    return spec


def _preload(path: Path) -> tuple[PreloadMessage, ...]:
    try:
        return load_preload(path)
    except OSError as exc:
        problem = f"cannot read: {exc.strerror}"
        raise ConfigError(str(path), "", "a readable file", problem=problem) from exc


def load_fleet(path: Path) -> FleetConfig:
    root = Table(load_toml(path), file=path.name)
    defaults = root.get_raw("defaults") or {}
    specs: list[ModemSpec] = []
    for i, item in enumerate(root.get_tables("modem")):
        # [defaults] fill in any key a [[modem]] leaves out; errors name the modem.
        merged = {"name": f"modem{i + 1}", **defaults, **item.data}
        specs.append(_spec_from_table(Table(merged, file=item.file, path=item.path), path.parent))
    generate = root.get_table("generate")
    if generate is not None:
        first = generate.get_int("first", len(specs) + 1)
        count = generate.get_int("count", 0, min_value=0)
        pattern = generate.get_str("link_pattern", "")
        generate.finish()
        for n in range(first, first + count):
            table: dict[str, object] = {**defaults, "name": f"modem{n:02d}"}
            if pattern:
                table["link"] = pattern.format(n=n)
            where = Table(table, file=root.file, path=f"generate[{n}]")
            specs.append(_spec_from_table(where, path.parent))
    names = [s.name for s in specs]
    duplicate = next((name for i, name in enumerate(names) if name in names[:i]), None)
    if duplicate is not None:
        raise root.error("modem", "modems with distinct names", duplicate)
    control = root.get_optional_str("control", expected="HOST:PORT")
    transcript = _optional_path(root, "transcript")
    scenario = root.get_optional_str("scenario", expected="a path")
    config = FleetConfig(
        modems=tuple(specs),
        control=parse_hostport(control, "control", file=root.file) if control else None,
        transcript=transcript,
        seed=root.get_int("seed", 0),
        scenario=_scenario_path(scenario, path.parent),
    )
    root.finish()
    return config


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
    "ModemSpec",
    "PreloadMessage",
    "RunningModem",
    "build_modem_simulator",
    "load_fleet",
    "load_preload",
    "run_fleet",
]
