"""The buyer's own templates as probe profiles: config, the token where the real code or
order number goes, the buyer's link domain, the long variant; then through the real runner
into the ledger and a simulated vendor that rewrites links, the truth holding the token in
place and the classifier naming the rewrite."""

from __future__ import annotations

import asyncio
import random
from datetime import datetime
from typing import Any

import pytest

from agent.common.tomlconfig import ConfigError
from collector.correlation.content import content_changes
from collector.correlation.tokens import TokenKind, find_tokens
from collector.ledger import open_ledger
from collector.probes.config import parse_probes
from collector.probes.content import PROFILES, Category, expected_text
from collector.probes.runner import LedgerDlrSink, ProbeRunner, RunnerSettings
from collector.probes.scheduler import Scheduler, Target, VendorPlan
from collector.vendors.base import sms_parts
from collector.vendors.simulator.inprocess import InProcessVendorSimulator
from collector.vendors.simulator.network import CarrierNetwork, RecordingModemSink
from collector.vendors.simulator.scenario import CHINA_TZ, parse_scenario
from collector.vendors.simulator.truth import TruthLog
from tests.collector.vendors.helpers import MSISDN_CMCC, scenario_doc, vendor_scenario

NS = 1_000_000_000
SIG = "探针科技"
TEMPLATES: dict[str, dict[str, Any]] = {
    "shop_otp": {
        "category": "otp",
        "text": "{shop}：您的登录验证码{code}，10分钟内有效，请勿泄露。",
        "vars": {"shop": "某某商城"},
    },
    "shop_ship": {
        "category": "notification",
        "text": "{shop}：订单{order}已发货，物流详情 {link} 。",
        "vars": {"shop": "某某商城"},
        "link_domain": "t.shop.cn",
        "link_path": "track",
        "long": True,
    },
}


@pytest.fixture(autouse=True)
def _builtin_profiles_only() -> Any:
    """Registered templates live in PROFILES: leave it as found for the next test."""
    before = dict(PROFILES)
    yield
    PROFILES.clear()
    PROFILES.update(before)


def _probes(templates: dict[str, Any], profiles: list[str]) -> Any:
    raw = {"secret": "s", "templates": templates,
           "vendors": {"v": {"profiles": profiles, "interval_s": 30}}}  # fmt: skip
    return parse_probes(raw, file="c.toml", vendor_names={"v"})


def test_templates_become_profiles_with_the_token_in_the_variables_place() -> None:
    cfg = _probes(TEMPLATES, ["shop_otp", "shop_ship", "shop_ship_long"])
    assert cfg.plans[0].profiles == ("shop_otp", "shop_ship", "shop_ship_long")
    otp, ship, long = (PROFILES[n] for n in ("shop_otp", "shop_ship", "shop_ship_long"))
    assert (otp.category, otp.token_kind) == (Category.OTP, TokenKind.CODE)
    assert otp.render("482913") == "某某商城：您的登录验证码482913，10分钟内有效，请勿泄露。"
    assert ship.token_kind is TokenKind.ORDER
    assert ship.render("ORDERTOKEN1") == (
        "某某商城：订单ORDERTOKEN1已发货，物流详情 https://t.shop.cn/track 。"
    )
    text = expected_text(long, "ORDERTOKEN1", SIG)
    assert sms_parts(text) >= 2  # a real long message (70/67 rule, signature included)
    assert text.count("ORDERTOKEN1") == 2 and text[:67].count("ORDERTOKEN1") == 1
    assert text.endswith("ORDERTOKEN1")  # the last part carries it too


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ({"text": "您的验证码已发送"}, "needs {code} or {order}"),
        ({"text": "验证码{code}，订单{order}"}, "needs {code} or {order}"),
        ({"text": "{shop}：验证码{code}", "vars": {}}, "{shop} has no value in vars"),
        ({"text": "验证码{code} {link}"}, "{link} needs link_domain"),
    ],
)
def test_a_bad_template_is_a_config_error_naming_its_key(
    change: dict[str, Any], problem: str
) -> None:
    bad = {"x": {**dict(TEMPLATES["shop_otp"]), **change}}
    with pytest.raises(ConfigError, match=r"c.toml: probes.templates.x.text") as info:
        _probes(bad, ["x"])
    assert problem in str(info.value)
    with pytest.raises(ConfigError, match="built-in"):
        _probes({"notification": TEMPLATES["shop_otp"]}, ["notification"])


def test_a_template_probe_through_a_link_rewriting_vendor(ledger_url: str) -> None:
    _probes(TEMPLATES, ["shop_ship"])  # registers the profiles
    knobs = {"p_arrive": 1.0, "latency": {"dist": "fixed", "median_s": 2.0},
             "rewrite": {"rewrite_links_to": "https://t.cn/A6x9Zq"}}  # fmt: skip
    net = CarrierNetwork(
        parse_scenario(scenario_doc({"v": vendor_scenario(knobs=knobs)})),
        RecordingModemSink(),
        TruthLog(None),
    )
    start = int(datetime(2026, 11, 24, 10, 0, tzinfo=CHINA_TZ).timestamp()) * NS
    plan = VendorPlan("v", ("shop_ship",), interval_s=30, signature=SIG, rate_per_s=100)
    scheduler = Scheduler([plan], [Target(MSISDN_CMCC, carrier="china_mobile")],
                          start_ns=start, rng=random.Random(1),
                          parts_of={("v", "shop_ship"): 1})  # fmt: skip
    ledger = open_ledger(ledger_url)

    async def run() -> None:
        now = [start]

        def clock() -> int:
            now[0] += 60 * NS
            return now[0]

        vendor = InProcessVendorSimulator(net, "v", clock=clock)
        await vendor.start(LedgerDlrSink(ledger))
        runner = ProbeRunner(ledger, {"v": vendor}, scheduler,
                             RunnerSettings(b"k" * 32, {"v": SIG}), clock=clock)  # fmt: skip
        stop = asyncio.Event()
        task = asyncio.create_task(runner.run(stop))
        for _ in range(2000):
            if len(await asyncio.to_thread(ledger.probes)) >= 3 or task.done():
                break
            await asyncio.sleep(0.005)
        stop.set()
        await task
        await net.wait_idle()
        await net.close()

    try:
        asyncio.run(run())
        stored = [p for p in ledger.probes() if p.submit_status == "accepted"]
    finally:
        ledger.close()
    assert len(stored) >= 3
    truth = {r.text_sent: r for r in net.truth.records}
    for p in stored:
        token = p.plan.token
        assert p.plan.body == f"某某商城：订单{token}已发货，物流详情 https://t.shop.cn/track 。"
        record = truth[p.plan.expected_text]  # the vendor sent exactly what we expect
        assert record.text_delivered is not None
        assert find_tokens(record.text_delivered, TokenKind.ORDER) == [token]
        assert "t.shop.cn" not in record.text_delivered
        assert content_changes(p.plan.expected_text, record.text_delivered) == ("link_rewritten",)
