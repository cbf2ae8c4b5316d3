"""The running alert service: evaluate the ledger every interval, record and notify.

Each evaluation reads the window's judged probes, submit failures and receivers from the
ledger, asks `conditions()` what fires, lets the hysteresis `AlertEngine` decide what
starts or ends, writes each start/end to the ledger (`alerts` table) and then posts it
to its channels in the background (bounded retries; a dead channel never stalls the
evaluation loop). On start the engine is seeded with the alerts still open in the
ledger, so a collector restart neither pages again for an ongoing alert nor forgets to
send its end.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import defaultdict
from collections.abc import Callable, Collection, Sequence
from datetime import tzinfo
from typing import Any, Protocol
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

import structlog

from agent.common.backoff import ExponentialBackoff
from agent.common.units import NS
from collector.alerts.clearing import Cleared, cleared_keys
from collector.alerts.config import parse_alerts
from collector.alerts.engine import (
    AlertEngine,
    AlertEvent,
    AlertKind,
    AlertRules,
    Condition,
    ReceiverStatus,
    SubmitFailure,
    conditions,
)
from collector.alerts.notify import AlertNotifier, Delivery
from collector.alerts.summary import AlertText, summarize
from collector.channels.advice import AdviceWatch, advise
from collector.ledger.base import FencedError, Ledger
from collector.ledger.health import UnmeasuredSpan
from collector.ledger.model import AgentStatus
from collector.ledger.probes import AlertRow
from collector.reports.config import DEFAULT_TIMEZONE, iso, parse_reports
from collector.reports.judged import load_judged

log = structlog.get_logger("smsprobe.alerts")
# A vendor refusing a probe for its content, template or signature is a content problem
# (shown in reports), not an outage (collector/probes/runner.py error kinds).
CONTENT_REJECTIONS = frozenset({"rejected:template", "rejected:signature", "rejected:content"})
# Probes are selected by plan time; a submit may follow its plan by this much.
PLAN_MARGIN_S = 600.0
DRAIN_TIMEOUT_S = 30.0
# On stop, deliveries in flight get this long, then are noted as abandoned: a collector
# stops within 5 s of SIGTERM (systemd, CI) even with a webhook that never answers.
STOP_DRAIN_S = 2.0


class Notifier(Protocol):
    """Where events go (notify.AlertNotifier). `urls`: the delivery targets it claims in
    the ledger (alert_deliveries), queued with each start/end in the same transaction."""

    @property
    def urls(self) -> tuple[str, ...]: ...

    async def notify(
        self,
        event: AlertEvent,
        *,
        alert_id: int,
        evidence_url: str = "",
        only: Sequence[str] | None = None,
        text: AlertText | None = None,
    ) -> list[Delivery]: ...


def _subject(items: Sequence[tuple[str, str]] | dict[str, str]) -> tuple[tuple[str, str], ...]:
    """One canonical order for a subject: the ledger stores it as sorted JSON, so live
    conditions and restored alerts must compare in the same order."""
    pairs = items.items() if isinstance(items, dict) else items
    return tuple(sorted((str(k), str(v)) for k, v in pairs))


def receivers_of(agents: Sequence[AgentStatus]) -> list[ReceiverStatus]:
    out = []
    for a in agents:
        sick = tuple(
            (m.imei, m.last_health.reasons or ("unhealthy",))
            for m in a.modems
            if m.present and m.last_health is not None and not m.last_health.healthy
        )
        # Registered but never heard from: silent since it registered.
        out.append(ReceiverStatus(a.agent_id, a.last_seen_ns or a.registered_at_ns, sick))
    return out


def evidence_url(base: str, event: AlertEvent, *, since_ns: int) -> str:
    """Where the evidence of an alert's window is: `evidence export` with these arguments."""
    if not base:
        return ""
    query = {**dict(sorted(event.subject.items())), "kind": event.kind.value}
    query.update(since=iso(since_ns), until=iso(event.at_ns))
    return f"{base}?{urlencode(query)}"


