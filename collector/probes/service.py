"""The probing side of a running collector, composed as supervised units: one per vendor
(collector/probes/vendor_units.py) and one per service — DLR webhooks, the scheduler over
the SIMs agents report (with the runner), the judge, DLR pulls and the time-series writer.
`serve` starts it when [probes] is configured; one unit failing never stops another."""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import tzinfo
from functools import partial
from typing import Any

import structlog

from collector.channels.advice import Advice
from collector.channels.live import ChannelsLive
from collector.channels.routes import RouteBook
from collector.coordination.keeper import LeaseKeeper, UnitBody, leased
from collector.health.board import HealthBoard, service_unit, vendor_unit
from collector.health.supervise import Supervisor, Unit
from collector.judging import Judge, JudgingConfig
from collector.ledger.leases import PROBING, TIMESERIES
from collector.probes.burst_requests import serve_burst_requests
from collector.probes.bursts import BurstPlan, next_start, run_burst
from collector.probes.config import ProbesConfig
from collector.probes.content import PROFILES, expected_text
from collector.probes.runner import LedgerDlrSink, ProbeRunner, RunnerSettings
from collector.probes.scheduler import Scheduler, Target, VendorPlan
from collector.probes.vendor_units import VendorGates
from collector.timeseries.config import TimeSeriesConfig
from collector.timeseries.writer import TimeSeriesWriter, WriterSettings
from collector.vendors.base import sms_parts
from collector.vendors.registry import build_vendors
from collector.vendors.webhooks import DlrWebhookServer

log = structlog.get_logger("smsprobe.probes")


def billed_parts(profile: str, signature: str) -> int:
    """Parts a vendor bills for this profile (70/67 or 160/153, signature included)."""
    sample = "7" * 11 if PROFILES[profile].token_kind.value == "order" else "482913"
    return sms_parts(expected_text(PROFILES[profile], sample, signature))


def targets_from(agents: list[Any]) -> list[Target]:
    """Every SIM with a known MSISDN in a modem its agent reports as present."""
    out = []
    for agent in agents:
        for modem in agent.modems:
            sim = modem.sim
            if modem.present and sim is not None and sim.msisdn:
                out.append(
                    Target(
                        msisdn=sim.msisdn,
                        carrier=sim.carrier,
                        region=agent.region,
                        agent_id=agent.agent_id,
                        modem_imei=modem.imei,
                        mvno=sim.mvno,
                        site=agent.site,
                        iccid=sim.iccid,
                    )
                )
    return out


