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


def test_report_counts_each_vendors_changes_from_the_arrivals() -> None:
    """The report's per-vendor table over ledger-shaped probes, verdicts (the real
    classify) and arrival texts: each vendor's kinds are its knob's, counted once."""
    from collector.correlation.content import classify
    from collector.correlation.model import DlrClaim, DlrTruth, Outcome, Verdict
    from collector.ledger.probes import ProbePlan, StoredProbe, StoredVerdict
    from collector.reports.build import build_report
    from collector.reports.content_changes import change_counts
    from collector.reports.render import render_markdown

    expected = f"【{SIG}】{BODY}"
    probes, verdicts, texts = [], {}, {}
    for i, (vendor, record) in enumerate(sorted(TRUTH.items())):
        pid = f"p{i}"
        plan = ProbePlan(pid, vendor, MSISDN_CMCC, "link", "T", BODY, expected, i)
        probes.append(StoredProbe(plan, "accepted", i, i, ("m",), b"", b"", "", "", True))
        assert record.text_delivered is not None
        content, diff = classify(expected, record.text_delivered)
        verdict = Verdict(pid, Outcome.DELIVERED, DlrTruth.CONSISTENT, DlrClaim.SUCCESS,
                          content, diff, arrival_uuids=(f"u{i}",))  # fmt: skip
        verdicts[pid] = StoredVerdict(verdict, 1, i, i)
        texts[f"u{i}"] = record.text_delivered
    counts = change_counts(probes, verdicts, texts)
    for vendor, (_, kinds) in VENDORS.items():
        got = {k for k, n in counts[vendor].items() if n and k not in ("arrived", "changed")}
        assert got == set(kinds), vendor
        assert (counts[vendor]["arrived"], counts[vendor]["changed"]) == (1, int(bool(kinds)))
    report = build_report([], since="s", until="u", generated_at="g", software_version="t",
                          content_changes=counts)  # fmt: skip
    text = render_markdown(report)
    assert "- link_and_sig: 1 of 1 arrived probes changed (signature changed 1, link " in text
    assert "- honest: 0 of 1 arrived probes changed\n" in text
