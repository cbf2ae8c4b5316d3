"""`smsprobe-collector serve`: wiring only — config, ledger, metrics, the agent gRPC server
(mTLS), and the probing side (collector/probes/service.py) when [probes] is configured.
SIGTERM/SIGINT stop gracefully; SIGHUP reloads the config file (deny list and the config
pushed to agents) without dropping a stream."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

import click
import structlog
from smsprobe.v1 import agent_pb2

from agent.common.logs import configure_logging
from agent.common.metrics_http import serve_metrics
from collector.alerts.service import alert_service_from_config
from collector.api.auth import Authenticator
from collector.api.server import ServerSettings, TlsMaterial, start_server
from collector.api.servicer import AgentServicer, ConfigStore
from collector.audit.record import audit_reload
from collector.billing.config import billing_of
from collector.canaries import CanaryPlanner, keep_planned
from collector.channels.advice import Advice
from collector.config import ConfigError, load_config
from collector.coordination.config import CoordinationConfig, parse_coordination
from collector.coordination.keeper import LeaseKeeper, leased
from collector.health.board import HealthBoard, service_unit
from collector.health.recorder import HealthRecorder
from collector.health.supervise import Supervision, Supervisor
from collector.ledger import LedgerError, open_ledger
from collector.ledger.leases import ALERTS, LEASE_NAMES, PROBING, Grant
from collector.lost_backlog import lost_backlog_unit
from collector.metrics import CollectorMetrics
from collector.probes.config import parse_probes
from collector.probes.service import ProbeService, timeseries_unit
from collector.reports.config import parse_reports
from collector.retention.service import retention_config, start_retention
from collector.timeseries.config import parse_timeseries

if TYPE_CHECKING:
    from collector.api.servicer import AgentConfigSource
    from collector.canaries import CanaryAssignment
    from collector.config import CollectorSettings
    from collector.health.supervise import Supervision, Supervisor, Unit
    from collector.ledger import Ledger

log = structlog.get_logger("collector.app")


def agent_config_source(
    config: CollectorSettings,
    canaries: Callable[[str], Sequence[CanaryAssignment]] | None = None,
) -> AgentConfigSource:
    """AgentConfig per agent id: [agents] defaults, overridden by [agents.<id>]; plus that
    agent's canary jobs from `canaries` (collector/canaries.py CanaryPlanner.jobs_for)."""
    defaults = config.agent_defaults
    specs = dict(config.agents)

    def source(agent_id: str) -> agent_pb2.AgentConfig:
        spec = specs.get(agent_id)
        pb = agent_pb2.AgentConfig(
            health_interval_s=defaults.health_interval_s,
            clock_sync_interval_s=defaults.clock_sync_interval_s,
        )
        if spec is not None:
            if spec.health_interval_s is not None:
                pb.health_interval_s = spec.health_interval_s
            if spec.clock_sync_interval_s is not None:
                pb.clock_sync_interval_s = spec.clock_sync_interval_s
            for m in spec.expected_modems:
                pb.expected_modems.add(imei=m.imei, iccid=m.iccid, msisdn=m.msisdn)
        for job in canaries(agent_id) if canaries is not None else ():
            pb.canaries.add(
                canary_id=job.canary_id,
                from_imei=job.from_imei,
                to_msisdn=job.to_msisdn,
                interval_s=job.interval_s,
                text=job.text,
            )
        return pb

    return source


def _write_port_file(path: Path, port: int) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(f"{port}\n")
    os.replace(tmp, path)  # atomic: a watcher never reads a half-written file