class AlertService:
    def __init__(
        self,
        ledger: Ledger,
        *,
        rules: AlertRules,
        notifier: Notifier,
        clock: Callable[[], int] = time.time_ns,
        interval_s: float = 60.0,
        evidence_base_url: str = "",
        live_blind: Callable[[], Collection[str]] = frozenset,
        tz: tzinfo | None = None,
    ) -> None:
        self._ledger = ledger
        # The zone of the times in the alerts' sentences ([reports] timezone).
        self._tz = tz if tz is not None else ZoneInfo(DEFAULT_TIMEZONE)
        # Vendors this process sees unmeasured now, before the ledger has their span.
        self._live_blind = live_blind
        self._rules = rules
        self._notifier = notifier
        self._clock = clock
        self._interval_s = interval_s
        self._base_url = evidence_base_url
        self._engine: AlertEngine | None = None
        self._advice = AdviceWatch()  # the routing advice in force (routing_advice_changed)
        # The targets whose deliveries are queued and claimed in the ledger.
        self._urls: tuple[str, ...] = notifier.urls
        self._deliveries: set[asyncio.Task[list[Delivery]]] = set()
        self.evaluations = 0

    # ------------------------------------------------------------ state

    async def restore(self) -> int:
        """Seed the engine with the alerts open in the ledger; returns how many."""
        rows = await asyncio.to_thread(self._ledger.open_alerts)
        active = []
        for row in rows:
            try:
                kind = AlertKind(row.kind)
            except ValueError:
                log.warning("alert_kind_unknown", alert_id=row.alert_id, kind=row.kind)
                continue
            active.append(Condition(kind, _subject(row.subject), row.figures))
        self._engine = AlertEngine(self._rules, active)
        log.info("alerts_restored", open=len(active))
        await self._redeliver({row.alert_id: row for row in await asyncio.to_thread(
            self._ledger.alerts, since_ns=0)} if self._urls else {})  # fmt: skip
        return len(active)

    async def _redeliver(self, rows: dict[int, AlertRow]) -> None:
        """Deliveries the ledger holds unsettled: queued with an alert whose holder died
        before posting, or claimed by a holder that died not knowing the answer. Posted
        again (same X-Smsprobe-Delivery id) — never dropped; a repeat only when the dead
        holder's POST had in fact arrived."""
        for d in await asyncio.to_thread(self._ledger.pending_deliveries):
            row = rows.get(d.alert_id)
            if row is None:
                continue
            try:
                kind = AlertKind(row.kind)
            except ValueError:
                continue
            start = d.phase == "start"
            event = AlertEvent(
                d.phase,
                kind,
                dict(row.subject),
                row.started_at_ns if start else row.ended_at_ns,
                row.figures if start else row.end_figures,
            )
            log.warning("alert_delivery_resumed", alert_id=d.alert_id, phase=d.phase,
                        url=d.url, state=d.state)  # fmt: skip
            self._notify(event, d.alert_id, row.started_at_ns, only=(d.url,))

    def _notify(
        self,
        event: AlertEvent,
        alert_id: int,
        started_at_ns: int,
        *,
        only: Sequence[str] | None = None,
    ) -> None:
        since = event.at_ns - int(self._rules.window_s * NS)
        url = evidence_url(self._base_url, event, since_ns=since)
        text = summarize(event, tz=self._tz, rules=self._rules, started_at_ns=started_at_ns,
                         evidence_url=url)  # fmt: skip
        coro = self._notifier.notify(
            event, alert_id=alert_id, evidence_url=url, only=only, text=text
        )
        task = asyncio.create_task(coro)
        self._deliveries.add(task)
        task.add_done_callback(self._deliveries.discard)

    def _facts(self, now: int) -> tuple[list[Condition], Cleared]:
        """What fires at `now`, and what is shown cleared (an alert ends only on that)."""
        span_s = max(self._rules.window_s, self._rules.sim_window_s)
        since = now - int((span_s + PLAN_MARGIN_S) * NS)
        probes, _, judged = load_judged(self._ledger, since_ns=since, until_ns=now + 1)
        failures = [
            SubmitFailure(p.plan.vendor, p.submitted_at_ns or p.plan.planned_at_ns)
            for p in probes
            if p.submit_status == "rejected" and p.error_kind not in CONTENT_REJECTIONS
        ]
        receivers = receivers_of(self._ledger.agents())
        watched = {
            u.unit.removeprefix("vendor:")
            for u in self._ledger.collector_units()
            if u.unit.startswith("vendor:")
        }
        blind: dict[str, list[UnmeasuredSpan]] = defaultdict(list)
        for span in self._ledger.unmeasured_spans(since_ns=now):
            if span.end_ns == 0:
                blind[span.vendor].append(span)
        for vendor in self._live_blind():
            if vendor not in blind:  # opened here, not flushed to the ledger yet
                blind[vendor].append(
                    UnmeasuredSpan(
                        instance="",
                        vendor=vendor,
                        cause="this collector",
                        reason="",
                        start_ns=now,
                        end_ns=0,
                    )
                )
        firing = conditions(judged, failures, receivers, now_ns=now, rules=self._rules)
        firing += [
            Condition(
                AlertKind.MONITORING_DEGRADED,
                (("vendor", vendor),),
                {
                    "causes": sorted({s.cause for s in spans}),
                    "since_ns": min(s.start_ns for s in spans),
                    "reason": spans[0].reason,
                },
            )
            for vendor, spans in sorted(blind.items())
        ]
        cleared = cleared_keys(
            judged, failures, receivers, now_ns=now, rules=self._rules, watched=watched,
            blind=set(blind),
        )  # fmt: skip
        advice = advise(judged, since_ns=now - int(self._rules.window_s * NS), until_ns=now + 1)
        changes, agreeing = self._advice.changes(advice)
        firing += [
            Condition(
                AlertKind.ROUTING_ADVICE_CHANGED,
                (("carrier", c.carrier), ("profile", c.profile)),
                {"from": c.from_vendor, "to": c.to_vendor, "confidence": c.confidence},
            )
            for c in changes
        ]
        agreed = {
            (AlertKind.ROUTING_ADVICE_CHANGED, _subject({"carrier": c, "profile": p}))
            for c, p in agreeing
        }
        cleared = Cleared(cleared.keys | agreed, cleared.heard, cleared.blind)
        return firing, cleared

    # ------------------------------------------------------------ one pass

    async def evaluate_once(self) -> list[AlertEvent]:
        """One evaluation: ledger facts → conditions → engine → ledger → notifications."""
        if self._engine is None:
            await self.restore()
        assert self._engine is not None
        now = self._clock()
        facts, cleared = await asyncio.to_thread(self._facts, now)
        firing = [Condition(c.kind, _subject(c.subject), c.figures) for c in facts]
        events = self._engine.evaluate(firing, now_ns=now, cleared=cleared)
        self.evaluations += 1
        for event in events:
            if event.kind is AlertKind.ROUTING_ADVICE_CHANGED and event.phase == "start":
                # the new advice is in force from now on: the alert ends once it holds
                s = event.subject
                self._advice.settle(s["carrier"], s["profile"], str(event.figures["to"]))
            alert_id, started_at = await asyncio.to_thread(self._record, event)
            log.info("alert_started" if event.phase == "start" else "alert_ended",
                     alert_id=alert_id, kind=event.kind.value, subject=event.subject,
                     figures=dict(event.figures))  # fmt: skip
            self._notify(event, alert_id, started_at)
        return events

    def _record(self, event: AlertEvent) -> tuple[int, int]:
        """Write the start or end; its alert id and when the alert started."""
        kind, figures = event.kind.value, dict(event.figures)
        # The deliveries are queued in the same transaction (alert_deliveries): a holder
        # dying right after this leaves them pending for its successor (restore).
        if event.phase == "start":
            alert_id = self._ledger.start_alert(
                kind, event.subject, at_ns=event.at_ns, figures=figures, deliver_to=self._urls
            )
            return alert_id, event.at_ns
        subject = dict(_subject(event.subject))
        started = [
            r.started_at_ns
            for r in self._ledger.open_alerts()
            if r.kind == kind and dict(_subject(r.subject)) == subject
        ]
        alert_id = self._ledger.end_alert(
            kind, event.subject, at_ns=event.at_ns, figures=figures, deliver_to=self._urls
        )
        return alert_id, min(started, default=event.at_ns)

    async def drain(self, timeout_s: float = DRAIN_TIMEOUT_S) -> None:
        """Wait for notifications in flight; cancel those still running after timeout_s."""
        pending = set(self._deliveries)
        if not pending:
            return
        done, still = await asyncio.wait(pending, timeout=timeout_s)
        for task in still:
            task.cancel()
        for task in still:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        for task in done:
            if not task.cancelled() and task.exception() is not None:
                log.error("alert_notify_crashed", error=repr(task.exception()))

    # ------------------------------------------------------------ the loop

    async def run(self, stop: asyncio.Event, *, on_pass: Callable[[], None] | None = None) -> None:
        """Evaluate every interval until `stop` is set; one failed pass is logged, not fatal
        (the open alerts are restored by the first pass that reaches the ledger); `on_pass`
        after each pass that worked (the supervisor's "running")."""
        self._engine = None  # every run (a restart, a new tenure) starts from the ledger
        try:
            while not stop.is_set():
                try:
                    await self.evaluate_once()
                    if on_pass is not None:
                        on_pass()
                except FencedError:
                    raise  # the alerts lease passed to another collector: stop here
                except Exception as exc:  # keep watching; the next pass retries
                    log.error("alert_evaluation_failed", error=repr(exc))
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), self._interval_s)
        finally:
            await self.drain(STOP_DRAIN_S)


