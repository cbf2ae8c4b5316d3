"""The scheduled retention run inside `serve`: a supervised unit (`service:retention`,
collector/health) that runs the [retention] policy every `run_every_s`, first one
interval after start (a restart loop must not turn into a VACUUM loop). Each run is in the
audit log, by the collector's OS user, marked scheduled. Not fatal: a failed run is
retried after the unit's back-off and never stops ingest or probing."""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import TYPE_CHECKING

import structlog

from collector.audit.record import entry, operator
from collector.health.board import service_unit
from collector.probes.config import parse_probes
from collector.retention.run import AUDIT_KIND, audit_arguments, run_retention
from collector.validation import retention_of

if TYPE_CHECKING:
    from collector.config import CollectorSettings
    from collector.health.supervise import Supervision, Supervisor, Unit
    from collector.ledger import Ledger
    from collector.retention.config import RetentionConfig

log = structlog.get_logger("collector.retention")
UNIT = service_unit("retention")


def start_retention(
    config: RetentionConfig,
    ledger: Ledger,
    supervisor: Supervisor,
    supervision: Supervision,
    *,
    instance: str,
) -> None:
    """Spawn the unit when run_every_s > 0 (agent samples are trimmed by default, so
    there is always a kind to run)."""
    if not config.kinds or config.run_every_s <= 0:
        log.info("retention_not_scheduled", policy=config.describe())
        return

    async def run(unit: Unit) -> None:
        unit.running()
        while not unit.stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(unit.stop.wait(), timeout=config.run_every_s)
                return
            outcome = await asyncio.to_thread(
                run_retention, ledger, config, now_ns=time.time_ns(), stop=unit.stop.is_set
            )
            actor = f"{operator()} (scheduled, collector {instance})"
            summary = f"retention run: {outcome.changed} values masked or purged"
            await asyncio.to_thread(
                ledger.add_audit,
                entry(AUDIT_KIND, summary, audit_arguments(config, outcome), actor=actor),
            )
            log.info("retention_run", changed=outcome.changed, reclaimed=outcome.reclaimed)

    supervisor.spawn(UNIT, run, supervision.service(fatal=False))


def retention_config(config: CollectorSettings) -> RetentionConfig:
    """[retention] as `config check` reads it (no age shorter than [probes]' DLR window)."""
    probes = parse_probes(
        config.raw_section("probes"), file=config.source, vendor_names=set(config.vendors)
    )
    return retention_of(config, probes)
