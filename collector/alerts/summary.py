"""One readable sentence per alert event, and the lines of its detail. Pure formatting.

The sentence names the subject (vendor, carrier, agent, modem, SIM), the figure against
its threshold, the interval it was measured over and since when; times are at second
precision in the report time zone ([reports] timezone). An end names what was last seen
and how long the alert was open. Every kind in AlertKind has its sentence (a kind
without one is a test failure: tests/collector/alerts/test_summary.py).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, tzinfo
from typing import Any

from agent.common.units import NS
from collector.alerts.engine import AlertEvent, AlertKind, AlertRules


@dataclass(frozen=True, slots=True)
class AlertText:
    """What a person reads: a title, the one-sentence summary, the detail link."""

    title: str
    summary: str
    evidence_url: str


def when(at_ns: int, tz: tzinfo) -> str:
    """`2026-11-24 00:21:00 CST`: second precision in the report zone."""
    dt = datetime.fromtimestamp(at_ns // NS, tz)
    return dt.strftime("%Y-%m-%d %H:%M:%S ") + (dt.tzname() or dt.strftime("%z"))


def duration(seconds: float) -> str:
    """`45 s`, `12 min`, `3.5 h`, `2.0 d`: the size a person reads at a glance."""
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    if seconds < 2 * 86400:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} d"


def carrier_name(code: str) -> str:
    """`china_mobile` -> `China Mobile` (carrier codes of agent/common/numberplan.py)."""
    return code.replace("_", " ").title() if code else "unknown carrier"


def _pct(x: Any) -> str:
    return f"{float(x) * 100:.1f}%"


def _window(rules: AlertRules, *, sims: bool = False) -> str:
    return f"over the last {duration(rules.sim_window_s if sims else rules.window_s)}"


def _sla(s: Mapping[str, str], f: Mapping[str, Any], r: AlertRules) -> str:
    return (
        f"{s.get('vendor')} to {carrier_name(s.get('carrier', ''))}: arrival rate "
        f"{_pct(f.get('arrival_rate', 0))} of {f.get('judged', '?')} judged probes "
        f"(95% CI {_pct(f.get('ci_low', 0))}-{_pct(f.get('ci_high', 0))}) is below the "
        f"{_pct(f.get('threshold', r.arrival_rate))} SLA {_window(r)}"
    )


def _fake_dlr(s: Mapping[str, str], f: Mapping[str, Any], r: AlertRules) -> str:
    return (
        f"{s.get('vendor')}: {f.get('fake_dlr', '?')} of {f.get('judged', '?')} judged probes "
        f"were reported DELIVRD but never arrived ({_pct(f.get('rate', 0))}, at least "
        f"{_pct(f.get('ci_low', 0))}), above the tolerated "
        f"{_pct(f.get('tolerated', r.max_fake_dlr_rate))} {_window(r)}"
    )


def _outage(s: Mapping[str, str], f: Mapping[str, Any], r: AlertRules) -> str:
    refused = int(f.get("submit_failures", 0))
    return (
        f"{s.get('vendor')} is out: {f.get('arrived', '?')} of its latest "
        f"{f.get('attempts', '?')} probes arrived"
        + (f" ({refused} refused at submit)" if refused else "")
        + f", below the {_pct(r.outage_max_rate)} outage limit {_window(r)}"
    )


def _silent(s: Mapping[str, str], f: Mapping[str, Any], r: AlertRules) -> str:
    return (
        f"Agent {s.get('agent')} has not been heard from for "
        f"{duration(float(f.get('silent_s', 0)))}, more than the "
        f"{duration(r.silent_after_s)} allowed"
    )


def _modem(s: Mapping[str, str], f: Mapping[str, Any], r: AlertRules) -> str:
    reasons = ", ".join(str(x) for x in f.get("reasons", ())) or "unhealthy"
    return (
        f"Modem {s.get('imei')} on agent {s.get('agent')} cannot receive ({reasons}); "
        f"its probes are inconclusive, not charged to any vendor"
    )


def _degraded(s: Mapping[str, str], f: Mapping[str, Any], r: AlertRules) -> str:
    causes = ", ".join(str(x) for x in f.get("causes", ())) or "unknown cause"
    reason = f": {f['reason']}" if f.get("reason") else ""
    return f"{s.get('vendor')} is not being measured ({causes}{reason})"


def _advice(s: Mapping[str, str], f: Mapping[str, Any], r: AlertRules) -> str:
    return (
        f"{carrier_name(s.get('carrier', ''))} {s.get('profile')} messages: {f.get('to')} now "
        f"delivers best instead of {f.get('from')} (confidence "
        f"{_pct(f.get('confidence', 0))}) {_window(r)}"
    )


def _whitelisting(s: Mapping[str, str], f: Mapping[str, Any], r: AlertRules) -> str:
    return (
        f"{s.get('vendor')} may be whitelisting SIM {s.get('sim')}: {f.get('arrived', '?')} of "
        f"{f.get('judged', '?')} probes arrived there against {f.get('rest_arrived', '?')} of "
        f"{f.get('rest_judged', '?')} on its other SIMs (adjusted p = "
        f"{float(f.get('p_adjusted', 1)):.3g} < {r.alpha:g}) {_window(r, sims=True)}"
    )


_Sentence = Callable[[Mapping[str, str], Mapping[str, Any], AlertRules], str]
SENTENCES: Mapping[AlertKind, _Sentence] = {
    AlertKind.SLA_BREACH: _sla,
    AlertKind.FAKE_DLR_SURGE: _fake_dlr,
    AlertKind.VENDOR_OUTAGE: _outage,
    AlertKind.AGENT_SILENT: _silent,
    AlertKind.MODEM_UNHEALTHY: _modem,
    AlertKind.MONITORING_DEGRADED: _degraded,
    AlertKind.ROUTING_ADVICE_CHANGED: _advice,
    AlertKind.WHITELISTING_SUSPECTED: _whitelisting,
}

TITLES: Mapping[AlertKind, str] = {
    AlertKind.SLA_BREACH: "SLA breach",
    AlertKind.FAKE_DLR_SURGE: "Fake DLR surge",
    AlertKind.VENDOR_OUTAGE: "Vendor outage",
    AlertKind.AGENT_SILENT: "Agent silent",
    AlertKind.MODEM_UNHEALTHY: "Modem unhealthy",
    AlertKind.MONITORING_DEGRADED: "Monitoring degraded",
    AlertKind.ROUTING_ADVICE_CHANGED: "Routing advice changed",
    AlertKind.WHITELISTING_SUSPECTED: "Whitelisting suspected",
}


def subject_text(subject: Mapping[str, str]) -> str:
    """`acme / china_mobile`: the subject in a title, in its canonical key order."""
    return " / ".join(v for _, v in sorted(subject.items()))


def summarize(
    event: AlertEvent,
    *,
    tz: tzinfo,
    rules: AlertRules,
    started_at_ns: int | None = None,
    evidence_url: str = "",
) -> AlertText:
    """The title and sentence of a start or end. `started_at_ns`: when the alert started
    (an end says how long it was open; a start starts at the event)."""
    sentence = SENTENCES[event.kind](event.subject, event.figures, rules)
    tag = "ALERT" if event.phase == "start" else "RESOLVED"
    title = f"[{tag}] {TITLES[event.kind]}: {subject_text(event.subject)}"
    if event.phase == "start":
        summary = f"{sentence}, since {when(event.at_ns, tz)}."  # vendor ids keep their case
    else:
        began = event.at_ns if started_at_ns is None else started_at_ns
        summary = (
            f"Resolved at {when(event.at_ns, tz)} after {duration((event.at_ns - began) / NS)}"
            f" (since {when(began, tz)}): {sentence}, as last measured."
        )
    return AlertText(title=title, summary=summary, evidence_url=evidence_url)
