"""The vendor-side alerts from a vendor-simulator scenario, through the running alert
service and a real SQLite ledger, paged to a (signed) Feishu bot (robot_servers.py).

Three simulated hours, one probe a minute per vendor, all to a China Mobile SIM:
- hour 1: `acme` delivers everything fast; `bolt` everything, slower, but refuses every
  submit from minute 20 to 35 (a simulator outage, HTTP 500); `cheap` loses 20 % and
  reports every lost message DELIVRD (伪成功);
- hour 2: `cheap` is mended; `acme` loses a quarter: `bolt` now delivers best;
- hour 3: everyone delivers.
The simulator decides every fate and keeps the truth; the ledger gets the probes and
verdicts as the truth says (the judge is tested elsewhere). Expected, each starting once
and ending once: vendor_outage (bolt), sla_breach and fake_dlr_surge (cheap), sla_breach
(acme), routing_advice_changed (China Mobile verification codes, acme -> bolt); their
start figures are the simulator's own counts."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

from agent.common.units import NS
from collector.alerts.engine import AlertRules
from collector.alerts.notifiers.feishu import FeishuBot
from collector.alerts.notify import AlertNotifier
from collector.alerts.service import AlertService
from collector.correlation.model import ContentVerdict, DlrClaim, DlrTruth, Outcome, Verdict
from collector.ledger import open_ledger
from collector.vendors.simulator.network import (
    Accepted,
    CarrierNetwork,
    RecordingModemSink,
    SimulatedDlr,
    SimulatorClock,
)
from collector.vendors.simulator.scenario import CHINA_TZ, parse_scenario
from collector.vendors.simulator.truth import TruthLog, TruthRecord
from tests.collector.alerts.robot_servers import Robot, RobotServers, run_with_robots
from tests.collector.reports.world import delivered, plan, submit
from tests.collector.vendors.helpers import MSISDN_CMCC, scenario_doc, vendor_scenario

START = datetime(2026, 11, 24, 10, 0, tzinfo=CHINA_TZ)
T0 = int(START.timestamp()) * NS
MIN = 60 * NS
RULES = AlertRules(window_s=1800, raise_after=2, clear_after=2, silent_after_s=1e9)
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


def _network(clock: SteppedClock, hour: int, receipts: Receipts) -> CarrierNetwork:
    acme = _knobs(1.0) if hour != 2 else _knobs(0.75)
    cheap = _knobs(0.8, fake=1.0) if hour == 1 else _knobs(1.0)
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


def _verdict(pid: str, r: TruthRecord) -> Verdict:
    if r.fate == "delivered":
        return delivered(pid, 2.0, f"u-{pid}")
    claim = DlrClaim.SUCCESS if r.dlr_status == "DELIVRD" else DlrClaim.NONE
    truth = DlrTruth.FAKE_SUCCESS if r.fake_dlr else DlrTruth.MISSING
    return Verdict(pid, Outcome.LOST, truth, claim, ContentVerdict.NONE)


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> int:
        return self.now


def test_vendor_alerts_from_a_simulated_outage_fake_dlrs_and_a_degrading_route(
    tmp_path: Path,
) -> None:
    ledger = open_ledger(f"sqlite:///{tmp_path}/ledger.db")
    # Per probe, what the simulator decided: (vendor, minute, refused, fake_dlr, arrived).
    fates: list[tuple[str, int, bool, bool, bool]] = []

    async def scenario(srv: RobotServers) -> None:
        srv.feishu["tok"] = Robot("tok", "fs-secret")
        bot = FeishuBot(srv.feishu_url("tok"), "ops", "fs-secret")
        sim_clock, clock, receipts = SteppedClock(), Clock(), Receipts()
        async with AlertNotifier([bot], ledger=ledger) as notifier:
            service = AlertService(ledger, rules=RULES, notifier=notifier, clock=clock)
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
                        verdicts = []
                        for vendor, accepted in sent.items():
                            pid = f"{vendor}-{minute}"
                            p = plan(pid, vendor, at)
                            if accepted is None:
                                submit(ledger, p, status="rejected", error_kind="Transient")
                                fates.append((vendor, minute, True, False, False))
                                continue
                            submit(ledger, p)
                            r = truth[vendor, accepted.message_ids[0]]
                            verdicts.append(_verdict(pid, r))
                            fates.append((vendor, minute, False, r.fake_dlr,
                                          r.fate == "delivered"))  # fmt: skip
                        ledger.save_verdicts(verdicts, at_ns=at + 30 * NS)
                        clock.now = at + 59 * NS
                        await service.evaluate_once()
                        await service.drain()
                finally:
                    await net.close()

    try:
        srv = run_with_robots(scenario)
        rows = ledger.alerts()
        deliveries = ledger.deliveries()
    finally:
        ledger.close()

    def minute(at_ns: int) -> int:
        return (at_ns - T0) // MIN

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
