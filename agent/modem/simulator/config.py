"""What a simulated modem is configured with: identity, timing, volatile AT settings, clock."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Protocol

from agent.modem.simulator.network import RetrySchedule
from agent.modem.simulator.personalities import Personality

OPERATOR_NAMES = {
    "46000": "CHINA MOBILE",
    "46002": "CHINA MOBILE",
    "46004": "CHINA MOBILE",
    "46007": "CHINA MOBILE",
    "46008": "CHINA MOBILE",
    "46001": "CHN-UNICOM",
    "46006": "CHN-UNICOM",
    "46009": "CHN-UNICOM",
    "46003": "CHN-CT",
    "46005": "CHN-CT",
    "46011": "CHN-CT",
    "46015": "CBN",
}


REGISTERED = frozenset({1, 5})


class Clock(Protocol):
    def monotonic(self) -> float: ...

    def now(self) -> datetime: ...


class SystemClock:
    def monotonic(self) -> float:
        return time.monotonic()

    def now(self) -> datetime:
        return datetime.now(UTC)


def _luhn_digit(digits: str) -> str:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2 == 0:
            d *= 2
            d = d - 9 if d > 9 else d
        total += d
    return str((10 - total % 10) % 10)


@dataclass(frozen=True)
class Identity:
    msisdn: str
    imsi: str
    iccid: str
    imei: str
    operator: str = "46000"  # MCC-MNC
    smsc: str = "+8613800250500"

    @property
    def operator_name(self) -> str:
        return OPERATOR_NAMES.get(self.operator, self.operator)

    @classmethod
    def derive(cls, n: int, operator: str = "46000") -> Identity:
        """A plausible, unique identity for simulated modem number `n`."""
        imei14 = f"86{n:012d}"
        return cls(
            msisdn=f"+86138{n:08d}",
            imsi=f"{operator}{n:010d}"[:15],
            iccid=f"898600{n:013d}",
            imei=imei14 + _luhn_digit(imei14),
            operator=operator,
        )

    def matches(self, key: str) -> bool:
        return key in (self.msisdn, self.msisdn.lstrip("+"), self.imsi, self.iccid, self.imei)


@dataclass(frozen=True)
class Timing:
    """All durations in seconds; `scale` multiplies boot/readiness/re-enumeration times."""

    scale: float = 1.0
    command_latency_s: float = 0.005
    per_entry_s: float = 0.002  # CMGL cost per listed message (docs/modems.md, "Timing")
    reenumerate_s: float = 5.0  # USB gone after AT+CFUN=1,1 on USB modules (5-20 s)
    noise_interval_s: float = 10.0  # vendor noise URC period, 0 = off
    inter_part_s: float = 1.0  # parts of one message arrive this far apart (docs/modems.md)
    cnma_timeout_s: float = 15.0  # CSMS=1: +CMT not acked by then is redelivered (TS 27.005 §3.4.4)
    report_delay_s: float = 2.0  # status report after an AT+CMGS with TP-SRR
    submit_latency_s: float = 0.3  # AT+CMGS network round trip


@dataclass(frozen=True)
class ModemSimulatorConfig:
    identity: Identity
    personality: Personality
    name: str = "modem"
    sm_capacity: int = 30
    me_capacity: int | None = None  # None: the personality's
    sr_capacity: int = 20
    timing: Timing = field(default_factory=Timing)
    retry: RetrySchedule = field(default_factory=RetrySchedule)
    seed: int = 0
    cold_boot: bool = False  # emit boot URCs at start instead of starting already booted
    rssi: int = 21  # 27.007 +CSQ <rssi>: dBm = -113 + 2 * rssi
    rssi_walk_s: float = 0.0  # > 0: signal drifts by ±1-2 steps this often (seeded)
    cnum_written: bool = True  # many Chinese SIMs have no MSISDN on the SIM (+CNUM, TS 27.007 §7.1)
    smsc_utc_offset_h: float = 8.0  # Chinese SMSC timestamps are +08:00 (docs/modems.md)


@dataclass
class Settings:
    """Volatile settings: lost on reboot / re-enumeration (docs/modems.md, "Initialisation")."""

    echo: bool
    cmee: int
    cmgf: int
    cscs: str
    cnmi: list[int]
    mems: list[str]
    creg_n: int = 0
    cgreg_n: int = 0
    cereg_n: int = 0
    cops_format: int = 0
    csms: int = 0
    csmp: tuple[int, int, int, int] = (17, 167, 0, 0)
    curc: bool = True  # Huawei ^CURC: periodic noise on
