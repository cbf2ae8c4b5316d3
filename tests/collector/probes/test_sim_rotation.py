"""SIM rotation at the scheduler level, against the ledger: the real runner over a real
scheduler sends through in-process simulated vendors into SQLite and PostgreSQL. Reserve
pool SIMs get no lanes; once a whitelisting_suspected alert is open for "white", its
probes rotate over the test SIM and the reserve pool, while "honest" stays on its lanes.
The simulator's truth shows why it matters: on the known number "white" delivers all,
on the rotated reserve numbers it loses some (p_arrive 0.7)."""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from datetime import datetime
from typing import Any

from collector.ledger import open_ledger
from collector.probes.bursts import BurstPlan, run_burst
from collector.probes.rotation import RotationConfig
from collector.probes.runner import LedgerDlrSink, ProbeRunner, RunnerSettings
from collector.probes.scheduler import PlannedProbe, Scheduler, Target, VendorPlan
from collector.vendors.simulator.inprocess import InProcessVendorSimulator
from collector.vendors.simulator.network import CarrierNetwork, RecordingModemSink
from collector.vendors.simulator.scenario import CHINA_TZ, parse_scenario
from collector.vendors.simulator.truth import TruthLog
from tests.collector.vendors.helpers import (
    MSISDN_CMCC,
    MSISDN_KNOWN,
    whitelisting_doc,
)

NS = 1_000_000_000
START = int(datetime(2026, 11, 24, 10, 0, tzinfo=CHINA_TZ).timestamp()) * NS
RESERVE = (MSISDN_CMCC, "13800138001")  # China Mobile numbers no vendor has seen
SIG = "探针科技"


def _network() -> CarrierNetwork:
    doc = whitelisting_doc()
    doc["subscribers"].append({"msisdn": RESERVE[1], "modem": "m4"})
    return CarrierNetwork(parse_scenario(doc), RecordingModemSink(), TruthLog(None))


async def _run(
    ledger: Any, net: CarrierNetwork, scheduler: Scheduler, now: list[int], until_white: int
) -> None:
    """Run the runner (a clock `now` moving a minute per reading) until "white" has this
    many probes in the ledger."""

    def clock() -> int:
        now[0] += 60 * NS
        return now[0]

    vendors = {v: InProcessVendorSimulator(net, v, clock=clock) for v in ("white", "honest")}
    for v in vendors.values():
        await v.start(LedgerDlrSink(ledger))
    settings = RunnerSettings(
        b"k" * 32, {v: SIG for v in vendors}, rotation=RotationConfig(check_interval_s=1)
    )
    runner = ProbeRunner(ledger, vendors, scheduler, settings, clock=clock)
    stop = asyncio.Event()
    task = asyncio.create_task(runner.run(stop))
    for _ in range(3000):
        white = [p for p in await asyncio.to_thread(ledger.probes) if p.plan.vendor == "white"]
        if len(white) >= until_white or task.done():
            break
        await asyncio.sleep(0.005)
    stop.set()
    await task
    await runner.drain()


def test_a_suspected_vendor_rotates_over_the_reserve_pool(ledger_url: str) -> None:
    plans = [
        VendorPlan(v, ("notification",), interval_s=30, signature=SIG, rate_per_s=100)
        for v in ("white", "honest")
    ]
    targets = [Target(MSISDN_KNOWN, carrier="china_mobile")] + [
        Target(m, carrier="china_mobile") for m in RESERVE
    ]
    scheduler = Scheduler(
        plans, targets, start_ns=START, rng=random.Random(3),
        parts_of={(v, "notification"): 1 for v in ("white", "honest")},
        pools={"china_mobile": RESERVE},
    )  # fmt: skip
    net = _network()
    ledger = open_ledger(ledger_url)
    try:
        now = [START]
        asyncio.run(_run(ledger, net, scheduler, now, until_white=4))
        before = {p.plan.probe_id for p in ledger.probes()}
        # Nothing suspected yet: the reserve pool is never used.
        assert {p.plan.msisdn for p in ledger.probes()} == {MSISDN_KNOWN}
        assert scheduler.rotating == frozenset()

        ledger.start_alert(
            "whitelisting_suspected", {"sim": MSISDN_KNOWN, "vendor": "white"},
            at_ns=START, figures={"arrived": 40, "judged": 40},
        )  # fmt: skip
        white_before = sum(1 for p in ledger.probes() if p.plan.vendor == "white")
        asyncio.run(_run(ledger, net, scheduler, now, until_white=white_before + 30))
        after = [p for p in ledger.probes() if p.plan.probe_id not in before]
    finally:
        ledger.close()
    assert scheduler.rotating == frozenset({"white"})
    white = Counter(p.plan.msisdn for p in after if p.plan.vendor == "white")
    honest = Counter(p.plan.msisdn for p in after if p.plan.vendor == "honest")
    # Round-robin over the three China Mobile SIMs: each gets a third, give or take one.
    assert set(white) == {MSISDN_KNOWN, *RESERVE}
    assert max(white.values()) - min(white.values()) <= 1
    assert set(honest) == {MSISDN_KNOWN}
    # Ground truth: the rotated sends expose the vendor's everyday rate.
    truth = [r for r in net.truth.records if r.vendor == "white"]
    known = [r.fate for r in truth if r.msisdn == MSISDN_KNOWN]
    reserve = [r.fate for r in truth if r.msisdn in RESERVE]
    assert set(known) == {"delivered"}
    assert "lost" in reserve and len(reserve) == sum(white[m] for m in RESERVE)


