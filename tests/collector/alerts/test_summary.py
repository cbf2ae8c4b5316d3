"""The sentence of every alert kind, start and end, read as a person reads it: subject,
figure against threshold, interval, since when (seconds, report zone)."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from agent.common.units import NS
from collector.alerts.engine import AlertEvent, AlertKind, AlertRules
from collector.alerts.summary import SENTENCES, TITLES, duration, summarize, when

TZ = ZoneInfo("Asia/Shanghai")
AT = int(datetime(2026, 11, 24, 10, 21, 7, tzinfo=TZ).timestamp()) * NS + 123_456_789
RULES = AlertRules(window_s=3600, whitelisting_window_s=86400, silent_after_s=300)
SINCE = "since 2026-11-24 10:21:07 CST."

CASES: dict[AlertKind, tuple[dict[str, str], dict[str, object], str]] = {
    AlertKind.SLA_BREACH: (
        {"vendor": "acme", "carrier": "china_mobile"},
        {"arrival_rate": 0.912, "ci_low": 0.85, "ci_high": 0.951, "judged": 120,
         "p_value": 0.001, "threshold": 0.97},
        "acme to China Mobile: arrival rate 91.2% of 120 judged probes (95% CI 85.0%-95.1%)"
        " is below the 97.0% SLA over the last 60 min, " + SINCE,
    ),
    AlertKind.FAKE_DLR_SURGE: (
        {"vendor": "cheap"},
        {"fake_dlr": 12, "judged": 150, "rate": 0.08, "ci_low": 0.046, "ci_high": 0.135,
         "tolerated": 0.01},
        "cheap: 12 of 150 judged probes were reported DELIVRD but never arrived (8.0%, at"
        " least 4.6%), above the tolerated 1.0% over the last 60 min, " + SINCE,
    ),
    AlertKind.VENDOR_OUTAGE: (
        {"vendor": "bolt"},
        {"attempts": 8, "arrived": 1, "submit_failures": 3},
        "bolt is out: 1 of its latest 8 probes arrived (3 refused at submit), below the"
        " 20.0% outage limit over the last 60 min, " + SINCE,
    ),
    AlertKind.AGENT_SILENT: (
        {"agent": "sh-01"},
        {"silent_s": 660.0},
        "Agent sh-01 has not been heard from for 11 min, more than the 5 min allowed, "
        + SINCE,
    ),
    AlertKind.MODEM_UNHEALTHY: (
        {"agent": "sh-01", "imei": "860000000000001"},
        {"reasons": ["not_registered", "no_sim"]},
        "Modem 860000000000001 on agent sh-01 cannot receive (not_registered, no_sim); its"
        " probes are inconclusive, not charged to any vendor, " + SINCE,
    ),
    AlertKind.MONITORING_DEGRADED: (
        {"vendor": "bolt"},
        {"causes": ["vendor:bolt"], "since_ns": AT, "reason": "SMSC refused the bind"},
        "bolt is not being measured (vendor:bolt: SMSC refused the bind), " + SINCE,
    ),
    AlertKind.ROUTING_ADVICE_CHANGED: (
        {"carrier": "china_unicom", "profile": "otp"},
        {"from": "acme", "to": "bolt", "confidence": 0.97},
        "China Unicom otp messages: bolt now delivers best instead of acme (confidence"
        " 97.0%) over the last 60 min, " + SINCE,
    ),
    AlertKind.WHITELISTING_SUSPECTED: (
        {"vendor": "white", "sim": "13800138000"},
        {"arrived": 40, "judged": 40, "rest_arrived": 28, "rest_judged": 40,
         "p_value": 0.0002, "p_adjusted": 0.0004, "line": "home"},
        "white may be whitelisting SIM 13800138000: 40 of 40 probes arrived there against"
        " 28 of 40 on its other SIMs (adjusted p = 0.0004 < 0.05) over the last 24.0 h, "
        + SINCE,
    ),
}  # fmt: skip


def test_every_kind_has_a_sentence_a_title_and_a_case_here() -> None:
    assert set(SENTENCES) == set(AlertKind) == set(TITLES) == set(CASES)


@pytest.mark.parametrize("kind", list(AlertKind), ids=lambda k: k.value)
def test_start_sentence(kind: AlertKind) -> None:
    subject, figures, expected = CASES[kind]
    text = summarize(
        AlertEvent("start", kind, subject, AT, figures), tz=TZ, rules=RULES,
        evidence_url="https://probe.example/evidence?kind=" + kind.value,
    )  # fmt: skip
    assert text.summary == expected
    assert text.title.startswith(f"[ALERT] {TITLES[kind]}: ")
    assert all(v in text.title for v in subject.values())
    assert text.evidence_url.endswith(kind.value)


def test_end_sentence_says_when_how_long_and_what_was_last_seen() -> None:
    subject, figures, _ = CASES[AlertKind.VENDOR_OUTAGE]
    end = AlertEvent("end", AlertKind.VENDOR_OUTAGE, subject, AT + 44 * 60 * NS, figures)
    text = summarize(end, tz=TZ, rules=RULES, started_at_ns=AT)
    assert text.title == "[RESOLVED] Vendor outage: bolt"
    assert text.summary == (
        "Resolved at 2026-11-24 11:05:07 CST after 44 min (since 2026-11-24 10:21:07 CST):"
        " bolt is out: 1 of its latest 8 probes arrived (3 refused at submit), below the"
        " 20.0% outage limit over the last 60 min, as last measured."
    )


def test_times_are_seconds_in_the_configured_zone() -> None:
    assert when(AT, TZ) == "2026-11-24 10:21:07 CST"
    assert when(AT, ZoneInfo("UTC")) == "2026-11-24 02:21:07 UTC"
    assert when(AT, ZoneInfo("Europe/Berlin")) == "2026-11-24 03:21:07 CET"
    assert [duration(s) for s in (45, 119, 120, 7199, 7200, 172800)] == [
        "45 s", "119 s", "2 min", "120 min", "2.0 h", "2.0 d",
    ]  # fmt: skip
