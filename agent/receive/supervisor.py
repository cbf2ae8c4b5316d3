"""`ModemSupervisor` owns one configured modem: it finds the port, opens and initialises the
modem, runs the receive loop (receiver.py), and on failure walks the recovery ladder
(agent/recovery.py), recording an AgentEvent for each step."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Sequence
from typing import TypeVar

import structlog

from agent.common.backoff import ExponentialBackoff
from agent.config import ModemConfig, ReceiveConfig
from agent.health import HealthInputs, judge
from agent.modem.events import ModemBooted
from agent.modem.gsm import ModemIdentity
from agent.outbox.io import OutboxIO
from agent.outbox.store import ModemRef, OutboxError
from agent.receive.receiver import Receiver, ReceiverStats
from agent.receive.session import (
    ModemEvent,
    ModemFailureError,
    ModemOpener,
    ModemSession,
    classify_error,
)
from agent.recovery import (
    Action,
    ProbeImei,
    candidate_ports,
    find_port,
    next_action,
    port_present,
    probe_imei,
    run_power_cycle,
)
from agent.sms.tpdu import encode_submit
from agent.wire.records import AgentEvent, CanarySent, RecordBody

_log = structlog.get_logger("agent.receiver")
T = TypeVar("T")


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
        backoff: ExponentialBackoff | None = None,
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
        self.backoff = backoff or ExponentialBackoff(base_s=1.0, max_s=60.0, min_s=0.5)
        self.probe_imei = probe_imei
        self.candidates = candidates
        self.busy_ports = busy_ports
        self.on_persisted = on_persisted
        self.now_ns = now_ns
        self.stats = ReceiverStats()
        self.modem = ModemRef(modem_config.imei or modem_config.port, modem_config.imei)
        self.identity = ModemIdentity()
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
            failure: ModemFailureError | None = None
            self._serving_since = None
            try:
                failure = await self._serve(port, stop, recovering, ever_connected)
            except ModemFailureError as exc:
                failure = exc
            except OutboxError:
                # The disk, not the modem: nothing to reset. Messages stay on the SIM.
                self._log.exception("outbox_write_failed")
                failures += 1
                await self._wait(stop, failures)
                continue
            except Exception as exc:  # a bug must not end the agent: log it, recover
                self._log.exception("modem_session_crashed")
                failure = ModemFailureError(f"internal error: {type(exc).__name__}: {exc}")
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
    ) -> ModemFailureError | None:
        events: asyncio.Queue[ModemEvent] = asyncio.Queue()
        boot_seen = asyncio.Event()

        def sink(event: ModemEvent) -> None:
            events.put_nowait(event)
            if isinstance(event, ModemBooted):
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
                run.result()  # raises the ModemFailureError
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

    async def _initialise(self, session: ModemSession, attempts: int = 4) -> ModemIdentity:
        """Init + identify; a lost final or "SMS not ready" (CMS 302/314/500 right after a
        boot, docs/modems.md) is retried on the same port before we escalate."""
        for attempt in range(attempts):
            try:
                await session.initialise()
                return await session.identify()
            except Exception as exc:
                failure = classify_error(exc) or ModemFailureError(f"initialise failed: {exc}")
                if failure.port_gone or attempt == attempts - 1:
                    raise failure from exc
                self._log.info("modem_initialise_retried", attempt=attempt + 1, error=str(exc))
                await asyncio.sleep(self.backoff.delay(attempt))
        raise AssertionError("unreachable")

    def _ready(self) -> None:
        self._serving_since = asyncio.get_running_loop().time()
        self.connected.set()

    async def _adopt(self, identity: ModemIdentity) -> None:
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

        refs: list[int] = []
        error = ""
        started_ns = self.now_ns()  # before the send: a canary's latency is never negative
        try:
            session = self.session
            if session is None:
                raise ModemFailureError("modem not connected")
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
