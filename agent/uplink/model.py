"""Values the uplink exchanges with the collector besides outbox records: who the agent is
(Register) and what the collector wants from it (WatchConfig). Proto types stay in serde."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class SimIdentity:
    iccid: str
    imsi: str = ""
    msisdn: str = ""  # empty when the SIM does not carry it
    operator_mcc_mnc: str = ""  # home network from the IMSI, e.g. "46000"
    carrier: str = ""  # china_mobile | china_unicom | china_telecom | china_broadnet | other
    mvno: str = ""
    registered_mcc_mnc: str = ""  # network currently registered on (AT+COPS)


@dataclass(frozen=True, slots=True)
class ModemIdentity:
    imei: str
    manufacturer: str = ""
    model: str = ""
    firmware: str = ""
    port: str = ""  # e.g. /dev/serial/by-id/...
    profile: str = ""  # firmware-config profile name
    sim: SimIdentity | None = None  # None when no SIM is inserted or readable


@dataclass(frozen=True, slots=True)
class AgentIdentity:
    agent_id: str
    software_version: str = ""
    capabilities: tuple[str, ...] = ("sms-receive", "status-report")
    site: str = ""
    region: str = ""


@dataclass(frozen=True, slots=True)
class ExpectedModem:
    imei: str
    iccid: str = ""
    msisdn: str = ""


@dataclass(frozen=True, slots=True)
class CanaryJob:
    canary_id: str
    from_imei: str
    to_msisdn: str
    interval_s: float
    text: str = ""  # may contain {token}


@dataclass(frozen=True, slots=True)
class RemoteConfig:
    """`smsprobe.v1.AgentConfig`: what the collector pushes; version 0 = never received."""

    version: int = 0
    health_interval_s: float = 30.0
    expected_modems: tuple[ExpectedModem, ...] = ()
    canaries: tuple[CanaryJob, ...] = ()
    clock_sync_interval_s: float = 60.0
