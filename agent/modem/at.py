"""The AT engine: one command in flight, URCs routed by prefix, every command bounded.

Layering: ByteStream (transport.py) -> LineSplitter (lines.py) -> pure
`classify` (here) -> `AtChannel` (the final-result state machine) -> GsmModem (gsm.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Any, Final, Protocol

import structlog

from agent.modem.commands import is_hex
from agent.modem.errors import AtTimeoutError, ModemError, PortGoneError, error_from_final
from agent.modem.lines import PROMPT, LineSplitter, encode_line, is_garbled
from agent.modem.transport import ByteStream

_log = structlog.get_logger("agent.modem.at")


class LineKind(Enum):
    FINAL_OK = "final_ok"
    FINAL_ERROR = "final_error"  # ERROR, +CME ERROR, +CMS ERROR, NO CARRIER, ...
    PROMPT = "prompt"
    ECHO = "echo"
    URC = "urc"
    INTERMEDIATE = "intermediate"
    NOISE = "noise"


# TS 27.007 §5.7 / V.250 final result codes (verbose form); the vendor ones are final
# errors on ZTE/Longcheer firmware (ModemManager treats them the same way).
_FINAL_ERRORS: Final = (
    "ERROR",
    "NO CARRIER",
    "BUSY",
    "NO ANSWER",
    "NO DIALTONE",
    "COMMAND NOT SUPPORT",
    "TOO MANY PARAMETERS",
)
_FINAL_ERROR_PREFIXES: Final = ("+CME ERROR:", "+CMS ERROR:")

# URCs an SMS agent must recognise (docs/modems.md).
DEFAULT_URC_PREFIXES: Final = (
    "+CMTI:",
    "+CDSI:",
    "+CMT:",
    "+CDS:",
    "+CBM:",
    "+CBMI:",
    "RING",
    "+CLIP:",
    "+CREG:",
    "+CGREG:",
    "+CEREG:",
    "+C5GREG:",
    "+CPIN:",
    "+CFUN:",
    "+QIND:",
    "+QUSIM:",
    "RDY",
    "SMS READY",
    "CALL READY",
    "SMS DONE",
    "PB DONE",
    "+READY",
    "^BOOT:",
    "^RSSI:",
    "^HCSQ:",
    "^MODE:",
    "^SRVST:",
    "^SIMST:",
    "^DSFLOWRPT:",
    "^STIN:",
    "^NDISSTAT:",
    "^EONS:",
    "^SMMEMFULL:",
    "^CEND:",
    "^ORIG:",
    "^CONF:",
    "^CONN:",
    "+CIEV:",
    "+SMS FULL",
    "+SIMCARD:",
    "UNDER-VOLTAGE",
    "OVER-VOLTAGE",
    "NORMAL POWER DOWN",
    "+CUSATP:",
    "+CGEV:",
    "+PACSP",
    "$GP",
    "$GN",
)

# URCs followed by a PDU line (TS 27.005 §3.4.1, PDU mode).
PDU_URC_PREFIXES: Final = ("+CMT:", "+CDS:")


def response_prefix(command: str) -> str:
    """`AT+CPMS="SM"` -> `+CPMS:`; `AT^ICCID?` -> `^ICCID:`; basic commands -> ""."""
    body = command.strip()
    if body[:2].upper() == "AT":
        body = body[2:]
    if not body or body[0] not in "+^$!%*":
        return ""
    end = len(body)
    for i, ch in enumerate(body[1:], start=1):
        if not (ch.isalnum() or ch in "_"):
            end = i
            break
    return body[:end].upper() + ":"


def classify(
    line: str,
    *,
    command: str | None = None,
    urc_prefixes: Collection[str] = DEFAULT_URC_PREFIXES,
    sent: Collection[str] = (),
) -> LineKind:
    """Classify one complete line (pure).

    `command` is the command in flight (None when idle): lines that carry its response
    prefix are its answers even when that prefix is also a URC (`+CREG:` to `AT+CREG?`).
    `sent` are recent texts we wrote (commands, PDU hex): a line equal to one is an echo,
    whenever it comes (echo returns after a modem reboot).
    """
    if line == PROMPT:
        return LineKind.PROMPT
    upper = line.upper()
    if upper == "OK":
        return LineKind.FINAL_OK
    if upper in _FINAL_ERRORS or upper.startswith(_FINAL_ERROR_PREFIXES):
        return LineKind.FINAL_ERROR
    if any(line == s or upper == s.upper() for s in sent):
        return LineKind.ECHO
    if command is not None:
        if upper == command.strip().upper():
            return LineKind.ECHO
        prefix = response_prefix(command)
        if prefix and upper.startswith(prefix):
            return LineKind.INTERMEDIATE
    if upper.startswith(tuple(p.upper() for p in urc_prefixes)):
        return LineKind.URC
    if is_garbled(line):
        return LineKind.NOISE
    if command is not None:
        return LineKind.INTERMEDIATE
    return LineKind.NOISE


@dataclass(frozen=True, slots=True)
class AtResponse:
    """Information lines of one command (URCs, echoes and noise removed) and its final line."""

    lines: tuple[str, ...]
    final: str


@dataclass(frozen=True, slots=True)
class Urc:
    """An unsolicited line; `pdu` holds the following PDU line for +CMT/+CDS (None when the
    modem never sent one)."""

    line: str
    pdu: bytes | None = None


UrcHandler = Callable[[Urc], None]


class Transcript(Protocol):
    """Every byte in and out, timestamped (blackbox_exporter-style debug transcript)."""

    def record(self, direction: str, data: bytes, at: float) -> None: ...


class MemoryTranscript:
    """Keeps the last `max_entries` chunks (for "what did the modem say before it failed")."""

    def __init__(self, max_entries: int = 2000) -> None:
        self.entries: deque[tuple[float, str, bytes]] = deque(maxlen=max_entries)

    def record(self, direction: str, data: bytes, at: float) -> None:
        self.entries.append((at, direction, data))

    def text(self) -> str:
        return "".join(f"{at:.6f} {d} {data!r}\n" for at, d, data in self.entries)


class FileTranscript:
    """Appends `<unix time> <in|out> <bytes repr>` lines to a file, flushed per chunk."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._fh = path.open("a", encoding="ascii")

    def record(self, direction: str, data: bytes, at: float) -> None:
        self._fh.write(f"{at:.6f} {direction} {data!r}\n")
        self._fh.flush()

    def close(self) -> None:
        self._fh.close()


