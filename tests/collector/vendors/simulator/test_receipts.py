"""Receipts as vendors really send them: every receipt knob of the simulator at once, over
the real wire (253-style HTTP push, SMPP deliver_sm, Alibaba and Tencent pushes) into the
real adapters, judged by the real verdict function and checked against the simulator's
truth probe by probe. Then the truth itself: it records what was sent, not what was planned."""

from __future__ import annotations

import json
import random
import time
from dataclasses import dataclass, replace
from typing import Any

import pytest

from agent.common.units import NS
from collector.correlation.match import DlrIndex
from collector.correlation.model import (
    Arrival,
    ArrivalPart,
    DlrObservation,
    Outcome,
    Policy,
    ProbeSpec,
)
from collector.correlation.verdicts import judge
from collector.vendors.base import ContentProfile, DlrStatus, OutgoingSms, SubmitResult
from collector.vendors.simulator.network import EncodedSms, RecordingModemSink, SimulatedDlr
from collector.vendors.simulator.scenario import Knobs, Latency, decide_fate
from collector.vendors.simulator.truth import SentReceipt, TruthRecord
from collector.vendors.simulator.truthcheck import compare, expected_dlr
from tests.collector.vendors.helpers import MSISDN_CMCC, run, scenario_doc, vendor_scenario
from tests.collector.vendors.simulator.test_network import ListOutlet, network
from tests.collector.vendors.test_vendor_contract import SIG, rig

# Every receipt knob on at once (simulated seconds; the scenario runs 1000x faster).
ALL_KNOBS: dict[str, Any] = {
    "p_arrive": 0.7,
    "latency": {"dist": "lognormal", "median_s": 8.0, "sigma": 0.5},
    "dlr_latency": {"dist": "lognormal", "median_s": 4.0, "sigma": 0.5},
    "p_fake_delivered": 0.5,
    "p_false_failure": 0.25,
    "p_missing_dlr": 0.15,
    "p_duplicate_dlr": 0.3,
    "p_late_dlr": 0.15,
    "late_dlr_delay_s": 900.0,
    "p_dlr_before_arrival": 0.3,
    "p_enroute_after_final": 0.4,
    "p_contradicting_final": 0.3,
    "p_out_of_order_dlr": 0.3,
}
# On the collector's clock: the scenario's 60 s deadline and 600 s give-up and DLR due time.
POLICY = Policy(deadline_s=0.06, give_up_s=0.6, dlr_due_s=0.6, read_resolution_s=0.001)
PROBES = 40


class TimedModemSink(RecordingModemSink):
    """The handsets, stamping when each SMS reached them on the collector's clock."""

    def __init__(self) -> None:
        super().__init__()
        self.at_ns: list[int] = []

    async def deliver(self, modem: str, sms: EncodedSms) -> bool:
        self.at_ns.append(time.time_ns())
        return await super().deliver(modem, sms)


@dataclass
class Probe:
    token: str
    result: SubmitResult


def _outgoing(kind: str, probe_id: str, token: str) -> OutgoingSms:
    if kind in ("aliyun", "tencent"):  # template vendors: the token is a parameter
        return OutgoingSms(
            probe_id, MSISDN_CMCC, f"您的验证码为{token}，5分钟内有效。", signature=SIG,
            params={"token": token}, profile=ContentProfile.VERIFICATION_CODE,
        )  # fmt: skip
    return OutgoingSms(probe_id, MSISDN_CMCC, f"您的工单{token}已受理。", signature=SIG)


