"""The channel side of a running collector, after each judging pass: observe the channels
of newly judged arrivals, decide which route groups are failed over, and compute the
routing advice (handed to a listener: the Prometheus gauge)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import structlog

from agent.common.units import NS
from collector.channels.advice import Advice, advise
from collector.channels.observe import ChannelObserver
from collector.channels.routes import RouteBook
from collector.ledger.base import Ledger
from collector.reports.judged import load_judged

log = structlog.get_logger("smsprobe.channels")

ADVICE_WINDOW_S = 3600.0


class ChannelsLive:
    def __init__(
        self,
        ledger: Ledger,
        routes: RouteBook,
        clock: Callable[[], int],
        *,
        window_s: float = ADVICE_WINDOW_S,
        on_advice: Callable[[Sequence[Advice]], None] | None = None,
    ) -> None:
        self._ledger = ledger
        self._routes = routes
        self._clock = clock
        self._window_ns = int(window_s * NS)
        self._observer = ChannelObserver(ledger, clock)
        self._on_advice = on_advice
        self.advice: list[Advice] = []

    def step(self) -> None:
        """One pass (blocking: run it in a thread)."""
        self._observer.update()
        now = self._clock()
        probes, _, judged = load_judged(self._ledger, since_ns=now - self._window_ns,
                                        until_ns=now + 1)  # fmt: skip
        if self._routes.groups:
            kinds = {p.plan.probe_id: p.error_kind for p in probes}
            sends = self._ledger.failover_sends(since_ns=now - self._window_ns)
            started, ended = self._routes.refresh(
                judged, now, kinds, exclude=(s.probe_id for s in sends)
            )
            for group, carrier in sorted(started):
                log.warning("route_failed_over", group=group, carrier=carrier)
            for group, carrier in sorted(ended):
                log.info("route_restored", group=group, carrier=carrier)
        self.advice = advise(judged, since_ns=now - self._window_ns, until_ns=now + 1)
        if self._on_advice is not None:
            self._on_advice(self.advice)