def alert_service_from_config(
    raw_alerts: Any,
    raw_reports: Any,
    *,
    file: str,
    ledger: Ledger,
    clock: Callable[[], int] = time.time_ns,
    instance: str = "",
    live_blind: Callable[[], Collection[str]] = frozenset,
) -> tuple[AlertService, AlertNotifier]:
    """Wire the service from [alerts] and [reports] (raises ConfigError). Run it with
    `async with notifier: await service.run(stop)` so the HTTP session is closed."""

    cfg = parse_alerts(raw_alerts, file=file)
    reports = parse_reports(raw_reports, file=file)
    base = min(cfg.backoff_initial_s, cfg.backoff_max_s)  # the cap wins, as configured
    notifier = AlertNotifier(
        cfg.notifiers,
        ledger=ledger,
        max_attempts=cfg.max_attempts,
        timeout_s=cfg.timeout_s,
        backoff=ExponentialBackoff(base, cfg.backoff_max_s, min_s=base / 2),
        instance=instance,
    )
    service = AlertService(
        ledger,
        rules=cfg.rules,
        notifier=notifier,
        clock=clock,
        interval_s=cfg.evaluate_interval_s,
        evidence_base_url=reports.evidence_base_url,
        live_blind=live_blind,
        tz=reports.tz,
    )
    return service, notifier
