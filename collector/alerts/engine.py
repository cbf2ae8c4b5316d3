"""Alert conditions and hysteresis. Pure: evaluate facts at `now`, get start/end events.

Conditions (each decided statistically or over a span, never on one lost probe):
- `sla_breach` per vendor × carrier: the one-sided exact test over the window's judged
  probes says the arrival rate is below the threshold (collector.reports.figures);
- `fake_dlr_surge` per vendor: the Wilson lower bound of the fake-success rate over the
  window is above the tolerated rate;
- `vendor_outage` per vendor: of its latest `outage_probes` attempts (judged probes and
  submit failures, by submit time) fewer than `outage_max_rate` arrived;
- `agent_silent`: an agent not heard from for `silent_after_s`;
- `modem_unhealthy`: a modem whose latest health says it cannot receive;
- `monitoring_degraded` per vendor: the collector is not measuring it (its unit, the
  scheduler or the judge not running; decided from the ledger's not-measured spans).
- `routing_advice_changed` per carrier × profile: another vendor now delivers best, with
  at least the watch's confidence (collector/channels/advice.py); once started, the new
  advice is the one in force, so the alert ends after `clear_after` agreeing evaluations.
- `whitelisting_suspected` per vendor × SIM: over `whitelisting_window_s` (default: the
  window), the SIM's arrivals beat the vendor's other SIMs by the one-sided Fisher exact
  test, Holm-adjusted over its SIMs, at `alpha` (collector/reports/sims.py).
A partial probe (a long message with parts missing) is neither arrived nor lost for the
SLA and fake-DLR figures (figures.py) and its DLR is never fake; for an outage it counts
as arrived (the route delivers).
Hysteresis: an alert starts after `raise_after` consecutive firing evaluations and ends
after `clear_after` consecutive quiet ones, so a flapping condition does not page twice;
a quiet evaluation counts only with evidence that the condition cleared (clearing.py).
"""

from __future__ import annotations

import enum
from collections import defaultdict
from collections.abc import Container, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from agent.common.units import NS
from collector.reports.figures import JudgedProbe, Thresholds, aggregate
from collector.reports.sims import sim_outliers
from collector.stats import wilson_interval


class AlertKind(enum.Enum):
    SLA_BREACH = "sla_breach"
    FAKE_DLR_SURGE = "fake_dlr_surge"
    VENDOR_OUTAGE = "vendor_outage"
    AGENT_SILENT = "agent_silent"
    MODEM_UNHEALTHY = "modem_unhealthy"
    MONITORING_DEGRADED = "monitoring_degraded"  # a vendor not measured (collector/health)
    # the routing advice for a carrier × profile moved to another vendor (collector/channels)
    ROUTING_ADVICE_CHANGED = "routing_advice_changed"
    # a vendor's test SIM does far better than its others (collector/reports/sims.py)
    WHITELISTING_SUSPECTED = "whitelisting_suspected"


@dataclass(frozen=True, slots=True)
class AlertRules:
    window_s: float = 3600.0
    arrival_rate: float = 0.97
    alpha: float = 0.05
    max_fake_dlr_rate: float = 0.01
    outage_probes: int = 8
    outage_max_rate: float = 0.2
    silent_after_s: float = 300.0
    raise_after: int = 2
    clear_after: int = 3
    whitelisting_window_s: float | None = None  # per-SIM test span; None: window_s

    @property
    def sim_window_s(self) -> float:
        return self.window_s if self.whitelisting_window_s is None else self.whitelisting_window_s


@dataclass(frozen=True, slots=True)
class Condition:
    kind: AlertKind
    subject: tuple[tuple[str, str], ...]  # e.g. (("vendor", "acme"), ("carrier", "china_mobile"))
    figures: Mapping[str, Any]

    @property
    def key(self) -> tuple[AlertKind, tuple[tuple[str, str], ...]]:
        return self.kind, self.subject