class ProbeService:
    def __init__(
        self,
        ledger: Any,
        config: ProbesConfig,
        vendor_section: Mapping[str, Any],
        *,
        file: str,
        clock: Callable[[], int],
        timeseries: TimeSeriesConfig | None = None,
        canary_deadline_s: float = 300.0,
        offline_after_s: float = 180.0,
        on_advice: Callable[[Sequence[Advice]], None] | None = None,
        report_zone: tzinfo | None = None,
    ) -> None:
        self._ledger = ledger
        self._report_zone = report_zone  # the judge's compaction cuts local days of it
        self._config = config
        self._vendor_section = vendor_section
        self._file = file
        self._clock = clock
        self._timeseries = timeseries
        self._canary_deadline_s = canary_deadline_s
        self._offline_after_s = offline_after_s
        self._on_advice = on_advice
        self.webhook_port = 0

    def start(
        self, supervisor: Supervisor, board: HealthBoard, keeper: LeaseKeeper | None = None
    ) -> None:
        """Spawn every unit of the probing side under `supervisor`. With `keeper` (several
        collectors on one ledger), the scheduler, judge and DLR pulls run only on the
        holder of the probing lease, their writes fenced by it; vendors and DLR webhooks
        run everywhere (receipts are stored idempotently by whoever receives them)."""
        cfg = self._config
        sup = cfg.supervision
        vendor_set = build_vendors(self._vendor_section, clock=self._clock, file=self._file)
        sink = LedgerDlrSink(self._ledger)
        plans = [p for p in cfg.plans if p.name in vendor_set.vendors]
        for plan in plans:
            board.add_vendor(plan.name)
        parts_of = {
            (p.name, prof): billed_parts(prof, p.signature) for p in plans for prof in p.profiles
        }
        gates = VendorGates(board, down_after=sup.vendor_down_after)
        started = self._clock()
        send_until = None if cfg.send_for_s is None else started + int(cfg.send_for_s * 1e9)
        ledger = self._ledger if keeper is None else self._ledger.fenced(keeper.fence(PROBING))

        def leased_unit(body: UnitBody) -> UnitBody:
            return body if keeper is None else leased(keeper, PROBING, body)

        # One schedule per process. Each tenure of the probing lease (and each restart of
        # the unit) begins with the runner restoring from the ledger what other tenures
        # did: slots claimed, today's caps and budget, reserved tokens (runner.restore).
        now = started
        scheduler = Scheduler(
            plans,
            [],
            start_ns=now,
            rng=random.Random(cfg.seed or None),
            parts_of=parts_of,
            daily_budget=cfg.daily_budget,
            periods=cfg.periods,  # the configured bands and marketing hours, in its zone
            pools=cfg.rotation.pools,
        )
        routes = RouteBook(cfg.routes, deadline_s=cfg.policy.deadline_s)
        channels = ChannelsLive(self._ledger, routes, self._clock, on_advice=self._on_advice)
        runner = ProbeRunner(
            ledger,
            vendor_set.vendors,
            scheduler,
            RunnerSettings(
                secret=cfg.secret,
                signatures={p.name: p.signature for p in plans},
                send_until_ns=send_until,
                rotation=cfg.rotation,
            ),
            clock=self._clock,
            gate=gates,
            routes=routes,
        )
        judge = Judge(
            ledger,
            JudgingConfig(
                policy=cfg.policy,
                health_max_silence_s=cfg.health_max_silence_s,
                canary_deadline_s=self._canary_deadline_s,
                full_pass_interval_s=cfg.judge_full_interval_s,
                rollup_zone=self._report_zone,
            ),
            self._clock,
        )

        async def webhooks(unit: Unit) -> None:
            server = DlrWebhookServer(
                vendor_set.push_endpoints,
                sink,
                host=cfg.webhook_host,
                port=cfg.webhook_port or self.webhook_port,  # a restart keeps its port
                clock=self._clock,
            )
            await server.start()
            try:
                self.webhook_port = server.port
                log.info("dlr_webhook_listening", host=cfg.webhook_host, port=server.port)
                unit.running()
                await unit.stop.wait()
            finally:
                await server.close()

        async def scheduling(unit: Unit) -> None:
            try:
                async with asyncio.TaskGroup() as group:
                    group.create_task(
                        _every(unit, 2.0, lambda: self._refresh_targets(scheduler), ready=True)
                    )
                    group.create_task(runner.run(unit.stop))
                    if cfg.bursts:
                        group.create_task(
                            run_bursts(cfg.bursts, scheduler, runner, plans, started_ns=started,
                                       clock=self._clock, stop=unit.stop)
                        )  # fmt: skip
                    # One-off bursts queued by `smsprobe-collector burst` (burst_requests.py).
                    group.create_task(
                        serve_burst_requests(ledger, scheduler, runner.send_now,
                                             {p.name: p for p in plans}, billed_parts,
                                             clock=self._clock, stop=unit.stop,
                                             by=keeper.instance if keeper else "collector")
                    )  # fmt: skip
            except BaseExceptionGroup as group_error:
                raise group_error.exceptions[0] from group_error
            finally:
                if unit.stop.is_set():
                    gates.sending_done.set()

        def judged() -> None:
            judge.judge_once()
            channels.step()  # channels, failover state, advice (collector/channels)

        async def judging(unit: Unit) -> None:
            try:
                await _every(unit, cfg.judge_interval_s, lambda: asyncio.to_thread(judged))
            finally:
                if unit.stop.is_set():
                    # A last pass so what arrived until the stop is in the ledger.
                    await asyncio.to_thread(judge.judge_once, full=True)
                    await asyncio.to_thread(channels.step)

        supervisor.spawn(service_unit("dlr_webhooks"), webhooks, sup.service())
        for name, vendor in vendor_set.vendors.items():
            supervisor.spawn(
                vendor_unit(name), partial(gates.run_vendor, vendor, sink), sup.vendor()
            )
        supervisor.spawn(service_unit("scheduler"), leased_unit(scheduling), sup.service())
        supervisor.spawn(service_unit("judge"), leased_unit(judging), sup.service())
        supervisor.spawn(
            service_unit("dlr_pull"),
            leased_unit(
                lambda unit: _every(unit, cfg.poll_interval_s, lambda: _poll(vendor_set.vendors))
            ),
            sup.service(),
        )
        if self._timeseries is not None:
            writer_unit = timeseries_unit(
                self._ledger, self._timeseries, self._clock, self._offline_after_s,
                give_up_s=cfg.policy.give_up_s, keeper=keeper,
            )  # fmt: skip
            supervisor.spawn(service_unit("timeseries"), writer_unit, sup.service(fatal=False))

    async def _refresh_targets(self, scheduler: Scheduler) -> None:
        agents = await asyncio.to_thread(self._ledger.agents)
        current = {t.msisdn: t for t in targets_from(agents)}
        known = {t.msisdn for t in scheduler.targets}
        for msisdn in known - set(current):
            scheduler.remove_target(msisdn)
            log.info("probe_target_removed", msisdn=msisdn[:5] + "…")
        now = self._clock()
        for msisdn, target in current.items():
            if msisdn not in known:
                log.info("probe_target_added", agent=target.agent_id, carrier=target.carrier)
            scheduler.add_target(target, now)


