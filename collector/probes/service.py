"""The probing side of a running collector, composed: vendors and their DLR intake, the
scheduler over the SIMs agents report, the runner, the judge, DLR pulls and the
time-series writer. `serve` starts it when [probes] is configured."""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import structlog

from collector.judging import Judge, JudgingConfig
from collector.probes.config import ProbesConfig
from collector.probes.content import PROFILES, expected_text
from collector.probes.runner import LedgerDlrSink, ProbeRunner, RunnerSettings
from collector.probes.scheduler import Scheduler, Target
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
    ) -> None:
        self._ledger = ledger
        self._config = config
        self._vendor_section = vendor_section
        self._file = file
        self._clock = clock
        self._timeseries = timeseries
        self._canary_deadline_s = canary_deadline_s
        self._offline_after_s = offline_after_s
        self.webhook_port = 0
        self.ready = asyncio.Event()

    async def run(self, stop: asyncio.Event) -> None:
        cfg = self._config
        vendor_set = build_vendors(self._vendor_section, clock=self._clock, file=self._file)
        sink = LedgerDlrSink(self._ledger)
        webhook = DlrWebhookServer(
            vendor_set.push_endpoints,
            sink,
            host=cfg.webhook_host,
            port=cfg.webhook_port,
            clock=self._clock,
        )
        await webhook.start()
        self.webhook_port = webhook.port
        log.info("dlr_webhook_listening", host=cfg.webhook_host, port=webhook.port)
        for vendor in vendor_set.vendors.values():
            await vendor.start(sink)
        now = self._clock()
        plans = [p for p in cfg.plans if p.name in vendor_set.vendors]
        parts_of = {
            (p.name, prof): billed_parts(prof, p.signature) for p in plans for prof in p.profiles
        }
        scheduler = Scheduler(
            plans,
            [],
            start_ns=now,
            rng=random.Random(cfg.seed or None),
            parts_of=parts_of,
            daily_budget=cfg.daily_budget,
            timezone=cfg.timezone,
        )
        runner = ProbeRunner(
            self._ledger,
            vendor_set.vendors,
            scheduler,
            RunnerSettings(
                secret=cfg.secret,
                signatures={p.name: p.signature for p in plans},
                send_until_ns=None if cfg.send_for_s is None else now + int(cfg.send_for_s * 1e9),
            ),
            clock=self._clock,
        )
        judge = Judge(
            self._ledger,
            JudgingConfig(
                policy=cfg.policy,
                health_max_silence_s=cfg.health_max_silence_s,
                canary_deadline_s=self._canary_deadline_s,
                full_pass_interval_s=cfg.judge_full_interval_s,
            ),
            self._clock,
        )
        tasks = [
            self._every(stop, 2.0, lambda: self._refresh_targets(scheduler)),
            runner.run(stop),
            self._every(stop, cfg.judge_interval_s, lambda: asyncio.to_thread(judge.judge_once)),
            self._every(stop, cfg.poll_interval_s, lambda: self._poll(vendor_set.vendors)),
        ]
        sink_ts = None
        if self._timeseries is not None:
            sink_ts = self._timeseries.make_sink()
            writer = TimeSeriesWriter(
                self._ledger,
                sink_ts,
                WriterSettings(
                    give_up_s=cfg.policy.give_up_s,
                    interval_s=self._timeseries.interval_s,
                    offline_after_s=self._offline_after_s,
                ),
                clock=self._clock,
            )
            tasks.append(writer.run(stop))
        self.ready.set()
        try:
            await asyncio.gather(*tasks)
        finally:
            # A last judging pass so what arrived until the stop is in the ledger.
            with contextlib.suppress(Exception):
                await asyncio.to_thread(judge.judge_once, full=True)
            for vendor in vendor_set.vendors.values():
                with contextlib.suppress(Exception):
                    await vendor.close()
            await webhook.close()
            if sink_ts is not None:
                await sink_ts.close()

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

    async def _poll(self, vendors: Mapping[str, Any]) -> None:
        for vendor in vendors.values():
            try:
                await vendor.poll_dlrs()
            except Exception as exc:
                log.warning("dlr_poll_failed", vendor=vendor.name, error=str(exc))

    @staticmethod
    async def _every(
        stop: asyncio.Event, interval_s: float, step: Callable[[], Awaitable[Any]]
    ) -> None:
        while not stop.is_set():
            try:
                await step()
            except Exception:
                log.exception("probe_service_step_failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=interval_s)
