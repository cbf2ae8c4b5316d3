"""The one protocol every alert channel implements, and what one attempt returns."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

import aiohttp

from agent.common.units import NS
from collector.alerts.engine import AlertEvent
from collector.alerts.summary import AlertText


@dataclass(frozen=True, slots=True)
class AlertMessage:
    """One alert event as every channel renders it."""

    event: AlertEvent
    alert_id: int
    text: AlertText

    @property
    def delivery_id(self) -> str:
        """`<alert_id>:<phase>`: the same on a retry and on another collector's
        re-delivery, so a receiver can drop a repeat."""
        return f"{self.alert_id}:{self.event.phase}"

    def markdown(self) -> str:
        """Title, sentence and the evidence link: what the robots show."""
        link = f"\n\n[Evidence]({self.text.evidence_url})" if self.text.evidence_url else ""
        return f"#### {self.text.title}\n\n{self.text.summary}{link}"

    def at_s(self) -> int:
        return self.event.at_ns // NS


@dataclass(frozen=True, slots=True)
class Attempt:
    """The outcome of one try: delivered, or why not and whether another try may help."""

    ok: bool
    retry: bool = False
    status: int | None = None  # HTTP status or SMTP reply code; None: no answer
    detail: str = ""  # e.g. "errcode 130101: send too fast" or "HTTP 503"

    def describe(self) -> str:
        if self.ok:
            return f"ok status={self.status}"
        return f"failed {self.detail}" + (" (will retry)" if self.retry else "")


class Notifier(Protocol):
    """One destination. `target` keys its deliveries in the ledger (alert_deliveries.url):
    stable across restarts and free of secrets (a robot's token is in its URL)."""

    @property
    def target(self) -> str: ...

    @property
    def max_attempts(self) -> int | None: ...  # None: the dispatcher's default

    async def send(self, message: AlertMessage, session: aiohttp.ClientSession) -> Attempt:
        """One try. Network errors may be raised (aiohttp.ClientError, OSError,
        TimeoutError): the dispatcher counts them as a failed, retryable try."""
        ...


def retryable_status(status: int) -> bool:
    """The one place that decides whether an HTTP answer is worth another try."""
    return status in (408, 425, 429) or status >= 500


async def post_json(
    session: aiohttp.ClientSession, url: str, payload: Any, headers: dict[str, str] | None = None
) -> tuple[int, bytes]:
    async with session.post(url, json=payload, headers=headers) as resp:
        return resp.status, await resp.read()
