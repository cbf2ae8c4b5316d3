"""The network side of a simulated modem: the SMSC queue delivering SMS-DELIVER parts and status
reports to it (stored + `+CMTI`, or routed directly as `+CMT`/`+CDS` per AT+CNMI, TS 27.005
§3.4.1), memory-full rejection and retries, `+CNMA` acknowledgement timeouts.
"""

from __future__ import annotations

from agent.modem.simulator.config import (
    REGISTERED,
)
from agent.modem.simulator.core import ModemCore
from agent.modem.simulator.faults import Fault
from agent.modem.simulator.network import PendingDelivery
from agent.modem.simulator.pdu import (
    DeliverPart,
    summarize_deliver,
)
from agent.modem.simulator.storage import MsgStat, StoredMessage
from agent.modem.simulator.syntax import (
    text_scts,
)


class SmscDelivery(ModemCore):
    """Delivery from the simulated SMSC into the modem."""

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
            # RP-ERROR cause 22 to the network (TS 24.011 §8.2.5.4); the SMSC keeps the message.
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
        """A new-message indication, subject to CNMI <mode> buffering (TS 27.005 §3.4.1)."""
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
        # No +CNMA in time: the network sees a failed delivery and retries (a duplicate).
        expired = [entry for entry in self._awaiting_cnma if entry[0] <= now]
        for entry in expired:
            self._awaiting_cnma.remove(entry)
            _, item, _ = entry
            item.next_attempt = now + self.network.retry.delay(max(item.attempts, 1))
            self.network.enqueue(item)
