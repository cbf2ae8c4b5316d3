"""Judge every open probe from what the ledger holds: the imperative shell around verdicts.

One pass (`judge_once`) is a pure function of the ledger's contents and `now`:
1. attribute DLRs not yet attributed to a probe (vendor message id rules);
2. attribute received SMS to probes by token on the target SIM, then merge each probe's
   partial records of one long SMS (correlation/partials.py: a part uploaded hours after
   the others joins them);
3. build each target receiver's unhealthy spans (health, silence, sequence gaps, and
   canaries that did not reach it: collector/canaries.py);
4. judge, store what changed (revisions logged), close probes past the DLR window.
Passes are idempotent, so a collector restart simply judges again.

The functions that turn ledger rows into the judge's inputs (`probe_spec`, `arrival_of`,
`dlr_observation`, `health_sample`, `attribute_arrivals`, `receiver_spans`) are also what
`evidence verify` (collector/evidence/recompute.py) uses to re-judge a bundle's probes.

Probes stay open for the whole DLR window (72 h), but almost all of them are settled long
before. A full pass (every open probe, with all their SMS and health) runs at start and
every `full_pass_interval_s`; the passes between judge only the *hot* probes: submitted
within the hot window (give-up + DLR due + margins), still pending, or just attributed a
DLR. A late fact about a settled probe (an SMS uploaded hours late) revises it at the
next full pass. DLR attribution always uses every open probe's ids, so a partial pass
never attributes an id that a colder probe would make ambiguous.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import tzinfo

import structlog

from agent.common.units import NS
from collector.canaries import canary_outcomes, canary_spans
from collector.correlation.match import DlrIndex, IdRule, match_arrivals
from collector.correlation.model import (
    Arrival,
    ArrivalPart,
    DlrObservation,
    DlrTruth,
    Outcome,
    Policy,
    ProbeSpec,
    UnhealthySpan,
    Verdict,
)
from collector.correlation.partials import MessageKey, merge_matched
from collector.correlation.receiver import HealthSample, unhealthy_spans
from collector.correlation.verdicts import judge
from collector.ledger.base import Ledger
from collector.ledger.model import StoredHealth, StoredSms
from collector.ledger.probes import Revision, StoredDlr, StoredProbe

log = structlog.get_logger("smsprobe.judging")


@dataclass(frozen=True, slots=True)
class JudgingConfig:
    policy: Policy = field(default_factory=Policy)
    health_max_silence_s: float = 180.0
    # Arrivals and DLRs are looked for this far before the oldest open probe (clock skew).
    margin_s: float = 300.0
    id_rules: Mapping[str, Sequence[IdRule]] | None = None
    # A canary not on its target SIM this long after sending marks the receiver unhealthy.
    canary_deadline_s: float = 300.0
    # Canaries are looked for this far back: a failure before the oldest open probe still
    # counts until a later canary gets through.
    canary_lookback_s: float = 3600.0
    # Every open probe is judged this often; the passes between judge the hot ones only.
    # 0: every pass is full.
    full_pass_interval_s: float = 300.0
    # The reports' zone ([reports] timezone): a full pass's compaction also stores each
    # day's values per local day of it (migration 0021); None: not.
    rollup_zone: tzinfo | None = None

    @property
    def hot_window_s(self) -> float:
        """How long after its submit a probe may still change without a late fact."""
        p = self.policy
        return max(p.give_up_s, p.dlr_due_s) + self.health_max_silence_s + self.margin_s


def probe_spec(p: StoredProbe) -> ProbeSpec:
    status = (
        p.submit_status if p.submit_status in ("accepted", "rejected", "ambiguous") else "ambiguous"
    )
    return ProbeSpec(
        probe_id=p.plan.probe_id,
        vendor=p.plan.vendor,
        msisdn=p.plan.msisdn,
        profile=p.plan.profile,
        token=p.plan.token,
        expected_text=p.plan.expected_text,
        signature=p.plan.signature,
        submitted_at_ns=p.submitted_at_ns or p.plan.planned_at_ns,
        submit_status=status,
        vendor_message_ids=p.message_ids,
        parts=p.plan.parts,
        carrier=p.plan.carrier,
        region=p.plan.region,
        agent_id=p.plan.agent_id,
        modem_imei=p.plan.modem_imei,
    )


def arrival_of(stored: StoredSms) -> Arrival:
    clock = stored.clock
    unc = clock.uncertainty_ms if clock.measured_at_ns else 1000.0  # never measured: say so
    parts = tuple(
        ArrivalPart(p.part_seq, p.received_at_ns, p.scts_ns, clock.offset_ms, unc)
        for p in stored.sms.parts
    )
    return Arrival(
        record_uuid=stored.uuid,
        text=stored.sms.text,
        sender=stored.sms.sender,
        parts=parts,
        total_parts=stored.sms.concat_total,
        missing_parts=stored.sms.missing_parts,
    )


def dlr_observation(d: StoredDlr) -> DlrObservation:
    """A stored receipt as the rules read it (0 in the ledger: the receipt had no done time)."""
    return DlrObservation(d.message_id, d.status, d.received_at_ns, d.done_at_ns or None)


def health_sample(h: StoredHealth) -> HealthSample:
    """A stored health record on the collector's clock (agent time + its offset)."""
    return HealthSample(
        h.health.at_ns + round(h.clock.offset_ms * 1e6), h.health.healthy, h.health.reasons
    )