@pytest.mark.parametrize("kind", ["http", "smpp", "aliyun", "tencent"])
def test_every_receipt_knob_at_once_is_classified_as_the_truth_says(kind: str) -> None:
    modems = TimedModemSink()

    async def scenario() -> tuple[Any, list[Probe]]:
        knobs = {**ALL_KNOBS}
        async with rig(kind, modems=modems, knobs=knobs, code_daily_cap=0) as r:
            probes = []
            for n in range(PROBES):
                token = f"{n:06d}"
                result = await r.vendor.submit(_outgoing(kind, f"p{n}", token))
                probes.append(Probe(token, result))
            await r.network.wait_idle(20.0)
            sent = sum(len(t.receipts) * len(t.message_ids) for t in r.network.truth.records)
            await r.sink.wait_for(sent, 20.0)
        return r, probes

    r, probes = run(scenario(), 60.0)
    truth = {t.vendor_message_id: t for t in r.network.truth.records}
    index = DlrIndex()
    for p in probes:
        index.add(p.token, "acct", p.result.message_ids)
    dlrs: dict[str, list[DlrObservation]] = {}
    for d in r.sink.dlrs:
        hit = index.lookup(d.vendor, d.message_id)
        assert hit is not None, d  # every receipt belongs to a probe
        dlrs.setdefault(hit[0], []).append(
            DlrObservation(d.message_id, d.status.value, d.received_at_ns, d.done_at_ns)
        )
    now = time.time_ns() + 3600 * NS  # every window closed
    seen: dict[str, int] = {}
    verdict_lines = []
    for p in probes:
        t = truth[p.result.message_ids[0]]
        arrivals = [
            Arrival(f"a{i}", d.sms.text, d.sms.sender, (ArrivalPart(1, at, 0, 0.0, 0.1),))
            for i, (d, at) in enumerate(zip(r.modems.delivered, modems.at_ns, strict=True))
            if p.token in d.sms.text
        ]
        spec = ProbeSpec(
            p.token, "acct", MSISDN_CMCC, "notification", p.token, t.text_sent, SIG,
            p.result.accepted_at_ns, "accepted", p.result.message_ids,
        )  # fmt: skip
        v = judge(spec, arrivals, dlrs.get(p.token, []), [], now_ns=now, policy=POLICY)
        where = (kind, p.token, v.outcome, v.dlr, v.reasons, t.receipts)
        assert v.outcome in ((Outcome.DELIVERED, Outcome.LATE) if t.fate == "delivered"
                             else (Outcome.LOST,)), where  # fmt: skip
        # The DLR classification is the one the receipts actually sent make it.
        assert v.dlr.value in expected_dlr(truth_json(t), v.outcome.value), where
        seen[v.dlr.value] = seen.get(v.dlr.value, 0) + 1
        # Anomalies are shown, never invented.
        reasons = set(v.reasons)
        assert ("dlr:contradicting_final" in reasons) == t.contradicting_final, where
        if t.intermediate_after_final and not t.out_of_order_dlr:
            assert "dlr:intermediate_after_final" in reasons, where
        if "dlr:before_arrival" in reasons:
            assert t.dlr_before_arrival, where
        verdict_lines.append(
            {"probe_id": p.token, "vendor": "acct", "vendor_message_ids": list(t.message_ids),
             "msisdn": MSISDN_CMCC, "profile": "notification", "verdict": v.outcome.value,
             "dlr": v.dlr.value, "reasons": list(v.reasons)}
        )  # fmt: skip
    # The demo's own check agrees on every probe.
    check = compare(verdict_lines, [truth_json(t) for t in r.network.truth.records])
    assert not check.problems and check.matched == PROBES, check.problems
    assert check.fake_dlrs_caught == check.fake_dlrs_in_truth
    # The knobs did combine: each classification and each oddity occurred.
    assert {"consistent", "fake_success", "false_failure", "missing", "late"} <= set(seen), seen
    records = r.network.truth.records
    assert any(t.contradicting_final for t in records)
    assert any(t.out_of_order_dlr for t in records)
    assert any(t.dlr_count > 1 for t in records)
    assert any(t.dlr_before_arrival and t.fate == "delivered" for t in records)
    sent_enroute = any(x.status == "ENROUTE" for t in records for x in t.receipts)
    # The clouds' reports have no intermediate state: they never send one.
    assert sent_enroute == (kind in ("http", "smpp"))


def truth_json(t: TruthRecord) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(t.to_json())
    return data


# --- the truth records what was sent ------------------------------------------------------


def test_a_fake_dlr_that_went_missing_is_no_fake_dlr() -> None:
    knobs = Knobs(p_arrive=0.0, p_fake_delivered=1.0, p_missing_dlr=0.5)
    rng = random.Random(3)
    fates = [
        decide_fate(knobs, text="【探针科技】短", profile=ContentProfile.NOTIFICATION,
                    known_number=False, local_hour=10, blackhole=False, rng=rng)
        for _ in range(400)
    ]  # fmt: skip
    missing = [f for f in fates if not f.dlrs]
    assert 150 < len(missing) < 250
    assert not any(f.fake_dlr for f in missing)
    assert all(f.fake_dlr and f.dlrs[0].status is DlrStatus.DELIVRD for f in fates if f.dlrs)