@dataclass(frozen=True, slots=True)
class AlertEvent:
    phase: str  # start | end
    kind: AlertKind
    subject: dict[str, str]
    at_ns: int
    figures: Mapping[str, Any]

    def to_json(self) -> dict[str, Any]:
        return {
            "phase": self.phase,
            "kind": self.kind.value,
            "subject": self.subject,
            "at_ns": self.at_ns,
            "figures": dict(self.figures),
        }


@dataclass(frozen=True, slots=True)
class SubmitFailure:
    vendor: str
    at_ns: int


@dataclass(frozen=True, slots=True)
class ReceiverStatus:
    agent_id: str
    last_seen_ns: int
    unhealthy_modems: Sequence[tuple[str, tuple[str, ...]]] = ()  # (imei, reasons)


def sim_span(probes: Iterable[JudgedProbe], now_ns: int, rules: AlertRules) -> list[JudgedProbe]:
    """The probes the per-SIM test looks at: submitted within `sim_window_s` of now."""
    since = now_ns - int(rules.sim_window_s * NS)
    return [p for p in probes if since <= p.submitted_at_ns <= now_ns]


def conditions(
    probes: Iterable[JudgedProbe],
    submit_failures: Iterable[SubmitFailure],
    receivers: Iterable[ReceiverStatus],
    *,
    now_ns: int,
    rules: AlertRules,
) -> list[Condition]:
    """Every condition firing at `now` (judged probes submitted within the window)."""
    probes = list(probes)
    since = now_ns - int(rules.window_s * NS)
    recent = [p for p in probes if since <= p.submitted_at_ns <= now_ns]
    thresholds = Thresholds(arrival_rate=rules.arrival_rate, alpha=rules.alpha)
    firing: list[Condition] = []
    for row in sim_outliers(sim_span(probes, now_ns, rules), alpha=rules.alpha):
        if row.flagged:
            firing.append(
                Condition(
                    AlertKind.WHITELISTING_SUSPECTED,
                    (("vendor", row.vendor), ("sim", row.sim)),
                    {
                        "arrived": row.arrived,
                        "judged": row.judged,
                        "rest_arrived": row.rest_arrived,
                        "rest_judged": row.rest_judged,
                        "p_value": row.p_value,
                        "p_adjusted": row.p_adjusted,
                        "line": row.line,
                    },
                )
            )
    for cell in aggregate(recent, group_by=("vendor", "carrier"), thresholds=thresholds):
        if cell.sla == "breach":
            firing.append(
                Condition(
                    AlertKind.SLA_BREACH,
                    (("vendor", cell.key["vendor"]), ("carrier", cell.key["carrier"])),
                    {
                        "arrival_rate": cell.arrival_rate,
                        "ci_low": cell.ci_low,
                        "ci_high": cell.ci_high,
                        "judged": cell.judged,
                        "p_value": cell.sla_p_value,
                        "threshold": rules.arrival_rate,
                    },
                )
            )
    attempts: dict[str, list[tuple[int, bool]]] = defaultdict(list)  # (at, arrived)
    failures: dict[str, int] = defaultdict(int)
    for f in submit_failures:
        if since <= f.at_ns <= now_ns:
            failures[f.vendor] += 1
            attempts[f.vendor].append((f.at_ns, False))
    for p in recent:
        if p.outcome in ("delivered", "late", "partial", "lost"):
            attempts[p.vendor].append((p.submitted_at_ns, p.outcome != "lost"))
    by_vendor = {
        c.key["vendor"]: c for c in aggregate(recent, group_by=("vendor",), thresholds=thresholds)
    }
    for vendor in sorted(set(by_vendor) | set(failures)):
        vendor_cell = by_vendor.get(vendor)
        latest = sorted(attempts[vendor])[-rules.outage_probes :]
        arrived = sum(1 for _, ok in latest if ok)
        if len(latest) >= rules.outage_probes and arrived < rules.outage_max_rate * len(latest):
            firing.append(
                Condition(
                    AlertKind.VENDOR_OUTAGE,
                    (("vendor", vendor),),
                    {
                        "attempts": len(latest),
                        "arrived": arrived,
                        "submit_failures": failures[vendor],
                    },
                )
            )
        if vendor_cell and vendor_cell.judged:
            judged = vendor_cell.judged
            fake = vendor_cell.dlr["fake_success"]
            low, high = wilson_interval(fake, judged)
            if low > rules.max_fake_dlr_rate:
                firing.append(
                    Condition(
                        AlertKind.FAKE_DLR_SURGE,
                        (("vendor", vendor),),
                        {
                            "fake_dlr": fake,
                            "judged": cell.judged,
                            "rate": fake / cell.judged,
                            "ci_low": low,
                            "ci_high": high,
                            "tolerated": rules.max_fake_dlr_rate,
                        },
                    )
                )
    for r in receivers:
        silent_s = (now_ns - r.last_seen_ns) / NS
        if silent_s > rules.silent_after_s:
            firing.append(
                Condition(
                    AlertKind.AGENT_SILENT,
                    (("agent", r.agent_id),),
                    {"silent_s": round(silent_s, 1)},
                )
            )
        for imei, reasons in r.unhealthy_modems:
            firing.append(
                Condition(
                    AlertKind.MODEM_UNHEALTHY,
                    (("agent", r.agent_id), ("imei", imei)),
                    {"reasons": list(reasons)},
                )
            )
    return firing