def attribute_arrivals(
    specs: Iterable[ProbeSpec], received: Iterable[StoredSms], *, policy: Policy
) -> dict[str, list[Arrival]]:
    """Each probe's arrivals: SMS attributed by token on the target SIM, then the partial
    records of one long SMS merged (correlation/partials.py)."""
    outstanding: dict[str, dict[str, str]] = defaultdict(dict)
    for s in specs:
        outstanding[s.msisdn][s.token] = s.probe_id
    entries = [(r.msisdn, message_key(r), arrival_of(r)) for r in received]
    matched = match_arrivals(((sim, a) for sim, _, a in entries), outstanding)
    by_probe, _ = merge_matched(
        matched.by_probe,
        matched.unsolicited,
        {a.record_uuid: key for _, key, a in entries},
        window_ns=int(policy.dlr_window_s * NS),
    )
    return by_probe


def receiver_spans(
    samples: Sequence[HealthSample],
    gaps: Sequence[tuple[int, int]],
    canary_failures: Iterable[UnhealthySpan],
    *,
    start_ns: int,
    end_ns: int,
    max_silence_s: float,
) -> list[UnhealthySpan]:
    """When one receiver could not vouch for itself: its health and sequence gaps
    (correlation/receiver.py), then the canaries that did not reach its SIM."""
    spans = unhealthy_spans(
        samples, gaps, start_ns=start_ns, end_ns=end_ns, max_silence_s=max_silence_s
    )
    return spans + list(canary_failures)


def unknown_receiver(start_ns: int, end_ns: int) -> list[UnhealthySpan]:
    """A probe whose target modem is not known: nothing can vouch for the receiver."""
    return [UnhealthySpan(start_ns, end_ns, "unknown_receiver")]


def message_key(stored: StoredSms) -> MessageKey | None:
    """Which long message a partial record belongs to (None: complete or single)."""
    sms = stored.sms
    if not sms.missing_parts or sms.concat_total <= 1 or sms.concat_ref < 0:
        return None
    return MessageKey(
        stored.iccid or stored.modem_imei, sms.sender, sms.concat_ref, sms.concat_total
    )


