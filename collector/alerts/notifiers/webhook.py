"""The generic JSON webhook.

Body (one JSON object, UTF-8):
    {"phase": "start"|"end", "kind": "vendor_outage", "subject": {"vendor": "acme"},
     "at": "2026-11-24T10:00:00Z", "at_ns": ..., "alert_id": 7, "figures": {...},
     "title": "[ALERT] Vendor outage: acme", "summary": "Acme is out: ...",
     "evidence_url": "https://.../evidence?vendor=acme&since=...&until=..."}
With a secret, header `X-Smsprobe-Signature: sha256=<hex HMAC-SHA256 of the body>`.
Header `X-Smsprobe-Delivery: <alert_id>:<phase>` names the event: the same on a retry and
on a re-delivery by another collector, so a receiver can drop a repeat.
2xx is delivered; 408/425/429/5xx are retried; any other status is final.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import aiohttp

from agent.common.units import NS
from collector.alerts.notifiers.base import AlertMessage, Attempt, retryable_status

DELIVERY_HEADER = "X-Smsprobe-Delivery"


def alert_body(message: AlertMessage) -> dict[str, Any]:
    event = message.event
    at = datetime.fromtimestamp(event.at_ns // NS, UTC)
    return {
        "phase": event.phase,
        "kind": event.kind.value,
        "subject": dict(event.subject),
        "at": at.isoformat(timespec="seconds").replace("+00:00", "Z"),
        "at_ns": event.at_ns,
        "alert_id": message.alert_id,
        "figures": dict(event.figures),
        "title": message.text.title,
        "summary": message.text.summary,
        "evidence_url": message.text.evidence_url,
    }


def signature(body: bytes, secret: str) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


@dataclass(frozen=True, slots=True)
class JsonWebhook:
    url: str
    hmac_secret: str = ""
    hmac_header: str = "X-Smsprobe-Signature"
    max_attempts: int | None = None

    @property
    def target(self) -> str:
        return self.url  # the ledger has always keyed webhook deliveries by their URL

    async def send(self, message: AlertMessage, session: aiohttp.ClientSession) -> Attempt:
        body = json.dumps(
            alert_body(message), sort_keys=True, ensure_ascii=False, default=str
        ).encode()
        headers = {"Content-Type": "application/json", DELIVERY_HEADER: message.delivery_id}
        if self.hmac_secret:
            headers[self.hmac_header] = signature(body, self.hmac_secret)
        async with session.post(self.url, data=body, headers=headers) as resp:
            status = resp.status
            await resp.read()
        if 200 <= status < 300:
            return Attempt(True, False, status)
        return Attempt(False, retryable_status(status), status, f"HTTP {status}")
