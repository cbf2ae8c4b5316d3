"""The AT state machine of a simulated GSM/LTE modem: bytes in, bytes out, injected clock.

Faithful to TS 27.007/27.005 framing as real firmware produces it (modem-and-pdu.md §1-7,
§15): echo of input while E1, `\\r\\n<line>\\r\\n` framing, `\\r\\n> ` prompt, final
results formatted per AT+CMEE, URCs that can land anywhere. No I/O here: `receive()` takes
what the TE wrote, `read_output()` returns what is due on the wire now, `tick()` advances
timers (boot URCs, SMSC deliveries and retries, vendor noise); `next_deadline()` says
when to call again. `pty.py` serves it on a pseudo-terminal or TCP.
"""

from __future__ import annotations

import heapq
import itertools
import random
import re
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from typing import Any, Protocol

from agent.modem.sim.faults import Fault, FaultSet
from agent.modem.sim.network import PendingDelivery, RetrySchedule, SimNetwork
from agent.modem.sim.pdu import (
    DeliverPart,
    SimPduError,
    Submit,
    decode_bcd,
    decode_scts,
    encode_address,
    encode_deliver,
    encode_scts,
    encode_status_report,
    parse_submit,
    summarize_deliver,
)
from agent.modem.sim.personalities import AlphaField, EmptyRead, IccidStyle, Personality
from agent.modem.sim.storage import STAT_ALL, TEXT_STATS, MsgStat, Storages, StoredMessage
from agent.modem.sim.transcript import Transcript

CTRL_Z = 0x1A
ESC = 0x1B

# 27.007 §9.2 / 27.005 §3.2.5 verbose texts for AT+CMEE=2 (subset the simulator raises).
CME_TEXT = {
    3: "operation not allowed",
    4: "operation not supported",
    10: "SIM not inserted",
    13: "SIM failure",
    14: "SIM busy",
    21: "invalid index",
    30: "no network service",
    50: "incorrect parameters",
    100: "unknown",
}
CMS_TEXT = {
    302: "operation not allowed",
    303: "operation not supported",
    304: "invalid PDU mode parameter",
    305: "invalid text mode parameter",
    310: "SIM not inserted",
    314: "SIM busy",
    321: "invalid memory index",
    322: "memory full",
    331: "no network service",
    340: "no +CNMA acknowledgement expected",
    500: "unknown error",
}

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
    per_entry_s: float = 0.002  # CMGL cost per listed message (§12 "long reads")
    reenumerate_s: float = 5.0  # USB gone after AT+CFUN=1,1 on USB modules (§7.3: 5-20 s)
    noise_interval_s: float = 10.0  # vendor noise URC period, 0 = off
    inter_part_s: float = 1.0  # parts of one message arrive this far apart (§13)
    cnma_timeout_s: float = 15.0  # CSMS=1: +CMT not acked by then is redelivered (§6.4)
    report_delay_s: float = 2.0  # status report after an AT+CMGS with TP-SRR
    submit_latency_s: float = 0.3  # AT+CMGS network round trip


@dataclass(frozen=True)
class SimConfig:
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
    cnum_written: bool = True  # many Chinese SIMs have no MSISDN on the SIM (§2.1 +CNUM)
    smsc_utc_offset_h: float = 8.0  # §13: Chinese SMSC timestamps are +08:00


@dataclass
class Settings:
    """Volatile settings: lost on reboot / re-enumeration (§2, §15 item 3)."""

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


@dataclass
class TruthRecord:
    truth_id: int
    message_id: int
    part_no: int
    parts_total: int
    pdu_hex: str
    routed: str  # "stored" | "cmt" | "cds" | "discarded"
    memory: str | None
    index: int | None
    delivered_at: datetime
    urc_sent: bool
    attempts: int
    duplicate_of: int | None = None
    read_at: datetime | None = None
    deleted_at: datetime | None = None
    acked_at: datetime | None = None

    def to_json(self) -> dict[str, Any]:
        def iso(t: datetime | None) -> str | None:
            return None if t is None else t.isoformat()

        return {
            "truth_id": self.truth_id,
            "message_id": self.message_id,
            "part_no": self.part_no,
            "parts_total": self.parts_total,
            "pdu": self.pdu_hex,
            "routed": self.routed,
            "memory": self.memory,
            "index": self.index,
            "delivered_at": iso(self.delivered_at),
            "read_at": iso(self.read_at),
            "deleted_at": iso(self.deleted_at),
            "acked_at": iso(self.acked_at),
            "urc_sent": self.urc_sent,
            "attempts": self.attempts,
            "duplicate_of": self.duplicate_of,
        }


class AtError(Exception):
    """A command failed; `kind` is "cme", "cms" or "plain" (bare ERROR)."""

    def __init__(self, kind: str, code: int = 0) -> None:
        super().__init__(f"{kind} {code}")
        self.kind = kind
        self.code = code


def cme(code: int) -> AtError:
    return AtError("cme", code)


def cms(code: int) -> AtError:
    return AtError("cms", code)


def plain_error() -> AtError:
    return AtError("plain")


def split_args(text: str) -> list[str]:
    """Comma-separated AT parameters; quotes protect commas; whitespace tolerated (§15)."""
    out: list[str] = []
    current: list[str] = []
    quoted = False
    for ch in text:
        if ch == '"':
            quoted = not quoted
            current.append(ch)
        elif ch == "," and not quoted:
            out.append("".join(current).strip())
            current = []
        else:
            current.append(ch)
    out.append("".join(current).strip())
    return [a[1:-1] if len(a) >= 2 and a[0] == a[-1] == '"' else a for a in out]


def _int_arg(value: str) -> int:
    try:
        return int(value.strip())
    except ValueError:
        raise cme(50) from None


