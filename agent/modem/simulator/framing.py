"""Input side of a simulated modem: bytes the TE writes, assembled into command lines (echo,
backspace, `> ` prompt input ended by Ctrl-Z/ESC, a hung modem swallowing all), split into
basic and extended commands (TS 27.007 §4.1) and dispatched to the command table.
"""

from __future__ import annotations

import re

from agent.modem.simulator.commands_send import SendCommands
from agent.modem.simulator.faults import Fault
from agent.modem.simulator.syntax import (
    BASIC_RE,
    CTRL_Z,
    ESC,
    EXT_RE,
    FinalResultError,
    Handler,
    PromptRequested,
    plain_error,
    split_args,
)


class AtFraming(SendCommands):
    """Command-line input and dispatch."""

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
                    match = BASIC_RE.match(body)
                    if match is None:
                        raise plain_error()
                    body = body[match.end() :].lstrip()
                    lines += self._run_basic(match)
        except FinalResultError as err:
            final = self._format_error(err)
            self._after_final = None
        except PromptRequested:
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
            # ATZ restores the stored profile: echo comes back on.
            self.settings = self._default_settings()
        elif name == "I":
            return list(self.personality.ati_lines(self.identity.imei))
        elif name in ("V", "Q", "X", "&W", "&D", "&C", "&K"):
            pass
        else:
            raise plain_error()
        return []

    def _run_extended(self, command: str) -> list[str]:
        match = EXT_RE.match(command)
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
            raise plain_error()  # unknown command → ERROR
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