def test_contradicting_and_out_of_order_receipts_are_planned_as_configured() -> None:
    knobs = Knobs(
        p_arrive=1.0, dlr_latency=Latency(median_s=3.0, sigma=0.5),
        p_contradicting_final=0.3, p_out_of_order_dlr=1.0, p_duplicate_dlr=0.5,
    )  # fmt: skip
    rng = random.Random(4)
    fates = [
        decide_fate(knobs, text="【探针科技】短", profile=ContentProfile.NOTIFICATION,
                    known_number=False, local_hour=10, blackhole=False, rng=rng)
        for _ in range(2000)
    ]  # fmt: skip
    both = {DlrStatus.UNDELIV, DlrStatus.DELIVRD}
    contradicted = [f for f in fates if {d.status for d in f.dlrs} >= both]
    assert abs(len(contradicted) / 2000 - 0.3) < 0.04
    for f in contradicted:
        by_done = sorted(f.dlrs, key=lambda d: d.after_s)
        assert by_done[0].status is DlrStatus.DELIVRD  # the claim comes first...
        other = next(d for d in by_done if d.status is DlrStatus.UNDELIV)
        assert other.after_s - by_done[0].after_s >= 60.0  # ...a whole minute before
    for f in fates:
        if len(f.dlrs) > 1:  # sent newest first, all at the last one's done time
            assert [d.after_s for d in f.dlrs] == sorted((d.after_s for d in f.dlrs), reverse=True)
            assert {d.sent_after_s for d in f.dlrs} == {max(d.after_s for d in f.dlrs)}


class FinalOnlyOutlet(ListOutlet):
    """A vendor whose report format has no intermediate state (Alibaba, Tencent)."""

    async def emit(self, dlr: SimulatedDlr) -> bool:
        return dlr.status.is_final and await super().emit(dlr)


def test_truth_lists_the_receipts_sent_and_early_ones_go_out_before_the_handset_has_it() -> None:
    knobs = {
        "p_arrive": 1.0,
        "latency": {"dist": "fixed", "median_s": 20.0},
        "dlr_latency": {"dist": "fixed", "median_s": 5.0},
        "p_dlr_before_arrival": 1.0,
        "p_enroute_after_final": 1.0,
    }

    async def scenario(outlet: ListOutlet) -> tuple[Any, RecordingModemSink, list[str]]:
        net, sink, _ = network(scenario_doc({"v": vendor_scenario(knobs=knobs)}))
        net.set_outlet("v", outlet)
        order: list[str] = []
        deliver = sink.deliver

        async def noting(modem: str, sms: EncodedSms) -> bool:
            order.append("sms")
            return await deliver(modem, sms)

        sink.deliver = noting  # type: ignore[method-assign]
        emit = outlet.emit

        async def noting_dlr(dlr: SimulatedDlr) -> bool:
            order.append(dlr.status.value)
            return await emit(dlr)

        outlet.emit = noting_dlr  # type: ignore[method-assign]
        try:
            outcome = net.submit("v", msisdn=MSISDN_CMCC, content="短", signature="探针科技")
            await net.wait_idle()
        finally:
            await net.close()
        assert outcome is not None
        return net, sink, order

    net, _, order = run(scenario(ListOutlet()))
    assert order == ["DELIVRD", "sms", "ENROUTE"]  # the claim went out 5 s before the SMS
    [t] = net.truth.records
    assert [x.status for x in t.receipts] == ["DELIVRD", "ENROUTE"]
    assert t.dlr_before_arrival and t.intermediate_after_final and t.dlr_status == "DELIVRD"
    assert not t.false_failure and not t.fake_dlr

    net, _, order = run(scenario(FinalOnlyOutlet()))
    [t] = net.truth.records
    assert [x.status for x in t.receipts] == ["DELIVRD"]  # the ENROUTE never went out
    assert not t.intermediate_after_final and t.dlr_count == 1


def test_the_truth_check_holds_the_dlr_to_the_last_truth_line() -> None:
    """A lost message: first no receipt, then a fake DELIVRD went out (a second line)."""
    settled = TruthRecord(
        vendor="v", vendor_message_id="m1", msisdn=MSISDN_CMCC, fate="lost", delivered_at=None,
        dlr_status=None, dlr_at=None, rewritten=False, receiver_down=False, message_ids=("m1",),
    )  # fmt: skip
    sent = SentReceipt("DELIVRD", "2026-11-24T10:00:05.000+08:00", "2026-11-24T10:00:05.000+08:00")
    faked = replace(settled, dlr_status="DELIVRD", dlr_at=sent.done_at, fake_dlr=True,
                    dlr_count=1, receipts=(sent,))  # fmt: skip
    verdict = {"probe_id": "p1", "vendor": "v", "vendor_message_ids": ["m1"],
               "msisdn": MSISDN_CMCC, "profile": "notification", "verdict": "lost"}  # fmt: skip
    lines = [truth_json(settled), truth_json(faked)]
    # Never sent (only the first line): "missing" is right, and no fake DLR is counted.
    only_planned = compare([{**verdict, "dlr": "missing"}], lines[:1])
    assert not only_planned.problems and only_planned.fake_dlrs_in_truth == 0
    # Sent: the last line holds, and the measurement must have caught it.
    missed = compare([{**verdict, "dlr": "missing"}], lines)
    assert missed.fake_dlrs_in_truth == 1 and missed.fake_dlrs_caught == 0
    assert [p for p in missed.problems if "fake DLR not caught" in p]
    caught = compare([{**verdict, "dlr": "fake_success"}], lines)
    assert not caught.problems and caught.fake_dlrs_caught == 1
    # An accusation the receipts do not support is a disagreement too.
    arrived = replace(faked, fate="delivered", fake_dlr=False)
    accused = compare([{**verdict, "verdict": "delivered", "dlr": "false_failure"}],
                      [truth_json(arrived)])  # fmt: skip
    assert len(accused.problems) == 1 and "consistent/late" in accused.problems[0]