async def serve(
    config_path: Path, *, insecure: bool, port_file: Path | None, log_level: str | None = None
) -> None:

    try:
        config = load_config(config_path)
    except ConfigError as exc:
        raise click.ClickException(f"config error: {exc}") from exc
    # SMSPROBE_LOG_FORMAT lets a supervisor (the demo) force JSON whatever the file says.
    fmt = os.environ.get("SMSPROBE_LOG_FORMAT", config.log.format)
    if fmt not in ("auto", "json", "console"):
        fmt = "auto"
    configure_logging(log_level or config.log.level, fmt)  # type: ignore[arg-type]
    if config.tls.insecure and not insecure:
        raise click.ClickException(
            "[tls] insecure = true needs the --insecure flag too: plaintext is never a default"
        )
    try:
        ledger = await asyncio.to_thread(open_ledger, config.ledger.url)
    except LedgerError as exc:
        raise click.ClickException(f"ledger: {exc}") from exc
    metrics = CollectorMetrics()
    if config.metrics.listen:
        mport = serve_metrics(metrics.registry, config.metrics.listen)
        log.info("metrics_served", listen=config.metrics.listen, port=mport)
    auth = Authenticator(insecure=insecure, deny=config.tls.deny_agents)

    # One planner across reloads: the pairing follows the SIMs the agents registered.
    planner = CanaryPlanner(config.agent_defaults.canary_interval_s)
    source = agent_config_source(config, planner.jobs_for)
    store = ConfigStore(source)
    instance = config.server.instance_name()
    # Streams this instance held when it last stopped (a SIGKILL records no disconnect).
    released = await asyncio.to_thread(ledger.release_connections, instance, at_ns=time.time_ns())
    if released:
        log.info("stale_connections_released", instance=instance, agents=released)
    servicer = AgentServicer(ledger, auth, store, metrics=metrics, instance=instance)
    tls = None
    if not insecure:
        if config.tls.ca_cert is None or config.tls.cert is None or config.tls.key is None:
            raise click.ClickException(
                f"{config.source}: [tls] ca_cert, cert and key are required "
                "(create them with `smsprobe-collector certs init`), or pass --insecure"
            )
        tls = TlsMaterial(ca_cert=config.tls.ca_cert, cert=config.tls.cert, key=config.tls.key)
    running = await start_server(
        servicer,
        ServerSettings(
            listen=config.server.listen,
            max_message_bytes=config.server.max_message_bytes,
            tls=tls,
            insecure=insecure,
        ),
    )
    stop = asyncio.Event()
    reload = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_signal_handler(signal.SIGINT, stop.set)
    loop.add_signal_handler(signal.SIGHUP, reload.set)
    # The port file says "ready": only once a SIGHUP reloads rather than kills.
    if port_file is not None:
        _write_port_file(port_file, running.port)

    async def reloader() -> None:
        while True:
            await reload.wait()
            reload.clear()
            try:
                fresh = load_config(config_path)
            except (ConfigError, OSError) as exc:  # a bad edit must not take the server down
                log.error("config_reload_failed", path=str(config_path), error=str(exc))
                await audit_reload(ledger, config_path, auth.deny, None, error=str(exc))
                continue
            denied_before = auth.deny
            auth.set_deny(fresh.tls.deny_agents)
            nonlocal source
            planner.interval_s = fresh.agent_defaults.canary_interval_s
            planner.update(await asyncio.to_thread(ledger.agents))
            source = agent_config_source(fresh, planner.jobs_for)
            await store.replace(source)
            log.info("config_reloaded", path=str(config_path), deny=len(auth.deny))
            await audit_reload(ledger, config_path, denied_before, auth.deny)

    reload_task = asyncio.create_task(reloader())

    async def canaries_changed() -> None:
        await store.replace(source)  # same source, new plan: watchers re-check versions

    # Every background service and every vendor is a supervised unit with its state on
    # the board (kept in the ledger, /metrics and the time series): one failing never
    # stops another, and one that cannot recover ends the process (exit 1).
    board = HealthBoard(time.time_ns)
    board.listeners.append(
        lambda _unit: metrics.show_health(
            board.units(), {v: board.measured(v) for v in board.vendors}
        )
    )
    await _not_measured_while_down(ledger, instance)
    supervisor = Supervisor(board, stop)
    # Work done once across the group runs under leases kept in the ledger (SQLite: one
    # collector, held at once); the first renewal happens before any unit starts.
    keeper = LeaseKeeper(ledger, instance, LEASE_NAMES, coordination_config(config))
    keeper.on_new_tenure.append(partial(_took_over, ledger, instance))
    await keeper.renew_once()
    supervisor.spawn(
        service_unit("leases"),
        lambda unit: keeper.run(unit.stop, on_pass=unit.running),
        Supervision().service(),
    )
    supervision = start_probing(config, ledger, supervisor, keeper, on_advice=metrics.show_advice)
    start_alerting(config, ledger, supervisor, supervision, keeper, instance)
    start_retention(retention_config(config), ledger, supervisor, supervision, instance=instance)

    async def canaries(unit: Unit) -> None:
        await keep_planned(
            planner, ledger.agents, canaries_changed, unit.stop, on_pass=unit.running
        )

    supervisor.spawn(service_unit("canaries"), canaries, supervision.service())
    # Queued gaps of agents down past [agents] backlog_grace_s: reported, once for the group.
    supervisor.spawn(
        service_unit("lost_backlog"),
        lost_backlog_unit(ledger, config.agent_defaults, keeper=keeper),
        supervision.service(),
    )
    recorder = HealthRecorder(ledger, board, instance)
    supervisor.spawn(service_unit("health"), recorder.run, supervision.service())
    gave_up = asyncio.create_task(supervisor.gave_up.wait())
    try:
        await asyncio.wait(
            {asyncio.create_task(stop.wait()), gave_up}, return_when=asyncio.FIRST_COMPLETED
        )
        log.info("collector_stopping", reason=supervisor.reason or "signal")
    finally:
        stop.set()
        reload_task.cancel()
        await running.stop(grace_s=2.0)
        # Units see `stop`: a last judging pass, vendors, webhooks and sinks closed.
        await supervisor.join(timeout_s=10.0)
        await keeper.release_all()  # a clean stop: the next holder need not wait
        try:  # the stop itself is a not-measured span from now until the next start
            await recorder.flush()
        except Exception as exc:
            log.error("health_not_recorded", error=str(exc))
        await asyncio.to_thread(ledger.close)
        log.info("collector_stopped")
    if supervisor.gave_up.is_set():
        click.echo(f"smsprobe-collector: giving up: {supervisor.reason}", err=True)
        raise SystemExit(1)


