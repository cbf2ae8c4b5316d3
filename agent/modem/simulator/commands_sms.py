"""AT command handlers of SMS settings and message storage (TS 27.005 §3): +CMGF, +CPMS,
+CNMI, +CSMP, +CSCA, +CSMS, +CNMA; reading, listing and deleting stored messages.
"""

from __future__ import annotations

from agent.modem.simulator.commands_device import DeviceCommands
from agent.modem.simulator.pdu import (
    decode_bcd,
    decode_scts,
    summarize_deliver,
)
from agent.modem.simulator.personalities import AlphaField, EmptyRead
from agent.modem.simulator.storage import STAT_ALL, TEXT_STATS, MsgStat, StoredMessage
from agent.modem.simulator.syntax import (
    cms,
    int_arg,
    plain_error,
    text_scts,
)


class SmsCommands(DeviceCommands):
    """SMS settings and message storage commands."""

    def _cmgf(self, kind: str, args: list[str]) -> list[str]:
        if kind == "read":
            return [f"+CMGF: {self.settings.cmgf}"]
        if kind == "test":
            return ["+CMGF: (0,1)"]
        value = int_arg(args[0]) if kind == "set" and args[0] else 0
        if value not in (0, 1):
            raise cms(303)
        self.settings.cmgf = value
        return []

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
            value = int_arg(arg)
            if value not in self.personality.cnmi_supported[pos]:
                raise cms(303)  # TS 27.005 §3.4.1: reject unsupported values, agents must fall back
            values[pos] = value
        self.settings.cnmi = values
        if values[0] != 0:
            buffered, self._urc_buffer = self._urc_buffer, []
            if values[4] == 0:  # <bfr> 0: flush the buffered indications (TS 27.005 §3.4.1)
                self._after_final = lambda: self._flush_urcs(buffered)
        return []

    def _csmp(self, kind: str, args: list[str]) -> list[str]:
        if kind == "read":
            return ["+CSMP: " + ",".join(str(v) for v in self.settings.csmp)]
        if kind == "set":
            values = [int_arg(a) if a else 0 for a in (args + ["0"] * 4)[:4]]
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
        value = int_arg(args[0]) if kind == "set" and args[0] else 0
        if value not in (0, 1):
            raise cms(303)
        self.settings.csms = value
        return ["+CSMS: 1,1,1"]

    def _cnma(self, kind: str, args: list[str]) -> list[str]:
        if kind == "test":
            return ["+CNMA: (0-2)"]
        if self.settings.csms != 1 or not self._awaiting_cnma:
            raise cms(340)
        _, _, truth_id = self._awaiting_cnma.pop(0)
        self.truth[truth_id - 1].acked_at = self.clock.now()
        return []

    def _mark_read(self, message: StoredMessage) -> None:
        if message.stat is MsgStat.REC_UNREAD:
            message.stat = MsgStat.REC_READ
        if message.truth_id > 0:
            record = self.truth[message.truth_id - 1]
            if record.read_at is None:
                record.read_at = self.clock.now()
                self.counters["read"] += 1

    def _message_lines(self, index: int | None, message: StoredMessage) -> list[str]:
        """+CMGL (index given) or +CMGR lines for one stored message (TS 27.005 §3.4.2, §3.4.3)."""
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
        index = int_arg(args[0])
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
        index = int_arg(args[0])
        flag = int_arg(args[1]) if len(args) > 1 and args[1] else 0
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
