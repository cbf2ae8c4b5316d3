"""Canaries: SIM-to-SIM messages that prove a receiver can still receive (issue 4).

The collector decides who sends to whom (`plan_canaries`, pushed to agents in AgentConfig),
and judges what came back (`judge_canaries`): a canary sent without error, while its sender
was healthy, that did not reach the target SIM within the deadline marks that receiver
unhealthy ("canary_failed") from the canary's send time until the next canary that did
arrive (`canary_spans`). collector/judging.py adds those spans to the receiver's own, so a
probe to a receiver that failed its canary is inconclusive, never charged to the vendor.

Canary texts carry a token of 14 lowercase letters: no 6-digit run and no 11-character
alphanumeric word, so collector/correlation/tokens.py never mistakes a canary for a probe.
Pure functions first, then the small shell (`CanaryPlanner`, `canary_outcomes`).
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import re
from collections import defaultdict
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

import structlog

from agent.common.units import NS
from collector.correlation.model import UnhealthySpan
from collector.correlation.receiver import HealthSample, unhealthy_spans
from collector.ledger.base import Ledger

log = structlog.get_logger("smsprobe.canaries")

DEFAULT_TEXT = "smsprobe canary {token}"
CANARY_FAILED = "canary_failed"
# The agent fills {token} with 14 lowercase letters (agent/canary.py).
TOKEN_LENGTH = 14
_TOKEN_RE = re.compile(rf"(?<![A-Za-z0-9])[a-z]{{{TOKEN_LENGTH}}}(?![A-Za-z0-9])")
_LETTERS = re.compile(rf"[a-z]{{{TOKEN_LENGTH}}}")


# ------------------------------------------------------------------ planning (pure)


@dataclass(frozen=True, slots=True)
class CanarySim:
    """A SIM that can send and receive canaries: a present modem with a known MSISDN."""

    agent_id: str
    imei: str
    msisdn: str
    carrier: str = ""


@dataclass(frozen=True, slots=True)
class CanaryAssignment:
    """One CanaryJob for the agent holding `from_imei` (agent.proto CanaryJob)."""

    canary_id: str
    agent_id: str
    from_imei: str
    to_msisdn: str
    interval_s: float
    text: str = DEFAULT_TEXT


def canary_sims(agents: Iterable[Any]) -> list[CanarySim]:
    """SIMs of present modems with an MSISDN, from ledger `AgentStatus` rows."""
    out = []
    for agent in agents:
        for modem in agent.modems:
            sim = modem.sim
            if modem.present and sim is not None and sim.msisdn and modem.imei:
                out.append(CanarySim(agent.agent_id, modem.imei, sim.msisdn, sim.carrier))
    return sorted(out, key=lambda s: (s.agent_id, s.imei))


def plan_canaries(
    sims: Sequence[CanarySim], interval_s: float, text: str = DEFAULT_TEXT
) -> dict[str, tuple[CanaryAssignment, ...]]:
    """Each SIM gets canaries from one other SIM: another SIM of the same agent first (no
    collector-side network in the path), of a different carrier when possible; then the
    least loaded sender. Deterministic, so the pushed config (hashed) only changes when the
    fleet does. Returns the jobs per sending agent."""
    if interval_s <= 0:
        return {}
    load: dict[str, int] = defaultdict(int)
    jobs: dict[str, list[CanaryAssignment]] = defaultdict(list)
    for receiver in sims:
        candidates = [s for s in sims if s.imei != receiver.imei and s.msisdn != receiver.msisdn]
        if not candidates:
            continue
        sender = min(
            candidates,
            key=lambda s: (
                s.agent_id != receiver.agent_id,
                bool(receiver.carrier) and s.carrier == receiver.carrier,
                load[s.imei],
                s.agent_id,
                s.imei,
            ),
        )
        load[sender.imei] += 1
        jobs[sender.agent_id].append(
            CanaryAssignment(
                canary_id=f"canary-{sender.imei}-{receiver.msisdn.lstrip('+')}",
                agent_id=sender.agent_id,
                from_imei=sender.imei,
                to_msisdn=receiver.msisdn,
                interval_s=interval_s,
                text=text,
            )
        )
    return {a: tuple(sorted(js, key=lambda j: j.canary_id)) for a, js in jobs.items()}


# ------------------------------------------------------------------ judging (pure)


class CanaryStatus(enum.Enum):
    RECEIVED = "received"
    LOST = "lost"  # not on the target SIM by the deadline: the receiver failed
    PENDING = "pending"  # deadline not reached yet
    SEND_FAILED = "send_failed"  # the sender's modem reported an error: proves nothing
    EXCUSED = "excused"  # the sender was unhealthy when sending: proves nothing


@dataclass(frozen=True, slots=True)
class SentCanary:
    canary_id: str
    agent_id: str
    sender_imei: str
    to_msisdn: str
    sent_at_ns: int  # collector clock
    text: str
    error: str = ""
    record_uuid: str = ""


@dataclass(frozen=True, slots=True)
class ReceivedText:
    msisdn: str
    text: str
    received_at_ns: int  # collector clock
    uuid: str = ""


@dataclass(frozen=True, slots=True)
class CanaryOutcome:
    canary: SentCanary
    status: CanaryStatus
    arrival_uuid: str = ""
    latency_s: float | None = None


def canary_token(text: str) -> str:
    """The token in a canary text ("" when the text carries none)."""
    found = _TOKEN_RE.findall(text)
    return found[-1] if found else ""


def _carries(sent: SentCanary, token: str, received: ReceivedText) -> bool:
    if token:
        return token in received.text.casefold()
    return received.text.strip() == sent.text.strip()


def _matcher(sent: Iterable[SentCanary]) -> Callable[[str], bool]:
    """Whether a received text carries the token or is the text of any of these canaries
    (`_carries` for one of them): a token is a run of TOKEN_LENGTH letters, so a text
    carries one when one of its folded substrings of that length is among them."""
    tokens = {t for t in (canary_token(c.text) for c in sent) if t}
    texts = {c.text.strip() for c in sent if not canary_token(c.text)}

    def could_match(text: str) -> bool:
        if texts and text.strip() in texts:
            return True
        if not tokens:
            return False
        folded = text.casefold()
        if not _LETTERS.search(folded):  # no run of TOKEN_LENGTH letters: no token in it
            return False
        return any(folded[i : i + TOKEN_LENGTH] in tokens
                   for i in range(len(folded) - TOKEN_LENGTH + 1))  # fmt: skip

    return could_match


def _covered(spans: Sequence[UnhealthySpan], at_ns: int) -> bool:
    return any(s.start_ns <= at_ns < s.end_ns for s in spans)


def judge_canaries(
    sent: Iterable[SentCanary],
    received: Iterable[ReceivedText],
    *,
    now_ns: int,
    deadline_s: float,
    sender_unhealthy: Mapping[str, Sequence[UnhealthySpan]] | None = None,
) -> list[CanaryOutcome]:
    """One outcome per canary, oldest first. `sender_unhealthy` holds spans per sender
    IMEI; a canary sent inside one proves nothing about its receiver."""
    deadline = int(deadline_s * NS)
    by_msisdn: dict[str, list[ReceivedText]] = defaultdict(list)
    for r in received:
        by_msisdn[r.msisdn].append(r)
    unhealthy = sender_unhealthy or {}
    used: set[str] = set()
    out = []
    for c in sorted(sent, key=lambda c: (c.sent_at_ns, c.record_uuid)):
        if c.error:
            out.append(CanaryOutcome(c, CanaryStatus.SEND_FAILED))
            continue
        token = canary_token(c.text)
        hit = next(
            (
                r
                for r in sorted(by_msisdn.get(c.to_msisdn, ()), key=lambda r: r.received_at_ns)
                if r.uuid not in used and _carries(c, token, r)
            ),
            None,
        )
        if hit is not None:
            used.add(hit.uuid)
            latency = (hit.received_at_ns - c.sent_at_ns) / NS
            out.append(CanaryOutcome(c, CanaryStatus.RECEIVED, hit.uuid, latency))
        elif now_ns - c.sent_at_ns < deadline:
            out.append(CanaryOutcome(c, CanaryStatus.PENDING))
        elif _covered(unhealthy.get(c.sender_imei, ()), c.sent_at_ns):
            out.append(CanaryOutcome(c, CanaryStatus.EXCUSED))
        else:
            out.append(CanaryOutcome(c, CanaryStatus.LOST))
    return out


def canary_spans(
    outcomes: Iterable[CanaryOutcome], *, now_ns: int
) -> dict[str, list[UnhealthySpan]]:
    """Per target MSISDN: from a lost canary's send time until the send time of the next
    canary to that SIM that arrived (or `now_ns` while none has)."""
    per: dict[str, list[CanaryOutcome]] = defaultdict(list)
    for o in outcomes:
        per[o.canary.to_msisdn].append(o)
    spans: dict[str, list[UnhealthySpan]] = {}
    for msisdn, items in per.items():
        items.sort(key=lambda o: o.canary.sent_at_ns)
        out: list[UnhealthySpan] = []
        start: int | None = None
        for o in items:
            if o.status is CanaryStatus.LOST and start is None:
                start = o.canary.sent_at_ns
            elif o.status is CanaryStatus.RECEIVED and start is not None:
                out.append(UnhealthySpan(start, o.canary.sent_at_ns, CANARY_FAILED))
                start = None
        if start is not None:
            out.append(UnhealthySpan(start, max(now_ns, start + 1), CANARY_FAILED))
        if out:
            spans[msisdn] = out
    return spans


# ------------------------------------------------------------------ shell


def _offset_ns(clock: Any) -> int:
    return round(float(clock.offset_ms or 0.0) * 1e6)


def canary_outcomes(
    ledger: Ledger,
    *,
    since_ns: int,
    now_ns: int,
    deadline_s: float,
    max_silence_s: float,
    gaps_by_agent: Mapping[str, Sequence[tuple[int, int]]] | None = None,
) -> list[CanaryOutcome]:
    """Judge every canary sent since `since_ns` (agent clock, with margin) from the ledger."""

    stored = ledger.canaries_sent(since_ns=since_ns)
    if not stored:
        return []
    sent = [
        SentCanary(
            canary_id=s.canary_id,
            agent_id=s.agent_id,
            sender_imei=s.modem_imei,
            to_msisdn=s.to_msisdn,
            sent_at_ns=s.sent_at_ns + round(s.clock_offset_ms * 1e6),
            text=s.text,
            error=s.error,
            record_uuid=s.uuid,
        )
        for s in stored
    ]
    targets = {c.to_msisdn for c in sent}
    # Arrivals can only follow their send (60 s of slack for clock offsets). Only texts to
    # the targets, and of those only texts some canary could match (`_carries`): not the
    # parts and bytes of every SMS received since (the probes' arrivals are most of them).
    could_match = _matcher(sent)
    received = [
        ReceivedText(r.msisdn, r.text, r.received_at_ns, r.uuid)
        for r in ledger.received_texts(
            since_ns=min(s.sent_at_ns for s in stored) - 60 * NS, msisdns=sorted(targets)
        )
        if could_match(r.text)
    ]
    start = min(c.sent_at_ns for c in sent)
    senders: dict[str, list[UnhealthySpan]] = {}
    gaps = gaps_by_agent or {}
    for imei, agent in {(c.sender_imei, c.agent_id) for c in sent if not c.error}:
        samples = [
            HealthSample(h.health.at_ns + _offset_ns(h.clock), h.health.healthy, h.health.reasons)
            for h in ledger.modem_health(imei, since_ns, now_ns + NS)
        ]
        senders[imei] = unhealthy_spans(
            samples, gaps.get(agent, []), start_ns=start, end_ns=now_ns, max_silence_s=max_silence_s
        )
    return judge_canaries(
        sent, received, now_ns=now_ns, deadline_s=deadline_s, sender_unhealthy=senders
    )


class CanaryPlanner:
    """The current canary plan, recomputed from the agents the ledger knows; the config
    source reads `jobs_for`, and `refresh` says whether the pushed configs must be rebuilt."""

    def __init__(self, interval_s: float, text: str = DEFAULT_TEXT) -> None:
        self.interval_s = interval_s
        self.text = text
        self._jobs: Mapping[str, tuple[CanaryAssignment, ...]] = MappingProxyType({})

    def jobs_for(self, agent_id: str) -> tuple[CanaryAssignment, ...]:
        return self._jobs.get(agent_id, ())

    def update(self, agents: Iterable[Any]) -> bool:
        jobs = plan_canaries(canary_sims(agents), self.interval_s, self.text)
        if jobs == dict(self._jobs):
            return False
        self._jobs = MappingProxyType(jobs)
        log.info(
            "canaries_planned",
            agents=len(jobs),
            jobs=sum(len(j) for j in jobs.values()),
            interval_s=self.interval_s,
        )
        return True


async def keep_planned(
    planner: CanaryPlanner,
    agents: Callable[[], list[Any]],
    changed: Callable[[], Awaitable[None]],
    stop: asyncio.Event,
    *,
    interval_s: float = 5.0,
    on_pass: Callable[[], None] | None = None,
) -> None:
    """Re-plan every `interval_s` (agents register and modems come and go); call `changed`
    (ConfigStore.replace) when the plan moved, so watchers re-check their version;
    `on_pass` after each pass that worked (the supervisor's "running")."""
    while not stop.is_set():
        try:
            rows = await asyncio.to_thread(agents)
            if planner.update(rows):
                await changed()
            if on_pass is not None:
                on_pass()
        except Exception as exc:  # a ledger hiccup must not stop planning for good
            log.warning("canary_plan_failed", error=f"{type(exc).__name__}: {exc}")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), interval_s)