def test_a_late_arrival_held_by_the_smsc_for_an_unhealthy_receiver_may_be_inconclusive() -> None:
    """Handed over while registered, delivered by the SMSC's retry after the modem
    deregistered: inconclusive with the receiver's own health reasons is no disagreement;
    inconclusive without them, or lost, still is."""
    arrived = TruthRecord(
        vendor="v", vendor_message_id="m2", msisdn=MSISDN_CMCC, fate="delivered",
        delivered_at="2026-11-24T10:00:05.000+08:00", dlr_status=None, dlr_at=None,
        rewritten=False, receiver_down=False, message_ids=("m2",),
    )  # fmt: skip
    verdict = {"probe_id": "p2", "vendor": "v", "vendor_message_ids": ["m2"],
               "msisdn": MSISDN_CMCC, "profile": "notification", "dlr": "missing"}  # fmt: skip
    held = ["late_while_receiver_unhealthy", "receiver:not_registered"]
    ok = compare([{**verdict, "verdict": "inconclusive", "reasons": held}], [truth_json(arrived)])
    assert not ok.problems
    bare = compare([{**verdict, "verdict": "inconclusive", "reasons": []}], [truth_json(arrived)])
    assert [p for p in bare.problems if "arrived at the SIM but judged inconclusive" in p]
    lost = compare([{**verdict, "verdict": "lost", "reasons": held}], [truth_json(arrived)])
    assert [p for p in lost.problems if "arrived at the SIM but judged lost" in p]


def test_an_interrupted_submit_is_held_to_the_message_the_vendor_accepted_then() -> None:
    """The collector was killed after the vendor took the message and before its id reached
    the ledger: the verdict names no id (error "interrupted"), so the truth check takes the
    unclaimed message accepted for that number closest to the submit (within 2 s). Its
    verdict is held to that message's fate; its DLR, unattributable without the id, is not."""
    arrived = TruthRecord(
        vendor="v", vendor_message_id="m3", msisdn=MSISDN_CMCC, fate="delivered",
        delivered_at="2026-11-24T10:00:05.000+08:00", dlr_status="DELIVRD",
        dlr_at="2026-11-24T10:00:06.000+08:00", rewritten=False, receiver_down=False,
        message_ids=("m3",), accepted_at="2026-11-24T10:00:01.300+08:00",
    )  # fmt: skip
    verdict = {"probe_id": "p3", "vendor": "v", "vendor_message_ids": [], "msisdn": MSISDN_CMCC,
               "profile": "notification", "dlr": "missing", "error": "interrupted",
               "submitted_at": "2026-11-24T02:00:01.000+00:00"}  # fmt: skip
    ok = compare([{**verdict, "verdict": "delivered"}], [truth_json(arrived)])
    assert not ok.problems and ok.matched == 1
    lost = compare([{**verdict, "verdict": "lost"}], [truth_json(arrived)])
    assert [p for p in lost.problems if "arrived at the SIM but judged lost" in p]
    # Accepted 3 s off, or already some other verdict's: no truth for it.
    late = replace(arrived, accepted_at="2026-11-24T10:00:04.100+08:00")
    far = compare([{**verdict, "verdict": "delivered"}], [truth_json(late)])
    assert [p for p in far.problems if "no ground truth" in p]
    named = {**verdict, "probe_id": "p4", "vendor_message_ids": ["m3"], "error": "",
             "verdict": "delivered", "dlr": "consistent"}  # fmt: skip
    taken = compare([named, {**verdict, "verdict": "delivered"}], [truth_json(arrived)])
    assert [p for p in taken.problems if p.startswith("p3 ") and "no ground truth" in p]
