"""Find the serial ports that answer AT and identify the modem and SIM behind each.

`smsprobe-agent discover` for people; `probe_port` / `discover` for the agent (re-finding
a modem by IMEI after USB re-enumeration). Known DIAG/NMEA interfaces of a profiled USB
device are never probed: AT on a QCDM port can confuse the modem (docs/modems.md, "USB ports").
"""

from __future__ import annotations

import asyncio
import contextlib
import glob
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Final

import structlog

from agent.modem import commands as c
from agent.modem.at import AtChannel, FileTranscript, Transcript
from agent.modem.carrier import CarrierInfo, carrier_from_imsi
from agent.modem.errors import AtError, ModemError, ResponseParseError
from agent.modem.gsm import GsmModem, ModemIdentity
from agent.modem.profiles import ModemProfile, load_profiles, match_profile
from agent.modem.transport import SerialByteStream

_log = structlog.get_logger("agent.discovery")

DEFAULT_PORT_GLOBS: Final = ("/dev/serial/by-id/*", "/dev/ttyUSB*", "/dev/ttyACM*")


@dataclass(frozen=True, slots=True)
class PortInfo:
    url: str  # what we open (a by-id path, a tty, or a pyserial URL)
    device: str  # resolved device node ("" for URLs)
    vid_pid: str | None = None  # "2c7c:0125"
    interface: int | None = None  # USB interface number of this tty
    usb_serial: str = ""


@dataclass(frozen=True, slots=True)
class DiscoveredModem:
    port: PortInfo
    profile: str
    identity: ModemIdentity
    carrier: CarrierInfo

    def to_json(self) -> dict[str, Any]:
        return {
            "url": self.port.url,
            "device": self.port.device,
            "vid_pid": self.port.vid_pid,
            "interface": self.port.interface,
            "usb_serial": self.port.usb_serial,
            "profile": self.profile,
            **asdict(self.identity),
            "carrier": self.carrier.carrier,
            "carrier_mcc_mnc": self.carrier.mcc_mnc,
            "mvno": self.carrier.mvno,
        }


def _usb_table() -> dict[str, PortInfo]:
    """Resolved tty path -> USB facts, from sysfs via pyserial's list_ports."""
    from serial.tools import list_ports

    table: dict[str, PortInfo] = {}
    for info in list_ports.comports():
        vid_pid = (
            f"{info.vid:04x}:{info.pid:04x}"
            if info.vid is not None and info.pid is not None
            else None
        )
        interface: int | None = None
        location = info.location or ""
        # "1-1.2:1.3" -> configuration 1, interface 3
        if ":" in location:
            tail = location.rsplit(":", 1)[1]
            with contextlib.suppress(ValueError):
                interface = int(tail.split(".")[-1])
        device = os.path.realpath(info.device)
        table[device] = PortInfo(device, device, vid_pid, interface, info.serial_number or "")
    return table


def candidate_ports(patterns: Iterable[str]) -> list[PortInfo]:
    """Expand globs and URLs into distinct ports (by-id symlinks and the tty they point to
    count once; the by-id name is kept because it survives re-enumeration)."""
    usb = _usb_table()
    seen: dict[str, PortInfo] = {}
    for pattern in patterns:
        if "://" in pattern:
            seen.setdefault(pattern, PortInfo(pattern, ""))
            continue
        matches = sorted(glob.glob(pattern)) if glob.has_magic(pattern) else [pattern]
        for path in matches:
            if not os.path.exists(path):
                continue
            device = os.path.realpath(path)
            if device in seen and "/by-id/" not in path:
                continue
            known = usb.get(device)
            seen[device] = PortInfo(
                path,
                device,
                known.vid_pid if known else None,
                known.interface if known else None,
                known.usb_serial if known else "",
            )
    return list(seen.values())


def should_skip(port: PortInfo, profiles: Mapping[str, ModemProfile]) -> bool:
    """A port whose USB interface a matching profile lists as DIAG/NMEA/network."""
    if port.vid_pid is None or port.interface is None:
        return False
    return any(
        port.vid_pid in p.match.usb and port.interface in p.match.skip_interfaces
        for p in profiles.values()
    )