def test_reserve_pool_numbers_match_targets_in_international_form() -> None:
    """The pools come national from [probes.rotation] (parse_rotation), the SIMs as agents
    report them (+86...): a reserve SIM still gets no lanes, and rotation reaches it (the
    demo found every vendor probing its reserve SIM when the forms were compared as is)."""
    plans = [VendorPlan(v, ("notification",), interval_s=30, signature=SIG, rate_per_s=100)
             for v in ("white", "honest")]  # fmt: skip
    probed, reserve = "+86" + MSISDN_KNOWN, "+86" + MSISDN_CMCC
    scheduler = Scheduler(
        plans, [Target(probed, carrier="china_mobile"), Target(reserve, carrier="china_mobile")],
        start_ns=START, rng=random.Random(3),
        parts_of={(v, "notification"): 1 for v in ("white", "honest")},
        pools={"china_mobile": (MSISDN_CMCC,)},
    )  # fmt: skip
    scheduler.set_rotation({"white"})
    sent: Counter[tuple[str, str]] = Counter()
    for step in range(1, 400):
        sent.update((p.vendor, p.target.msisdn) for p in scheduler.due(START + step * 5 * NS))
    assert sent[("honest", reserve)] == 0 and sent[("honest", probed)] > 10
    assert abs(sent[("white", reserve)] - sent[("white", probed)]) <= 1
    assert sent[("white", reserve)] > 10


def test_a_burst_reaches_the_reserve_pool_only_through_a_rotating_vendor() -> None:
    """A burst goes round-robin over the probed SIMs; the reserve SIM only while the
    burst's vendor rotates (the demo's bolt burst reached its reserve SIM)."""
    plans = [VendorPlan(v, ("verification_code",), interval_s=30, signature=SIG,
                        rate_per_s=100) for v in ("white", "honest")]  # fmt: skip
    probed, reserve = "+86" + MSISDN_KNOWN, "+86" + MSISDN_CMCC
    scheduler = Scheduler(
        plans, [Target(probed, carrier="china_mobile"), Target(reserve, carrier="china_mobile")],
        start_ns=START, rng=random.Random(3),
        parts_of={(v, "verification_code"): 1 for v in ("white", "honest")},
        pools={"china_mobile": (MSISDN_CMCC,)},
    )  # fmt: skip
    scheduler.set_rotation({"white"})

    def burst(vendor: str) -> Counter[str]:
        reached: Counter[str] = Counter()

        async def send(planned: PlannedProbe, probe_id: str, attempts: int) -> None:
            reached[planned.target.msisdn] += 1

        async def no_wait(_s: float) -> None:
            return None

        plan = BurstPlan("b", vendor, count=6, within_s=3, at="now", budget=10.0)
        asyncio.run(run_burst(plan, scheduler, send, price_per_part=0.01, parts=1,
                              clock=lambda: START, sleep=no_wait))  # fmt: skip
        return reached

    assert burst("honest") == {probed: 6}
    assert burst("white") == {probed: 3, reserve: 3}


def test_rotation_config_names_what_is_wrong() -> None:
    import pytest

    from agent.common.tomlconfig import ConfigError, Table
    from collector.probes.rotation import parse_rotation

    def parse(raw: dict[str, Any]) -> RotationConfig:
        return parse_rotation(Table(raw, file="c.toml", path="probes.rotation"), ["white"])

    cfg = parse({"vendors": ["white"], "pools": {"china_mobile": ["+8613800138000"]}})
    assert cfg.vendors == {"white"} and dict(cfg.pools) == {"china_mobile": ("13800138000",)}
    with pytest.raises(ConfigError, match=r"c.toml: probes.rotation.vendors\[0\]: expected one"):
        parse({"vendors": ["nobody"]})
    with pytest.raises(ConfigError, match=r"probes.rotation.pools.cmcc: expected a carrier"):
        parse({"pools": {"cmcc": ["13800138000"]}})
    with pytest.raises(ConfigError, match=r"pools.china_mobile: expected a non-empty list"):
        parse({"pools": {"china_mobile": ["10086"]}})
