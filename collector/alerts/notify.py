"""Webhook delivery of alert start/end events: JSON, optional HMAC, bounded retries.

Body (one JSON object, UTF-8):
    {"phase": "start"|"end", "kind": "vendor_outage", "subject": {"vendor": "acme"},
     "at": "2026-11-24T10:00:00Z", "at_ns": ..., "alert_id": 7, "figures": {...},
     "evidence_url": "https://.../evidence?vendor=acme&since=...&until=..."}
With a secret, header `X-Smsprobe-Signature: sha256=<hex HMAC-SHA256 of the body>`.
Header `X-Smsprobe-Delivery: <alert_id>:<phase>` names the event: the same on a retry and
on a re-delivery by another collector, so a receiver can drop a repeat.

Several collectors: each delivery (alert, phase, webhook) is claimed in the ledger under
the alerts lease before the POST and settled after it (alert_deliveries); a delivery
already settled or claimed by the current tenure is not posted again.

Each webhook gets up to `max_attempts` tries; 2xx is delivered, 408/429/5xx and network
errors are retried after the injected backoff, other 4xx are final (the receiver refuses
the request as such: repeating it cannot help). Every outcome is noted on the alert in the
ledger, so a missed page is visible after the fact.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import aiohttp
import structlog

from agent.common.backoff import ExponentialBackoff
from agent.common.units import NS
from collector.alerts.engine import AlertEvent
from collector.ledger.base import Ledger

log = structlog.get_logger("smsprobe.alerts")
DELIVERY_HEADER = "X-Smsprobe-Delivery"


@dataclass(frozen=True, slots=True)
class Delivery:
    url: str
    delivered: bool
    attempts: int
    status: int | None  # last HTTP status; None when no response came
    error: str = ""


def alert_body(event: AlertEvent, *, alert_id: int, evidence_url: str) -> dict[str, Any]:
    at = datetime.fromtimestamp(event.at_ns // NS, UTC)
    return {
        "phase": event.phase,
        "kind": event.kind.value,
        "subject": dict(event.subject),
        "at": at.isoformat(timespec="seconds").replace("+00:00", "Z"),
        "at_ns": event.at_ns,
        "alert_id": alert_id,
        "figures": dict(event.figures),
        "evidence_url": evidence_url,
    }


def signature(body: bytes, secret: str) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def retryable(status: int) -> bool:
    """The one place that decides whether a webhook answer is worth another try."""
    return status in (408, 425, 429) or status >= 500


class WebhookNotifier:
    """Posts alert events to every configured webhook; use as an async context manager."""

    def __init__(
        self,
        urls: Sequence[str],
        *,
        ledger: Ledger,
        hmac_secret: str = "",
        hmac_header: str = "X-Smsprobe-Signature",
        max_attempts: int = 5,
        timeout_s: float = 10.0,
        backoff: ExponentialBackoff | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        instance: str = "",
    ) -> None:
        self._urls = tuple(urls)
        self._by = instance
        self._ledger = ledger
        self._secret = hmac_secret
        self._header = hmac_header
        self._max_attempts = max(1, max_attempts)
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)
        self._backoff = backoff or ExponentialBackoff(base_s=1.0, max_s=60.0, min_s=0.5)
        self._sleep = sleep
        self._session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> WebhookNotifier:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    @property
    def urls(self) -> tuple[str, ...]:
        return self._urls

    async def notify(
        self,
        event: AlertEvent,
        *,
        alert_id: int,
        evidence_url: str = "",
        only: Sequence[str] | None = None,
    ) -> list[Delivery]:
        """Deliver to every webhook (or those in `only`) concurrently; never raises for a
        webhook's failure. A delivery another tenure settled or holds is skipped."""
        urls = self._urls if only is None else tuple(u for u in self._urls if u in only)
        if not urls:
            return []
        body = json.dumps(
            alert_body(event, alert_id=alert_id, evidence_url=evidence_url),
            sort_keys=True,
            ensure_ascii=False,
            default=str,
        ).encode()
        headers = {
            "Content-Type": "application/json",
            DELIVERY_HEADER: f"{alert_id}:{event.phase}",
        }
        if self._secret:
            headers[self._header] = signature(body, self._secret)
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=self._timeout)
        results = await asyncio.gather(
            *(self._claimed(url, body, headers, event, alert_id) for url in urls)
        )
        return [r for r in results if r is not None]

    async def _claimed(
        self, url: str, body: bytes, headers: dict[str, str], event: AlertEvent, alert_id: int
    ) -> Delivery | None:
        claimed = await asyncio.to_thread(
            self._ledger.claim_delivery, alert_id, event.phase, url, by=self._by
        )
        if not claimed:
            log.info("alert_delivery_not_ours", url=url, alert_id=alert_id, phase=event.phase)
            return None
        result = await self._deliver(url, body, headers, event, alert_id)
        await asyncio.to_thread(
            self._ledger.settle_delivery, alert_id, event.phase, url, delivered=result.delivered
        )
        return result

    async def _deliver(
        self, url: str, body: bytes, headers: dict[str, str], event: AlertEvent, alert_id: int
    ) -> Delivery:
        assert self._session is not None
        status: int | None = None
        error = ""
        attempt = 0
        try:
            for attempt in range(1, self._max_attempts + 1):
                try:
                    async with self._session.post(url, data=body, headers=headers) as resp:
                        status = resp.status
                        await resp.read()
                    error = "" if 200 <= status < 300 else f"HTTP {status}"
                    if not error or not retryable(status):
                        break
                except (aiohttp.ClientError, TimeoutError) as exc:
                    status, error = None, f"{type(exc).__name__}: {exc}"
                if attempt < self._max_attempts:
                    log.info("alert_delivery_retried", url=url, alert_id=alert_id,
                             attempt=attempt, error=error)  # fmt: skip
                    await self._sleep(self._backoff.delay(attempt - 1))
        except asyncio.CancelledError:
            # The collector stops (its stop is bounded): the page missed is on the alert.
            note = f"{event.phase} {url} abandoned at stop attempts={attempt} error={error}"
            log.warning("alert_delivery_abandoned", url=url, alert_id=alert_id, attempts=attempt)
            await self._note(alert_id, note)
            raise
        result = Delivery(url, not error, attempt, status, error)
        await self._note(
            alert_id,
            f"{event.phase} {url} delivered status={status} attempts={attempt}"
            if result.delivered
            else f"{event.phase} {url} failed attempts={attempt} error={error}",
        )
        if result.delivered:
            log.info("alert_delivered", url=url, alert_id=alert_id, phase=event.phase,
                     kind=event.kind.value, attempts=attempt)  # fmt: skip
        else:
            log.warning("alert_delivery_failed", url=url, alert_id=alert_id, phase=event.phase,
                        kind=event.kind.value, attempts=attempt, error=error)  # fmt: skip
        return result

    async def _note(self, alert_id: int, note: str) -> None:
        try:
            await asyncio.to_thread(self._ledger.note_alert_delivery, alert_id, note)
        except Exception as exc:  # a ledger hiccup must not stop alerting
            log.warning("alert_delivery_note_failed", alert_id=alert_id, error=repr(exc))
