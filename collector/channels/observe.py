"""Keep each arrived probe's channel fingerprint in the ledger (channel_observations).

The judge attributes SMS records to probes (verdict.arrival_uuids); this follows its
changes with a cursor (`verdicts_changed_after`), reads the SMS records those verdicts
name and stores sender, SMSC, PID, DCS and latency per probe. Idempotent: a re-judged
probe's observation is replaced. Runs after each judging pass and before `channels`,
`advise` and reports read the observations.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import structlog

from agent.common.units import NS
from collector.correlation.model import Outcome
from collector.ledger.base import Ledger
from collector.ledger.channels import ChannelObservation
from collector.ledger.model import StoredSms
from collector.ledger.probes import StoredProbe, StoredVerdict

log = structlog.get_logger("smsprobe.channels")

CURSOR = "channels"
_ARRIVED = (Outcome.DELIVERED, Outcome.LATE, Outcome.PARTIAL)


def observation(probe: StoredProbe, verdict: StoredVerdict, sms: StoredSms) -> ChannelObservation:
    """One arrived probe's channel, from the first SMS record attributed to it."""
    v = verdict.verdict
    submitted = probe.submitted_at_ns or probe.plan.planned_at_ns
    arrived = sms.received_at_ns + round(sms.clock.offset_ms * 1e6)
    return ChannelObservation(
        probe_id=probe.plan.probe_id,
        vendor=probe.plan.vendor,
        carrier=probe.plan.carrier,
        profile=probe.plan.profile,
        submitted_at_ns=submitted,
        arrived_at_ns=arrived,
        latency_s=v.latency_s,
        sender=sms.sms.sender,
        smsc=sms.sms.smsc,
        pid=sms.sms.pid,
        dcs=sms.sms.dcs,
        record_uuid=sms.uuid,
    )


class ChannelObserver:
    def __init__(self, ledger: Ledger, clock: Callable[[], int], *, batch: int = 500,
                 margin_s: float = 3 * 86400.0) -> None:  # fmt: skip
        self._ledger = ledger
        self._clock = clock
        self._batch = batch
        self._margin_ns = int(margin_s * NS)

    def update(self) -> int:
        """Observe every verdict changed since the last call; returns observations saved."""
        saved = 0
        position = self._ledger.cursor(CURSOR)
        while True:
            changed = self._ledger.verdicts_changed_after(position, self._batch)
            if not changed:
                break
            saved += self._observe(changed)
            position = max(v.change_seq for v in changed)
            self._ledger.set_cursor(CURSOR, position, at_ns=self._clock())
        return saved

    def _observe(self, changed: Sequence[StoredVerdict]) -> int:
        arrived = [v for v in changed if v.verdict.outcome in _ARRIVED and v.verdict.arrival_uuids]
        if not arrived:
            return 0
        probes = {
            p.plan.probe_id: p
            for p in self._ledger.probes(probe_ids=[v.verdict.probe_id for v in arrived])
        }
        if not probes:
            return 0
        since = min(p.submitted_at_ns or p.plan.planned_at_ns for p in probes.values())
        # Agent clocks may be off; the window is wide and the uuid decides.
        records = {r.uuid: r for r in self._ledger.received_sms(since_ns=since - self._margin_ns)}
        out = []
        for v in arrived:
            probe = probes.get(v.verdict.probe_id)
            sms = next((records[u] for u in v.verdict.arrival_uuids if u in records), None)
            if probe is None or sms is None:
                log.warning("channel_not_observed", probe_id=v.verdict.probe_id)
                continue
            out.append(observation(probe, v, sms))
        return self._ledger.save_channel_observations(out) if out else 0