class _Pending:
    def __init__(self, command: str, loop: asyncio.AbstractEventLoop) -> None:
        self.command = command
        self.lines: list[str] = []
        self.prompt: asyncio.Future[None] = loop.create_future()
        self.final: asyncio.Future[str] = loop.create_future()


class AtChannel:
    """Serialises AT commands over one ByteStream and routes URCs to handlers.

    Start with `await channel.start()` (opens the stream and the reader task); stop with
    `await channel.close()`. When the stream dies, the in-flight command and every later
    one raise `PortGoneError`, and `closed` resolves with the reason.
    """

    def __init__(
        self,
        stream: ByteStream,
        *,
        urc_prefixes: Iterable[str] = (),
        transcript: Transcript | None = None,
        wall_clock: Callable[[], float] = time.time,
        resync_settle_s: float = 0.2,
        resync_timeout_s: float = 2.0,
        name: str = "",
    ) -> None:
        self._stream = stream
        self._urc_prefixes: tuple[str, ...] = (*DEFAULT_URC_PREFIXES, *urc_prefixes)
        self._transcript = transcript
        self._wall_clock = wall_clock
        self._settle_s = resync_settle_s
        self._resync_timeout_s = resync_timeout_s
        self._log = _log.bind(port=name) if name else _log
        self._splitter = LineSplitter()
        self._lock = asyncio.Lock()
        self._handlers: list[tuple[tuple[str, ...], UrcHandler]] = []
        self._noise_handlers: list[Callable[[str], None]] = []
        self._pending: _Pending | None = None
        self._pending_pdu_urc: str | None = None
        self._sent: deque[str] = deque(maxlen=4)
        self._stale = False
        self._gone: ModemError | None = None
        self._reader: asyncio.Task[None] | None = None
        self._idle_finals = 0
        self.echoes = 0  # echo lines seen: growing after ATE0 means the modem rebooted
        self.closed: asyncio.Future[ModemError | None] | None = None

    # -- lifecycle -------------------------------------------------------------------------

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        self.closed = loop.create_future()
        await self._stream.open()
        self._reader = asyncio.create_task(self._read_loop(), name="at-reader")

    async def close(self) -> None:
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader
            self._reader = None
        await self._stream.close()
        self._fail_all(PortGoneError("channel closed"))

    @property
    def alive(self) -> bool:
        return self._gone is None

    def on_urc(self, prefixes: Iterable[str], handler: UrcHandler) -> None:
        """Route URC lines starting with any of `prefixes` ("" = every URC) to `handler`.
        Handlers run on the reader task and must not block."""
        self._handlers.append((tuple(p.upper() for p in prefixes), handler))

    def add_urc_prefixes(self, prefixes: Iterable[str]) -> None:
        """Extra URC prefixes (a profile's vendor noise and boot markers)."""
        new = [
            p for p in prefixes if p and p.upper() not in {u.upper() for u in self._urc_prefixes}
        ]
        self._urc_prefixes = (*self._urc_prefixes, *new)

    def on_noise(self, handler: Callable[[str], None]) -> None:
        """Lines that are neither responses nor known URCs (garbage, unknown vendor chatter)."""
        self._noise_handlers.append(handler)

    # -- commands --------------------------------------------------------------------------

    async def command(
        self,
        cmd: str,
        *,
        timeout_s: float,
        pdu: bytes | str | None = None,
        prompt_timeout_s: float = 5.0,
    ) -> AtResponse:
        """Send `cmd` (without CR) and wait for its final result code.

        With `pdu`, waits up to `prompt_timeout_s` for the `> ` prompt and sends the PDU
        hex + Ctrl-Z (TS 27.005 §3.5.1); `timeout_s` bounds the whole exchange. Raises
        AtTimeoutError, PortGoneError, or AtError/CmeError/CmsError for non-OK finals.
        """
        async with self._lock:
            if self._gone is not None:
                raise PortGoneError(str(self._gone)) from self._gone
            if self._stale:
                try:
                    await self._resync(min(timeout_s, self._resync_timeout_s))
                except AtTimeoutError:
                    # Not answering AT: send the command anyway (it may be the AT+CFUN=1,1
                    # that un-hangs the modem); the channel stays stale.
                    self._log.warning("at_resync_failed", command=cmd)
            final = await self._exchange(
                cmd, timeout_s=timeout_s, pdu=pdu, prompt_timeout_s=prompt_timeout_s
            )
        if final[1] != "OK":
            raise error_from_final(cmd, final[1])
        return AtResponse(tuple(final[0]), final[1])

    async def _exchange(
        self, cmd: str, *, timeout_s: float, pdu: bytes | str | None, prompt_timeout_s: float
    ) -> tuple[list[str], str]:
        loop = asyncio.get_running_loop()
        pending = _Pending(cmd, loop)
        self._pending = pending
        self._sent.append(cmd)
        if self._gone is not None:  # the reader died while we waited for the lock
            self._pending = None
            raise PortGoneError(str(self._gone)) from self._gone
        waited, waited_s = cmd, timeout_s  # what a timeout reports
        try:
            async with asyncio.timeout(timeout_s):
                await self._write((cmd + "\r").encode("ascii"))
                if pdu is not None:
                    pdu_hex = pdu.hex().upper() if isinstance(pdu, bytes) else pdu.upper()
                    self._sent.append(pdu_hex)
                    waiters: set[asyncio.Future[Any]] = {pending.prompt, pending.final}
                    # The prompt comes at once or not at all: waiting the whole send
                    # timeout for it would hold the channel (and starve the receiver).
                    waited, waited_s = f"{cmd} (PDU prompt)", min(timeout_s, prompt_timeout_s)
                    await asyncio.wait(
                        waiters, timeout=waited_s, return_when=asyncio.FIRST_COMPLETED
                    )
                    if not (pending.prompt.done() or pending.final.done()):
                        raise TimeoutError
                    waited, waited_s = cmd, timeout_s
                    if not pending.final.done():
                        await self._write(pdu_hex.encode("ascii") + b"\x1a")
                final = await pending.final
        except asyncio.CancelledError:
            self._stale = True  # the answer may still come: never match it to the next command
            raise
        except TimeoutError as exc:
            self._stale = True
            if pdu is not None:
                # ESC aborts a pending PDU input (TS 27.005 §3.5.1) so the modem stops waiting.
                with contextlib.suppress(ModemError):
                    await self._write(b"\x1b")
            self._log.warning("at_command_timed_out", command=waited, timeout_s=waited_s)
            raise AtTimeoutError(waited, waited_s) from exc
        finally:
            self._pending = None
        return pending.lines, final

    async def _resync(self, timeout_s: float) -> None:
        """After a timeout, a late final result of the old command may still arrive and be
        taken for the next command's: send `AT`, accept its OK, then drain
        further finals until the line is quiet for `resync_settle_s`."""
        loop = asyncio.get_running_loop()
        pending = _Pending("AT", loop)
        self._pending = pending
        self._sent.append("AT")
        try:
            async with asyncio.timeout(timeout_s):
                await self._write(b"AT\r")
                await pending.final
        except TimeoutError as exc:
            raise AtTimeoutError("AT (resync)", timeout_s) from exc
        finally:
            self._pending = None
        self._idle_finals = 0
        for _ in range(10):  # bounded: a modem spewing finals must not hold the channel
            before = self._idle_finals
            await asyncio.sleep(self._settle_s)
            if self._idle_finals == before:
                break
        self._stale = False
        self._log.info("at_channel_resynced")

    async def _write(self, data: bytes) -> None:
        if self._transcript is not None:
            self._transcript.record("out", data, self._wall_clock())
        try:
            await self._stream.write(data)
        except PortGoneError as exc:
            self._gone = exc
            raise

    # -- reader ----------------------------------------------------------------------------

    async def _read_loop(self) -> None:
        reason: ModemError | None = None
        try:
            while True:
                chunk = await self._stream.read()
                if self._transcript is not None:
                    self._transcript.record("in", chunk, self._wall_clock())
                for line in self._splitter.feed(chunk):
                    self._on_line(line)
        except PortGoneError as exc:
            reason = exc
            self._log.warning("modem_port_lost", reason=str(exc))
        except Exception as exc:  # a bug here must end the channel visibly, not hang it
            self._log.exception("at_reader_failed")
            reason = PortGoneError(f"reader failed: {exc!r}")
            reason.__cause__ = exc
        finally:
            self._fail_all(reason or PortGoneError("reader stopped"))

    def _fail_all(self, reason: ModemError) -> None:
        if self._gone is None:
            self._gone = reason
        if self._pending_pdu_urc is not None:
            self._dispatch(Urc(self._pending_pdu_urc, None))
            self._pending_pdu_urc = None
        pending = self._pending
        if pending is not None and not pending.final.done():
            pending.final.set_exception(PortGoneError(str(reason)))
            # Retrieved here so asyncio does not warn when the waiter already timed out.
            pending.final.exception()
        if self.closed is not None and not self.closed.done():
            self.closed.set_result(reason)

    def _on_line(self, line: str) -> None:
        pending = self._pending
        if self._pending_pdu_urc is not None:
            header = self._pending_pdu_urc
            if is_hex(line):
                self._pending_pdu_urc = None
                self._dispatch(Urc(header, bytes.fromhex(line) if len(line) % 2 == 0 else None))
                return
            kind = classify(line, urc_prefixes=self._urc_prefixes)
            if kind == LineKind.URC and not line.upper().startswith(PDU_URC_PREFIXES):
                # Badly behaved firmware puts a URC between +CMT header and PDU.
                self._dispatch(Urc(line))
                return
            self._log.warning("urc_pdu_line_not_received", header=header, line=line[:80])
            self._pending_pdu_urc = None
            self._dispatch(Urc(header, None))
        kind = classify(
            line,
            command=pending.command if pending else None,
            urc_prefixes=self._urc_prefixes,
            sent=self._sent,
        )
        if kind == LineKind.URC:
            if line.upper().startswith(PDU_URC_PREFIXES):
                self._pending_pdu_urc = line
            else:
                self._dispatch(Urc(line))
        elif kind in (LineKind.FINAL_OK, LineKind.FINAL_ERROR):
            if pending is not None and not pending.final.done():
                pending.final.set_result(line)
            else:
                self._idle_finals += 1
                self._log.info("at_stale_final_dropped", line=line)
        elif kind == LineKind.ECHO:
            self.echoes += 1
        elif kind == LineKind.PROMPT:
            if pending is not None and not pending.prompt.done():
                pending.prompt.set_result(None)
        elif kind == LineKind.INTERMEDIATE and pending is not None:
            pending.lines.append(line)
        elif kind == LineKind.NOISE:
            self._dispatch_noise(line)

    def _dispatch(self, urc: Urc) -> None:
        upper = urc.line.upper()
        delivered = False
        for prefixes, handler in self._handlers:
            if not prefixes or upper.startswith(prefixes):
                delivered = True
                try:
                    handler(urc)
                except Exception:  # a broken handler must not kill the reader
                    self._log.exception("urc_handler_failed", line=urc.line[:80])
        if not delivered:
            self._log.debug("urc_not_handled", line=urc.line[:80])

    def _dispatch_noise(self, line: str) -> None:
        self._log.debug("at_noise_ignored", line=encode_line(line)[:80].decode("latin-1"))
        for handler in self._noise_handlers:
            try:
                handler(line)
            except Exception:
                self._log.exception("noise_handler_failed")
