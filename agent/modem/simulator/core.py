"""The state of one simulated modem and what every part of it uses: output on the wire (echo,
`\\r\\n<line>\\r\\n` framing, URCs, wire faults), timers, power and boot, registration, ground
truth. SMSC delivery, the command families and input framing build on it (delivery.py,
commands_*.py, framing.py); modem.py assembles them into `ModemSimulator`.
"""

from __future__ import annotations

import heapq
import itertools
import random
from collections import deque
from collections.abc import Callable
from typing import Any

from agent.modem.simulator.config import (
    REGISTERED,
    Clock,
    ModemSimulatorConfig,
    Settings,
    SystemClock,
)
from agent.modem.simulator.faults import Fault, FaultSet
from agent.modem.simulator.network import PendingDelivery, SmscSimulator
from agent.modem.simulator.pdu import (
    DeliverPart,
)
from agent.modem.simulator.storage import Storages
from agent.modem.simulator.syntax import (
    CME_TEXT,
    CMS_TEXT,
    FinalResultError,
    Handler,
)
from agent.modem.simulator.transcript import Transcript
from agent.modem.simulator.truth import TruthRecord


class ModemCore:
    """State and output of one simulated modem. Not thread-safe: owned by one event loop."""

    def __init__(
        self,
        config: ModemSimulatorConfig,
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
        self.network = SmscSimulator(config.retry)
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
        # Fleet routing of MO messages: (origin, destination, part) -> routed.
        self.mo_router: Callable[[ModemCore, str, DeliverPart], bool] | None = None
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
        self._urc_buffer: list[str] = []  # CNMI mode 0 buffering (TS 27.005 §3.4.1)
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

    def _build_handlers(self) -> dict[str, Handler]:
        """The AT command table; filled in by the command families (framing.py)."""
        return {}

    def _record(self, direction: str, data: bytes) -> None:
        if self.transcript is not None:
            self.transcript.record(self.clock.now(), self.name, direction, data)

    def _wake(self) -> None:
        if self.on_wakeup is not None:
            self.on_wakeup()

    def _emit(self, data: bytes, delay_s: float = 0.0) -> None:
        due = max(self.clock.monotonic() + delay_s, self._last_due)
        if len(data) > 2 and self.faults.fires(Fault.SPLIT_WRITES):
            # Partial lines: a line (or a CR/LF pair) arrives in several reads.
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
        """An unsolicited result; `extra` is the second line of +CMT/+CDS (TS 27.005 §3.4.1)."""
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
            # The modem resets mid-response: half the lines, no final, boot URCs.
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
            # A URC between echo and response or between information lines (docs/modems.md).
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

    def _format_error(self, err: FinalResultError) -> str:
        if err.kind == "plain" or self.settings.cmee == 0:
            return "ERROR"
        kind = "CME" if err.kind == "cme" else "CMS"
        if self.settings.cmee == 2:
            table = CME_TEXT if err.kind == "cme" else CMS_TEXT
            return f"+{kind} ERROR: {table.get(err.code, 'unknown error')}"
        return f"+{kind} ERROR: {err.code}"

    def _default_settings(self) -> Settings:
        p = self.personality
        return Settings(
            echo=True,  # modems power up with echo on
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

    def _text_out(self, value: str) -> str:
        """Strings in text mode / <alpha> follow AT+CSCS (TS 27.007 §5.5)."""
        if self.settings.cscs == "UCS2" or not value.isascii():
            # Text the TE charset cannot carry comes out as UCS2 hex, as on real firmware.
            return value.encode("utf-16-be").hex().upper()
        return value

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
