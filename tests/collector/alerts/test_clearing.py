"""An alert never ends for lack of data: only on evidence that its condition cleared."""

from __future__ import annotations

from collector.alerts.clearing import cleared_keys
from collector.alerts.engine import AlertEngine, AlertKind, AlertRules, Condition, ReceiverStatus
from collector.reports.figures import JudgedProbe

NS = 1_000_000_000
T = 1_800_000_000 * NS
RULES = AlertRules(window_s=600, raise_after=1, clear_after=1, outage_probes=4)
SLA = (AlertKind.SLA_BREACH, (("carrier", "china_mobile"), ("vendor", "acme")))


def judged(n: int, outcome: str, at: int) -> list[JudgedProbe]:
    return [
        JudgedProbe(f"p{i}", "acme", "china_mobile", "north", "notification", "day", at + i,
                    True, outcome, "consistent", "success", "intact")
        for i in range(n)
    ]  # fmt: skip


def test_an_open_alert_holds_without_data_and_ends_on_evidence() -> None:
    engine = AlertEngine(RULES, [Condition(SLA[0], SLA[1], {"arrival_rate": 0.5})])
    nothing = cleared_keys([], [], [], now_ns=T, rules=RULES, watched=["acme"], blind=[])
    for i in range(5):  # the collector stopped probing: no data at all
        assert engine.evaluate([], now_ns=T + i, cleared=nothing) == []
    assert engine.active() == [(AlertKind.SLA_BREACH, dict(SLA[1]))]
    recovered = judged(300, "delivered", T)
    blind = cleared_keys(recovered, [], [], now_ns=T + NS, rules=RULES, watched=["acme"],
                         blind=["acme"])  # fmt: skip
    assert engine.evaluate([], now_ns=T + NS, cleared=blind) == []  # acme not measured now
    seen = cleared_keys(recovered, [], [], now_ns=T + NS, rules=RULES, watched=["acme"], blind=[])
    (event,) = engine.evaluate([], now_ns=T + 2 * NS, cleared=seen)
    assert (event.phase, event.kind) == ("end", AlertKind.SLA_BREACH)


def test_receiver_alerts_clear_only_when_the_agent_was_heard_from() -> None:
    silent = (AlertKind.AGENT_SILENT, (("agent", "sh-01"),))
    modem = (AlertKind.MODEM_UNHEALTHY, (("agent", "sh-01"), ("imei", "8600")))
    stale = cleared_keys([], [], [ReceiverStatus("sh-01", T - 3600 * NS)], now_ns=T, rules=RULES,
                         watched=[], blind=[])  # fmt: skip
    assert silent not in stale and modem not in stale
    heard = cleared_keys([], [], [ReceiverStatus("sh-01", T - NS)], now_ns=T, rules=RULES,
                         watched=[], blind=[])  # fmt: skip
    assert silent in heard and modem in heard
    sick = cleared_keys([], [], [ReceiverStatus("sh-01", T - NS, [("8600", ("no_signal",))])],
                        now_ns=T, rules=RULES, watched=[], blind=[])  # fmt: skip
    assert modem not in sick


def test_monitoring_degraded_clears_when_the_vendor_is_measured_again() -> None:
    key = (AlertKind.MONITORING_DEGRADED, (("vendor", "bolt"),))
    assert key not in cleared_keys([], [], [], now_ns=T, rules=RULES, watched=["bolt"],
                                   blind=["bolt"])  # fmt: skip
    assert key in cleared_keys([], [], [], now_ns=T, rules=RULES, watched=["bolt"], blind=[])
