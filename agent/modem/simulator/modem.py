"""The AT state machine of a simulated GSM/LTE modem: bytes in, bytes out, injected clock.

Faithful to TS 27.007/27.005 framing as real firmware produces it (docs/modems.md):
echo of input while E1, `\\r\\n<line>\\r\\n` framing, `\\r\\n> ` prompt, final
results formatted per AT+CMEE, URCs that can land anywhere. No I/O here: `receive()` takes
what the TE wrote, `read_output()` returns what is due on the wire now, `tick()` advances
timers (boot URCs, SMSC deliveries and retries, vendor noise); `next_deadline()` says
when to call again. `pty.py` serves it on a pseudo-terminal or TCP.

Built in layers, one module each (lowest first): core.py (state, output, timers, power,
registration, ground truth), delivery.py (the SMSC side), commands_device.py,
commands_sms.py, commands_send.py (the AT command families), framing.py (input and
dispatch); this module adds the public byte API and the control API.
"""

from __future__ import annotations

import heapq
from datetime import datetime, timedelta, timezone
from typing import Any

from agent.modem.simulator.faults import Fault
from agent.modem.simulator.framing import AtFraming
from agent.modem.simulator.pdu import (
    DeliverPart,
    encode_deliver,
    summarize_deliver,
)


class ModemSimulator(AtFraming):
    """One simulated modem: the public byte API and the control API."""

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
            return  # still booting: nothing answers yet
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
            # Malformed vectors are delivered as they are; keep <length> sane.
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
        # Losing USB power is a power-cycle: even a hard hang is gone (recovery ladder, last step).
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

    def request_unplug(self, seconds: float) -> None:
        """Control API `unplug`: vanish now, come back after `seconds`."""
        self._request_unplug(seconds)

    def set_signal(self, rssi: int) -> None:
        """Control API: 0-31 or 99 (not detectable), as +CSQ reports it."""
        if not (0 <= rssi <= 31 or rssi == 99):
            raise ValueError(f"rssi {rssi} outside 0-31/99")
        self.rssi = rssi

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
