"""`smsprobe-agent run`: wiring only. Config -> logging -> outbox -> one supervisor per
modem -> housekeeping -> (optional) uplink; SIGTERM/SIGINT stop it cleanly.

Every long-running task is supervised (`supervise`): a task that fails is logged and
restarted with back-off; one that keeps failing ends the process with exit 1, so systemd
restarts the whole agent rather than leaving a live process with a dead part.

Exit codes: 0 clean shutdown, 2 configuration error, 1 anything else fatal.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any

import structlog

from agent.canary import CanaryScheduler, SupervisorSender
from agent.common.backoff import ExponentialBackoff
from agent.config import AgentConfig, ConfigError, ModemConfig
from agent.outbox.io import OutboxIO, StorageTrouble
from agent.outbox.store import ModemRef, Outbox, OutboxError, open_outbox
from agent.receive.gsm_session import open_gsm_session
from agent.receive.session import ModemEvent, ModemSession
from agent.receive.supervisor import ModemSupervisor
from agent.wire.records import AgentEvent, ClockEstimate

if TYPE_CHECKING:
    from agent.wire.signing import RecordSigner

_log = structlog.get_logger("agent.app")

EXIT_OK = 0
EXIT_FATAL = 1
EXIT_CONFIG = 2

# A task failing this many times in a row (each run shorter than STABLE_RUN_S) gives up.
GIVE_UP_AFTER = 5
STABLE_RUN_S = 300.0


class TaskGaveUpError(Exception):
    """A supervised task kept failing; the agent exits non-zero."""


async def supervise(
    name: str,
    run: Callable[[], Awaitable[None]],
    stop: asyncio.Event,
    *,
    backoff: ExponentialBackoff | None = None,
    metrics: Any = None,
) -> None:
    """Run `run()` until it returns or `stop` is set; restart it after a failure."""
    backoff = backoff or ExponentialBackoff(base_s=1.0, max_s=30.0, min_s=0.5)
    loop = asyncio.get_running_loop()
    failures = 0
    while not stop.is_set():
        started = loop.time()
        try:
            await run()
            return
        except Exception as exc:
            if loop.time() - started >= STABLE_RUN_S:
                failures = 0
            failures += 1
            _log.exception("task_failed", task=name, failures=failures)
            if failures >= GIVE_UP_AFTER:
                raise TaskGaveUpError(f"{name} failed {failures} times in a row: {exc}") from exc
            if metrics is not None:
                metrics.tasks_restarted.labels(name).inc()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), backoff.delay(failures - 1))


class ClockSource:
    """Late-bound clock estimate: the uplink plugs its estimator in once it exists."""

    def __init__(self) -> None:
        self.provider: Callable[[], ClockEstimate] = ClockEstimate

    def __call__(self) -> ClockEstimate:
        return self.provider()


class Notifier:
    """Fan-out of "new records persisted" to whoever uploads them."""

    def __init__(self) -> None:
        self.listeners: list[Callable[[], None]] = []

    def __call__(self) -> None:
        for listener in self.listeners:
            listener()


def check_profiles(config: AgentConfig) -> dict[str, Any]:
    """Modem profiles named in the config must exist (a config error, exit 2)."""
    from agent.modem.profiles import load_profiles

    profiles = load_profiles()
    for i, modem in enumerate(config.modems):
        if modem.profile != "auto" and modem.profile not in profiles:
            raise ConfigError(
                config.source,
                f"modems[{i}].profile",
                '"auto" or one of ' + ", ".join(sorted(profiles)),
                modem.profile,
            )
    return profiles


def record_signer(config: AgentConfig) -> RecordSigner | None:
    """What signs records as they are persisted: the mTLS key of `[collector]`, unless
    `sign_records = false` or there is no key (insecure). A key that cannot sign is a
    config error (exit 2), not an agent that quietly stops signing."""
    collector = config.collector
    if collector is None or collector.key is None or not collector.sign_records:
        return None
    try:
        from agent.wire.signing import RecordSigner, SigningError
    except ImportError as exc:  # the agent extra brings cryptography
        raise ConfigError(
            config.source,
            "collector.sign_records",
            f"false, or the cryptography package installed ({exc})",
            collector.sign_records,
        ) from exc
    try:
        return RecordSigner.from_pem_file(collector.key)
    except SigningError as exc:
        raise ConfigError(
            config.source,
            "collector.key",
            f"an unencrypted PEM private key that can sign ({exc})",
            str(collector.key),
        ) from exc


def _start_uplink(
    config: AgentConfig,
    outbox: Outbox,
    stop: asyncio.Event,
    supervisors: Sequence[ModemSupervisor],
    clock: ClockSource,
    notifier: Notifier,
    metrics: Any = None,
    on_config: Callable[[Any], None] | None = None,
) -> Callable[[], Awaitable[None]] | None:
    """The seam to agent/uplink: `agent.uplink.run_uplink(config, outbox, stop)` when the
    package offers it, else an `agent.uplink.client.Uploader` built here. Returns what
    runs it (called again to restart it)."""
    assert config.collector is not None
    try:
        import agent.uplink as uplink
    except ImportError:
        return None
    run_uplink = getattr(uplink, "run_uplink", None)
    if run_uplink is not None:
        return lambda: run_uplink(config, outbox, stop)
    try:
        from agent.modem.carrier import carrier_from_imsi
        from agent.uplink.client import Uploader, collector_endpoints
        from agent.uplink.model import AgentIdentity
        from agent.wire.records import ModemInfo, SimInfo
    except ImportError as exc:
        _log.warning("uplink_unavailable", error=str(exc))
        return None
    collector = config.collector

    def modems() -> list[Any]:
        out = []
        for sup in supervisors:
            ident = sup.identity
            if not (ident.imei or sup.modem.imei):
                continue
            sim = None
            if ident.iccid:
                # The carrier comes from the IMSI (the number may be ported); the MSISDN
                # only says whether it is an MVNO resale segment.
                home = carrier_from_imsi(ident.imsi, ident.msisdn) if ident.imsi else None
                sim = SimInfo(
                    iccid=ident.iccid,
                    imsi=ident.imsi,
                    msisdn=ident.msisdn,
                    operator_mcc_mnc=home.mcc_mnc if home else "",
                    carrier=home.carrier if home else "",
                    mvno=home.mvno if home else "",
                    registered_mcc_mnc=ident.operator_mcc_mnc,
                )
            out.append(
                ModemInfo(
                    imei=ident.imei or sup.modem.imei,
                    manufacturer=ident.manufacturer,
                    model=ident.model,
                    firmware=ident.firmware,
                    port=sup.port,
                    profile=sup.modem_config.profile,
                    sim=sim,
                )
            )
        return out

    from importlib.metadata import PackageNotFoundError, version

    try:
        software = version("smsprobe")
    except PackageNotFoundError:
        software = ""
    uploader = Uploader(
        outbox,
        collector_endpoints(collector),  # one or several, failed over between in order
        AgentIdentity(
            agent_id=config.agent_id,
            software_version=software,
            site=config.site,
            region=config.region,
        ),
        modems_provider=modems,
        metrics=metrics,
        on_config=on_config,
    )
    clock.provider = uploader.clock_estimate
    notifier.listeners.append(uploader.notify)
    return lambda: uploader.run(stop)


async def _housekeeping(
    io: OutboxIO, stop: asyncio.Event, interval_s: float, metrics: Any = None
) -> None:
    """Outbox bounds (alarm edge), reassembly timeouts, pruning of acked records."""
    outbox = io.outbox
    while not stop.is_set():
        try:
            pressure = await io.call(outbox.check_pressure)
            await io.call(outbox.expire_groups)
            await io.call(outbox.prune)
            if metrics is not None:
                metrics.outbox_depth.set(await io.call(outbox.depth))
                metrics.outbox_oldest_age_seconds.set(pressure.oldest_pending_age_s)
        except OutboxError as exc:
            _log.warning("housekeeping_failed", reason=exc.reason, error=str(exc))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), interval_s)


async def _open_outbox_patiently(
    config: AgentConfig, clock: ClockSource, stop: asyncio.Event
) -> tuple[Outbox, StorageTrouble | None] | None:
    """Open the outbox, waiting out a disk that cannot be used yet (full, read-only, I/O
    errors after a crash): modems are not read meanwhile, so the SIMs keep every SMS.
    Returns the outbox and the trouble waited out (recorded once the outbox writes)."""
    signer = record_signer(config)
    backoff = ExponentialBackoff(base_s=0.5, max_s=5.0, min_s=0.25)
    attempt = 0
    trouble: StorageTrouble | None = None
    while True:
        try:
            return open_outbox(config, clock=clock, signer=signer), trouble
        except OutboxError as exc:
            if trouble is None:
                trouble = StorageTrouble(time.time_ns(), exc.reason, str(exc))
            _log.error(
                "outbox_unwritable", reason=exc.reason, error=str(exc), path=str(config.outbox.path)
            )
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), backoff.delay(attempt))
        if stop.is_set():
            return None
        attempt += 1


Opener = Callable[[str, ModemConfig, Callable[[ModemEvent], None]], Awaitable[ModemSession]]


async def run_agent(
    config: AgentConfig,
    *,
    upload: bool = True,
    stop: asyncio.Event | None = None,
    opener: Opener | None = None,
    backoff: ExponentialBackoff | None = None,
    install_signals: bool = True,
) -> int:
    """Run until `stop` is set (or SIGTERM/SIGINT); returns the exit code."""
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    if install_signals:
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
    clock = ClockSource()
    notifier = Notifier()
    opened = await _open_outbox_patiently(config, clock, stop)
    if opened is None:
        return EXIT_OK  # asked to stop while the disk was unusable
    outbox, waited = opened
    metrics: Any = None
    if config.metrics_port:
        # Imported only when asked for: prometheus_client costs RSS on small hosts.
        from agent.common.metrics_http import serve_metrics
        from agent.metrics import AgentMetrics

        metrics = AgentMetrics()
        serve_metrics(metrics.registry, f"0.0.0.0:{config.metrics_port}")

    def storage_trouble(trouble: object) -> None:
        if metrics is not None:
            metrics.outbox_unwritable.set(0 if trouble is None else 1)

    io = OutboxIO(outbox, on_trouble=storage_trouble, trouble=waited)
    profiles: dict[str, Any] | None = None
    if opener is None:
        profiles = check_profiles(config)
        table = profiles

        async def gsm_opener(
            port: str, modem: ModemConfig, sink: Callable[[ModemEvent], None]
        ) -> ModemSession:
            return await open_gsm_session(
                port,
                modem,
                sink,
                profiles=table,
                command_timeout_s=config.receive.command_timeout_s,
            )

        opener = gsm_opener
    supervisors: list[ModemSupervisor] = []

    def busy() -> frozenset[str]:
        return frozenset(s.port for s in supervisors if s.session is not None)

    for modem in config.modems:
        supervisors.append(
            ModemSupervisor(
                modem,
                config.receive,
                io,
                opener,
                backoff=backoff,
                busy_ports=busy,
                on_persisted=notifier,
            )
        )
    with contextlib.suppress(OutboxError):  # a full disk at start: the receivers say so
        await io.append(
            AgentEvent(
                at_ns=time.time_ns(),
                kind="agent_started",
                attributes={"agent_id": config.agent_id, "modems": str(len(config.modems))},
            )
        )
    _log.info("agent_started", agent_id=config.agent_id, modems=len(config.modems))
    tasks: list[asyncio.Task[None]] = []

    def start(name: str, run: Callable[[], Awaitable[None]]) -> None:
        task = asyncio.create_task(supervise(name, run, stop, metrics=metrics), name=name)
        tasks.append(task)

    for s in supervisors:
        start(f"modem {s.modem_config.port}", lambda s=s: s.run(stop))  # type: ignore[misc]
    interval = min(60.0, config.receive.health_interval_s)
    start("housekeeping", lambda: _housekeeping(io, stop, interval, metrics))
    # Canaries run on the schedule the collector pushes (none until it does).
    canaries = CanaryScheduler(
        lambda: [SupervisorSender(s) for s in supervisors],
        unroutable=lambda record, imei: io.append(record, ModemRef(imei, imei, "")),
    )
    start("canaries", lambda: canaries.run(stop))
    if upload and config.collector is not None and config.collector.upload:
        uplink = _start_uplink(
            config,
            outbox,
            stop,
            supervisors,
            clock,
            notifier,
            metrics,
            on_config=lambda remote: canaries.update(remote.canaries),
        )
        if uplink is not None:
            start("uplink", uplink)
    else:
        _log.info("uplink_disabled")
    code = EXIT_OK
    try:
        # Until asked to stop, or until a task gives up (or ends by mistake).
        stopping = asyncio.ensure_future(stop.wait())
        await asyncio.wait({stopping, *tasks}, return_when=asyncio.FIRST_COMPLETED)
        stopping.cancel()
        for task in tasks:
            if task.done() and not stop.is_set():
                error = None if task.cancelled() else task.exception()
                _log.error("task_ended", task=task.get_name(), error=str(error))
                code = EXIT_FATAL
    finally:
        stop.set()
        # Supervisors notice `stop`, cancel their receive loop between two steps (a persist
        # is one synchronous transaction, never cut in half) and close their ports.
        done, pending = await asyncio.wait(tasks, timeout=15.0)
        for task in pending:
            task.cancel()
        for task in done:
            if not task.cancelled() and task.exception() is not None:
                _log.error("task_failed", task=task.get_name(), error=str(task.exception()))
                code = EXIT_FATAL
        with contextlib.suppress(OutboxError):
            await io.append(AgentEvent(at_ns=time.time_ns(), kind="agent_stopped"))
        io.close()
        _log.info("agent_stopped")
    return code
