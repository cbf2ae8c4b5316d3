"""GSM modem features over an AtChannel: identity, storage, SMS read/delete/send,
health readings, recovery building blocks, and URCs as typed events.

The recovery *policy* (when to ping, reopen, reset) belongs to the agent; this module
only offers the steps and reports what it sees.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass
from enum import Enum
from typing import Any, Final

import structlog

from agent.modem import commands as c
from agent.modem.at import AtChannel, AtResponse, Urc
from agent.modem.errors import (
    AtError,
    AtTimeoutError,
    CmeError,
    CmsError,
    ModemError,
    PortGoneError,
    ResponseParseError,
)
from agent.modem.events import (
    DirectPdu,
    EventCallback,
    ModemBooted,
    ModemEvent,
    NewMessage,
    Noise,
    PortLost,
    RegistrationChanged,
    SimChanged,
    StorageFull,
)
from agent.modem.profiles import ModemProfile

_log = structlog.get_logger("agent.modem.gsm")

# Readiness markers every profile understands (docs/modems.md), besides its own.
_SMS_READY_MARKERS: Final = ("SMS READY", "SMS DONE", "+QIND: SMS DONE")
_STORAGE_FULL_MARKERS: Final = ("^SMMEMFULL", "+SMS FULL", '+CIEV: "SMSFULL",1', "+CIEV: SMSFULL,1")
_SIM_GONE_MARKERS: Final = ("+CPIN: NOT INSERTED", "^SIMST: 255", "+SIMCARD: NOT AVAILABLE")


# -- values ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ModemIdentity:
    """What AT+CGMI/CGMM/CGMR/CGSN/CIMI, the ICCID and AT+CNUM/COPS say; "" = unknown."""

    manufacturer: str = ""
    model: str = ""
    firmware: str = ""
    imei: str = ""
    imsi: str = ""  # "" when no SIM / not readable
    iccid: str = ""
    msisdn: str = ""  # "" (usual: the number is not written on Chinese SIMs)
    operator_mcc_mnc: str = ""  # "" when not registered


@dataclass(frozen=True, slots=True)
class StoredPdu:
    storage: str
    index: int  # 0 is a valid index
    stat: int | None  # 0 REC UNREAD, 1 REC READ, 2 STO UNSENT, 3 STO SENT
    pdu: bytes  # SMSC field + TPDU exactly as the modem printed it
    length: int | None = None  # the modem's <length>: TPDU octets (a sanity hint only)


@dataclass(frozen=True, slots=True)
class MessageListing:
    """One storage's AT+CMGL: the messages read, and the entries that did not parse (raw,
    never deleted: the caller reports them; `unparsed[i].index` names the slot)."""

    messages: tuple[StoredPdu, ...]
    unparsed: tuple[c.UnparsedEntry, ...] = ()


StorageUse = c.StorageUse
Signal = c.Signal
Registration = c.Registration
RegStatus = c.RegStatus
Operator = c.Operator


@dataclass(frozen=True, slots=True)
class RegistrationState:
    entries: tuple[c.Registration, ...]

    @property
    def registered(self) -> bool:
        """CREG ∈ {1,5} or CEREG ∈ {1,5,6,7}: LTE-only modules keep CREG at 0 while SMS work
        over SGs/IMS (docs/modems.md, "Registration and signal")."""
        return any(r.status.registered for r in self.entries)

    @property
    def act(self) -> int | None:
        for r in self.entries:
            if r.status.registered and r.act is not None:
                return r.act
        return None


class SimState(Enum):
    READY = "ready"
    PIN_REQUIRED = "pin_required"
    PUK_REQUIRED = "puk_required"
    NOT_INSERTED = "not_inserted"
    BUSY = "busy"
    FAILURE = "failure"
    NOT_READY = "not_ready"
    OTHER = "other"


@dataclass(frozen=True, slots=True)
class SimStatus:
    state: SimState
    raw: str


@dataclass(frozen=True, slots=True)
class InitReport:
    cnmi: str
    storages: tuple[c.StorageUse, ...]
    optional_failed: tuple[str, ...]


def event_from_urc(urc: Urc, profile: ModemProfile) -> ModemEvent:
    """Turn one routed URC into a typed event (pure)."""
    line = urc.line
    upper = line.upper()
    if upper.startswith(("+CMTI:", "+CDSI:")):
        try:
            ind = c.parse_stored_indication(line)
        except ResponseParseError:
            return Noise(line)
        return NewMessage(ind.storage, ind.index, "sms" if upper.startswith("+CMTI") else "status")
    if upper.startswith(("+CMT:", "+CDS:")):
        return DirectPdu("sms" if upper.startswith("+CMT") else "status", urc.pdu, line)
    sms_ready = tuple(m.upper() for m in (*_SMS_READY_MARKERS, profile.quirks.sms_ready_urc) if m)
    if upper.startswith(sms_ready):
        return ModemBooted(line, sms_ready=True)
    if upper.startswith(tuple(m.upper() for m in profile.quirks.boot_urcs)):
        return ModemBooted(line)
    if upper.startswith(_STORAGE_FULL_MARKERS):
        return StorageFull(line)
    if upper.startswith(_SIM_GONE_MARKERS):
        return SimChanged(line)
    if upper.startswith(("+CREG:", "+CGREG:", "+CEREG:", "+C5GREG:")):
        try:
            return RegistrationChanged(c.parse_registration(line))
        except ResponseParseError:
            return Noise(line)
    return Noise(line)


# -- the modem ------------------------------------------------------------------------------


class GsmModem:
    """GSM/SMS features of one modem, composed over an AtChannel (no port, no policy).

    URC events go to `events` (a bounded queue; when full the event is dropped and logged —
    the periodic storage sweep finds the message anyway) and/or to `on_event`.
    """

    def __init__(
        self,
        channel: AtChannel,
        profile: ModemProfile,
        *,
        events: asyncio.Queue[ModemEvent] | None = None,
        on_event: EventCallback | None = None,
    ) -> None:
        self.channel = channel
        self.profile = profile
        self._events = events
        self._on_event = on_event
        self._tasks: set[asyncio.Task[None]] = set()
        self._mem1: str | None = None
        self._cnmi: str | None = None
        self._echoes_after_init = 0
        self._boot_waiters: set[asyncio.Future[ModemBooted]] = set()
        # mem1 switch + CMGR/CMGD/CMGL must not interleave with another task's switch:
        # a delete in the wrong storage loses a message (TS 27.005 §3.5.4: CMGD acts on mem1).
        self._storage_lock = asyncio.Lock()
        self.boots_seen = 0
        quirks = profile.quirks
        channel.add_urc_prefixes(
            (*quirks.noise_urc_prefixes, *quirks.boot_urcs, quirks.sms_ready_urc)
        )
        channel.on_urc([""], self._on_urc)
        channel.on_noise(lambda line: self._emit(Noise(line)))

    # -- events ----------------------------------------------------------------------------

    def _on_urc(self, urc: Urc) -> None:
        event = event_from_urc(urc, self.profile)
        if isinstance(event, ModemBooted):
            self.boots_seen += 1
            self._mem1 = None  # CPMS is volatile: never trust the cached mem1 after a boot
            for waiter in self._boot_waiters:
                if not waiter.done():
                    waiter.set_result(event)
        self._emit(event)

    def _emit(self, event: ModemEvent) -> None:
        if self._events is not None:
            try:
                self._events.put_nowait(event)
            except asyncio.QueueFull:
                _log.warning("modem_event_dropped", event=type(event).__name__)
        if self._on_event is not None:
            task: asyncio.Task[None] = asyncio.get_running_loop().create_task(self._on_event(event))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def watch_port(self) -> None:
        """Await the channel's end and emit PortLost (run as a task by the owner)."""
        if self.channel.closed is None:
            return
        reason = await asyncio.shield(self.channel.closed)
        self._emit(PortLost(str(reason)))

    # -- plumbing --------------------------------------------------------------------------

    async def _cmd(self, cmd: str, timeout_s: float | None = None) -> AtResponse:
        return await self.channel.command(
            cmd, timeout_s=timeout_s if timeout_s is not None else self.profile.timeouts.default_s
        )

    async def _optional(self, cmd: str) -> AtResponse | None:
        try:
            return await self._cmd(cmd)
        except AtError as exc:
            _log.info("at_optional_command_failed", command=cmd, final=exc.final)
            return None

    # -- setup -----------------------------------------------------------------------------

    async def initialise(self) -> InitReport:
        """Run the profile's init sequence (docs/modems.md): required commands raise, optional
        ones are logged; then storage (CPMS, trying fewer memories if rejected) and CNMI
        (first accepted of the profile's list, as ModemManager's fallbacks)."""
        self._mem1 = None
        self._cnmi = None
        for cmd in self.profile.init:
            await self._cmd(cmd)
        failed: list[str] = []
        for cmd in self.profile.init_optional:
            if await self._optional(cmd) is None:
                failed.append(cmd)
        async with self._storage_lock:
            storages = await self._set_cpms()
        last_error: AtError | None = None
        for cnmi in self.profile.cnmi:
            try:
                await self._cmd(f"AT+CNMI={cnmi}")
            except AtError as exc:
                if exc.transient:
                    raise  # SMS not ready yet: the caller retries the whole init
                last_error = exc
                continue
            self._cnmi = cnmi
            break
        if self._cnmi is None:
            assert last_error is not None  # the profile loader rejects an empty cnmi list
            raise last_error
        self._echoes_after_init = self.channel.echoes
        _log.info("modem_initialised", profile=self.profile.name, cnmi=self._cnmi)
        return InitReport(self._cnmi, tuple(storages), tuple(failed))

    async def _set_cpms(self) -> list[c.StorageUse]:
        mems = list(self.profile.cpms)
        while True:
            arg = ",".join(f'"{m}"' for m in mems)
            try:
                resp = await self._cmd(f"AT+CPMS={arg}")
            except AtError as exc:
                # Some modems reject ME as mem3 or take only two parameters (gammu PR #1207).
                if exc.transient or len(mems) == 1:
                    raise
                mems = mems[:-1]
                continue
            self._mem1 = mems[0]
            try:
                return c.parse_cpms_set(resp.lines, mems)
            except ResponseParseError:
                return []

    async def settings_lost(self) -> bool:
        """True when volatile settings no longer match the profile (a silent reboot):
        echo came back after ATE0, or AT+CMGF? is not 0, or AT+CNMI? is not what
        `initialise` set."""
        if self._cnmi is None:
            return True
        if (
            self.profile.quirks.echo_after_reset
            and "ATE0" in self.profile.init
            and self.channel.echoes > self._echoes_after_init
        ):
            return True
        try:
            if c.parse_cmgf((await self._cmd("AT+CMGF?")).lines) != 0:
                return True
            current = c.parse_cnmi((await self._cmd("AT+CNMI?")).lines)
        except (AtError, ResponseParseError):
            return True
        expected = tuple(int(x) for x in self._cnmi.split(","))
        return current[: len(expected)] != expected

    # -- identity --------------------------------------------------------------------------

    async def identify(self) -> ModemIdentity:
        """Device and SIM identity. SIM fields are "" when no SIM is usable."""
        manufacturer = c.parse_info((await self._cmd("AT+CGMI")).lines)
        model = c.parse_info((await self._cmd("AT+CGMM")).lines)
        firmware = c.parse_info((await self._cmd("AT+CGMR")).lines)
        imei = c.parse_imei((await self._cmd("AT+CGSN")).lines)
        imsi = ""
        with contextlib.suppress(AtError, ResponseParseError):
            imsi = c.parse_imsi((await self._cmd("AT+CIMI")).lines)
        iccid = await self.iccid()
        msisdn = ""
        with contextlib.suppress(AtError, ResponseParseError):
            msisdn = c.parse_cnum((await self._cmd("AT+CNUM")).lines)
        mcc_mnc = ""
        with contextlib.suppress(AtError, ResponseParseError):
            mcc_mnc = (await self.operator()).mcc_mnc
        return ModemIdentity(manufacturer, model, firmware, imei, imsi, iccid, msisdn, mcc_mnc)

    async def iccid(self) -> str:
        """First of the profile's ICCID commands that yields one; "" if none does."""
        for cmd in self.profile.iccid_commands:
            try:
                return c.parse_iccid((await self._cmd(cmd)).lines)
            except (AtError, ResponseParseError) as exc:
                _log.debug("iccid_command_failed", command=cmd, error=str(exc))
        return ""

    # -- storage and SMS -------------------------------------------------------------------

    async def _select_storage(self, storage: str) -> None:
        """Make `storage` mem1: read, list and delete act on mem1 only (3GPP TS 27.005
        §3.2.2), so a +CMTI for another memory must switch it first (docs/modems.md)."""
        storage = storage.upper()
        if self._mem1 == storage:
            return
        await self._cmd(f'AT+CPMS="{storage}"')
        self._mem1 = storage

    async def list_messages(self, storage: str, stat: int = 4) -> MessageListing:
        """AT+CMGL=<stat> (4 = all, so nothing is missed; TS 27.005 §3.4.2)."""
        async with self._storage_lock:
            await self._select_storage(storage)
            resp = await self._cmd(f"AT+CMGL={stat}", self.profile.timeouts.list_s)
        listing = c.parse_cmgl(resp.lines)
        messages = tuple(
            StoredPdu(
                storage.upper(), e.index if e.index is not None else -1, e.stat, e.pdu, e.length
            )
            for e in listing.entries
        )
        return MessageListing(messages, listing.unparsed)

    async def read_message(self, storage: str, index: int) -> StoredPdu | None:
        """AT+CMGR=<index>; None for an empty slot (bare OK, CMS 321, or the profile's
        catch-all CMS 500)."""
        async with self._storage_lock:
            await self._select_storage(storage)
            try:
                resp = await self._cmd(f"AT+CMGR={index}")
            except AtError as exc:
                if self._is_empty_slot(exc):
                    return None
                raise
        entry = c.parse_cmgr(resp.lines)
        if entry is None:
            return None
        return StoredPdu(storage.upper(), index, entry.stat, entry.pdu, entry.length)

    def _is_empty_slot(self, exc: AtError) -> bool:
        if exc.empty_slot:
            return True
        return (
            isinstance(exc, CmsError)
            and exc.code == 500
            and self.profile.quirks.empty_read == "cms500"
        )

    async def delete_message(self, storage: str, index: int) -> None:
        """AT+CMGD=<index>. Deleting an already-empty slot is success (idempotent)."""
        async with self._storage_lock:
            await self._select_storage(storage)
            try:
                await self._cmd(f"AT+CMGD={index}")
            except AtError as exc:
                if not self._is_empty_slot(exc):
                    raise
                _log.info("sms_delete_found_slot_empty", storage=storage, index=index)

    async def storage_status(self) -> list[c.StorageUse]:
        return c.parse_cpms_query((await self._cmd("AT+CPMS?")).lines)

    async def send_pdu(self, pdu: bytes | str, tpdu_length: int) -> int:
        """AT+CMGS=<tpdu_length>, PDU at the prompt; returns the message reference."""
        t = self.profile.timeouts
        resp = await self.channel.command(
            f"AT+CMGS={tpdu_length}", timeout_s=t.send_s, pdu=pdu, prompt_timeout_s=t.default_s
        )
        return c.parse_cmgs(resp.lines)

    async def ack_direct(self) -> None:
        """AT+CNMA after +CMT/+CDS when the modem runs CSMS=1 (TS 27.005 §3.4.4)."""
        try:
            await self._cmd("AT+CNMA")
        except CmsError as exc:
            if exc.code != 340:  # 340 = no ack expected: harmless
                raise

    # -- health ----------------------------------------------------------------------------

    async def signal(self) -> c.Signal:
        """+CSQ, refined by +CESQ (RSRP/RSRQ on LTE) when the modem supports it."""
        csq = c.parse_csq((await self._cmd("AT+CSQ")).lines)
        try:
            cesq = c.parse_cesq((await self._cmd("AT+CESQ")).lines)
        except (AtError, ResponseParseError):
            return csq
        return c.Signal(
            rssi_dbm=csq.rssi_dbm if csq.rssi_dbm is not None else cesq.rssi_dbm,
            ber=csq.ber,
            rsrp_dbm=cesq.rsrp_dbm,
            rsrq_db=cesq.rsrq_db,
        )

    async def registration(self) -> RegistrationState:
        entries: list[c.Registration] = []
        for cmd, prefix in (
            ("AT+CREG?", "+CREG"),
            ("AT+CGREG?", "+CGREG"),
            ("AT+CEREG?", "+CEREG"),
            ("AT+C5GREG?", "+C5GREG"),
        ):
            try:
                resp = await self._cmd(cmd)
            except AtError:
                continue  # not every modem knows every domain
            for line in resp.lines:
                if line.upper().startswith(prefix + ":"):
                    with contextlib.suppress(ResponseParseError):
                        entries.append(c.parse_registration(line))
        return RegistrationState(tuple(entries))

    async def operator(self) -> c.Operator:
        """+COPS? in numeric format (names vary per firmware; key on the PLMN)."""
        await self._optional("AT+COPS=3,2")
        return c.parse_cops((await self._cmd("AT+COPS?")).lines)

    async def sim_state(self) -> SimStatus:
        try:
            code = c.parse_cpin((await self._cmd("AT+CPIN?")).lines)
        except CmeError as exc:
            by_code = {10: SimState.NOT_INSERTED, 13: SimState.FAILURE, 14: SimState.BUSY}
            state = by_code.get(exc.code or -1, SimState.OTHER)
            if exc.code in (11, 5):
                state = SimState.PIN_REQUIRED
            elif exc.code == 12:
                state = SimState.PUK_REQUIRED
            return SimStatus(state, exc.final)
        states = {
            "READY": SimState.READY,
            "SIM PIN": SimState.PIN_REQUIRED,
            "PH-SIM PIN": SimState.PIN_REQUIRED,
            "SIM PUK": SimState.PUK_REQUIRED,
            "NOT INSERTED": SimState.NOT_INSERTED,
            "NOT READY": SimState.NOT_READY,
        }
        return SimStatus(states.get(code, SimState.OTHER), code)

    # -- recovery building blocks ----------------------------------------------------------

    async def ping(self, timeout_s: float = 2.0) -> bool:
        """`AT` answered OK within `timeout_s`."""
        try:
            await self.channel.command("AT", timeout_s=timeout_s)
        except (AtTimeoutError, AtError, PortGoneError):
            return False
        return True

    async def reset(self) -> None:
        """AT+CFUN=1,1. The OK may never come (the USB device vanishes first, or a UART
        module just reboots and prints boot URCs): a timeout, PortGoneError or a boot URC before
        the OK are the expected outcomes, not failures."""
        self._mem1 = None
        self._cnmi = None
        booted: asyncio.Future[ModemBooted] = asyncio.get_running_loop().create_future()
        self._boot_waiters.add(booted)
        command = asyncio.ensure_future(
            self.channel.command("AT+CFUN=1,1", timeout_s=self.profile.timeouts.reset_s)
        )
        try:
            waiters: set[asyncio.Future[Any]] = {command, booted}
            await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
            if not command.done():
                command.cancel()  # rebooted without an OK: stop waiting for it
                await asyncio.wait({command})
            if command.cancelled():
                _log.info("modem_reset_answered_without_ok", reason="booted")
            elif (exc := command.exception()) is not None:
                if not isinstance(exc, AtTimeoutError | PortGoneError):
                    raise exc
                _log.info("modem_reset_answered_without_ok", reason=type(exc).__name__)
        finally:
            self._boot_waiters.discard(booted)
            booted.cancel()
        _log.info("modem_reset_requested", profile=self.profile.name)


__all__ = [
    "GsmModem",
    "InitReport",
    "MessageListing",
    "ModemError",
    "ModemIdentity",
    "RegistrationState",
    "SimState",
    "SimStatus",
    "StoredPdu",
    "event_from_urc",
]
