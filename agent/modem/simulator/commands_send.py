"""AT command handlers that take a `> ` prompt (TS 27.005 §3.5.1, §3.5.3): AT+CMGS sends an
SMS-SUBMIT (loopback to another simulated modem, status report when TP-SRR asks), AT+CMGW
stores one.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from agent.modem.simulator.commands_sms import SmsCommands
from agent.modem.simulator.config import (
    REGISTERED,
)
from agent.modem.simulator.faults import Fault
from agent.modem.simulator.network import PendingDelivery
from agent.modem.simulator.pdu import (
    DeliverPart,
    SimulatorPduError,
    Submit,
    encode_address,
    encode_scts,
    encode_status_report,
    parse_submit,
)
from agent.modem.simulator.storage import MsgStat, StoredMessage
from agent.modem.simulator.syntax import (
    FinalResultError,
    PromptRequested,
    cms,
)


class SendCommands(SmsCommands):
    """AT+CMGS / AT+CMGW and their prompt."""

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
        raise PromptRequested()

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
                    raise cms(304)  # <length> counts TPDU octets only (TS 27.005 §3.1)
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
        except FinalResultError as err:
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
        except SimulatorPduError as exc:
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
