"""The per-modem receive loop and its supervisor (DESIGN.md "Agent", reference §4-6, §12).

For each stored message (announced by +CMTI/+CDSI, or found by the periodic AT+CMGL=4
sweep because URCs get lost): read the PDU, persist it raw to the outbox (one fsynced
SQLite transaction), and only then AT+CMGD. Direct +CMT/+CDS PDUs are persisted, then
acked with AT+CNMA when the profile needs it. When the outbox is full the loop stops
reading (and so stops deleting): the SIM, then the carrier, hold the backlog.

Why a message cannot be lost or stored twice here, whatever the disk or the loop does:
- every outbox call runs on the outbox's own writer thread (agent/outbox_io.py) and is
  awaited: AT+CMGD for a slot is sent only after the commit holding its PDU returned;
- a commit that fails (disk full, read-only, I/O error) raises before the delete, so the
  SIM keeps its copy; the loop backs off and the next sweep reads it again;
- a crash between the commit and the delete leaves the part unmarked: the re-read of the
  same slot with the same bytes is recognised (Outbox.persist_part) and only deleted;
- the serial reader hands each chunk over exactly once (agent/modem/transport.py) and
  the AT channel runs one command at a time, so a reply always belongs to its command.

`ModemSupervisor` owns one configured modem: it finds the port, opens and initialises the
modem, runs the receive loop, and on failure walks the recovery ladder (agent/recovery.py),
recording an AgentEvent for each step.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Protocol, TypeVar

import structlog

from agent.config import ModemConfig, ReceiveConfig
from agent.health import HealthInputs, RegState, StorageState, judge
from agent.logs import mask_msisdn
from agent.outbox import ModemRef, OutboxError, PersistedPart
from agent.outbox_io import OutboxIO
from agent.reassembly import ConcatInfo, PartFacts, scts_fields
from agent.records import AgentEvent, CanarySent, ModemHealth, RecordBody, StatusReport
from agent.recovery import (
    Action,
    Backoff,
    ProbeImei,
    candidate_ports,
    find_port,
    next_action,
    port_present,
    probe_imei,
    run_power_cycle,
)

_log = structlog.get_logger("agent.receiver")
T = TypeVar("T")

# --- what the receiver needs from a modem driver (agent.modem.gsm.GsmModem fits it) ---


@dataclass(frozen=True, slots=True)
class Stored:
    """A PDU in modem storage (AT+CMGL / AT+CMGR)."""

    storage: str
    index: int
    pdu: bytes


@dataclass(frozen=True, slots=True)
class Identity:
    imei: str = ""
    iccid: str = ""
    imsi: str = ""
    manufacturer: str = ""
    model: str = ""
    firmware: str = ""
    msisdn: str = ""
    operator_mcc_mnc: str = ""  # network registered on at identification ("" = none)


@dataclass(frozen=True, slots=True)
class NewMessage:
    storage: str
    index: int
    kind: str = "sms"  # sms | status (+CDSI)


@dataclass(frozen=True, slots=True)
class DirectPdu:
    kind: str  # sms (+CMT) | status (+CDS)
    pdu: bytes | None  # None when the modem sent the header but no PDU line


@dataclass(frozen=True, slots=True)
class Booted:
    line: str  # RDY, ^BOOT..., +CPIN: READY after a reboot: settings are gone


@dataclass(frozen=True, slots=True)
class StorageFull:
    storage: str


ModemEvent = NewMessage | DirectPdu | Booted | StorageFull


class ModemSession(Protocol):
    """One open connection to one modem."""

    storages: tuple[str, ...]  # receive storages to sweep (SM, ME, MT ...), SR separately
    needs_cnma: bool

    async def initialise(self) -> None: ...
    async def identify(self) -> Identity: ...
    async def list_messages(self, storage: str) -> list[Stored]: ...
    async def read_message(self, storage: str, index: int) -> Stored | None: ...
    async def delete_message(self, storage: str, index: int) -> None: ...
    async def ack_direct(self) -> None: ...
    async def health(self) -> HealthInputs: ...
    async def settings_lost(self) -> bool: ...
    async def reset(self) -> None: ...
    async def send_pdu(self, pdu: bytes, tpdu_length: int) -> int: ...
    async def close(self) -> None: ...

    @property
    def lost(self) -> asyncio.Future[object]: ...


# (port, config, event sink) -> an open, not yet initialised session
ModemOpener = Callable[[str, ModemConfig, Callable[[ModemEvent], None]], Awaitable[ModemSession]]


class ModemFailure(Exception):
    """The session cannot go on (port gone, modem not answering); the supervisor recovers."""

    def __init__(self, reason: str, port_gone: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.port_gone = port_gone


# Error classification, in one place: which driver errors mean "the port is gone" and
# which "the modem does not answer" (both end the session). Resolved lazily so this module
# imports without the driver.
def classify_error(exc: BaseException) -> ModemFailure | None:
    from agent.modem.errors import AtTimeout, PortGone

    if isinstance(exc, PortGone | OSError):
        return ModemFailure(f"port gone: {exc}", port_gone=True)
    if isinstance(exc, AtTimeout):
        return ModemFailure(f"not responding: {exc}")
    return None


def decode_part(pdu: bytes) -> PartFacts | StatusReport:
    """Decode once at receive time; an undecodable PDU becomes facts with the error."""
    from agent.modem.sms.errors import PduError
    from agent.modem.sms.tpdu import SmsStatusReport, decode_pdu

    try:
        msg = decode_pdu(pdu)
    except PduError as exc:
        return PartFacts(decode_error=f"{exc.reason} at octet {exc.offset}")
    except Exception as exc:  # the codec must never cost us a message
        return PartFacts(decode_error=f"decoder failed: {type(exc).__name__}: {exc}")
    if isinstance(msg, SmsStatusReport):
        scts_ns, _ = scts_fields(msg.scts)
        dt_ns, _ = scts_fields(msg.discharge_time)
        return StatusReport(
            raw_pdu=pdu,
            storage="",
            index=-1,
            received_at_ns=0,
            recipient=msg.recipient.formatted,
            message_reference=msg.message_reference,
            status=msg.status,
            scts_ns=scts_ns,
            discharge_time_ns=dt_ns,
        )
    scts_ns, tz = scts_fields(msg.scts)
    c = msg.concat
    return PartFacts(
        smsc=msg.smsc or "",
        sender=msg.sender.formatted,
        sender_ton=msg.sender.ton,
        pid=msg.pid,
        dcs=msg.dcs,
        encoding=str(msg.encoding.value),
        message_class=-1 if msg.message_class is None else msg.message_class,
        scts_ns=scts_ns,
        scts_tz_minutes=tz,
        concat=None if c is None else ConcatInfo(c.ref, c.total, c.seq, c.ref_bits),
        text=msg.text,
        user_data=msg.user_data,  # septets for GSM 7-bit: reassembly may join them
    )


@dataclass
class ReceiverStats:
    persisted: int = 0
    rereads: int = 0
    deleted: int = 0
    sweeps: int = 0
    backpressured: int = 0
    last_sms_at_ns: int = 0
    storages: dict[str, tuple[int, int]] = field(default_factory=dict)
    storage_recoveries_seen: int = 0  # OutboxIO.recoveries already recorded as blind


class Receiver:
    """The receive path over one open session: events, sweeps, health."""

    def __init__(
        self,
        session: ModemSession,
        outbox: OutboxIO,
        modem: ModemRef,
        config: ReceiveConfig,
        modem_config: ModemConfig,
        *,
        events: asyncio.Queue[ModemEvent],
        on_persisted: Callable[[], None] = lambda: None,
        now_ns: Callable[[], int] = time.time_ns,
        stats: ReceiverStats | None = None,
        watching_since_ns: int = 0,
        boot_seen: asyncio.Event | None = None,
    ) -> None:
        self.session = session
        self.outbox = outbox
        self.modem = modem
        self.config = config
        self.modem_config = modem_config
        self.events = events
        # Set by the event sink when a boot URC arrives, even while a command is in flight.
        self.boot_seen = boot_seen or asyncio.Event()
        self.on_persisted = on_persisted
        self.now_ns = now_ns
        self.stats = stats or ReceiverStats()
        self.watching_since_ns = watching_since_ns or now_ns()
        self._log = _log.bind(modem=modem.key, port=modem_config.port)
        self._timeouts = 0
        self._reinit_reason: str | None = None
        self._paused = False
        self._storage_failures = 0  # consecutive steps that failed on the outbox
        # The step in progress and since when (loop time): the supervisor's stall watch.
        self.busy: tuple[str, float] | None = None

    # --- one message ---

    async def _accepting(self) -> bool:
        full = (await self.outbox.pressure()).full
        if full != self._paused:
            self._paused = full
            if full:
                self._log.warning("outbox_full_reading_paused")
            else:
                self._log.info("outbox_reading_resumed")
        if full:
            self.stats.backpressured += 1
        return not full

    async def process_stored(self, item: Stored) -> bool:
        """Persist, then delete. False when the outbox is full (nothing read or deleted)."""
        if not await self._accepting():
            return False
        decoded = decode_part(item.pdu)
        now = self.now_ns()
        result: PersistedPart
        if isinstance(decoded, StatusReport):
            report = replace(decoded, storage=item.storage, index=item.index, received_at_ns=now)
            result = await self.outbox.persist_status_report(
                self.modem, item.storage, item.index, report
            )
        else:
            result = await self.outbox.persist_part(
                self.modem, item.storage, item.index, item.pdu, decoded, received_at_ns=now
            )
        self._after_persist(result, item.storage, item.index, decoded)
        # Only now that the commit is on disk may the modem's copy go (DESIGN.md).
        await self._delete(item.storage, item.index, result.part_uuid)
        return True

    def _after_persist(
        self,
        result: PersistedPart,
        storage: str,
        index: int,
        decoded: PartFacts | StatusReport,
    ) -> None:
        if not result.new:
            self.stats.rereads += 1
            self._log.info(
                "sms_reread_recognised", storage=storage, index=index, part=result.part_uuid
            )
            return
        self.stats.persisted += 1
        self.stats.last_sms_at_ns = self.now_ns()
        if isinstance(decoded, StatusReport):
            self._log.info("status_report_received", storage=storage, index=index)
        else:
            self._log.info(
                "sms_part_persisted",
                storage=storage,
                index=index,
                sender=mask_msisdn(decoded.sender),
                concat=None if decoded.concat is None else decoded.concat.seq,
                decode_error=decoded.decode_error or None,
                emitted=[r.seq for r in result.emitted],
            )
        if result.emitted:
            self.on_persisted()

    async def _delete(self, storage: str, index: int, part_uuid: str) -> None:
        from agent.modem.errors import AtError

        try:
            await self.session.delete_message(storage, index)
        except AtError as exc:
            if not exc.empty_slot:
                # Left unmarked: the next sweep re-reads it and recognises the copy.
                self._log.warning("sms_delete_failed", storage=storage, index=index, error=str(exc))
                return
        await self.outbox.mark_deleted(part_uuid)
        self.stats.deleted += 1

    async def handle_direct(self, event: DirectPdu) -> None:
        if event.pdu is None:
            self._log.warning("direct_pdu_missing", kind=event.kind)
            return
        decoded = decode_part(event.pdu)
        now = self.now_ns()
        if isinstance(decoded, StatusReport):
            report = replace(decoded, storage="", received_at_ns=now)
            result = await self.outbox.persist_status_report(self.modem, "", -1, report)
        else:
            result = await self.outbox.persist_part(self.modem, "", -1, event.pdu, decoded, now)
        self._after_persist(result, "", -1, decoded)
        if self.session.needs_cnma:
            # TS 27.005 §3.4.4: CSMS=1 firmware waits for the TE's ack; persisted first.
            await self.session.ack_direct()

    async def handle_new(self, event: NewMessage) -> None:
        if not await self._accepting():
            return  # left in storage: the sweep after the outbox drains picks it up
        stored = await self.session.read_message(event.storage, event.index)
        if stored is None:
            self._log.info("sms_slot_empty", storage=event.storage, index=event.index)
            return
        await self.process_stored(stored)

    async def sweep(self) -> int:
        """AT+CMGL=4 over every receive storage and SR; returns messages processed."""
        done = 0
        self.stats.sweeps += 1
        storages = self.session.storages
        for storage in (*storages, *(() if "SR" in storages else ("SR",))):
            try:
                items = await self.session.list_messages(storage)
            except Exception as exc:
                if classify_error(exc) is not None:
                    raise
                self._log.info("sweep_storage_skipped", storage=storage, error=str(exc))
                continue
            for item in items:
                if not await self.process_stored(item):
                    return done
                done += 1
        if done:
            self._log.info("sweep_found_messages", count=done)
        return done

    async def report_health(self, extra: tuple[str, ...] = ()) -> None:
        inputs = await self.session.health()
        inputs = replace(
            inputs,
            at_ns=self.now_ns(),
            iccid=self.modem.iccid,
            last_sms_at_ns=self.stats.last_sms_at_ns,
            watching_since_ns=self.watching_since_ns,
            extra_reasons=extra,
        )
        self.stats.storages = {s.storage: (s.used, s.total) for s in inputs.storages}
        health = judge(inputs, self.modem_config.expected_sms_interval_s)
        await self.outbox.append(health, self.modem)
        self.on_persisted()
        self._log.info("modem_health_recorded", healthy=health.healthy, reasons=health.reasons)
        if any(s.total and s.used >= s.total for s in inputs.storages):
            # A full storage silently stops +CMTI (reference §16.2): drain it now.
            await self.sweep()

    async def run(self, ready: Callable[[], None] = lambda: None) -> None:
        """Serve until the session fails (raises ModemFailure) or the task is cancelled."""
        from agent.modem.errors import AtError, ResponseParseError

        loop = asyncio.get_running_loop()
        next_sweep = loop.time()
        next_health = loop.time()
        next_reinit = loop.time()
        ready()
        while True:
            try:
                now = loop.time()
                if self._reinit_reason is not None and now >= next_reinit:
                    # After a reboot SMS commands fail until the modem is ready (CMS 302/
                    # 314/500, reference §1.7): retry each second until init succeeds.
                    next_reinit = now + 1.0
                    await self.reinitialise(self._reinit_reason)
                    next_sweep = now
                if (
                    self.outbox.recoveries != self.stats.storage_recoveries_seen
                    and self.outbox.trouble is None
                ):
                    await self._storage_recovered()
                    next_health = now  # a fresh sample right behind the blind window
                if now >= next_sweep:
                    await self.outbox.expire_groups()
                    await self._guarded(self.sweep())
                    next_sweep = now + self.config.sweep_interval_s
                if now >= next_health:
                    next_health = now + self.config.health_interval_s
                    if await self._guarded(self.session.settings_lost()):
                        self._reinit_reason = "settings_lost"
                        continue
                    await self._guarded(self.report_health())
                wake = min(next_sweep, next_health)
                if self._reinit_reason is not None:
                    wake = min(wake, next_reinit)
                timeout = max(0.0, wake - loop.time())
                lost = self.session.lost
                get = asyncio.ensure_future(self.events.get())
                waiting: set[asyncio.Future[Any]] = {get, lost}
                done, _ = await asyncio.wait(
                    waiting, timeout=timeout, return_when=asyncio.FIRST_COMPLETED
                )
                if get not in done:
                    get.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await get
                if lost in done:
                    raise ModemFailure(f"port gone: {lost.result()}", port_gone=True)
                if get in done:
                    await self._guarded(self.handle(get.result()))
                self._timeouts = 0
            except ModemFailure:
                raise
            except OutboxError as exc:
                # The disk, not the modem: nothing was deleted unsaved. Back off (bounded,
                # so reading resumes within seconds of the disk recovering), then sweep.
                self._storage_failures += 1
                delay = min(5.0, 0.5 * 2 ** min(self._storage_failures - 1, 4))
                self._log.warning(
                    "outbox_write_failed", reason=exc.reason, error=str(exc), retry_in_s=delay
                )
                await asyncio.sleep(delay)
                next_sweep = loop.time()
            except (AtError, ResponseParseError) as exc:
                # The modem answered, with an error: not a hang. Logged; the next sweep
                # retries whatever this was about.
                self._log.warning("modem_command_failed", error=str(exc))
            except Exception as exc:
                failure = classify_error(exc)
                if failure is None:
                    raise
                if failure.port_gone:
                    raise failure from exc
                self._timeouts += 1
                self._log.warning("modem_command_timed_out", count=self._timeouts)
                if self._timeouts >= 2:
                    raise failure from exc

    async def _storage_recovered(self) -> None:
        """The outbox is writable again: record this receiver as blind for the window in
        which nothing could be persisted, so probes in it are inconclusive, never lost."""
        window = self.outbox.last_trouble
        self._storage_failures = 0
        self.stats.storage_recoveries_seen = self.outbox.recoveries
        if window is None:
            return
        trouble, _until = window
        await self.outbox.append(
            ModemHealth(
                at_ns=trouble.since_ns,
                responding=True,
                healthy=False,
                reasons=("outbox_unwritable", trouble.reason),
                last_sms_at_ns=self.stats.last_sms_at_ns,
                iccid=self.modem.iccid,
            ),
            self.modem,
        )
        self.on_persisted()
        self._log.info("receiver_resumed_after_storage_trouble", reason=trouble.reason)

    async def _guarded(self, step: Coroutine[Any, Any, T]) -> T | None:
        """Run one step with a watchdog; its result, or None when a reboot abandoned it.

        - A modem that reboots under the step never answers the command in flight
          (reference §12 "modem reboot mid-command"): the step is abandoned at once and
          the modem re-initialised, instead of waiting out the command's timeout.
        - A step still running after `step_deadline_s` is abandoned as a hang: every AT
          command has its own deadline, so this only fires when something below has none —
          and a receiver stuck there would go deaf while its last health still says
          healthy, the worst failure there is. It counts as a timeout (escalating to a
          reopen and a reset like any other hang).
        """
        task = asyncio.ensure_future(step)
        boot = asyncio.ensure_future(self.boot_seen.wait())
        waiting: set[asyncio.Future[Any]] = {task, boot}
        deadline = self.step_deadline_s
        self.busy = (getattr(step, "__qualname__", "step"), asyncio.get_running_loop().time())
        try:
            await asyncio.wait(waiting, timeout=deadline, return_when=asyncio.FIRST_COMPLETED)
        finally:
            self.busy = None
            rebooted = boot.done() and not boot.cancelled()
            boot.cancel()
            if not task.done():
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
                if rebooted:
                    self._log.warning("modem_step_abandoned_on_reboot")
                    self._reinit_reason = self._reinit_reason or "boot during a command"
        if task.cancelled():
            if not rebooted:
                from agent.modem.errors import AtTimeout

                self._log.error("modem_step_timed_out", deadline_s=deadline)
                raise AtTimeout("receive step", deadline)
            return None
        return task.result()

    @property
    def step_deadline_s(self) -> float:
        # Far above any legitimate step (a sweep of a full SIM is ~2 commands per message,
        # each bounded by the command timeout), far below "nobody noticed for minutes".
        return max(60.0, 24 * self.config.command_timeout_s)

    async def handle(self, event: ModemEvent) -> None:
        if isinstance(event, NewMessage):
            await self.handle_new(event)
        elif isinstance(event, DirectPdu):
            await self.handle_direct(event)
        elif isinstance(event, Booted):
            self._log.warning("modem_reboot_noticed", line=event.line)
            self._reinit_reason = f"boot: {event.line}"
        elif isinstance(event, StorageFull):
            self._log.warning("modem_storage_full", storage=event.storage)
            await self.sweep()

    async def reinitialise(self, why: str) -> None:
        self.boot_seen.clear()
        await self.session.initialise()
        self._reinit_reason = None
        await self.outbox.append(
            AgentEvent(
                at_ns=self.now_ns(),
                kind="modem_reinitialised",
                detail=why,
                attributes={"port": self.modem_config.port, "imei": self.modem.imei},
            ),
            self.modem,
        )
        self.on_persisted()
        self._log.info("modem_reinitialised", reason=why)


# A session that served this long counts as recovered: the next failure starts the
# escalation ladder from "reopen" again (a flapping modem keeps climbing it instead).
STABLE_SESSION_S = 60.0


class ModemSupervisor:
    """Keeps one configured modem served: locate, open, initialise, receive, recover."""

    def __init__(
        self,
        modem_config: ModemConfig,
        config: ReceiveConfig,
        outbox: OutboxIO,
        opener: ModemOpener,
        *,
        backoff: Backoff | None = None,
        probe_imei: ProbeImei | None = probe_imei,
        candidates: Callable[[], Sequence[str]] = candidate_ports,
        busy_ports: Callable[[], frozenset[str]] = frozenset,
        on_persisted: Callable[[], None] = lambda: None,
        now_ns: Callable[[], int] = time.time_ns,
    ) -> None:
        self.modem_config = modem_config
        self.config = config
        self.outbox = outbox
        self.opener = opener
        self.backoff = backoff or Backoff()
        self.probe_imei = probe_imei
        self.candidates = candidates
        self.busy_ports = busy_ports
        self.on_persisted = on_persisted
        self.now_ns = now_ns
        self.stats = ReceiverStats()
        self.modem = ModemRef(modem_config.imei or modem_config.port, modem_config.imei)
        self.identity = Identity()
        self.port = modem_config.port
        self.session: ModemSession | None = None
        self.connected = asyncio.Event()
        self._watching_since = now_ns()
        self._log = _log.bind(port=modem_config.port)
        self._send_lock = asyncio.Lock()
        self._serving_since: float | None = None

    async def _record(self, body: RecordBody) -> None:
        """Persist a supervisor record (event, health). On a failing disk it is logged
        instead: the receiver's own backoff and the outbox_unwritable event cover it."""
        try:
            await self.outbox.append(body, self.modem)
        except OutboxError as exc:
            self._log.warning(
                "record_not_stored", kind=type(body).__name__, reason=exc.reason, error=str(exc)
            )
            return
        self.on_persisted()

    async def _event(self, kind: str, detail: str = "", **attrs: str) -> None:
        attributes = {"port": self.port, "configured_port": self.modem_config.port, **attrs}
        if self.modem.imei:
            attributes["imei"] = self.modem.imei
        self._log.info(kind, detail=detail, **attrs)
        await self._record(
            AgentEvent(at_ns=self.now_ns(), kind=kind, detail=detail, attributes=attributes)
        )

    async def run(self, stop: asyncio.Event) -> None:
        failures = 0
        ever_connected = False
        recovering = False
        while not stop.is_set():
            port = await find_port(
                self.modem_config.port,
                self.modem.imei,
                self.candidates(),
                self.probe_imei,
                self.busy_ports(),
            )
            if port is None:
                action = next_action(failures, False, bool(self.modem_config.power_cycle_command))
                if action is Action.POWER_CYCLE:
                    await self._power_cycle()
                failures += 1
                await self._wait(stop, failures)
                continue
            if port != self.port:
                await self._event("modem_found", f"re-found at {port}", new_port=port)
                self.port = port
            failure: ModemFailure | None = None
            self._serving_since = None
            try:
                failure = await self._serve(port, stop, recovering, ever_connected)
            except ModemFailure as exc:
                failure = exc
            except OutboxError:
                # The disk, not the modem: nothing to reset. Messages stay on the SIM.
                self._log.exception("outbox_write_failed")
                failures += 1
                await self._wait(stop, failures)
                continue
            except Exception as exc:  # a bug must not end the agent: log it, recover
                self._log.exception("modem_session_crashed")
                failure = ModemFailure(f"internal error: {type(exc).__name__}: {exc}")
            if self._serving_since is not None:
                ever_connected = True
                loop = asyncio.get_running_loop()
                if loop.time() - self._serving_since >= STABLE_SESSION_S:
                    failures = 0  # it served for a while: start the ladder from the bottom
            if stop.is_set():
                break
            if failure is None:
                continue
            recovering = True
            if failure.port_gone:
                await self._event("modem_lost", failure.reason)
            else:
                await self._event("modem_not_responding", failure.reason)
            # The collector must know this receiver was blind from now on (probes in the
            # window are inconclusive, never charged to the vendor).
            await self._record(
                judge(
                    HealthInputs(
                        at_ns=self.now_ns(),
                        responding=False,
                        iccid=self.modem.iccid,
                        last_sms_at_ns=self.stats.last_sms_at_ns,
                        extra_reasons=("port_gone",) if failure.port_gone else (),
                    )
                )
            )
            action = next_action(
                failures, port_present(port), bool(self.modem_config.power_cycle_command)
            )
            if action is Action.RESET:
                await self._reset(port)
            elif action is Action.POWER_CYCLE:
                await self._power_cycle()
            failures += 1
            await self._wait(stop, failures - 1)

    async def _wait(self, stop: asyncio.Event, attempt: int) -> None:
        delay = self.backoff.delay(attempt)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), delay)

    async def _serve(
        self, port: str, stop: asyncio.Event, recovering: bool, ever_connected: bool
    ) -> ModemFailure | None:
        events: asyncio.Queue[ModemEvent] = asyncio.Queue()
        boot_seen = asyncio.Event()

        def sink(event: ModemEvent) -> None:
            events.put_nowait(event)
            if isinstance(event, Booted):
                boot_seen.set()

        try:
            session = await self.opener(port, self.modem_config, sink)
        except Exception as exc:
            failure = classify_error(exc)
            if failure is None:
                raise
            raise failure from exc
        self.session = session
        try:
            identity = await self._initialise(session)
            await self._adopt(identity)
            if not ever_connected:
                await self._event(
                    "modem_connected",
                    f"{identity.manufacturer} {identity.model}".strip(),
                    firmware=identity.firmware,
                    model=identity.model,
                )
            elif recovering:
                await self._event("modem_reinitialised", "after recovery")
            receiver = Receiver(
                session,
                self.outbox,
                self.modem,
                self.config,
                self.modem_config,
                events=events,
                on_persisted=self.on_persisted,
                now_ns=self.now_ns,
                stats=self.stats,
                watching_since_ns=self._watching_since,
                boot_seen=boot_seen,
            )
            run = asyncio.ensure_future(receiver.run(self._ready))
            stopper = asyncio.ensure_future(stop.wait())
            watch = asyncio.ensure_future(self._watch_stalls(receiver))
            try:
                done, _ = await asyncio.wait({run, stopper}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for task in (run, stopper, watch):
                    if not task.done():
                        task.cancel()
                        with contextlib.suppress(asyncio.CancelledError, Exception):
                            await task
            if run in done:
                run.result()  # raises the ModemFailure
            return None
        finally:
            self.connected.clear()
            self.session = None
            with contextlib.suppress(Exception):
                await session.close()

    @property
    def stall_after_s(self) -> float:
        # Far above a normal step (a sweep, a health round, waiting behind a canary's
        # AT+CMGS), well below the collector's max_silence and the step watchdog.
        return max(2 * self.config.health_interval_s, 3 * self.config.command_timeout_s)

    async def _watch_stalls(self, receiver: Receiver) -> None:
        """Say so when the receiver is stuck in one step (waiting for the AT channel behind
        a slow send, a sweep that does not end): a warning for ops and an unhealthy health
        record dated from the step's start, so the collector sees a blind receiver rather
        than a silent one. The step watchdog ends the session if it never returns."""
        loop = asyncio.get_running_loop()
        after = self.stall_after_s
        reported: float | None = None  # loop time the reported stall began
        while True:
            await asyncio.sleep(min(after / 2, self.config.health_interval_s))
            busy = receiver.busy
            now = loop.time()
            if busy is not None and now - busy[1] >= after:
                if reported != busy[1]:
                    reported = busy[1]
                    self._log.warning("receiver_stalled", step=busy[0], for_s=round(now - busy[1]))
                    started_ns = self.now_ns() - int((now - busy[1]) * 1e9)
                    stalled = HealthInputs(
                        at_ns=started_ns,
                        responding=False,
                        iccid=self.modem.iccid,
                        last_sms_at_ns=self.stats.last_sms_at_ns,
                        extra_reasons=("receiver_stalled",),
                    )
                    await self._record(judge(stalled))
            elif reported is not None and (busy is None or busy[1] != reported):
                self._log.info("receiver_resumed", stalled_s=round(now - reported, 1))
                reported = None

    async def _initialise(self, session: ModemSession, attempts: int = 4) -> Identity:
        """Init + identify; a lost final or "SMS not ready" (CMS 302/314/500 right after a
        boot, reference §1.7) is retried on the same port before we escalate."""
        for attempt in range(attempts):
            try:
                await session.initialise()
                return await session.identify()
            except Exception as exc:
                failure = classify_error(exc) or ModemFailure(f"initialise failed: {exc}")
                if failure.port_gone or attempt == attempts - 1:
                    raise failure from exc
                self._log.info("modem_initialise_retried", attempt=attempt + 1, error=str(exc))
                await asyncio.sleep(self.backoff.delay(attempt))
        raise AssertionError("unreachable")

    def _ready(self) -> None:
        self._serving_since = asyncio.get_running_loop().time()
        self.connected.set()

    async def _adopt(self, identity: Identity) -> None:
        expected = self.modem_config.imei
        if expected and identity.imei and identity.imei != expected:
            self._log.warning("modem_imei_mismatch", expected=expected, found=identity.imei)
        imei = identity.imei or expected
        iccid = identity.iccid or self.modem_config.iccid
        if (self.modem.iccid and iccid and iccid != self.modem.iccid) and self.identity.iccid:
            await self._event("sim_changed", f"{self.modem.iccid} -> {iccid}", iccid=iccid)
        # The key stays what it was at start (IMEI if configured, else the port): it
        # scopes duplicate detection across restarts, so it must not change under us.
        self.modem = ModemRef(self.modem.key, imei, iccid)
        self.identity = identity

    async def _reset(self, port: str) -> None:
        """AT+CFUN=1,1 over a fresh connection; a hung modem may not even answer that."""
        try:
            session = await self.opener(port, self.modem_config, lambda _e: None)
        except Exception as exc:
            self._log.warning("modem_reset_failed", error=str(exc))
            return
        try:
            await session.reset()
            await self._event("modem_reset", "AT+CFUN=1,1")
        except Exception as exc:
            await self._event("modem_reset", f"AT+CFUN=1,1 not acknowledged: {exc}")
        finally:
            with contextlib.suppress(Exception):
                await session.close()

    async def _power_cycle(self) -> None:
        argv = self.modem_config.power_cycle_command
        if not argv:
            return
        code, out = await run_power_cycle(argv)
        await self._event("modem_power_cycled", out.strip()[-200:], exit_code=str(code))

    async def send_sms(
        self, to: str, text: str, canary_id: str = "", status_report: bool = False
    ) -> tuple[int, ...]:
        """Send (single or multi-part) over the live session; a canary is recorded as
        CanarySent with the message references, or the error. `status_report` sets TP-SRR:
        the SMSC's reports come back as StatusReport records (SR storage or +CDS)."""
        from agent.modem.sms.tpdu import encode_submit

        refs: list[int] = []
        error = ""
        started_ns = self.now_ns()  # before the send: a canary's latency is never negative
        try:
            session = self.session
            if session is None:
                raise ModemFailure("modem not connected")
            async with self._send_lock:
                ref = (self.stats.persisted + len(refs)) & 0xFF  # concat ref, any value works
                pdus = encode_submit(to, text, concat_ref=ref, status_report_request=status_report)
                for pdu in pdus:
                    refs.append(await session.send_pdu(pdu.pdu, pdu.tpdu_length))
        except Exception as exc:
            error = f"{type(exc).__name__}: {exc}"
            if not canary_id:
                raise
        finally:
            if canary_id:
                await self._record(
                    CanarySent(
                        canary_id=canary_id,
                        sent_at_ns=started_ns,
                        to_msisdn=to,
                        message_references=tuple(refs),
                        error=error,
                        text=text,
                    )
                )
        return tuple(refs)


def reg_states(pairs: Sequence[tuple[str, int, int | None]]) -> tuple[RegState, ...]:
    return tuple(RegState(d, s, a) for d, s, a in pairs)


def storage_states(items: Sequence[tuple[str, int, int]]) -> tuple[StorageState, ...]:
    return tuple(StorageState(s, u, t) for s, u, t in items)


# --- the real driver: SerialByteStream -> AtChannel -> GsmModem, as a ModemSession ---


class GsmSession:
    """`ModemSession` over agent.modem.gsm.GsmModem on a pyserial port."""

    def __init__(self, modem: Any, channel: Any, sink: Callable[[ModemEvent], None]) -> None:
        self.modem = modem
        self.channel = channel
        self.sink = sink
        profile = modem.profile
        self.storages: tuple[str, ...] = tuple(profile.storages) or ("SM",)
        self.needs_cnma: bool = bool(profile.quirks.needs_cnma)
        self._closing = False

    @property
    def lost(self) -> asyncio.Future[object]:
        closed: asyncio.Future[object] = self.channel.closed
        return closed

    async def on_event(self, event: object) -> None:
        from agent.modem import gsm

        if isinstance(event, gsm.NewMessage):
            self.sink(NewMessage(event.storage, event.index, event.kind))
        elif isinstance(event, gsm.DirectPdu):
            self.sink(DirectPdu(event.kind, event.pdu))
        elif isinstance(event, gsm.ModemBooted):
            self.sink(Booted(event.line))
        elif isinstance(event, gsm.StorageFull):
            self.sink(StorageFull(event.line))

    async def initialise(self) -> None:
        await self.modem.initialise()

    async def identify(self) -> Identity:
        i = await self.modem.identify()
        return Identity(
            imei=i.imei,
            iccid=i.iccid,
            imsi=i.imsi,
            manufacturer=i.manufacturer,
            model=i.model,
            firmware=i.firmware,
            msisdn=i.msisdn,
            operator_mcc_mnc=i.operator_mcc_mnc,
        )

    async def list_messages(self, storage: str) -> list[Stored]:
        listing = await self.modem.list_messages(storage, 4)
        for entry in listing.unparsed:
            # Not persisted, so never deleted: the slot stays on the SIM for a person to see.
            _log.warning(
                "sms_listing_entry_unparsed",
                storage=storage,
                index=entry.index,
                reason=entry.reason,
                lines=list(entry.lines),
            )
        return [Stored(s.storage, s.index, s.pdu) for s in listing.messages if s.index >= 0]

    async def read_message(self, storage: str, index: int) -> Stored | None:
        s = await self.modem.read_message(storage, index)
        return None if s is None else Stored(s.storage, s.index, s.pdu)

    async def delete_message(self, storage: str, index: int) -> None:
        await self.modem.delete_message(storage, index)

    async def ack_direct(self) -> None:
        await self.modem.ack_direct()

    async def settings_lost(self) -> bool:
        return bool(await self.modem.settings_lost())

    async def reset(self) -> None:
        await self.modem.reset()

    async def send_pdu(self, pdu: bytes, tpdu_length: int) -> int:
        return int(await self.modem.send_pdu(pdu, tpdu_length))

    async def health(self) -> HealthInputs:
        from agent.modem.errors import AtError, ResponseParseError

        soft = (AtError, ResponseParseError)
        rssi: float | None = None
        ber: int | None = None
        regs: tuple[RegState, ...] = ()
        mcc_mnc = ""
        op_act: int | None = None
        sim = ""
        storages: tuple[StorageState, ...] = ()
        with contextlib.suppress(*soft):
            sig = await self.modem.signal()
            rssi = sig.rssi_dbm if sig.rssi_dbm is not None else sig.rsrp_dbm
            ber = sig.ber
        with contextlib.suppress(*soft):
            state = await self.modem.registration()
            regs = tuple(RegState(r.domain, int(r.status), r.act) for r in state.entries)
        with contextlib.suppress(*soft):
            op = await self.modem.operator()
            mcc_mnc, op_act = op.mcc_mnc, op.act
        with contextlib.suppress(*soft):
            status = await self.modem.sim_state()
            sim = "READY" if status.state.value == "ready" else (status.raw or status.state.value)
        with contextlib.suppress(*soft):
            storages = tuple(
                StorageState(s.storage, s.used, s.total) for s in await self.modem.storage_status()
            )
        return HealthInputs(
            at_ns=time.time_ns(),
            responding=True,
            rssi_dbm=rssi,
            ber=ber,
            registrations=regs,
            operator_mcc_mnc=mcc_mnc,
            operator_act=op_act,
            sim_state=sim,
            storages=storages,
        )

    async def close(self) -> None:
        await self.channel.close()


async def open_gsm_session(
    port: str,
    modem_config: ModemConfig,
    sink: Callable[[ModemEvent], None],
    *,
    profiles: dict[str, Any] | None = None,
    command_timeout_s: float | None = None,
) -> GsmSession:
    """Open `port` and compose the driver; profile "auto" is matched from +CGMI/+CGMM."""
    from agent.modem.at import AtChannel
    from agent.modem.gsm import GsmModem
    from agent.modem.profiles import GENERIC, load_profiles, match_profile
    from agent.modem.transport import SerialByteStream

    table = profiles if profiles is not None else load_profiles()
    # read(1) returns as soon as a byte arrives; the poll only bounds how often an idle
    # reader thread wakes up (16 modems idle must stay well under 1 % of a core).
    channel = AtChannel(SerialByteStream(port, poll_s=1.0), name=port)
    await channel.start()
    holder: list[GsmSession] = []

    async def forward(event: object) -> None:
        if holder:
            await holder[0].on_event(event)

    try:
        if modem_config.profile == "auto":
            probe = GsmModem(channel, table[GENERIC])
            ident = await probe.identify()
            profile = match_profile(ident.manufacturer, ident.model, profiles=table)
        else:
            profile = table[modem_config.profile]
        if command_timeout_s is not None:
            from dataclasses import replace as dc_replace

            # The config's command timeout replaces the profile's default and scales its
            # long ones (AT+CMGL, AT+CMGS, AT+CFUN=1,1) by the same factor.
            t = profile.timeouts
            factor = command_timeout_s / t.default_s
            timeouts = dc_replace(
                t,
                default_s=command_timeout_s,
                list_s=t.list_s * factor,
                send_s=t.send_s * factor,
                reset_s=t.reset_s * factor,
            )
            profile = dc_replace(profile, timeouts=timeouts)
        modem = GsmModem(channel, profile, on_event=forward)
    except BaseException:
        await channel.close()
        raise
    session = GsmSession(modem, channel, sink)
    holder.append(session)
    return session
