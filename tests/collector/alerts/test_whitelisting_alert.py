"""The `whitelisting_suspected` alert starts for the simulator's whitelisting vendor (and
not its honest twin) and ends, on evidence, once that SIM is no better than the others."""

from __future__ import annotations

from dataclasses import replace

from agent.common.units import NS
from collector.alerts.clearing import cleared_keys
from collector.alerts.config import parse_alerts
from collector.alerts.engine import AlertEngine, AlertKind, AlertRules, conditions
from collector.reports.figures import JudgedProbe
from tests.collector.reports.whitelist_world import counts, judged_from_truth, simulate
from tests.collector.vendors.helpers import MSISDN_KNOWN

NOW = 1_800_000_000 * NS
RULES = AlertRules(window_s=3600, whitelisting_window_s=86400, raise_after=2, clear_after=2)


def _at(probes: list[JudgedProbe], age_s: float) -> list[JudgedProbe]:
    return [replace(p, submitted_at_ns=NOW - int(age_s * NS)) for p in probes]


def test_whitelisting_alert_starts_for_the_whitelister_only_and_ends_on_evidence() -> None:
    judged = _at(judged_from_truth(simulate(per_sim=40)), age_s=7200)  # outside window_s
    firing = [
        c for c in conditions(judged, [], [], now_ns=NOW, rules=RULES)
        if c.kind is AlertKind.WHITELISTING_SUSPECTED
    ]  # fmt: skip
    assert [c.subject for c in firing] == [(("vendor", "white"), ("sim", MSISDN_KNOWN))]
    assert (firing[0].figures["arrived"], firing[0].figures["judged"]) == (40, 40)
    # window_s alone (1 h) holds none of these probes: the per-SIM span is what sees them.
    assert not [
        c for c in conditions(judged, [], [], now_ns=NOW, rules=replace(RULES,
                              whitelisting_window_s=None))
        if c.kind is AlertKind.WHITELISTING_SUSPECTED
    ]  # fmt: skip

    # The service keeps subjects in one canonical (sorted) order; clearing uses it too.
    firing = [replace(c, subject=tuple(sorted(c.subject))) for c in firing]
    engine = AlertEngine(RULES)
    assert engine.evaluate(firing, now_ns=NOW) == []
    [start] = engine.evaluate(firing, now_ns=NOW + 60 * NS)
    assert (start.phase, start.kind, start.subject) == (
        "start", AlertKind.WHITELISTING_SUSPECTED, {"vendor": "white", "sim": MSISDN_KNOWN},
    )  # fmt: skip

    # No probes at all: nothing shown cleared, the alert holds.
    later = NOW + 2 * 86400 * NS
    empty = cleared_keys([], [], [], now_ns=later, rules=RULES, watched=(), blind=())
    assert engine.evaluate([], now_ns=later, cleared=empty) == []
    # A day in which every white SIM does the same: cleared, ends after clear_after.
    even = [
        replace(p, submitted_at_ns=later - 600 * NS)
        for sim in ("a", MSISDN_KNOWN)
        for p in counts("white", sim, 30, 40)
    ]
    assert not [
        c for c in conditions(even, [], [], now_ns=later, rules=RULES)
        if c.kind is AlertKind.WHITELISTING_SUSPECTED
    ]  # fmt: skip
    shown = cleared_keys(even, [], [], now_ns=later, rules=RULES, watched=(), blind=())
    assert engine.evaluate([], now_ns=later, cleared=shown) == []
    [end] = engine.evaluate([], now_ns=later + 60 * NS, cleared=shown)
    assert (end.phase, end.subject["sim"]) == ("end", MSISDN_KNOWN)


def test_whitelisting_window_is_configurable() -> None:
    cfg = parse_alerts({"rules": {"whitelisting_window_s": 86400}}, file="c.toml")
    assert cfg.rules.sim_window_s == 86400
    assert parse_alerts({}, file="c.toml").rules.sim_window_s == 3600
