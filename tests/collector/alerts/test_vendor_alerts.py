"""The vendor-side alerts from a vendor-simulator scenario, through the running alert
service and a real SQLite ledger, paged to a (signed) Feishu bot (robot_servers.py).

Three simulated hours, one probe a minute per vendor, all to a China Mobile SIM:
- hour 1: `acme` delivers everything in 2 s; `bolt` everything in 5 s, but refuses every
  submit from minute 20 to 35 (a simulator outage, HTTP 500); `cheap` (8 s) loses 20 %
  and reports every lost message DELIVRD (伪成功);
- hour 2: `cheap` is mended; `acme` loses 40 %: `bolt` now delivers best;
- hour 3: everyone delivers.
The simulator decides every fate and keeps the truth. The ledger gets what a running
collector would: the probes' submits, the vendors' DLRs (unattributed), and an agent's
records — modem health every minute and, for each message the simulator handed to the
handset, the SMS on the SIM (the handset stand-in is RecordingModemSink, named as such:
no modem runs here). The real judge (collector/judging.py, as `serve` runs it) judges
each minute, then the alert service evaluates. Expected, each starting once and ending
once: vendor_outage (bolt), sla_breach and fake_dlr_surge (cheap), sla_breach (acme),
routing_advice_changed (China Mobile verification codes, acme -> bolt); their start
figures are the simulator's own counts."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

from agent.common.units import NS
from collector.alerts.engine import AlertRules
from collector.alerts.notifiers.feishu import FeishuBot
from collector.alerts.notify import AlertNotifier
from collector.alerts.service import AlertService
from collector.correlation.model import Policy
from collector.judging import Judge, JudgingConfig
from collector.ledger import open_ledger
from collector.vendors.simulator.network import (
    Accepted,
    CarrierNetwork,
    RecordingModemSink,
    SimulatedDlr,
    SimulatorClock,
)
from collector.vendors.simulator.scenario import CHINA_TZ, parse_scenario
from collector.vendors.simulator.truth import TruthLog
from tests.collector.alerts.robot_servers import Robot, RobotServers, run_with_robots
from tests.collector.reports.world import Agent, arrive, health, plan, registration, submit
from tests.collector.vendors.helpers import MSISDN_CMCC, scenario_doc, vendor_scenario

START = datetime(2026, 11, 24, 10, 0, tzinfo=CHINA_TZ)
T0 = int(START.timestamp()) * NS
MIN = 60 * NS
RULES = AlertRules(window_s=1800, raise_after=2, clear_after=2, silent_after_s=1e9)
# No arrival within 2 min is a loss (the simulator's messages arrive in 2-5 s or never).
JUDGING = JudgingConfig(policy=Policy(give_up_s=120.0, dlr_due_s=120.0))
SIG = "探针科技"
VENDORS = ("acme", "bolt", "cheap")


class SteppedClock(SimulatorClock):
    """Simulated time the test moves minute by minute; a message's life plays out at once
    (its fate is drawn at submit; wait_idle lets it finish)."""

    def __init__(self) -> None:
        super().__init__(1.0, START, CHINA_TZ)
        self.t = 0.0

    def elapsed_s(self) -> float:
        return self.t

    async def sleep_until(self, elapsed_s: float) -> None:
        return None


def _knobs(p_arrive: float, latency_s: float = 2.0, fake: float = 0.0) -> dict[str, Any]:
    return {
        "p_arrive": p_arrive, "p_fake_delivered": fake,
        "latency": {"dist": "fixed", "median_s": latency_s},
        "dlr_latency": {"dist": "fixed", "median_s": 1.0},
    }  # fmt: skip


class Receipts:
    """The vendors' DLR outlet: takes every receipt, as a client would."""

    def __init__(self) -> None:
        self.dlrs: list[SimulatedDlr] = []

    async def emit(self, dlr: SimulatedDlr) -> bool:
        self.dlrs.append(dlr)
        return True

    def take(self, vendor: str, message_id: str) -> list[SimulatedDlr]:
        """The receipts of one message (ids are per vendor), handed on once."""
        mine = [d for d in self.dlrs if (d.vendor, d.message_id) == (vendor, message_id)]
        self.dlrs = [d for d in self.dlrs if d not in mine]
        return mine


