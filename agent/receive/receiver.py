"""The per-modem receive loop and its supervisor (docs/modems.md).

For each stored message (announced by +CMTI/+CDSI, or found by the periodic AT+CMGL=4
sweep because URCs get lost): read the PDU, persist it raw to the outbox (one fsynced
SQLite transaction), and only then AT+CMGD. Direct +CMT/+CDS PDUs are persisted, then
acked with AT+CNMA when the profile needs it. When the outbox is full the loop stops
reading (and so stops deleting): the SIM, then the carrier, hold the backlog.

Why a message cannot be lost or stored twice here, whatever the disk or the loop does:
- every outbox call runs on the outbox's own writer thread (agent/outbox/io.py) and is
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
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field, replace
from typing import Any, TypeVar

import structlog

from agent.common.logs import mask_msisdn
from agent.config import ModemConfig, ReceiveConfig
from agent.health import judge
from agent.modem.errors import AtError, AtTimeoutError, ResponseParseError
from agent.modem.events import DirectPdu, ModemBooted, NewMessage, StorageFull
from agent.outbox.io import OutboxIO
from agent.outbox.reassembly import ConcatInfo, PartFacts, scts_fields
from agent.outbox.store import ModemRef, OutboxError, PersistedPart
from agent.receive.session import (
    ModemEvent,
    ModemFailureError,
    ModemSession,
    Stored,
    classify_error,
)
from agent.sms.errors import PduError
from agent.sms.tpdu import SmsStatusReport, decode_pdu
from agent.wire.records import AgentEvent, ModemHealth, StatusReport

_log = structlog.get_logger("agent.receiver")
T = TypeVar("T")


def decode_part(pdu: bytes) -> PartFacts | StatusReport:
    """Decode once at receive time; an undecodable PDU becomes facts with the error."""

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
        # Only now that the commit is on disk may the modem's copy go.
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
            # A full storage silently stops +CMTI (docs/modems.md, "Full storage"): drain it now.
            await self.sweep()

    async def run(self, ready: Callable[[], None] = lambda: None) -> None:
        """Serve until the session fails (raises ModemFailureError) or the task is cancelled."""

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
                    # 314/500, docs/modems.md): retry each second until init succeeds.
                    next_reinit = now + 1.0
                    await self.reinitialise(self._reinit_reason)
                    next_sweep = now
                if await self._storage_recovered():
                    next_health = now  # a fresh sample right behind the blind window
                if now >= next_sweep:
                    await self.outbox.expire_groups()
                    await self._guarded(self.sweep())
                    next_sweep = now + self.config.sweep_interval_s
                    # The sweep's own writes may be what found the disk working again:
                    # say so before anything else is recorded as seen.
                    await self._storage_recovered()
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
                    raise ModemFailureError(f"port gone: {lost.result()}", port_gone=True)
                if get in done:
                    await self._guarded(self.handle(get.result()))
                self._timeouts = 0
            except ModemFailureError:
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

    async def _storage_recovered(self) -> bool:
        """When the outbox has become writable again since this receiver last looked,
        record the receiver as blind for the window in which nothing could be persisted
        (probes in it are inconclusive, never lost). True when it did."""
        io = self.outbox
        if io.recoveries == self.stats.storage_recoveries_seen or io.trouble is not None:
            return False
        window = io.last_trouble
        self._storage_failures = 0
        self.stats.storage_recoveries_seen = io.recoveries
        if window is None:
            return False
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
        return True

    async def _guarded(self, step: Coroutine[Any, Any, T]) -> T | None:
        """Run one step with a watchdog; its result, or None when a reboot abandoned it.

        - A modem that reboots under the step never answers the command in flight
          (a modem reboot mid-command): the step is abandoned at once and
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
                self._log.error("modem_step_timed_out", deadline_s=deadline)
                raise AtTimeoutError("receive step", deadline)
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
        elif isinstance(event, ModemBooted):
            self._log.warning("modem_reboot_noticed", line=event.line)
            self._reinit_reason = f"boot: {event.line}"
        elif isinstance(event, StorageFull):
            self._log.warning("modem_storage_full", line=event.line)
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
