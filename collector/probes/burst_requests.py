"""One-off bursts asked for from the command line (`smsprobe-collector burst`), sent by the
running collector: the scheduler unit of the holder of the probing lease polls the ledger
for pending requests (migration 0012) and fires each at its time with run_burst, so the
probes go out through the vendors, webhooks and receipt pulls of the process that
measures them. A request is claimed before its first probe (fenced: never sent twice,
also not by a successor after a takeover) and settled with the number sent."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Mapping

import structlog

from agent.common.units import NS
from collector.ledger.base import Ledger
from collector.ledger.periods import BurstRequest, BurstState
from collector.probes.bursts import BurstPlan, Send, run_burst
from collector.probes.scheduler import Scheduler, VendorPlan

log = structlog.get_logger("smsprobe.probes")

LATE_AFTER_S = 300.0  # a burst measures a chosen time: one this late is expired, not sent
POLL_S = 1.0


def plan_of(request: BurstRequest) -> BurstPlan:
    return BurstPlan(
        name=request.name,
        vendor=request.vendor,
        count=request.count,
        within_s=request.within_s,
        at="",  # the request's start is absolute (at_ns); run_burst fires it now
        budget=request.budget,
        profile=request.profile,
        max_attempts=request.max_attempts,
    )


async def serve_burst_requests(
    ledger: Ledger,
    scheduler: Scheduler,
    send: Send,
    plans: Mapping[str, VendorPlan],
    parts_of: Callable[[str, str], int],
    *,
    clock: Callable[[], int],
    stop: asyncio.Event,
    by: str,
    poll_s: float = POLL_S,
    late_after_s: float = LATE_AFTER_S,
) -> None:
    """Until stop: every `poll_s`, start each pending request whose time has come."""
    running: set[asyncio.Task[None]] = set()
    while not stop.is_set():
        pending = await asyncio.to_thread(ledger.burst_requests, state=BurstState.PENDING)
        now = clock()
        for request in pending:
            if request.at_ns > now:
                continue
            task = await _start(ledger, request, scheduler, send, plans, parts_of,
                                clock=clock, by=by, late_after_s=late_after_s)  # fmt: skip
            if task is not None:
                running.add(task)
                task.add_done_callback(running.discard)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=poll_s)
    if running:  # a burst is bounded by its within_s: let the started ones finish
        await asyncio.gather(*running, return_exceptions=True)


async def _start(
    ledger: Ledger,
    request: BurstRequest,
    scheduler: Scheduler,
    send: Send,
    plans: Mapping[str, VendorPlan],
    parts_of: Callable[[str, str], int],
    *,
    clock: Callable[[], int],
    by: str,
    late_after_s: float,
) -> asyncio.Task[None] | None:
    now = clock()
    late_s = (now - request.at_ns) / NS
    vendor = plans.get(request.vendor)
    why = ""
    state = BurstState.REFUSED
    if late_s > late_after_s:
        state = BurstState.EXPIRED
        why = (f"start time passed {late_s:.0f} s before a collector holding the probing "
               f"lease saw it (limit {late_after_s:.0f} s)")  # fmt: skip
    elif vendor is None:
        why = f"vendor {request.vendor} is not probed by collector {by}"
    elif request.profile not in vendor.profiles:
        why = f"profile {request.profile} is not one of {request.vendor}'s {vendor.profiles}"
    if why:
        log.warning("burst_request_not_sent", burst=request.name, state=state.value, why=why)
        await asyncio.to_thread(ledger.settle_burst, request.name, state, note=why)
        return None
    assert vendor is not None
    claimed = await asyncio.to_thread(ledger.start_burst, request.name, at_ns=now, by=by)
    if not claimed:
        return None  # another tenure claimed or settled it meanwhile
    log.info("burst_starting", burst=request.name, vendor=request.vendor, count=request.count,
             requested_by=request.requested_by, late_s=round(late_s, 3))  # fmt: skip

    async def fire() -> None:
        sent = await run_burst(
            plan_of(request),
            scheduler,
            send,
            price_per_part=vendor.price_per_part,
            parts=parts_of(request.profile, vendor.signature),
            clock=clock,
        )
        note = "" if sent == request.count else f"{sent} of {request.count}: capped by budget"
        await asyncio.to_thread(
            ledger.settle_burst, request.name, BurstState.DONE, sent=sent, note=note
        )

    return asyncio.create_task(fire())