def text_scts(when: datetime) -> str:
    """Text-mode timestamp yy/MM/dd,hh:mm:ss±zz, zone in quarter hours (§6.1)."""
    offset = when.utcoffset() or timedelta(0)
    quarters = int(offset.total_seconds() // 900)
    sign = "-" if quarters < 0 else "+"
    return when.strftime("%y/%m/%d,%H:%M:%S") + f"{sign}{abs(quarters):02d}"


_EXT_RE = re.compile(r"([+^!$#%][A-Za-z0-9]+)(.*)", re.S)
_BASIC_RE = re.compile(r"(&?[A-Za-z])(\d*)|(S\d+)(=\d*|\?)", re.I)

Handler = Callable[[str, list[str]], list[str]]


class SimModem:
    """One simulated modem. Not thread-safe: owned by one event loop (STYLE habit 4)."""

    def __init__(
        self,
        config: SimConfig,
        *,
        clock: Clock | None = None,
        transcript: Transcript | None = None,
    ) -> None:
        self.config = config
        self.identity = config.identity
        self.personality = config.personality
        self.name = config.name
        self.clock: Clock = clock or SystemClock()
        self.transcript = transcript
        self.rng = random.Random(config.seed)
        self.faults = FaultSet(self.rng)
        self.timing = config.timing
        p = self.personality
        self.storages = Storages(
            config.sm_capacity,
            config.me_capacity if config.me_capacity is not None else p.me_capacity,
            config.sr_capacity,
            p.index_base,
        )
        self.network = SimNetwork(config.retry)
        self.truth: list[TruthRecord] = []
        self.counters: dict[str, int] = dict.fromkeys(
            (
                "delivered",
                "read",
                "deleted",
                "urc_sent",
                "urc_lost",
                "duplicates",
                "rejected_full",
                "cmt",
                "sent",
                "reboots",
                "unplugs",
            ),
            0,
        )
        self.registration = 1  # 27.007 <stat>: registered, home network
        self.rssi = config.rssi
        self.cfun = 1
        self.settings = self._default_settings()
        self.on_wakeup: Callable[[], None] | None = None  # set by the serving loop
        self.mo_router: Callable[[SimModem, str, DeliverPart], bool] | None = None  # fleet routing
        self.sent: list[dict[str, Any]] = []  # MO messages (AT+CMGS), ground truth
        self._out: deque[tuple[float, bytes]] = deque()
        self._last_due = 0.0
        self._timers: list[tuple[float, int, Callable[[], None]]] = []
        self._seq = itertools.count()
        self._truth_ids = itertools.count(1)
        self._message_ids = itertools.count(1)
        self._line = bytearray()
        self._prompt: tuple[str, str] | None = None  # ("CMGS"|"CMGW", length or address)
        self._prompt_buf = bytearray()
        self._hung: Fault | None = None
        self._present = True
        self._unplug_requests: deque[float] = deque()
        self._urc_buffer: list[str] = []  # CNMI mode 0 buffering (§5)
        self._awaiting_cnma: list[tuple[float, PendingDelivery, int]] = []
        self._full_urc_sent = False
        self._mr = self.rng.randrange(256)
        self._noise_index = 0
        self._boot_at = -1e9
        self._at_ready = -1e9
        self._sim_ready = -1e9
        self._sms_ready = -1e9
        self._last_command = ""  # name of the last extended command run on this line
        self._after_final: Callable[[], None] | None = None  # e.g. reset after its OK
        self._handlers = self._build_handlers()
        if config.cold_boot:
            self._power_on()
        self._schedule_noise()
        if config.rssi_walk_s > 0:
            self._schedule_rssi_walk(config.rssi_walk_s)

    # ------------------------------------------------------------------ public byte API

    def receive(self, data: bytes) -> None:
        """Bytes the TE wrote to the port."""
        now = self.clock.monotonic()
        self._record("<", data)
        if not self._present:
            return
        if self._hung is not None:
            self._receive_hung(data)
            return
        if now < self._at_ready:
            return  # still booting: nothing answers yet (§1.7)
        self.tick()  # what is due (RDY, a +CMTI) goes out before the answer to this input
        for byte in data:
            self._receive_byte(byte)

    def read_output(self) -> bytes:
        """Everything due on the wire now."""
        now = self.clock.monotonic()
        chunks: list[bytes] = []
        while self._out and self._out[0][0] <= now:
            chunks.append(self._out.popleft()[1])
        data = b"".join(chunks)
        if data:
            self._record(">", data)
        return data

    def tick(self) -> None:
        """Run due timers and SMSC deliveries."""
        now = self.clock.monotonic()
        while self._timers and self._timers[0][0] <= now:
            _, _, action = heapq.heappop(self._timers)
            action()
        self._expire_cnma(now)
        for item in self.network.take_due(now):
            self._attempt_delivery(item, now)

    def next_deadline(self) -> float | None:
        candidates = [
            self._out[0][0] if self._out else None,
            self._timers[0][0] if self._timers else None,
            self.network.next_deadline(),
            min((d for d, _, _ in self._awaiting_cnma), default=None),
        ]
        return min((c for c in candidates if c is not None), default=None)

    def take_unplug_request(self) -> float | None:
        """Seconds the port should vanish for (USB re-enumeration), if one is pending."""
        return self._unplug_requests.popleft() if self._unplug_requests else None

    # ------------------------------------------------------------------ control API

    def deliver_text(
        self,
        sender: str,
        text: str,
        scts: datetime | None = None,
        *,
        message_class: int | None = None,
        encoding: str = "auto",
    ) -> int:
        """Queue a message at the SMSC for this subscriber; returns the number of parts."""
        zone = timezone(timedelta(hours=self.config.smsc_utc_offset_h))
        when = scts or self.clock.now().astimezone(zone)
        if when.tzinfo is None:
            when = when.replace(tzinfo=zone)  # a naive SCTS is the SMSC's local time
        message_id = next(self._message_ids)
        parts = encode_deliver(
            sender,
            text,
            when,
            smsc=self.identity.smsc,
            message_class=message_class,
            encoding=encoding,
            concat_ref=message_id & 0xFF,
        )
        self._enqueue(parts, message_id)
        return len(parts)

    def deliver_pdus(self, pdus_hex: list[str]) -> int:
        """Queue raw PDUs (hex incl. SMSC field) as one logical message, in the given order."""
        parts: list[DeliverPart] = []
        for pdu_hex in pdus_hex:
            pdu = bytes.fromhex(pdu_hex)
            if not pdu:
                raise ValueError("empty PDU")
            summary = summarize_deliver(pdu)
            # Malformed vectors are delivered as they are (§15 item 9); keep <length> sane.
            tpdu_length = max(0, len(pdu) - 1 - pdu[0])
            now = self.clock.now()
            parts.append(
                DeliverPart(
                    pdu,
                    tpdu_length,
                    summary.text if summary else "",
                    summary.sender if summary else "",
                    summary.scts if summary else now,
                )
            )
        self._enqueue(parts, next(self._message_ids))
        return len(parts)

    def deliver_parts(self, parts: list[DeliverPart]) -> int:
        """Queue ready-made SMS-DELIVER parts as one logical message (fleet loopback)."""
        self._enqueue(parts, next(self._message_ids))
        return len(parts)

    def set_fault(self, fault: Fault, on: bool = True, **params: float) -> None:
        now = self.clock.monotonic()
        if not on:
            self.faults.disable(fault)
            if fault in (Fault.HANG, Fault.HARD_HANG) and self._hung == fault:
                self._hung = None
            if fault is Fault.NOT_REGISTERED:
                self._registration_changed()
            self._wake()
            return
        self.faults.enable(fault, **params)
        if fault in (Fault.HANG, Fault.HARD_HANG):
            self._hung = fault
            self._line.clear()
        elif fault is Fault.PORT_VANISH:
            self._schedule_vanish(now + self.faults.param(fault, "after_s"))
        elif fault is Fault.NOT_REGISTERED:
            self._registration_changed()
        elif fault is Fault.SIM_MISSING:
            self._urc("+CPIN: NOT INSERTED")
        self._wake()

    def set_registration(self, stat: int) -> None:
        self.registration = stat
        self._registration_changed()
        self._wake()

    def power_cycle(self) -> None:
        """Hard power-cycle (control API): clears hangs, loses volatile settings."""
        self.faults.disable(Fault.HANG)
        self.faults.disable(Fault.HARD_HANG)
        self._hung = None
        self._out.clear()
        self._last_due = 0.0
        self._reboot()

    def unplugged(self) -> None:
        """The serving loop closed the port (USB gone)."""
        self._present = False
        self.counters["unplugs"] += 1
        self._out.clear()

    def replugged(self) -> None:
        """The port is back (new pty at the same link): the modem went through a boot."""
        self._present = True
        # Losing USB power is a power-cycle: even a hard hang is gone (§7.4 step 5).
        self.faults.disable(Fault.HANG)
        self.faults.disable(Fault.HARD_HANG)
        self._hung = None
        self._power_on()
        if self.faults.active(Fault.PORT_VANISH):
            repeat = self.faults.param(Fault.PORT_VANISH, "repeat_s")
            if repeat > 0:
                self._schedule_vanish(self.clock.monotonic() + repeat)
            else:
                self.faults.disable(Fault.PORT_VANISH)

    def status(self) -> dict[str, Any]:
        storage = {mem: list(self.storages.used_total(mem)) for mem in ("SM", "ME", "SR")}
        return {
            "name": self.name,
            "profile": self.personality.name,
            "msisdn": self.identity.msisdn,
            "imsi": self.identity.imsi,
            "iccid": self.identity.iccid,
            "imei": self.identity.imei,
            "operator": self.identity.operator,
            "registration": self._effective_registration(),
            "storage": storage,
            "mem3": self.settings.mems[2],
            "queued": len(self.network),
            "hung": self._hung.value if self._hung else None,
            "present": self._present,
            "faults": self.faults.snapshot(),
            "settings": {
                "echo": self.settings.echo,
                "cmgf": self.settings.cmgf,
                "cnmi": list(self.settings.cnmi),
                "cpms": list(self.settings.mems),
                "cmee": self.settings.cmee,
            },
            "counters": dict(self.counters, rejected_full=self.network.rejected_memory_full),
        }

    def truth_records(self) -> list[dict[str, Any]]:
        return [r.to_json() for r in self.truth]

    # ------------------------------------------------------------------ internals: output

    def _record(self, direction: str, data: bytes) -> None:
        if self.transcript is not None:
            self.transcript.record(self.clock.now(), self.name, direction, data)

    def _wake(self) -> None:
        if self.on_wakeup is not None:
            self.on_wakeup()

    def _emit(self, data: bytes, delay_s: float = 0.0) -> None:
        due = max(self.clock.monotonic() + delay_s, self._last_due)
        if len(data) > 2 and self.faults.fires(Fault.SPLIT_WRITES):
            # §12 partial lines: a line (or a CR/LF pair) arrives in several reads.
            max_delay = self.faults.param(Fault.SPLIT_WRITES, "max_delay_s")
            cuts = sorted(self.rng.sample(range(1, len(data)), min(3, len(data) - 1)))
            start = 0
            for cut in [*cuts, len(data)]:
                self._out.append((due, data[start:cut]))
                start = cut
                due += self.rng.uniform(max_delay / 4, max_delay)
            self._last_due = due
            return
        self._last_due = due
        self._out.append((due, data))

    def _garbage(self) -> bytes:
        if not self.faults.fires(Fault.GARBAGE_BYTES):
            return b""
        n = self.rng.randint(1, int(self.faults.param(Fault.GARBAGE_BYTES, "max_bytes")))
        pool = [0x00, 0xFF, 0xFE, *range(0x80, 0xC0), 0x1A]
        return bytes(self.rng.choice(pool) for _ in range(n)) + b"\r\n"

    def _urc(self, line: str, extra: str | None = None) -> None:
        """An unsolicited result; `extra` is the second line of +CMT/+CDS (§1.5)."""
        if not self._present or self._hung is not None:
            return
        text = f"\r\n{line}\r\n" + (f"{extra}\r\n" if extra is not None else "")
        self._emit(self._garbage() + text.encode("latin-1", errors="replace"))
        self._wake()

    def _noise_line(self) -> str:
        if self.personality.noise_urcs:
            return self.personality.noise_urcs[0].format(rssi=self.rssi)
        return f"+CREG: {self._effective_registration()}"

    def _respond(self, lines: list[str], final: str | None, latency_s: float) -> None:
        if len(lines) >= 2 and self.faults.fires(Fault.REBOOT_MID_RESPONSE):
            # §12: the modem resets mid-response: half the lines, no final, boot URCs.
            self.faults.disable(Fault.REBOOT_MID_RESPONSE)
            half = lines[: len(lines) // 2]
            self._emit(b"\r\n" + "".join(f"{x}\r\n" for x in half).encode("latin-1"), latency_s)
            self._after_final = self._reboot
            return
        body: list[bytes] = []
        if lines:
            body.append(b"\r\n")
            body += [line.encode("latin-1", errors="replace") + b"\r\n" for line in lines]
        if self.faults.fires(Fault.URC_MID_RESPONSE):
            # §1.4: a URC between echo and response or between information lines.
            pos = self.rng.randint(0, len(body))
            body.insert(pos, f"\r\n{self._noise_line()}\r\n".encode())
        out = bytearray()
        for chunk in body:
            out += self._garbage() if chunk.startswith(b"\r\n") else b""
            out += chunk
        if out:
            self._emit(bytes(out), latency_s)
        if final is None or self.faults.fires(Fault.MISSING_FINAL):
            return
        delay = latency_s
        if self.faults.fires(Fault.SLOW_FINAL):
            delay += self.faults.param(Fault.SLOW_FINAL, "delay_s")
        self._emit(self._garbage() + f"\r\n{final}\r\n".encode("latin-1"), delay)

    def _format_error(self, err: AtError) -> str:
        if err.kind == "plain" or self.settings.cmee == 0:
            return "ERROR"
        kind = "CME" if err.kind == "cme" else "CMS"
        if self.settings.cmee == 2:
            table = CME_TEXT if err.kind == "cme" else CMS_TEXT
            return f"+{kind} ERROR: {table.get(err.code, 'unknown error')}"
        return f"+{kind} ERROR: {err.code}"

    # ------------------------------------------------------------------ internals: power

    def _default_settings(self) -> Settings:
        p = self.personality
        return Settings(
            echo=True,  # §1.3: modems power up with echo on
            cmee=p.cmee_default,
            cmgf=0,
            cscs="IRA",
            cnmi=list(p.cnmi_default),
            mems=list(p.default_mems),
        )

    def _at(self, delay_s: float, action: Callable[[], None]) -> None:
        heapq.heappush(self._timers, (self.clock.monotonic() + delay_s, next(self._seq), action))

    def _power_on(self) -> None:
        now = self.clock.monotonic()
        scale = self.timing.scale
        p = self.personality
        self.settings = self._default_settings()
        self._line.clear()
        self._prompt = None
        self._urc_buffer.clear()
        self._awaiting_cnma.clear()
        self.cfun = 1
        self._boot_at = now
        first = min((u.at_s for u in p.boot_urcs), default=0.0)
        self._at_ready = now + first * scale
        cpin = [u.at_s for u in p.boot_urcs if u.line == "+CPIN: READY"]
        self._sim_ready = now + (cpin[0] if cpin else first) * scale
        self._sms_ready = now + p.sms_ready_s * scale
        for urc in p.boot_urcs:
            if urc.line == "+CPIN: READY" and self.faults.active(Fault.SIM_MISSING):
                self._at(urc.at_s * scale, lambda: self._urc("+CPIN: NOT INSERTED"))
                continue
            self._at(urc.at_s * scale, self._urc_later(urc.line))

    def _urc_later(self, line: str) -> Callable[[], None]:
        return lambda: self._urc(line)

    def _reboot(self) -> None:
        self.counters["reboots"] += 1
        if self.personality.reset_reenumerates:
            # The USB device drops off once the pending bytes (the OK) are on the wire.
            seconds = self.timing.reenumerate_s * self.timing.scale
            lead = max(0.0, self._last_due - self.clock.monotonic()) + 0.05
            self._at_ready = float("inf")  # no answers while it resets
            self._at(lead, lambda: self._request_unplug(seconds))
        else:
            self._power_on()
        self._wake()

    def _flush_urcs(self, lines: list[str]) -> None:
        for line in lines:
            self._urc(line)

    def _schedule_vanish(self, when: float) -> None:
        seconds = self.faults.param(Fault.PORT_VANISH, "seconds")
        delay = max(0.0, when - self.clock.monotonic())
        self._at(delay, lambda: self._request_unplug(seconds))

    def _request_unplug(self, seconds: float) -> None:
        self._unplug_requests.append(seconds)
        self._wake()

    def request_unplug(self, seconds: float) -> None:
        """Control API `unplug`: vanish now, come back after `seconds`."""
        self._request_unplug(seconds)

    def set_signal(self, rssi: int) -> None:
        """Control API: 0-31 or 99 (not detectable), as +CSQ reports it."""
        if not (0 <= rssi <= 31 or rssi == 99):
            raise ValueError(f"rssi {rssi} outside 0-31/99")
        self.rssi = rssi

    def _schedule_rssi_walk(self, interval: float) -> None:
        def step() -> None:
            if self.rssi != 99:
                self.rssi = min(31, max(2, self.rssi + self.rng.choice((-2, -1, 0, 1, 2))))
            self._at(interval, step)

        self._at(interval, step)

    def _schedule_noise(self) -> None:
        interval = self.timing.noise_interval_s
        if interval <= 0 or not self.personality.noise_urcs:
            return

        def fire() -> None:
            if self.settings.curc and self.clock.monotonic() >= self._at_ready:
                urcs = self.personality.noise_urcs
                self._urc(urcs[self._noise_index % len(urcs)].format(rssi=self.rssi))
                self._noise_index += 1
            self._at(interval, fire)

        self._at(interval, fire)

    # ------------------------------------------------------------------ internals: input

    def _receive_hung(self, data: bytes) -> None:
        # A hung modem swallows everything; only a plain hang still obeys AT+CFUN=1,1.
        for byte in data:
            if byte == 0x0D:
                line = self._line.decode("latin-1").strip().upper().replace(" ", "")
                self._line.clear()
                if self._hung is Fault.HANG and line == "AT+CFUN=1,1":
                    self.faults.disable(Fault.HANG)
                    self._hung = None
                    self._reboot()
                    return
            elif byte != 0x0A:
                self._line.append(byte)

    def _receive_byte(self, byte: int) -> None:
        if self.settings.echo:
            self._emit(bytes([byte]))
        if self._prompt is not None:
            if byte == CTRL_Z:
                self._finish_prompt()
            elif byte == ESC:
                self._prompt = None
                self._prompt_buf.clear()
                self._respond([], "OK", self.timing.command_latency_s)
            elif byte not in (0x0D, 0x0A) or self.settings.cmgf == 1:
                self._prompt_buf.append(byte)
            return
        if byte == 0x0D:
            line = self._line.decode("latin-1")
            self._line.clear()
            self._execute_line(line)
        elif byte == 0x0A:
            return
        elif byte == 0x08:
            del self._line[-1:]
        else:
            self._line.append(byte)

    def _execute_line(self, raw: str) -> None:
        line = raw.strip()
        if not line:
            return
        if line[:2].upper() != "AT":
            return  # not a command line: real firmware ignores it
        body = line[2:].strip()
        self._last_command = ""
        self._after_final = None
        lines: list[str] = []
        final = "OK"
        latency = self.timing.command_latency_s
        try:
            while body:
                if body[0] in "+^!$#%":
                    command, body = self._split_command(body)
                    lines += self._run_extended(command)
                elif body[0] == ";":
                    body = body[1:].lstrip()
                else:
                    match = _BASIC_RE.match(body)
                    if match is None:
                        raise plain_error()
                    body = body[match.end() :].lstrip()
                    lines += self._run_basic(match)
        except AtError as err:
            final = self._format_error(err)
            self._after_final = None
        except _Prompt:
            self._emit(b"\r\n> ", latency)
            return
        if self._last_command == "+CMGL":
            latency += self.timing.per_entry_s * sum(1 for x in lines if x.startswith("+CMGL"))
        self._respond(lines, final, latency)
        after = self._after_final
        self._after_final = None
        if after is not None:
            after()

    @staticmethod
    def _split_command(body: str) -> tuple[str, str]:
        quoted = False
        for i, ch in enumerate(body):
            if ch == '"':
                quoted = not quoted
            elif ch == ";" and not quoted:
                return body[:i].strip(), body[i + 1 :].lstrip()
        return body.strip(), ""

    def _run_basic(self, match: re.Match[str]) -> list[str]:
        if match.group(3):  # S-register: accept
            return []
        name = match.group(1).upper()
        value = int(match.group(2) or 0)
        if name == "E":
            self.settings.echo = value == 1
        elif name in ("Z",) or name == "&F":
            # ATZ restores the stored profile: echo comes back on (§1.3).
            self.settings = self._default_settings()
        elif name == "I":
            return list(self.personality.ati_lines(self.identity.imei))
        elif name in ("V", "Q", "X", "&W", "&D", "&C", "&K"):
            pass
        else:
            raise plain_error()
        return []

    def _run_extended(self, command: str) -> list[str]:
        match = _EXT_RE.match(command)
        assert match is not None
        name = match.group(1).upper()
        rest = match.group(2).strip()
        self._last_command = name
        for iccid in self.personality.iccid_commands:
            key = iccid.command
            if key.endswith("?") and name == key[:-1] and rest == "?":
                return self._iccid(iccid.prefix, iccid.style)
            if not key.endswith("?") and name == key and rest in ("", "?"):
                return self._iccid(iccid.prefix, iccid.style)
        handler = self._handlers.get(name)
        if handler is None:
            raise plain_error()  # unknown command → ERROR (§15 / brief)
        args: list[str] = []
        if rest == "":
            kind = "action"
        elif rest == "?":
            kind = "read"
        elif rest.replace(" ", "") == "=?":
            kind = "test"
        elif rest.startswith("="):
            kind, args = "set", split_args(rest[1:])
        else:
            raise plain_error()
        return handler(kind, args)

    # ------------------------------------------------------------------ command handlers

    def _build_handlers(self) -> dict[str, Handler]:
        h: dict[str, Handler] = {
            "+CGMI": self._info(lambda: self.personality.manufacturer),
            "+GMI": self._info(lambda: self.personality.manufacturer),
            "+CGMM": self._info(lambda: self.personality.model),
            "+GMM": self._info(lambda: self.personality.model),
            "+CGMR": self._info(lambda: self.personality.revision),
            "+GMR": self._info(lambda: self.personality.revision),
            "+CGSN": self._info(lambda: self.identity.imei),
            "+GSN": self._info(lambda: self.identity.imei),
            "+GCAP": self._info(lambda: "+GCAP: +CGSM"),
            "+CIMI": self._cimi,
            "+CNUM": self._cnum,
            "+CMEE": self._cmee,
            "+CPIN": self._cpin,
            "+CSQ": self._csq,
            "+CESQ": self._cesq,
            "+CREG": self._reg("+CREG", "creg_n", 2),
            "+CGREG": self._reg("+CGREG", "cgreg_n", 2),
            "+CEREG": self._reg("+CEREG", "cereg_n", 5),
            "+COPS": self._cops,
            "+CMGF": self._cmgf,
            "+CSCS": self._cscs,
            "+CPMS": self._cpms,
            "+CNMI": self._cnmi,
            "+CSMP": self._csmp,
            "+CSCA": self._csca,
            "+CSMS": self._csms,
            "+CMGL": self._cmgl,
            "+CMGR": self._cmgr,
            "+CMGD": self._cmgd,
            "+CMGS": self._cmgs,
            "+CMGW": self._cmgw,
            "+CNMA": self._cnma,
            "+CFUN": self._cfun,
            "+CLAC": self._clac,
            "+CPAS": self._info(lambda: "+CPAS: 0"),
            "+CRSM": self._crsm,
            "^CURC": self._curc,
        }
        # Accepted settings that change nothing observable here (voice, URC port routing).
        for name in ("+CLIP", "+CRC", "+CVHU", "+QURCCFG", "+QCFG", "+CATR", "^PORTSEL"):
            h[name] = self._noop
        return h

    def _noop(self, kind: str, args: list[str]) -> list[str]:
        return []

    def _info(self, value: Callable[[], str]) -> Handler:
        def handler(kind: str, args: list[str]) -> list[str]:
            if kind == "test":
                return []
            if kind != "action":
                raise plain_error()
            return [value()]

        return handler

    def _require_sim(self, sms: bool = False) -> None:
        now = self.clock.monotonic()
        if self.faults.active(Fault.SIM_MISSING):
            raise cms(310) if sms else cme(10)
        if now < self._sim_ready:
            raise cms(314) if sms else cme(14)

    def _require_sms_ready(self) -> None:
        self._require_sim(sms=True)
        if self.clock.monotonic() < self._sms_ready:
            raise cms(self.personality.sms_not_ready_cms)  # §1.7 SMS-not-ready window

    def _cimi(self, kind: str, args: list[str]) -> list[str]:
        if kind == "test":
            return []
        self._require_sim()
        prefix = "+CIMI: " if self.personality.imsi_prefixed else ""
        return [prefix + self.identity.imsi]

    def _iccid(self, prefix: str, style: IccidStyle) -> list[str]:
        self._require_sim()
        iccid = self.identity.iccid
        if style is IccidStyle.BARE:
            return [iccid]
        if style is IccidStyle.SWAPPED:
            padded = iccid + ("F" if len(iccid) % 2 else "")
            iccid = "".join(padded[i + 1] + padded[i] for i in range(0, len(padded), 2))
        return [f"{prefix} {iccid}"]

    def _crsm(self, kind: str, args: list[str]) -> list[str]:
        self._require_sim()
        if kind == "set" and args[:2] == ["176", "12258"]:  # READ BINARY EF_ICCID (§2.1)
            padded = self.identity.iccid + ("F" if len(self.identity.iccid) % 2 else "")
            swapped = "".join(padded[i + 1] + padded[i] for i in range(0, len(padded), 2))
            return [f'+CRSM: 144,0,"{swapped}"']
        raise cme(4)

    def _cnum(self, kind: str, args: list[str]) -> list[str]:
        if kind == "test":
            return []
        self._require_sim()
        if not self.config.cnum_written:
            return []
        number = self.identity.msisdn
        toa = 145 if number.startswith("+") else 129
        return [f'+CNUM: "","{self._text_out(number)}",{toa}']

    def _cmee(self, kind: str, args: list[str]) -> list[str]:
        if kind == "read":
            return [f"+CMEE: {self.settings.cmee}"]
        if kind == "test":
            return ["+CMEE: (0-2)"]
        value = _int_arg(args[0]) if kind == "set" and args[0] else 0
        if value not in (0, 1, 2):
            raise cme(50)
        self.settings.cmee = value
        return []

    def _cpin(self, kind: str, args: list[str]) -> list[str]:
        if kind == "test":
            return []
        if kind != "read":
            self._require_sim()
            return []  # PIN entry: this SIM has no PIN
        self._require_sim()
        return ["+CPIN: READY"]

    def _csq(self, kind: str, args: list[str]) -> list[str]:
        if kind == "test":
            return ["+CSQ: (0-31,99),(0-7,99)"]
        if self._effective_registration() not in REGISTERED:
            return ["+CSQ: 99,99"]
        return [f"+CSQ: {self.rssi},99"]

    def _cesq(self, kind: str, args: list[str]) -> list[str]:
        if kind == "test":
            return ["+CESQ: (0-63,99),(0-7,99),(0-96,255),(0-49,255),(0-34,255),(0-97,255)"]
        if self._effective_registration() not in REGISTERED:
            return ["+CESQ: 99,99,255,255,255,255"]
        # LTE: RSRP index follows the signal (rssi 21 → 80, i.e. -61 dBm), RSRQ fixed.
        rsrp = max(0, min(97, 80 + 2 * (self.rssi - 21)))
        return [f"+CESQ: 99,99,255,255,20,{rsrp}"]

    def _effective_registration(self) -> int:
        if self.faults.active(Fault.SIM_MISSING) or self.cfun != 1:
            return 0
        if self.faults.active(Fault.NOT_REGISTERED):
            return int(self.faults.param(Fault.NOT_REGISTERED, "stat"))
        return self.registration

    def _reg_line(self, prefix: str, n: int, urc: bool) -> str:
        stat = self._effective_registration()
        head = f"{prefix}: {stat}" if urc else f"{prefix}: {n},{stat}"
        if n >= 2 and stat in REGISTERED:
            head += ',"1A2B","01CEAD8F",7'
        return head

    def _reg(self, prefix: str, attr: str, max_n: int) -> Handler:
        def handler(kind: str, args: list[str]) -> list[str]:
            if kind == "read":
                return [self._reg_line(prefix, getattr(self.settings, attr), urc=False)]
            if kind == "test":
                return [f"{prefix}: (0-{max_n})"]
            value = _int_arg(args[0]) if kind == "set" and args[0] else 0
            if not 0 <= value <= max_n:
                raise cme(50)
            setattr(self.settings, attr, value)
            return []

        return handler

    def _registration_changed(self) -> None:
        if self._effective_registration() in REGISTERED:
            self.network.subscriber_present(self.clock.monotonic())
        for prefix, n in (
            ("+CREG", self.settings.creg_n),
            ("+CGREG", self.settings.cgreg_n),
            ("+CEREG", self.settings.cereg_n),
        ):
            if n >= 1:
                self._urc(self._reg_line(prefix, n, urc=True))

    def _cops(self, kind: str, args: list[str]) -> list[str]:
        if kind == "test":
            op = self.identity.operator
            return [f'+COPS: (2,"{self.identity.operator_name}","{op}","{op}",7),,(0-4),(0-2)']
        if kind == "set":
            mode = _int_arg(args[0]) if args[0] else 0
            if mode == 3 and len(args) > 1:
                fmt = _int_arg(args[1])
                if fmt not in (0, 1, 2):
                    raise cme(50)
                self.settings.cops_format = fmt
            return []
        if kind != "read":
            raise plain_error()
        if self._effective_registration() not in REGISTERED:
            return ["+COPS: 0"]
        fmt = self.settings.cops_format
        oper = self.identity.operator if fmt == 2 else self.identity.operator_name
        return [f'+COPS: 0,{fmt},"{self._text_out(oper) if fmt != 2 else oper}",7']

    def _cmgf(self, kind: str, args: list[str]) -> list[str]:
        if kind == "read":
            return [f"+CMGF: {self.settings.cmgf}"]
        if kind == "test":
            return ["+CMGF: (0,1)"]
        value = _int_arg(args[0]) if kind == "set" and args[0] else 0
        if value not in (0, 1):
            raise cms(303)
        self.settings.cmgf = value
        return []

    def _cscs(self, kind: str, args: list[str]) -> list[str]:
        if kind == "read":
            return [f'+CSCS: "{self.settings.cscs}"']
        if kind == "test":
            return ['+CSCS: ("IRA","GSM","UCS2","HEX")']
        if kind != "set" or args[0].upper() not in ("IRA", "GSM", "UCS2", "HEX"):
            raise cme(4)
        self.settings.cscs = args[0].upper()
        return []

    def _text_out(self, value: str) -> str:
        """Strings in text mode / <alpha> follow AT+CSCS (§2.1)."""
        if self.settings.cscs == "UCS2" or not value.isascii():
            # Text the TE charset cannot carry comes out as UCS2 hex, as on real firmware.
            return value.encode("utf-16-be").hex().upper()
        return value

    def _cpms(self, kind: str, args: list[str]) -> list[str]:
        supported = self.personality.supported_mems
        mem3_ok = tuple(m for m in supported if m != "SR")
        if kind == "test":

            def group(mems: tuple[str, ...]) -> str:
                return "(" + ",".join(f'"{m}"' for m in mems) + ")"

            return [f"+CPMS: {group(supported)},{group(mem3_ok)},{group(mem3_ok)}"]
        self._require_sms_ready()
        if kind == "read":
            parts = []
            for mem in self.settings.mems:
                used, total = self.storages.used_total(mem)
                parts.append(f'"{mem}",{used},{total}')
            return ["+CPMS: " + ",".join(parts)]
        if kind != "set" or not args[0]:
            raise cms(302)
        wanted = [a.upper() for a in args[:3]]
        for pos, mem in enumerate(wanted):
            if mem not in (supported if pos == 0 else mem3_ok):
                raise cms(302)
        for pos, mem in enumerate(wanted):
            self.settings.mems[pos] = mem
        numbers = []
        for mem in self.settings.mems:
            numbers += [str(n) for n in self.storages.used_total(mem)]
        return ["+CPMS: " + ",".join(numbers)]

    def _cnmi(self, kind: str, args: list[str]) -> list[str]:
        if kind == "read":
            return ["+CNMI: " + ",".join(str(v) for v in self.settings.cnmi)]
        if kind == "test":
            return [self.personality.cnmi_test]
        if kind != "set":
            raise plain_error()
        values = list(self.settings.cnmi)
        for pos, arg in enumerate(args[:5]):
            if arg == "":
                continue
            value = _int_arg(arg)
            if value not in self.personality.cnmi_supported[pos]:
                raise cms(303)  # §5: reject unsupported values, agents must fall back
            values[pos] = value
        self.settings.cnmi = values
        if values[0] != 0:
            buffered, self._urc_buffer = self._urc_buffer, []
            if values[4] == 0:  # <bfr> 0: flush the buffered indications (§5)
                self._after_final = lambda: self._flush_urcs(buffered)
        return []

    def _csmp(self, kind: str, args: list[str]) -> list[str]:
        if kind == "read":
            return ["+CSMP: " + ",".join(str(v) for v in self.settings.csmp)]
        if kind == "set":
            values = [_int_arg(a) if a else 0 for a in (args + ["0"] * 4)[:4]]
            self.settings.csmp = (values[0], values[1], values[2], values[3])
        return []

    def _csca(self, kind: str, args: list[str]) -> list[str]:
        if kind == "read":
            smsc = self.identity.smsc
            return [f'+CSCA: "{self._text_out(smsc)}",{145 if smsc.startswith("+") else 129}']
        return []

    def _csms(self, kind: str, args: list[str]) -> list[str]:
        if kind == "read":
            return [f"+CSMS: {self.settings.csms},1,1,1"]
        if kind == "test":
            return ["+CSMS: (0,1)"]
        value = _int_arg(args[0]) if kind == "set" and args[0] else 0
        if value not in (0, 1):
            raise cms(303)
        self.settings.csms = value
        return ["+CSMS: 1,1,1"]

    def _mark_read(self, message: StoredMessage) -> None:
        if message.stat is MsgStat.REC_UNREAD:
            message.stat = MsgStat.REC_READ
        if message.truth_id > 0:
            record = self.truth[message.truth_id - 1]
            if record.read_at is None:
                record.read_at = self.clock.now()
                self.counters["read"] += 1

    def _message_lines(self, index: int | None, message: StoredMessage) -> list[str]:
        """+CMGL (index given) or +CMGR lines for one stored message (§6.1, §6.2)."""
        prefix = "+CMGL" if index is not None else "+CMGR"
        lead = f"{prefix}: {index}," if index is not None else f"{prefix}: "
        if self.settings.cmgf == 0:
            style = self.personality.alpha_field
            alpha = {AlphaField.EMPTY: ",", AlphaField.QUOTED: '"",', AlphaField.ABSENT: ""}[style]
            if index is not None and style is AlphaField.ABSENT:
                alpha = ","
            header = f"{lead}{int(message.stat)},{alpha}{message.tpdu_length}"
            return [header, message.pdu.hex().upper()]
        stat = f'"{message.stat.text}"'
        if message.is_report:
            tpdu = message.pdu[message.pdu[0] + 1 :]
            mr = tpdu[1]
            ra_len = tpdu[2]
            ra_octets = (ra_len + 1) // 2
            ra = ("+" if tpdu[3] & 0x70 == 0x10 else "") + decode_bcd(
                tpdu[4 : 4 + ra_octets], ra_len
            )
            at = 4 + ra_octets
            scts, dt, st = tpdu[at : at + 7], tpdu[at + 7 : at + 14], tpdu[at + 14]
            return [
                f'{lead}{stat},6,{mr},"{ra}",{145 if ra.startswith("+") else 129},'
                f'"{text_scts(decode_scts(scts))}","{text_scts(decode_scts(dt))}",{st}'
            ]
        summary = summarize_deliver(message.pdu)
        if summary is None:
            return [f"{lead}{stat}", message.pdu.hex().upper()]
        sender = self._text_out(summary.sender)
        return [
            f'{lead}{stat},"{sender}",,"{text_scts(summary.scts)}"',
            self._text_out(summary.text),
        ]

    def _cmgl(self, kind: str, args: list[str]) -> list[str]:
        if kind == "test":
            if self.settings.cmgf == 0:
                return ["+CMGL: (0-4)"]
            return ['+CMGL: ("REC UNREAD","REC READ","STO UNSENT","STO SENT","ALL")']
        self._require_sms_ready()
        arg = args[0] if kind == "set" and args else ""
        if self.settings.cmgf == 0:
            if arg and not arg.isdigit():
                raise cms(304)
            wanted = int(arg) if arg else 0
            if wanted not in (0, 1, 2, 3, STAT_ALL):
                raise cms(304)
        else:
            if arg.upper() not in TEXT_STATS and arg:
                raise cms(305)
            wanted = TEXT_STATS[arg.upper()] if arg else 0
        lines: list[str] = []
        for index, message in self.storages.items(self.settings.mems[0]):
            if wanted == STAT_ALL or int(message.stat) == wanted:
                lines += self._message_lines(index, message)
                self._mark_read(message)
        return lines

    def _cmgr(self, kind: str, args: list[str]) -> list[str]:
        if kind == "test":
            return []
        self._require_sms_ready()
        if kind != "set" or not args[0]:
            raise cms(302)
        index = _int_arg(args[0])
        mem = self.settings.mems[0]
        if not self.storages.valid_index(mem, index):
            raise cms(321)
        message = self.storages.get(mem, index)
        if message is None:
            if self.personality.cmgr_empty is EmptyRead.OK:
                return []
            raise cms(321 if self.personality.cmgr_empty is EmptyRead.CMS_321 else 500)
        lines = self._message_lines(None, message)
        self._mark_read(message)
        return lines

    def _delete(self, mem: str, index: int) -> bool:
        was_full = self.storages.is_full(self.settings.mems[2])
        message = self.storages.delete(mem, index)
        if message is None:
            return False
        if message.truth_id > 0:
            record = self.truth[message.truth_id - 1]
            record.deleted_at = self.clock.now()
            self.counters["deleted"] += 1
        if was_full and not self.storages.is_full(self.settings.mems[2]):
            self._full_urc_sent = False
            self.network.memory_available(self.clock.monotonic())  # RP-SMMA (§6.5)
        return True

    def _cmgd(self, kind: str, args: list[str]) -> list[str]:
        if kind == "test":
            return [
                "+CMGD: ("
                + ",".join(str(i) for i, _ in self.storages.items(self.settings.mems[0]))
                + "),(0-4)"
            ]
        self._require_sms_ready()
        if kind != "set" or not args[0]:
            raise cms(302)
        index = _int_arg(args[0])
        flag = _int_arg(args[1]) if len(args) > 1 and args[1] else 0
        mem = self.settings.mems[0]
        if flag == 0:
            if not self.storages.valid_index(mem, index):
                raise cms(321)
            if not self._delete(mem, index) and self.personality.cmgd_empty is not EmptyRead.OK:
                raise cms(321)
            return []
        # 27.005 §3.5.4 delflag: 1 read, 2 read+sent, 3 read+sent+unsent, 4 all.
        doomed = {
            1: {MsgStat.REC_READ},
            2: {MsgStat.REC_READ, MsgStat.STO_SENT},
            3: {MsgStat.REC_READ, MsgStat.STO_SENT, MsgStat.STO_UNSENT},
            4: set(MsgStat),
        }.get(flag)
        if doomed is None:
            raise cms(302)
        for i, message in self.storages.items(mem):
            if message.stat in doomed:
                self._delete(mem, i)
        return []

    def _cmgs(self, kind: str, args: list[str]) -> list[str]:
        return self._start_prompt("CMGS", kind, args)

    def _cmgw(self, kind: str, args: list[str]) -> list[str]:
        return self._start_prompt("CMGW", kind, args)

    def _start_prompt(self, command: str, kind: str, args: list[str]) -> list[str]:
        if kind == "test":
            return []
        self._require_sms_ready()
        if kind != "set" or not args[0]:
            raise cms(304 if self.settings.cmgf == 0 else 305)
        if self.settings.cmgf == 0 and not args[0].isdigit():
            raise cms(304)
        self._prompt = (command, args[0])
        self._prompt_buf.clear()
        raise _Prompt()

    def _finish_prompt(self) -> None:
        assert self._prompt is not None
        command, param = self._prompt
        self._prompt = None
        data = bytes(self._prompt_buf)
        self._prompt_buf.clear()
        latency = self.timing.command_latency_s
        try:
            if self.settings.cmgf == 0:
                try:
                    pdu = bytes.fromhex(data.decode("latin-1").strip())
                except ValueError as exc:
                    raise cms(304) from exc
                if not pdu or len(pdu) - 1 - pdu[0] != int(param):
                    raise cms(304)  # <length> counts TPDU octets only (§1.6)
            else:
                pdu = b""
            if command == "CMGW":
                stored = self.storages.store(
                    self.settings.mems[1],
                    StoredMessage(pdu, len(pdu) - 1 - pdu[0] if pdu else 0, MsgStat.STO_UNSENT, -1),
                )
                if stored is None:
                    raise cms(322)
                self._respond([f"+CMGW: {stored[1]}"], "OK", latency)
                return
            if self._effective_registration() not in REGISTERED:
                raise cms(331)
            delay = latency + self.timing.submit_latency_s
            if self.faults.active(Fault.SLOW_SEND):
                delay += self.faults.param(Fault.SLOW_SEND, "delay_s")
            self._respond([f"+CMGS: {self._submit(pdu, param)}"], "OK", delay)
        except AtError as err:
            self._respond([], self._format_error(err), latency)

    def _submit(self, pdu: bytes, param: str) -> int:
        self._mr = (self._mr + 1) % 256  # TP-MR assigned by the ME (27.005 +CMGS: <mr>)
        mr = self._mr
        if self.settings.cmgf == 1:
            self.sent.append({"mr": mr, "destination": param, "pdu": None})
            self.counters["sent"] += 1
            return mr
        try:
            submit = parse_submit(pdu)
        except SimPduError as exc:
            raise cms(304) from exc
        self.sent.append({"mr": mr, "destination": submit.destination, "pdu": pdu.hex().upper()})
        self.counters["sent"] += 1
        if self.mo_router is not None:
            deliver = _submit_to_deliver(submit, self.identity.msisdn, self.clock.now())
            if deliver is not None:
                self.mo_router(self, submit.destination, deliver)
        if submit.srr:
            when = self.clock.now()
            report = encode_status_report(
                mr, submit.destination, when, when + timedelta(seconds=self.timing.report_delay_s)
            )
            item = PendingDelivery(
                part=report,
                message_id=next(self._message_ids),
                part_no=1,
                parts_total=1,
                queued_at=self.clock.monotonic(),
                next_attempt=self.clock.monotonic() + self.timing.report_delay_s,
                is_report=True,
            )
            self.network.enqueue(item)
        return mr

    def _cnma(self, kind: str, args: list[str]) -> list[str]:
        if kind == "test":
            return ["+CNMA: (0-2)"]
        if self.settings.csms != 1 or not self._awaiting_cnma:
            raise cms(340)
        _, _, truth_id = self._awaiting_cnma.pop(0)
        self.truth[truth_id - 1].acked_at = self.clock.now()
        return []

    def _cfun(self, kind: str, args: list[str]) -> list[str]:
        if kind == "read":
            return [f"+CFUN: {self.cfun}"]
        if kind == "test":
            return ["+CFUN: (0,1,4),(0,1)"]
        if kind != "set" or not args[0]:
            raise cme(50)
        fun = _int_arg(args[0])
        reset = len(args) > 1 and args[1] == "1"
        if fun not in (0, 1, 4):
            raise cme(50)
        if reset:
            self._after_final = self._reboot  # OK first, then the modem resets (§2.1)
            return []
        if fun != self.cfun:
            self.cfun = fun
            self._registration_changed()
        return []

    def _clac(self, kind: str, args: list[str]) -> list[str]:
        names = sorted(self._handlers)
        names += [c.command.rstrip("?") for c in self.personality.iccid_commands]
        return [f"AT{n}" for n in names]

    def _curc(self, kind: str, args: list[str]) -> list[str]:
        if kind == "read":
            return [f"^CURC: {int(self.settings.curc)}"]
        if kind == "set":
            self.settings.curc = args[0] != "0"
        return []

    # ------------------------------------------------------------------ network side

    def _enqueue(self, parts: list[DeliverPart], message_id: int) -> None:
        now = self.clock.monotonic()
        order = list(range(len(parts)))
        if len(parts) > 1 and self.faults.fires(Fault.PARTS_OUT_OF_ORDER):
            while order == sorted(order):
                self.rng.shuffle(order)
        for slot, i in enumerate(order):
            self.network.enqueue(
                PendingDelivery(
                    part=parts[i],
                    message_id=message_id,
                    part_no=i + 1,
                    parts_total=len(parts),
                    queued_at=now,
                    next_attempt=now + slot * self.timing.inter_part_s,
                )
            )
        self._wake()

    def _reachable(self, now: float) -> bool:
        return (
            self._present
            and self._hung is None
            and now >= self._sms_ready
            and self._effective_registration() in REGISTERED
        )

    def _attempt_delivery(self, item: PendingDelivery, now: float) -> None:
        if not self._reachable(now):
            self.network.unreachable(item, now)
            return
        item.attempts += 1
        cnmi = self.settings.cnmi
        if item.is_report:
            ds = cnmi[3]
            if ds == 1:
                self._route_direct(item, "+CDS")
            elif ds == 2:
                self._store(item, "SR", "+CDSI")
            else:
                self._new_truth(item, "discarded", None, None, urc_sent=False)
            return
        summary = summarize_deliver(item.part.pdu)
        message_class = summary.message_class if summary else None
        mt = cnmi[1]
        direct = (mt == 2 and message_class != 2) or (mt == 3 and message_class == 3)
        if direct:
            self._route_direct(item, "+CMT")
            return
        # TS 23.038 §4: class 2 is (U)SIM-specific, stored on the SIM whatever mem3 says.
        mem = "SM" if message_class == 2 else self.settings.mems[2]
        self._store(item, mem, "+CMTI" if mt in (1, 2, 3) else None)

    def _store(self, item: PendingDelivery, mem: str, urc: str | None) -> None:
        now = self.clock.monotonic()
        if self.storages.is_full(mem) or self.faults.active(Fault.STORAGE_FULL):
            # RP-ERROR cause 22 to the network; the SMSC keeps the message (§6.5).
            self.network.rejected_full(item, now)
            full_urc = self.personality.full_urc
            if full_urc and not self._full_urc_sent:
                self._full_urc_sent = True
                self._urc(full_urc.format(mem=mem))
            return
        copies = 2 if self.faults.fires(Fault.DUPLICATE_DELIVERY) else 1
        first_truth: int | None = None
        for _ in range(copies):
            message = StoredMessage(
                item.part.pdu,
                item.part.tpdu_length,
                MsgStat.REC_UNREAD,
                truth_id=0,
                is_report=item.is_report,
            )
            stored = self.storages.store(mem, message)
            if stored is None:
                break
            memory, index = stored
            send_urc = urc is not None and not (
                urc == "+CMTI" and self.faults.fires(Fault.LOST_URC)
            )
            record = self._new_truth(item, "stored", memory, index, urc_sent=send_urc)
            record.duplicate_of = first_truth
            if first_truth is None:
                first_truth = record.truth_id
            else:
                self.counters["duplicates"] += 1
            message.truth_id = record.truth_id
            if urc is not None and not send_urc:
                self.counters["urc_lost"] += 1
            if send_urc:
                self._indicate(f'{urc}: "{memory}",{index}')
                if self.faults.fires(Fault.DUPLICATE_URC):
                    self._indicate(f'{urc}: "{memory}",{index}')

    def _indicate(self, line: str, extra: str | None = None) -> None:
        """A new-message indication, subject to CNMI <mode> buffering (§5)."""
        self.counters["urc_sent"] += 1
        if self.settings.cnmi[0] == 0 and extra is None:
            self._urc_buffer.append(line)
            return
        self._urc(line, extra)

    def _route_direct(self, item: PendingDelivery, prefix: str) -> None:
        record = self._new_truth(item, "cmt" if prefix == "+CMT" else "cds", None, None, True)
        self.counters["cmt"] += 1
        pdu = item.part.pdu
        if self.settings.cmgf == 0:
            header = (
                f"{prefix}: ,{item.part.tpdu_length}"
                if prefix == "+CMT"
                else (f"{prefix}: {item.part.tpdu_length}")
            )
            self._indicate(header, pdu.hex().upper())
        else:
            summary = summarize_deliver(pdu)
            if summary is not None:
                self._indicate(
                    f'{prefix}: "{self._text_out(summary.sender)}",,"{text_scts(summary.scts)}"',
                    self._text_out(summary.text),
                )
        if self.settings.csms == 1:
            deadline = self.clock.monotonic() + self.timing.cnma_timeout_s
            self._awaiting_cnma.append((deadline, item, record.truth_id))

    def _expire_cnma(self, now: float) -> None:
        # No +CNMA in time: the network sees a failed delivery and retries (§5: duplicates).
        expired = [entry for entry in self._awaiting_cnma if entry[0] <= now]
        for entry in expired:
            self._awaiting_cnma.remove(entry)
            _, item, _ = entry
            item.next_attempt = now + self.network.retry.delay(max(item.attempts, 1))
            self.network.enqueue(item)

    def _new_truth(
        self,
        item: PendingDelivery,
        routed: str,
        memory: str | None,
        index: int | None,
        urc_sent: bool,
    ) -> TruthRecord:
        record = TruthRecord(
            truth_id=next(self._truth_ids),
            message_id=item.message_id,
            part_no=item.part_no,
            parts_total=item.parts_total,
            pdu_hex=item.part.pdu.hex().upper(),
            routed=routed,
            memory=memory,
            index=index,
            delivered_at=self.clock.now(),
            urc_sent=urc_sent,
            attempts=item.attempts,
        )
        self.truth.append(record)
        if routed != "discarded":
            self.counters["delivered"] += 1
        return record


class _Prompt(Exception):
    """Internal: the command switched to `> ` input mode (AT+CMGS / AT+CMGW)."""


def _submit_to_deliver(submit: Submit, sender: str, now: datetime) -> DeliverPart | None:
    """Turn an SMS-SUBMIT into the SMS-DELIVER the recipient sees (fleet loopback)."""
    t = submit.tpdu
    try:
        first = t[0]
        da_len = t[2]
        i = 4 + (da_len + 1) // 2
        pid, dcs = t[i], t[i + 1]
        i += 2
        vpf = (first >> 3) & 0x03
        i += {0: 0, 2: 1, 1: 7, 3: 7}[vpf]
        udl_ud = t[i:]
    except IndexError:
        return None
    toa, oa = encode_address(sender)
    deliver_first = 0x04 | (first & 0x40)  # TP-MMS, keep TP-UDHI
    tpdu = (
        bytes([deliver_first, len(sender.lstrip("+")), toa])
        + oa
        + bytes([pid, dcs])
        + encode_scts(now.astimezone(UTC))
        + udl_ud
    )
    return DeliverPart(b"\x00" + tpdu, len(tpdu), "", sender, now)
