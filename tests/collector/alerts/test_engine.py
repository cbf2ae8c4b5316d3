from __future__ import annotations

from agent.common.units import NS
from collector.alerts.engine import (
    AlertEngine,
    AlertKind,
    AlertRules,
    ReceiverStatus,
    SubmitFailure,
    conditions,
)
from collector.reports.figures import JudgedProbe

RULES = AlertRules(window_s=3600, raise_after=2, clear_after=3)
NOW = 1_800_000_000 * NS


def probe(
    i: int, outcome: str, *, vendor: str = "acme", dlr: str = "consistent", age_s: float = 60
) -> JudgedProbe:
    return JudgedProbe(
        f"p{i}",
        vendor,
        "china_mobile",
        "east",
        "notification",
        "day",
        NOW - int(age_s * NS),
        True,
        outcome,
        dlr,
        "success",
        "intact" if outcome == "delivered" else "none",
        latency_s=3.0 if outcome == "delivered" else None,
    )


def kinds(conds):  # type: ignore[no-untyped-def]
    return {(c.kind, c.subject) for c in conds}


def test_one_lost_probe_is_not_a_breach_but_a_real_drop_is() -> None:
    one = [probe(i, "delivered") for i in range(50)] + [probe(99, "lost")]
    assert not conditions(one, [], [], now_ns=NOW, rules=RULES)
    bad = [probe(i, "delivered") for i in range(80)] + [probe(100 + i, "lost") for i in range(20)]
    (c,) = [
        c
        for c in conditions(bad, [], [], now_ns=NOW, rules=RULES)
        if c.kind is AlertKind.SLA_BREACH
    ]
    assert c.subject == (("vendor", "acme"), ("carrier", "china_mobile"))
    assert c.figures["arrival_rate"] == 0.8


def test_old_probes_fall_out_of_the_window() -> None:
    bad = [probe(i, "lost", age_s=7200) for i in range(30)]
    assert not conditions(bad, [], [], now_ns=NOW, rules=RULES)


def test_fake_dlr_surge_outage_silent_agent_and_sick_modem() -> None:
    probes = [probe(i, "delivered") for i in range(90)] + [
        probe(100 + i, "lost", dlr="fake_success") for i in range(10)
    ]
    probes += [probe(300 + i, "lost", vendor="down") for i in range(3)]
    failures = [SubmitFailure("down", NOW - 10 * NS)] * 5
    receivers = [
        ReceiverStatus("a1", NOW - 10 * NS, (("860001", ("not_registered",)),)),
        ReceiverStatus("a2", NOW - 900 * NS),
    ]
    got = kinds(conditions(probes, failures, receivers, now_ns=NOW, rules=RULES))
    assert (AlertKind.FAKE_DLR_SURGE, (("vendor", "acme"),)) in got
    assert (AlertKind.VENDOR_OUTAGE, (("vendor", "down"),)) in got
    assert (AlertKind.VENDOR_OUTAGE, (("vendor", "acme"),)) not in got
    assert (AlertKind.AGENT_SILENT, (("agent", "a2"),)) in got
    assert (AlertKind.MODEM_UNHEALTHY, (("agent", "a1"), ("imei", "860001"))) in got


def test_hysteresis_starts_once_and_ends_once_without_flapping() -> None:
    engine = AlertEngine(RULES)
    silent = conditions([], [], [ReceiverStatus("a2", 0)], now_ns=NOW, rules=RULES)
    timeline = [silent, silent, [], silent, [], [], [], silent]
    phases = []
    for step, firing in enumerate(timeline):
        phases += [(step, e.phase) for e in engine.evaluate(firing, now_ns=NOW + step)]
    assert phases == [(1, "start"), (6, "end")]  # the one-step gap at 2 did not end it


def test_active_alerts_survive_a_restart() -> None:
    silent = conditions([], [], [ReceiverStatus("a2", 0)], now_ns=NOW, rules=RULES)
    engine = AlertEngine(RULES, active=silent)
    assert engine.active() == [(AlertKind.AGENT_SILENT, {"agent": "a2"})]
    assert engine.evaluate(silent, now_ns=NOW) == []  # no second start
    events = []
    for step in range(3):
        events += engine.evaluate([], now_ns=NOW + step)
    assert [e.phase for e in events] == ["end"]