@dataclass
class _Track:
    active: bool = False
    firing_streak: int = 0
    quiet_streak: int = 0
    figures: Mapping[str, Any] = field(default_factory=dict)


class AlertEngine:
    """Hysteresis over successive evaluations; state survives restarts via `active()`."""

    def __init__(self, rules: AlertRules, active: Iterable[Condition] = ()) -> None:
        self._rules = rules
        self._tracks: dict[tuple[AlertKind, tuple[tuple[str, str], ...]], _Track] = {}
        for c in active:  # alerts open in the ledger when the collector restarted
            self._tracks[c.key] = _Track(active=True, figures=c.figures)

    def evaluate(
        self,
        firing: Iterable[Condition],
        *,
        now_ns: int,
        cleared: Container[tuple[AlertKind, tuple[tuple[str, str], ...]]] | None = None,
    ) -> list[AlertEvent]:
        """`cleared`: the keys shown cleared (collector/alerts/clearing.py). An active alert
        neither firing nor in it holds: an alert never ends for lack of data. None: any
        quiet evaluation counts towards the end (the rule before evidence was required)."""
        events: list[AlertEvent] = []
        current = {c.key: c for c in firing}
        for key in set(self._tracks) | set(current):
            track = self._tracks.setdefault(key, _Track())
            condition = current.get(key)
            if condition is not None:
                track.firing_streak += 1
                track.quiet_streak = 0
                track.figures = condition.figures
                if not track.active and track.firing_streak >= self._rules.raise_after:
                    track.active = True
                    events.append(
                        AlertEvent("start", key[0], dict(key[1]), now_ns, condition.figures)
                    )
            elif track.active and cleared is not None and key not in cleared:
                track.firing_streak = 0  # no evidence either way: the alert holds
            else:
                track.quiet_streak += 1
                track.firing_streak = 0
                if track.active and track.quiet_streak >= self._rules.clear_after:
                    track.active = False
                    events.append(AlertEvent("end", key[0], dict(key[1]), now_ns, track.figures))
                if not track.active and track.quiet_streak >= self._rules.clear_after:
                    del self._tracks[key]
        return sorted(events, key=lambda e: (e.kind.value, sorted(e.subject.items()), e.phase))

    def active(self) -> list[tuple[AlertKind, dict[str, str]]]:
        return sorted(
            ((k[0], dict(k[1])) for k, t in self._tracks.items() if t.active),
            key=lambda x: (x[0].value, sorted(x[1].items())),
        )
