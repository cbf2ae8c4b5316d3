"""Billed parts end to end: the vendor simulator inflates the fee it reports for a share of
messages (knob p_fee_inflated, kept in its truth); probes go out through the runner and the
real adapters (253 data.fee, Tencent Fee, Alibaba SmsReport sms_size, the in-process
simulator), DLRs through the runner's ledger sink and the judge's attribution, into a real
ledger (SQLite and PostgreSQL). The report's reconciliation must flag exactly the probes
the truth says were inflated, and the evidence records must carry the same figures."""

from __future__ import annotations

import copy
import random
import time
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from collector.correlation.model import Policy
from collector.evidence.bundle import build_bundle, report_for
from collector.evidence.recompute import check_verdicts
from collector.evidence.records import collect_records
from collector.evidence.verify import verify_bundle
from collector.judging import Judge, JudgingConfig
from collector.probes.runner import LedgerDlrSink, ProbeRunner, RunnerSettings
from collector.probes.scheduler import PlannedProbe, Scheduler, Target
from collector.reports.billing import billing_lines
from collector.reports.build import build_report
from collector.reports.figures import Thresholds, aggregate
from collector.reports.judged import load_judged
from tests.collector.vendors.helpers import MSISDN_CMCC, run, vendor_scenario
from tests.collector.vendors.test_vendor_contract import NOTE_TEMPLATE, SIG, rig

N = 12
KNOBS = {**vendor_scenario()["knobs"], "p_fee_inflated": 0.4, "fee_inflated_by": 1}
# The simulated clouds render their approved template: the notification profile's text.
TEMPLATES = {
    "aliyun": {NOTE_TEMPLATE: "您的订单${token}已发货，预计3日内送达，请注意查收。"},
    "tencent": {NOTE_TEMPLATE: "您的订单{1}已发货，预计3日内送达，请注意查收。"},
}
# The clouds are sent the notification template; the others long messages too.
PROFILES = {"aliyun": ("notification",), "tencent": ("notification",)}


async def _probe_through(kind: str, ledger: Any) -> set[str]:
    """Send N probes; returns the probe ids whose fee the simulator's truth says it inflated."""
    templates = TEMPLATES.get(kind)
    extra = {"templates": templates} if templates else {}
    async with rig(kind, sink=LedgerDlrSink(ledger), knobs=KNOBS, **extra) as r:
        scheduler = Scheduler([], [], start_ns=0, rng=random.Random(1), parts_of={})
        runner = ProbeRunner(ledger, {"acct": r.vendor}, scheduler,
                             RunnerSettings(secret=b"k" * 32, signatures={"acct": SIG}),
                             clock=time.time_ns)  # fmt: skip
        target = Target(MSISDN_CMCC, carrier="china_mobile")
        profiles = PROFILES.get(kind, ("notification", "long_ucs2"))
        for i in range(N):
            profile = profiles[i % len(profiles)]
            planned = PlannedProbe("acct", target, profile, 0, "day", 1, 0.0)
            assert await runner.send_now(planned, f"{kind}-{i:02d}", 1) is None
        await r.network.wait_idle()
        truth = r.network.truth.records
    by_message = {p.message_ids[0]: p.plan.probe_id for p in ledger.probes()}
    assert len(truth) == N
    return {by_message[t.vendor_message_id] for t in truth if t.fee_inflated}


@pytest.mark.parametrize("kind", ["http", "tencent", "aliyun", "inprocess"])
def test_the_report_flags_exactly_the_probes_whose_fee_the_vendor_inflated(
    kind: str, ledger: Any
) -> None:
    inflated = run(_probe_through(kind, ledger), timeout_s=60)
    assert 0 < len(inflated) < N  # both kinds present: the test can tell them apart
    judge = Judge(ledger, JudgingConfig(policy=Policy(), full_pass_interval_s=0), time.time_ns)
    judge.judge_once(full=True)  # attributes the DLRs (sms_size reaches its probe here)

    _, _, judged = load_judged(ledger, since_ns=0, until_ns=2**62)
    (cell,) = aggregate(judged, group_by=("vendor",))
    assert set(cell.inflated_probe_ids) == inflated
    assert cell.vendor_billed_probes == N  # every accepted probe carries the vendor's figure
    assert cell.inflated_probes == len(inflated) and cell.inflated_parts == len(inflated)
    assert cell.vendor_billed_parts == cell.vendor_rule_parts + len(inflated)
    sources = {j.billed_from for j in judged}
    assert (
        sources
        == {
            "http": {"submit:data.fee"},
            "tencent": {"submit:Response.SendStatusSet[0].Fee"},
            "aliyun": {"dlr:push:sms_size"},
            "inprocess": {"submit:fee"},
        }[kind]
    )
    report = build_report(judged, since="s", until="u", generated_at="g", software_version="t")
    (line,) = billing_lines(report)
    assert f"INFLATED: {len(inflated)} probe(s)" in line
    assert all(pid in line for pid in inflated)

    # The evidence bundle's records quote the figure; verify's recomputation agrees.
    records, bundle_judged = collect_records(ledger, vendor="acct", since_ns=0, until_ns=2**62)
    quoted = {r["probe_id"] for r in records if r["judged"]["vendor_billed_parts"]
              > r["plan"]["parts"]}  # fmt: skip
    assert quoted == inflated
    assert all(r["submit"]["billed"]["parts"] is not None for r in records)
    recomputed = report_for(bundle_judged, Thresholds(), {})["by_vendor"][0]
    assert set(recomputed["inflated_probe_ids"]) == inflated
    assert check_verdicts(records, JudgingConfig(policy=Policy())) == []
    key = Ed25519PrivateKey.generate()
    bundle = build_bundle(records, signing_key=key, vendor="acct", since="s", until="u",
                          software_version="t", created_at="c")  # fmt: skip
    public = key.public_key().public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)
    verified = verify_bundle(bundle, public, allow_unsigned=True)
    assert verified.ok, verified.problems

    # A figure changed in the judged object, or one said to come from a report the record
    # does not quote, is refused by verify's re-check.
    forged = copy.deepcopy(records[0])
    forged["judged"]["vendor_billed_parts"] += 5
    (problem,) = check_verdicts([forged], JudgingConfig(policy=Policy()))
    assert "vendor_billed_parts" in problem
    if kind == "aliyun":
        unquoted = copy.deepcopy(records[0])
        for d in unquoted["dlrs"]:
            d["billed_parts"] = None
        (problem,) = check_verdicts([unquoted], JudgingConfig(policy=Policy()))
        assert "in no quoted DLR" in problem