async def probe_port(
    url: str,
    timeout_s: float = 3.0,
    *,
    profiles: Mapping[str, ModemProfile] | None = None,
    port: PortInfo | None = None,
    transcript: Transcript | None = None,
) -> DiscoveredModem | None:
    """Open `url`, sync with `AT` (up to 3 tries), identify modem and SIM; None when the port
    does not answer AT or cannot be opened. Never raises for a dead or silent port."""
    table = profiles if profiles is not None else load_profiles()
    if port is None:
        device = "" if "://" in url else os.path.realpath(url)
        known = _usb_table().get(device) if device else None
        port = PortInfo(
            url,
            device,
            known.vid_pid if known else None,
            known.interface if known else None,
            known.usb_serial if known else "",
        )
    info = port
    channel = AtChannel(SerialByteStream(url), name=url, transcript=transcript)
    try:
        await channel.start()
    except ModemError as exc:
        _log.info("port_probe_failed", url=url, reason=str(exc))
        return None
    try:
        return await _identify(channel, info, table, timeout_s)
    except ModemError as exc:
        _log.info("port_probe_failed", url=url, reason=str(exc))
        return None
    finally:
        await channel.close()


async def _identify(
    channel: AtChannel, info: PortInfo, profiles: Mapping[str, ModemProfile], timeout_s: float
) -> DiscoveredModem | None:
    per_try = max(timeout_s / 3, 0.2)
    for _attempt in range(3):
        try:
            await channel.command("AT", timeout_s=per_try)
            break
        except ModemError as exc:
            if not exc.transient and not isinstance(exc, AtError):
                raise
    else:
        _log.info("port_did_not_answer_at", url=info.url)
        return None
    for cmd in ("ATE0", "AT+CMEE=1"):
        with contextlib.suppress(AtError):
            await channel.command(cmd, timeout_s=timeout_s)
    manufacturer = model = ""
    with contextlib.suppress(AtError, ResponseParseError):
        manufacturer = c.parse_info((await channel.command("AT+CGMI", timeout_s=timeout_s)).lines)
        model = c.parse_info((await channel.command("AT+CGMM", timeout_s=timeout_s)).lines)
    profile = match_profile(manufacturer, model, info.vid_pid, profiles=profiles)
    modem = GsmModem(channel, profile)
    identity = await modem.identify()
    carrier = carrier_from_imsi(identity.imsi, identity.msisdn)
    _log.info(
        "modem_discovered",
        url=info.url,
        profile=profile.name,
        model=identity.model,
        imei=identity.imei,
    )
    return DiscoveredModem(info, profile.name, identity, carrier)


async def discover(
    patterns: Sequence[str] = DEFAULT_PORT_GLOBS,
    timeout_s: float = 3.0,
    *,
    profiles: Mapping[str, ModemProfile] | None = None,
    transcript_dir: Path | None = None,
) -> list[DiscoveredModem]:
    """Probe every candidate port concurrently; modems found, in port order. With
    `transcript_dir`, every byte in and out of each port goes to `<dir>/<port>.log`."""
    table = profiles if profiles is not None else load_profiles()
    ports = [p for p in candidate_ports(patterns) if not should_skip(p, table)]
    transcripts: list[FileTranscript] = []

    def transcript_for(url: str) -> FileTranscript | None:
        if transcript_dir is None:
            return None
        name = re.sub(r"[^A-Za-z0-9_.-]+", "_", url).strip("_") + ".log"
        transcripts.append(FileTranscript(transcript_dir / name))
        return transcripts[-1]

    try:
        results = await asyncio.gather(
            *(
                probe_port(
                    p.url, timeout_s, profiles=table, port=p, transcript=transcript_for(p.url)
                )
                for p in ports
            )
        )
    finally:
        for t in transcripts:
            t.close()
    return one_port_per_modem([r for r in results if r is not None], table)


def one_port_per_modem(
    found: Sequence[DiscoveredModem], profiles: Mapping[str, ModemProfile]
) -> list[DiscoveredModem]:
    """A modem with two AT ports (Quectel if02 + if03, Huawei PCUI + modem) answers on
    both: keep one per IMEI, the profile's primary AT interface if known, else the first
    (ports are in sorted order). Modems without an IMEI are all kept."""
    chosen: dict[str, DiscoveredModem] = {}
    out: list[DiscoveredModem] = []
    for modem in found:
        imei = modem.identity.imei
        if not imei:
            out.append(modem)
            continue
        current = chosen.get(imei)
        profile = profiles.get(modem.profile)
        primary = profile.match.at_interface if profile else None
        if current is None or (
            primary is not None
            and modem.port.interface == primary
            and current.port.interface != primary
        ):
            chosen[imei] = modem
    out.extend(chosen.values())
    order = {id(m): i for i, m in enumerate(found)}
    return sorted(out, key=lambda m: order[id(m)])


def find_by_imei(modems: Iterable[DiscoveredModem], imei: str) -> DiscoveredModem | None:
    return next((m for m in modems if m.identity.imei == imei), None)
