"""Delivery of alert start/end events to every configured channel (notifiers/): claimed
in the ledger, retried with back-off, every attempt recorded.

Several collectors: each delivery (alert, phase, target) is claimed in the ledger under
the alerts lease before the first attempt and settled after the last (alert_deliveries);
a delivery already settled or claimed by the current tenure is not sent again. The
target is the webhook's URL or `<kind>:<name>` for the other channels (no secrets).

Each target gets up to its `max_attempts` tries (default: the dispatcher's); an attempt
the channel calls retryable (HTTP 408/429/5xx, a robot's rate-limit code, an SMTP 4xx,
a network error) is repeated after the injected back-off, anything else is final. Every
attempt and the final outcome are noted on the alert in the ledger
(`<phase> <target> attempt=<n> ok status=200` / `... failed <why>`, then
`<phase> <target> delivered status=<s> attempts=<n>` or `... failed attempts=<n> error=...`),
so a missed page is visible after the fact (`smsprobe-collector alerts show ID`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC
from typing import Self

import aiohttp
import structlog

from agent.common.backoff import ExponentialBackoff
from collector.alerts.engine import AlertEvent, AlertRules
from collector.alerts.notifiers.base import AlertMessage, Attempt, Notifier
from collector.alerts.summary import AlertText, summarize
from collector.ledger.base import Ledger

log = structlog.get_logger("smsprobe.alerts")


@dataclass(frozen=True, slots=True)
class Delivery:
    url: str  # the target
    delivered: bool
    attempts: int
    status: int | None  # last HTTP status / SMTP code; None when no answer came
    error: str = ""


class AlertNotifier:
    """Sends alert events to every notifier; use as an async context manager."""

    def __init__(
        self,
        notifiers: Sequence[Notifier],
        *,
        ledger: Ledger,
        max_attempts: int = 5,
        timeout_s: float = 10.0,
        backoff: ExponentialBackoff | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        instance: str = "",
    ) -> None:
        self._notifiers = {n.target: n for n in notifiers}
        if len(self._notifiers) != len(notifiers):
            raise ValueError("two notifiers with the same target")
        self._by = instance
        self._ledger = ledger
        self._max_attempts = max(1, max_attempts)
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)
        self._backoff = backoff or ExponentialBackoff(base_s=1.0, max_s=60.0, min_s=0.5)
        self._sleep = sleep
        self._session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    @property
    def urls(self) -> tuple[str, ...]:
        """The delivery targets (the ledger's alert_deliveries.url)."""
        return tuple(self._notifiers)

    async def notify(
        self,
        event: AlertEvent,
        *,
        alert_id: int,
        evidence_url: str = "",
        only: Sequence[str] | None = None,
        text: AlertText | None = None,
    ) -> list[Delivery]:
        """Deliver to every target (or those in `only`) concurrently; never raises for a
        target's failure. A delivery another tenure settled or holds is skipped."""
        targets = [t for t in self._notifiers if only is None or t in only]
        if not targets:
            return []
        if text is None:
            text = summarize(event, tz=UTC, rules=AlertRules(), evidence_url=evidence_url)
        message = AlertMessage(event, alert_id, text)
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=self._timeout)
        results = await asyncio.gather(*(self._claimed(t, message) for t in targets))
        return [r for r in results if r is not None]

    async def _claimed(self, target: str, message: AlertMessage) -> Delivery | None:
        phase, alert_id = message.event.phase, message.alert_id
        claimed = await asyncio.to_thread(
            self._ledger.claim_delivery, alert_id, phase, target, by=self._by
        )
        if not claimed:
            log.info("alert_delivery_not_ours", url=target, alert_id=alert_id, phase=phase)
            return None
        result = await self._deliver(self._notifiers[target], message)
        await asyncio.to_thread(
            self._ledger.settle_delivery, alert_id, phase, target, delivered=result.delivered
        )
        return result

    async def _attempt(self, notifier: Notifier, message: AlertMessage) -> Attempt:
        assert self._session is not None
        try:
            return await notifier.send(message, self._session)
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            return Attempt(False, True, None, f"{type(exc).__name__}: {exc}")

    async def _deliver(self, notifier: Notifier, message: AlertMessage) -> Delivery:
        target, phase, alert_id = notifier.target, message.event.phase, message.alert_id
        limit = max(1, notifier.max_attempts or self._max_attempts)
        outcome = Attempt(False, False, None, "not attempted")
        attempt = 0
        try:
            for attempt in range(1, limit + 1):
                outcome = await self._attempt(notifier, message)
                await self._note(alert_id, f"{phase} {target} attempt={attempt} "
                                 + outcome.describe())  # fmt: skip
                if outcome.ok or not outcome.retry:
                    break
                if attempt < limit:
                    log.info("alert_delivery_retried", url=target, alert_id=alert_id,
                             attempt=attempt, error=outcome.detail)  # fmt: skip
                    await self._sleep(self._backoff.delay(attempt - 1))
        except asyncio.CancelledError:
            # The collector stops (its stop is bounded): the page missed is on the alert.
            note = f"{phase} {target} abandoned at stop attempts={attempt} error={outcome.detail}"
            log.warning("alert_delivery_abandoned", url=target, alert_id=alert_id,
                        attempts=attempt)  # fmt: skip
            await self._note(alert_id, note)
            raise
        result = Delivery(target, outcome.ok, attempt, outcome.status,
                          "" if outcome.ok else outcome.detail)  # fmt: skip
        await self._note(
            alert_id,
            f"{phase} {target} delivered status={outcome.status} attempts={attempt}"
            if result.delivered
            else f"{phase} {target} failed attempts={attempt} error={outcome.detail}",
        )
        if result.delivered:
            log.info("alert_delivered", url=target, alert_id=alert_id, phase=phase,
                     kind=message.event.kind.value, attempts=attempt)  # fmt: skip
        else:
            log.warning("alert_delivery_failed", url=target, alert_id=alert_id, phase=phase,
                        kind=message.event.kind.value, attempts=attempt,
                        error=outcome.detail)  # fmt: skip
        return result

    async def _note(self, alert_id: int, note: str) -> None:
        try:
            await asyncio.to_thread(self._ledger.note_alert_delivery, alert_id, note)
        except Exception as exc:  # a ledger hiccup must not stop alerting
            log.warning("alert_delivery_note_failed", alert_id=alert_id, error=repr(exc))
