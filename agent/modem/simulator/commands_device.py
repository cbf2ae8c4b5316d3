"""AT command handlers of the device, the SIM card and the network registration (TS 27.007):
identification, +CPIN/+CIMI/ICCID, signal, +CREG family, +COPS, +CFUN, +CSCS, vendor extras.
"""

from __future__ import annotations

from collections.abc import Callable

from agent.modem.simulator.config import (
    REGISTERED,
)
from agent.modem.simulator.delivery import SmscDelivery
from agent.modem.simulator.faults import Fault
from agent.modem.simulator.personalities import IccidStyle
from agent.modem.simulator.syntax import (
    Handler,
    cme,
    cms,
    int_arg,
    plain_error,
)


class DeviceCommands(SmscDelivery):
    """Device, SIM card and registration commands."""

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
            raise cms(self.personality.sms_not_ready_cms)  # SMS-not-ready window (docs/modems.md)

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
        if kind == "set" and args[:2] == ["176", "12258"]:  # READ BINARY EF_ICCID (TS 27.007 §8.18)
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
        value = int_arg(args[0]) if kind == "set" and args[0] else 0
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

    def _reg(self, prefix: str, attr: str, max_n: int) -> Handler:
        def handler(kind: str, args: list[str]) -> list[str]:
            if kind == "read":
                return [self._reg_line(prefix, getattr(self.settings, attr), urc=False)]
            if kind == "test":
                return [f"{prefix}: (0-{max_n})"]
            value = int_arg(args[0]) if kind == "set" and args[0] else 0
            if not 0 <= value <= max_n:
                raise cme(50)
            setattr(self.settings, attr, value)
            return []

        return handler

    def _cops(self, kind: str, args: list[str]) -> list[str]:
        if kind == "test":
            op = self.identity.operator
            return [f'+COPS: (2,"{self.identity.operator_name}","{op}","{op}",7),,(0-4),(0-2)']
        if kind == "set":
            mode = int_arg(args[0]) if args[0] else 0
            if mode == 3 and len(args) > 1:
                fmt = int_arg(args[1])
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

    def _cscs(self, kind: str, args: list[str]) -> list[str]:
        if kind == "read":
            return [f'+CSCS: "{self.settings.cscs}"']
        if kind == "test":
            return ['+CSCS: ("IRA","GSM","UCS2","HEX")']
        if kind != "set" or args[0].upper() not in ("IRA", "GSM", "UCS2", "HEX"):
            raise cme(4)
        self.settings.cscs = args[0].upper()
        return []

    def _cfun(self, kind: str, args: list[str]) -> list[str]:
        if kind == "read":
            return [f"+CFUN: {self.cfun}"]
        if kind == "test":
            return ["+CFUN: (0,1,4),(0,1)"]
        if kind != "set" or not args[0]:
            raise cme(50)
        fun = int_arg(args[0])
        reset = len(args) > 1 and args[1] == "1"
        if fun not in (0, 1, 4):
            raise cme(50)
        if reset:
            self._after_final = self._reboot  # OK first, then the modem resets (docs/modems.md)
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
