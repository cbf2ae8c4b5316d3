"""When an alert may end: only on evidence that its condition cleared. Pure.

`conditions()` (engine.py) says what fires; a condition that does not fire has not
necessarily cleared — there may be no data at all (the collector stopped probing a
vendor, judging stalled, an agent's records are not in yet). An open alert ends only when
its subject was measured and the figures show the condition gone:

- `sla_breach` (vendor, carrier): judged probes of that cell in the window, and the test
  no longer says breach;
- `fake_dlr_surge` / `vendor_outage` (vendor): at least `outage_probes` judged attempts or
  submit failures of the vendor in the window;
- `agent_silent`: the agent was heard from within `silent_after_s`;
- `modem_unhealthy`: its agent was heard from and no longer reports that modem unhealthy;
- `monitoring_degraded` (vendor): the vendor is measured again;
- `whitelisting_suspected` (vendor, SIM): the SIM and the vendor's others have judged
  probes in the per-SIM window and the test no longer flags it.

A vendor in a not-measured span (`blind`) clears nothing: its alerts hold until it is
measured again.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass

from agent.common.units import NS
from collector.alerts.engine import (
    AlertKind,
    AlertRules,
    ReceiverStatus,
    SubmitFailure,
    sim_span,
)
from collector.reports.figures import JudgedProbe, Thresholds, aggregate
from collector.reports.sims import sim_outliers

Key = tuple[AlertKind, tuple[tuple[str, str], ...]]


def _key(kind: AlertKind, **subject: str) -> Key:
    return kind, tuple(sorted(subject.items()))


@dataclass(frozen=True, slots=True)
class Cleared:
    """The alert keys shown cleared (`key in cleared`), as AlertEngine.evaluate takes them."""

    keys: frozenset[Key]
    heard: Mapping[str, frozenset[str]]  # agent heard from recently -> its unhealthy IMEIs
    blind: frozenset[str]

    def __contains__(self, key: object) -> bool:
        if not isinstance(key, tuple) or len(key) != 2:
            return False
        kind, subject = key
        fields = dict(subject)
        if fields.get("vendor") in self.blind:
            return False
        if kind is AlertKind.MODEM_UNHEALTHY:
            sick = self.heard.get(fields.get("agent", ""))
            return sick is not None and fields.get("imei") not in sick
        return key in self.keys


def cleared_keys(
    probes: Iterable[JudgedProbe],
    submit_failures: Iterable[SubmitFailure],
    receivers: Iterable[ReceiverStatus],
    *,
    now_ns: int,
    rules: AlertRules,
    watched: Collection[str],
    blind: Collection[str],
) -> Cleared:
    """What is shown cleared at `now` (subjects in canonical order). `watched`: vendors
    being probed; `blind`: those of them not measured now."""
    probes = list(probes)
    since = now_ns - int(rules.window_s * NS)
    recent = [p for p in probes if since <= p.submitted_at_ns <= now_ns]
    thresholds = Thresholds(arrival_rate=rules.arrival_rate, alpha=rules.alpha)
    out: set[Key] = set()
    for row in sim_outliers(sim_span(probes, now_ns, rules), alpha=rules.alpha):
        if not row.flagged and row.judged and row.rest_judged:
            out.add(_key(AlertKind.WHITELISTING_SUSPECTED, vendor=row.vendor, sim=row.sim))
    for cell in aggregate(recent, group_by=("vendor", "carrier"), thresholds=thresholds):
        if cell.judged and cell.sla in ("met", "undecided"):
            out.add(_key(AlertKind.SLA_BREACH, **cell.key))
    attempts: Counter[str] = Counter()
    for p in recent:
        if p.outcome in ("delivered", "late", "lost"):
            attempts[p.vendor] += 1
    for f in submit_failures:
        if since <= f.at_ns <= now_ns:
            attempts[f.vendor] += 1
    for vendor, n in attempts.items():
        if n >= rules.outage_probes:
            out.add(_key(AlertKind.VENDOR_OUTAGE, vendor=vendor))
            out.add(_key(AlertKind.FAKE_DLR_SURGE, vendor=vendor))
    for vendor in watched:
        out.add(_key(AlertKind.MONITORING_DEGRADED, vendor=vendor))
    heard = {}
    for r in receivers:
        if (now_ns - r.last_seen_ns) / NS <= rules.silent_after_s:
            out.add(_key(AlertKind.AGENT_SILENT, agent=r.agent_id))
            heard[r.agent_id] = frozenset(imei for imei, _ in r.unhealthy_modems)
    return Cleared(frozenset(out), heard, frozenset(blind))
