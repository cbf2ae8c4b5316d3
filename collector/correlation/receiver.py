"""When was a receiver unable to prove anything? Spans from health, gaps and the link.

A probe whose window overlaps any of these spans is inconclusive, never charged to the
vendor (verdicts.py). Sources, all put on the collector's clock:
- health samples of the target modem that say unhealthy: from that sample to the next;
- no health sample for longer than `max_silence_s`: "not_measured" (the agent may have
  been fine, but nobody can show it), the whole gap: a sample vouches for its own moment,
  and two within `max_silence_s` for the time between them — never for the time before
  the first or after the last (a receiver that goes deaf stops reporting, and its last
  healthy sample must not cover the SMS it then failed to read);
- after the last sample, until `max_silence_s` has passed: "awaiting_health" (not known
  yet; verdicts.py keeps an unarrived probe pending rather than judge it on a guess);
- sequence gaps the collector recorded for the agent ("we did not hear");
- (an agent disconnected from the collector is not by itself a problem: it keeps its
  outbox and health while offline and uploads them later; only missing health or a
  sequence gap makes the time unprovable).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from agent.common.units import NS
from collector.correlation.model import UnhealthySpan

AWAITING_HEALTH = "awaiting_health"


@dataclass(frozen=True, slots=True)
class HealthSample:
    at_ns: int  # collector clock (agent time + offset)
    healthy: bool
    reasons: tuple[str, ...] = ()


def unhealthy_spans(
    samples: Sequence[HealthSample],
    gaps: Sequence[tuple[int, int]],
    *,
    start_ns: int,
    end_ns: int,
    max_silence_s: float,
) -> list[UnhealthySpan]:
    """Spans within [start_ns, end_ns] when the receiver cannot vouch for itself."""
    spans: list[UnhealthySpan] = []
    silence = int(max_silence_s * NS)
    ordered = sorted(samples, key=lambda s: s.at_ns)
    for i, sample in enumerate(ordered):
        nxt = ordered[i + 1].at_ns if i + 1 < len(ordered) else None
        if not sample.healthy:
            until = nxt if nxt is not None else sample.at_ns + silence
            spans.append(
                UnhealthySpan(sample.at_ns, until, ",".join(sample.reasons) or "unhealthy")
            )
        if nxt is not None and nxt - sample.at_ns > silence:
            spans.append(UnhealthySpan(sample.at_ns, nxt, "not_measured"))
    if not ordered:
        spans.append(UnhealthySpan(start_ns, end_ns, "not_measured"))
    else:
        if ordered[0].at_ns > start_ns:
            spans.append(UnhealthySpan(start_ns, ordered[0].at_ns, "not_measured"))
        last = ordered[-1].at_ns
        if last < end_ns:
            reason = "not_measured" if end_ns - last > silence else AWAITING_HEALTH
            spans.append(UnhealthySpan(last, end_ns, reason))
    spans.extend(UnhealthySpan(a, b, "not_measured") for a, b in gaps)
    return [s for s in spans if s.overlaps(start_ns, end_ns)]