class Judge:
    def __init__(self, ledger: Ledger, config: JudgingConfig, clock: Callable[[], int]) -> None:
        self._ledger = ledger
        self._config = config
        self._clock = clock
        self._last_full_ns: int | None = None
        # Between full passes: every open probe's ids (attribution must see them all) and
        # the probes outside the hot window that were still unsettled at the last pass.
        self._index = DlrIndex(config.id_rules)
        self._unsettled: set[str] = set()
        self.full_passes = 0
        self.hot_passes = 0

    def _due_full(self, now: int) -> bool:
        every = int(self._config.full_pass_interval_s * NS)
        return self._last_full_ns is None or every <= 0 or now - self._last_full_ns >= every

    def _probes_by_id(self, ids: Sequence[str], chunk: int = 500) -> list[StoredProbe]:
        out: list[StoredProbe] = []
        for i in range(0, len(ids), chunk):
            out += self._ledger.probes(open_only=True, probe_ids=ids[i : i + chunk])
        return out

    def judge_once(self, *, full: bool | None = None) -> tuple[list[Verdict], list[Revision]]:
        """One pass; `full` forces a full (True) or hot (False) pass, None: as scheduled."""
        now = self._clock()
        policy = self._config.policy
        full = self._due_full(now) if full is None else full
        if full:
            self._last_full_ns = now
            self.full_passes += 1
            # Reports read a closed day's rollup values packed (migration 0016): pack a
            # day of the last two months not packed yet, or written since (none mostly;
            # one a pass, so a pass after an upgrade does not pack two months at once).
            self._ledger.compact_rollups(
                before_ns=now,
                since_ns=now - 62 * 86400 * NS,
                max_days=1,
                zone=self._config.rollup_zone,
            )
            candidates = self._ledger.probes(open_only=True)
            self._index = DlrIndex(self._config.id_rules)
        else:
            self.hot_passes += 1
            hot_since = now - int(self._config.hot_window_s * NS)
            candidates = self._ledger.probes(open_only=True, since_ns=hot_since)
            known = {p.plan.probe_id for p in candidates}
            candidates += self._probes_by_id(sorted(self._unsettled - known))
        open_probes = [p for p in candidates if p.submit_status != "planned"]
        specs = {p.plan.probe_id: probe_spec(p) for p in open_probes}
        for spec in specs.values():
            self._index.add(spec.probe_id, spec.vendor, spec.vendor_message_ids)
        margin = int(self._config.margin_s * NS)

        # 1. DLRs → probes (any open probe: a cold one's verdict is then judged now too)
        since = min((s.submitted_at_ns for s in specs.values()), default=now) - margin
        matches = []
        for dlr in self._ledger.unattributed_dlrs(since_ns=since):
            hit = self._index.lookup(dlr.vendor, dlr.message_id)
            if hit is not None:
                matches.append((dlr.dlr_id, hit[0], hit[1].value))
        if matches:
            self._ledger.attribute_dlrs(matches)
            late = sorted({pid for _, pid, _ in matches} - set(specs))
            for p in self._probes_by_id(late):
                if p.submit_status != "planned":
                    specs[p.plan.probe_id] = probe_spec(p)
        if not specs:
            return [], []
        oldest = min(s.submitted_at_ns for s in specs.values())
        dlrs = {
            pid: [dlr_observation(d) for d in rows]
            for pid, rows in self._ledger.dlrs_of(list(specs)).items()
        }

        # 2. SMS → probes, by token on the target SIM
        received = self._ledger.received_sms(since_ns=oldest - margin)
        by_probe = attribute_arrivals(specs.values(), received, policy=policy)

        # 3. canaries that did not reach a target SIM (collector/canaries.py)
        gaps_by_agent: dict[str, list[tuple[int, int]]] = defaultdict(list)
        for g in self._ledger.gaps():
            gaps_by_agent[g.agent_id].append((g.start_ns, g.end_ns if g.end_ns else now))
        by_msisdn = canary_spans(
            canary_outcomes(
                self._ledger,
                since_ns=oldest - int(max(self._config.canary_lookback_s, 0.0) * NS),
                now_ns=now,
                deadline_s=self._config.canary_deadline_s,
                max_silence_s=self._config.health_max_silence_s,
                gaps_by_agent=gaps_by_agent,
            ),
            now_ns=now,
        )
        msisdns: dict[str, set[str]] = defaultdict(set)
        for s in specs.values():
            msisdns[s.modem_imei].add(s.msisdn)

        # 3b. receiver health per target modem, with its canary failures
        spans: dict[str, list[UnhealthySpan]] = {}
        window_end = now
        for imei, agent in {(s.modem_imei, s.agent_id) for s in specs.values()}:
            if not imei:
                continue
            health = self._ledger.modem_health(imei, oldest - margin, window_end + margin)
            spans[imei] = receiver_spans(
                [health_sample(h) for h in health],
                gaps_by_agent.get(agent, []),
                (c for m in msisdns[imei] for c in by_msisdn.get(m, ())),
                start_ns=oldest,
                end_ns=window_end,
                max_silence_s=self._config.health_max_silence_s,
            )

        # 4. judge
        verdicts = []
        for pid, spec in specs.items():
            receiver = (
                spans[spec.modem_imei]
                if spec.modem_imei in spans
                else unknown_receiver(oldest, now)
            )
            verdicts.append(
                judge(
                    spec,
                    by_probe.get(pid, []),
                    dlrs.get(pid, []),
                    receiver,
                    now_ns=now,
                    policy=policy,
                )
            )
        revisions = self._ledger.save_verdicts(verdicts, at_ns=now)
        for r in revisions:
            log.info(
                "verdict_revised",
                probe_id=r.probe_id,
                revision=r.revision,
                outcome=f"{r.old[0]}->{r.new[0]}",
                dlr=f"{r.old[1]}->{r.new[1]}",
                content=f"{r.old[2]}->{r.new[2]}",
            )
        closed = [
            pid
            for pid, s in specs.items()
            if now - s.submitted_at_ns > int(policy.dlr_window_s * NS)
        ]
        if closed:
            self._ledger.mark_final(closed)
        done = set(closed)
        for v in verdicts:
            if v.probe_id in done or (
                v.outcome is not Outcome.PENDING and v.dlr is not DlrTruth.PENDING
            ):
                self._unsettled.discard(v.probe_id)
            else:
                self._unsettled.add(v.probe_id)
        return verdicts, revisions
