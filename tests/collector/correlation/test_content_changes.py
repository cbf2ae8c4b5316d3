"""Content changes classified per kind, held against the vendor simulator's ground truth:
each simulated vendor applies one rewrite knob (or two), and the classifier must name
exactly what the knob did to the text it delivered (truth `text_delivered`)."""

from __future__ import annotations

from typing import Any

import pytest

from collector.correlation.content import content_changes
from collector.vendors.simulator.network import Accepted, CarrierNetwork, RecordingModemSink
from collector.vendors.simulator.scenario import parse_scenario
from collector.vendors.simulator.truth import TruthLog, TruthRecord
from tests.collector.vendors.helpers import MSISDN_CMCC, run, scenario_doc, vendor_scenario

SIG = "探针科技"
BODY = "您的订单12345678901已发货，查看详情 https://m.example.cn/order/view 。请注意查收"

# vendor -> (its rewrite knobs, the kinds of change they make: the truth to hold)
VENDORS: dict[str, tuple[dict[str, Any], tuple[str, ...]]] = {
    "honest": ({}, ()),
    "sig_replace": (
        {"signature": "replace", "replacement_signature": "某渠道"},
        ("signature_changed",),
    ),
    "sig_append": (
        {"signature": "append", "replacement_signature": "某渠道"},
        ("signature_added",),
    ),
    "sig_move": ({"signature": "move_to_end"}, ("signature_changed",)),
    "link": ({"rewrite_links_to": "https://t.cn/A6x9Zq"}, ("link_rewritten",)),
    "cut": ({"truncate_at": 22}, ("truncated",)),
    "chars": ({"replace_chars": {"订": "汀", "货": "贷"}}, ("characters_replaced",)),
    "unsub": ({"unsubscribe": "always"}, ("text_added",)),
    "link_and_sig": (
        {
            "rewrite_links_to": "https://t.cn/A6x9Zq",
            "signature": "replace",
            "replacement_signature": "某渠道",
        },
        ("signature_changed", "link_rewritten"),
    ),
    "cut_in_link": ({"truncate_at": 40}, ("truncated",)),  # stops inside the URL
}


def _truth() -> dict[str, TruthRecord]:
    vendors = {
        name: vendor_scenario(knobs={"p_arrive": 1.0, "rewrite": knobs})
        for name, (knobs, _) in VENDORS.items()
    }
    doc = scenario_doc(vendors)

    async def scenario() -> dict[str, TruthRecord]:
        net = CarrierNetwork(parse_scenario(doc), RecordingModemSink(), TruthLog(None))
        try:
            for name in VENDORS:
                out = net.submit(name, msisdn=MSISDN_CMCC, content=BODY, signature=SIG)
                assert isinstance(out, Accepted), out
            await net.wait_idle()
        finally:
            await net.close()
        return {r.vendor: r for r in net.truth.records}

    return run(scenario())


TRUTH = _truth()


@pytest.mark.parametrize("vendor", sorted(VENDORS))
def test_each_change_is_named_as_the_simulator_made_it(vendor: str) -> None:
    record = TRUTH[vendor]
    assert record.fate == "delivered" and record.text_delivered is not None
    assert record.rewritten == bool(VENDORS[vendor][1])  # the truth's own flag agrees
    expected = f"【{SIG}】{BODY}"
    assert record.text_sent == expected
    assert content_changes(expected, record.text_delivered) == VENDORS[vendor][1]


def test_normalisation_is_not_a_change() -> None:
    assert content_changes("【探针】验证码 123456", "【探针】验证码  １２３４５６") == ()