async def run_bursts(
    bursts: tuple[BurstPlan, ...],
    scheduler: Scheduler,
    runner: ProbeRunner,
    plans: list[VendorPlan],
    *,
    started_ns: int,
    clock: Callable[[], int],
    stop: asyncio.Event,
) -> None:
    """Each configured burst once, at its next start time, in start order."""
    by_name = {p.name: p for p in plans}
    now = clock()
    timed = sorted(
        (next_start(b.at, now, started_ns=started_ns, tz=scheduler.tz), b.name, b) for b in bursts
    )
    for start_ns, _, burst in timed:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=max((start_ns - clock()) / 1e9, 0.0))
        vendor = by_name.get(burst.vendor)
        if stop.is_set():
            return
        if vendor is None:
            log.warning("burst_vendor_not_probed", burst=burst.name, vendor=burst.vendor)
            continue
        log.info("burst_starting", burst=burst.name, vendor=burst.vendor, count=burst.count)
        await run_burst(
            burst,
            scheduler,
            runner.send_now,
            price_per_part=vendor.price_per_part,
            parts=billed_parts(burst.profile, vendor.signature),
            clock=clock,
        )


async def _poll(vendors: Mapping[str, Any]) -> None:
    for vendor in vendors.values():
        try:
            await vendor.poll_dlrs()
        except Exception as exc:  # one vendor's pull failing is that vendor's problem
            log.warning("dlr_poll_failed", vendor=vendor.name, error=str(exc))


async def _every(
    unit: Unit, interval_s: float, step: Callable[[], Awaitable[Any]], *, ready: bool = True
) -> None:
    """`step` every `interval_s` until stop; a failing step fails the unit (its supervisor
    restarts it with back-off) instead of being retried silently forever."""
    while not unit.stop.is_set():
        await step()
        if ready:
            unit.running()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(unit.stop.wait(), timeout=interval_s)


def timeseries_unit(
    ledger: Any,
    ts: TimeSeriesConfig,
    clock: Callable[[], int],
    offline_after_s: float,
    *,
    give_up_s: float = 600.0,
    keeper: LeaseKeeper | None = None,
) -> Callable[[Unit], Awaitable[None]]:
    """The body of `service:timeseries`: a sink per run, closed whatever happens. An
    unreachable InfluxDB fails the run (cursors stay; the restart writes the same points).
    With `keeper`, it runs on the holder of the timeseries lease only, its high-water
    marks fenced by it (one writer for the group)."""
    if keeper is not None:
        ledger = ledger.fenced(keeper.fence(TIMESERIES))

    async def run(unit: Unit) -> None:
        sink = ts.make_sink()
        writer = TimeSeriesWriter(
            ledger,
            sink,
            WriterSettings(give_up_s=give_up_s, interval_s=ts.interval_s,
                           offline_after_s=offline_after_s, lines=ts.lines),
            clock=clock,
        )  # fmt: skip
        try:
            await writer.run(unit.stop, on_pass=unit.running)
        finally:
            await sink.close()

    return run if keeper is None else leased(keeper, TIMESERIES, run)