def _network(clock: SteppedClock, hour: int, receipts: Receipts) -> CarrierNetwork:
    acme = _knobs(1.0) if hour != 2 else _knobs(0.6)
    cheap = _knobs(0.8, latency_s=8.0, fake=1.0) if hour == 1 else _knobs(1.0, latency_s=8.0)
    bolt: dict[str, Any] = {"knobs": _knobs(1.0, latency_s=5.0)}
    if hour == 1:
        bolt["outages"] = [{"start_s": 20 * 60, "end_s": 35 * 60, "mode": "refuse"}]
    doc = scenario_doc(
        {
            "acme": vendor_scenario(knobs=acme),
            "bolt": vendor_scenario(**bolt),
            "cheap": vendor_scenario(knobs=cheap),
        },
        seed=16,
    )
    net = CarrierNetwork(parse_scenario(doc), RecordingModemSink(), TruthLog(None), clock=clock)
    for vendor in VENDORS:
        net.set_outlet(vendor, receipts)
    return net


def _ns(iso: str) -> int:
    return int(datetime.fromisoformat(iso).timestamp() * NS)


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> int:
        return self.now


def test_vendor_alerts_from_a_simulated_outage_fake_dlrs_and_a_degrading_route(
    tmp_path: Path,
) -> None:
    ledger = open_ledger(f"sqlite:///{tmp_path}/ledger.db")
    ledger.register_agent(registration(), at_ns=T0 - 3600 * NS)
    agent = Agent(ledger)
    # Per probe, what the simulator decided: (vendor, minute, refused, fake_dlr, arrived).
    fates: list[tuple[str, int, bool, bool, bool]] = []

    async def scenario(srv: RobotServers) -> None:
        srv.feishu["tok"] = Robot("tok", "fs-secret")
        bot = FeishuBot(srv.feishu_url("tok"), "ops", "fs-secret")
        sim_clock, clock, receipts = SteppedClock(), Clock(), Receipts()
        async with AlertNotifier([bot], ledger=ledger) as notifier:
            service = AlertService(ledger, rules=RULES, notifier=notifier, clock=clock)
            judge = Judge(ledger, JUDGING, clock)
            for hour in (1, 2, 3):
                net = _network(sim_clock, hour, receipts)
                try:
                    for minute in range((hour - 1) * 60, hour * 60):
                        sim_clock.t = minute * 60.0
                        at = T0 + minute * MIN
                        sent: dict[str, Accepted | None] = {}
                        for vendor in VENDORS:
                            text = f"您的验证码为{minute:06d}。"
                            out = net.submit(vendor, msisdn=MSISDN_CMCC, content=text,
                                             signature=SIG)  # fmt: skip
                            sent[vendor] = out if isinstance(out, Accepted) else None
                        await net.wait_idle()
                        truth = {(r.vendor, r.vendor_message_id): r for r in net.truth.records}
                        agent.add(at, health(at))
                        for vendor, accepted in sent.items():
                            pid = f"{vendor}-{minute}"
                            p = plan(pid, vendor, at)
                            if accepted is None:
                                submit(ledger, p, status="rejected", error_kind="Transient")
                                fates.append((vendor, minute, True, False, False))
                                continue
                            submit(ledger, p)  # the vendor's message id: M<probe id>
                            r = truth[vendor, accepted.message_ids[0]]
                            if r.fate == "delivered":  # on the SIM when the simulator says
                                assert r.delivered_at is not None
                                arrive(agent, p, _ns(r.delivered_at) / NS - at / NS)
                            fates.append((vendor, minute, False, r.fake_dlr,
                                          r.fate == "delivered"))  # fmt: skip
                            for d in receipts.take(vendor, accepted.message_ids[0]):
                                ledger.store_dlr(
                                    vendor=vendor, message_id=f"M{pid}", status=d.status.value,
                                    received_at_ns=int(d.done_at.timestamp() * NS),
                                    raw=repr(d).encode(),
                                    dedupe_key=f"{pid}-{d.status.value}", err=d.err)  # fmt: skip
                        agent.flush(at + 30 * NS)
                        clock.now = at + 59 * NS
                        judge.judge_once()
                        await service.evaluate_once()
                        await service.drain()
                finally:
                    await net.close()

    try:
        srv = run_with_robots(scenario)
        rows = ledger.alerts()
        verdicts = {pid: v.verdict for pid, v in ledger.verdicts().items()}
        deliveries = ledger.deliveries()
    finally:
        ledger.close()

    def minute(at_ns: int) -> int:
        return (at_ns - T0) // MIN

    # The judge's verdicts are the simulator's truth: every fate, every fake DLR.
    for vendor, m, was_refused, was_fake, arrived in fates:
        v = verdicts[f"{vendor}-{m}"]
        expected = "rejected" if was_refused else "delivered" if arrived else "lost"
        assert (v.outcome.value, v.dlr.value == "fake_success") == (expected, was_fake)
    assert sum(f[3] for f in fates) > 0 and sum(not f[4] and not f[2] for f in fates) > 0

    got = sorted((r.kind, tuple(sorted(r.subject.items())), bool(r.ended_at_ns)) for r in rows)
    assert got == [
        ("fake_dlr_surge", (("vendor", "cheap"),), True),
        ("routing_advice_changed", (("carrier", "china_mobile"),
                                    ("profile", "verification_code")), True),
        ("sla_breach", (("carrier", "china_mobile"), ("vendor", "acme")), True),
        ("sla_breach", (("carrier", "china_mobile"), ("vendor", "cheap")), True),
        ("vendor_outage", (("vendor", "bolt"),), True),
    ]  # fmt: skip
    by = {(r.kind, r.subject.get("vendor", "")): r for r in rows}

    # vendor_outage: it fires first at minute 26 (7 refusals and 1 arrival are the latest
    # 8 attempts: 1 < 20 % of 8) and starts on the 2nd firing pass; it ends 2 quiet passes
    # after the route delivers again.
    outage = by[("vendor_outage", "bolt")]
    refused = [m for v, m, ref, _, _ in fates if v == "bolt" and ref]
    assert refused == list(range(20, 35))  # the simulator refused exactly its window
    assert minute(outage.started_at_ns) == 27
    assert outage.figures == {"attempts": 8, "arrived": 0, "submit_failures": 8}
    assert outage.figures["submit_failures"] == sum(1 for m in refused if m <= 27)
    assert 35 < minute(outage.ended_at_ns) <= 40

    # cheap's fake DLRs: the alert's count is the simulator's over the window at its start.
    fake = by[("fake_dlr_surge", "cheap")]
    start = minute(fake.started_at_ns)
    in_window = [f for f in fates if f[0] == "cheap" and start - 30 < f[1] <= start]
    assert fake.figures["fake_dlr"] == sum(1 for f in in_window if f[3]) > 0
    assert fake.figures["judged"] == len(in_window)
    assert start < 60 < minute(fake.ended_at_ns) < 120
    sla_cheap = by[("sla_breach", "cheap")]
    assert minute(sla_cheap.started_at_ns) < 60 < minute(sla_cheap.ended_at_ns) < 120
    sla_acme = by[("sla_breach", "acme")]
    assert 60 < minute(sla_acme.started_at_ns) < 120 < minute(sla_acme.ended_at_ns)
    advice = by[("routing_advice_changed", "")]
    assert (advice.figures["from"], advice.figures["to"]) == ("acme", "bolt")
    assert advice.figures["confidence"] >= 0.9
    assert 60 < minute(advice.started_at_ns) < minute(advice.ended_at_ns) < 120

    # Each start and each end reached the bot exactly once, signed and accepted.
    bot: Any = srv.feishu["tok"]
    assert bot.refused == [] and len(bot.accepted) == 2 * len(rows)
    titles = [m["content"]["post"]["zh_cn"]["title"] for m in bot.accepted]
    assert len(set(titles)) == len(titles)
    assert "[ALERT] Vendor outage: bolt" in titles and "[RESOLVED] Vendor outage: bolt" in titles
    assert sorted((d.phase, d.state) for d in deliveries) == sorted(
        [("start", "delivered"), ("end", "delivered")] * len(rows)
    )