async def _not_measured_while_down(ledger: Ledger, instance: str) -> None:
    for span in await asyncio.to_thread(ledger.resume_health, instance, at_ns=time.time_ns()):
        log.warning("not_measured_while_down", vendor=span.vendor, cause=span.cause,
                    since_ns=span.start_ns, until_ns=span.end_ns)  # fmt: skip


async def _took_over(ledger: Ledger, instance: str, grant: Grant) -> None:
    """A new tenure of the probing lease after a holder that died or stalled: the vendors
    were measured by nobody from its last heartbeat until now (a `collector` span)."""
    lapsed = grant.lapsed_holder
    if grant.lease.name == PROBING and lapsed and lapsed != instance:
        log.warning("lease_taken_over", lease=grant.lease.name, token=grant.lease.token,
                    from_holder=lapsed, its_last_renewal_ns=grant.lapsed_renewed_at_ns)  # fmt: skip
        await _not_measured_while_down(ledger, lapsed)


def coordination_config(config: CollectorSettings) -> CoordinationConfig:
    try:
        return parse_coordination(config.raw_section("coordination"), file=config.source)
    except ConfigError as exc:
        raise click.ClickException(f"config error: {exc}") from exc


def start_probing(
    config: CollectorSettings,
    ledger: Ledger,
    supervisor: Supervisor,
    keeper: LeaseKeeper | None = None,
    on_advice: Callable[[Sequence[Advice]], None] | None = None,
) -> Supervision:
    """The probing side (vendors, scheduler, judge, time series) when [probes] is set;
    ingest alone otherwise. Returns how units are restarted ([probes.supervision])."""

    try:
        probes = parse_probes(
            config.raw_section("probes"), file=config.source, vendor_names=set(config.vendors)
        )
        if probes is not None:  # the budget prices parts as [billing] does
            probes = billing_of(config).budget_plans(probes)
        # [reports.lines] reaches the probe series' `line` tag (docs/timeseries.md), its
        # zone the judge's compaction (a day's values per local day, migration 0021).
        reports = parse_reports(config.raw_section("reports"), file=config.source)
        timeseries = parse_timeseries(
            config.raw_section("timeseries"), file=config.source, lines=reports.lines
        )
    except ConfigError as exc:
        raise click.ClickException(f"config error: {exc}") from exc
    if probes is None:
        log.info("probing_disabled", reason="no [probes] section")
        supervision = Supervision()
        if timeseries is not None:  # modem and agent health still go to InfluxDB
            supervisor.spawn(
                service_unit("timeseries"),
                timeseries_unit(
                    ledger,
                    timeseries,
                    time.time_ns,
                    config.agent_defaults.offline_after_s,
                    keeper=keeper,
                ),
                supervision.service(fatal=False),
            )
        return supervision
    ProbeService(
        ledger,
        probes,
        config.raw_section("vendors"),
        file=config.source,
        clock=time.time_ns,
        timeseries=timeseries,
        canary_deadline_s=config.agent_defaults.canary_deadline_s,
        offline_after_s=config.agent_defaults.offline_after_s,
        on_advice=on_advice,  # the routing advice gauge
        report_zone=reports.tz,
    ).start(supervisor, supervisor.board, keeper)
    return probes.supervision


def start_alerting(
    config: CollectorSettings,
    ledger: Ledger,
    supervisor: Supervisor,
    supervision: Supervision,
    keeper: LeaseKeeper | None = None,
    instance: str = "",
) -> None:
    """SLA, fake-DLR, outage, silent-receiver and monitoring alerts when [alerts] is set;
    with `keeper`, on the holder of the alerts lease only, every write and delivery claim
    fenced by it."""

    if not config.raw_section("alerts"):
        return
    try:
        service, notifier = alert_service_from_config(
            config.raw_section("alerts"),
            config.raw_section("reports"),
            file=config.source,
            ledger=ledger if keeper is None else ledger.fenced(keeper.fence(ALERTS)),
            instance=instance,
            # This instance's board knows a span the moment it opens; the ledger only
            # after the next health flush: an alert must not end in between.
            live_blind=lambda: set(supervisor.board.unmeasured()),
        )
    except ConfigError as exc:
        raise click.ClickException(f"config error: {exc}") from exc

    async def run(unit: Unit) -> None:
        async with notifier:
            await service.run(unit.stop, on_pass=unit.running)

    body = run if keeper is None else leased(keeper, ALERTS, run)
    supervisor.spawn(service_unit("alerts"), body, supervision.service())
