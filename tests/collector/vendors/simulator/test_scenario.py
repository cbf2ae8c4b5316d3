"""Scenario knobs produce the configured statistics (seeded), and submit policy holds."""

from __future__ import annotations

import random
import statistics
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from agent.common.tomlconfig import ConfigError
from collector.vendors.base import ContentProfile, DlrStatus, RejectReason
from collector.vendors.simulator.scenario import (
    CHINA_TZ,
    UNSUBSCRIBE_SUFFIX,
    Carrier,
    DailyCaps,
    FateKind,
    Knobs,
    Latency,
    OutageMode,
    PeakBand,
    Rewrite,
    SignatureMode,
    TokenBucket,
    UnsubscribeMode,
    VendorScenario,
    carrier_for_msisdn,
    check_submit,
    decide_fate,
    load_scenario,
    parse_scenario,
    rewrite_content,
)
from tests.collector.vendors.helpers import scenario_doc, vendor_scenario

N = 4000
TEXT = "【探针科技】您的工单A7K3Q9已受理。"


def draw(
    knobs: Knobs, n: int = N, *, known: bool = False, hour: int = 10, seed: int = 1
) -> list[Any]:
    rng = random.Random(seed)
    return [
        decide_fate(
            knobs,
            text=TEXT,
            profile=ContentProfile.NOTIFICATION,
            known_number=known,
            local_hour=hour,
            blackhole=False,
            rng=rng,
        )
        for _ in range(n)
    ]


def share(values: list[bool]) -> float:
    return sum(values) / len(values)


def test_arrival_probability_matches_within_sampling_error() -> None:
    fates = draw(Knobs(p_arrive=0.9))
    rate = share([f.kind is FateKind.DELIVERED for f in fates])
    assert abs(rate - 0.9) < 0.02  # 4 sigma at n=4000 is 0.019


def test_same_seed_same_run_other_seed_other_run() -> None:
    knobs = Knobs(p_arrive=0.5)
    a = [f.kind for f in draw(knobs, 200, seed=3)]
    b = [f.kind for f in draw(knobs, 200, seed=3)]
    c = [f.kind for f in draw(knobs, 200, seed=4)]
    assert a == b
    assert a != c


def test_fake_delivered_only_on_lost_messages_at_the_configured_share() -> None:
    fates = draw(Knobs(p_arrive=0.5, p_fake_delivered=0.3))
    lost = [f for f in fates if f.kind is FateKind.LOST]
    delivered = [f for f in fates if f.kind is FateKind.DELIVERED]
    assert abs(share([f.fake_dlr for f in lost]) - 0.3) < 0.04
    assert all(f.dlrs[0].status is DlrStatus.DELIVRD for f in lost if f.fake_dlr)
    assert all(f.dlrs[0].status is DlrStatus.UNDELIV for f in lost if not f.fake_dlr)
    assert not any(f.fake_dlr for f in delivered)


def test_false_failures_missing_duplicate_and_late_dlrs() -> None:
    knobs = Knobs(
        p_arrive=1.0,
        p_false_failure=0.1,
        p_missing_dlr=0.2,
        p_duplicate_dlr=0.25,
        p_late_dlr=0.05,
        late_dlr_delay_s=100 * 3600.0,
    )
    fates = draw(knobs)
    assert abs(share([f.false_failure for f in fates]) - 0.1) < 0.02
    assert abs(share([not f.dlrs for f in fates]) - 0.2) < 0.03
    with_dlr = [f for f in fates if f.dlrs]
    assert abs(share([len(f.dlrs) == 2 for f in with_dlr]) - 0.25) < 0.03
    late = [f for f in with_dlr if f.dlrs[0].after_s > 72 * 3600]
    assert abs(len(late) / len(with_dlr) - 0.05) < 0.015
    assert all(f.dlrs[0].status is DlrStatus.UNDELIV for f in fates if f.false_failure and f.dlrs)


def test_lognormal_latency_median_and_peak_band_multiplier() -> None:
    knobs = Knobs(
        p_arrive=1.0,
        latency=Latency(median_s=4.0, sigma=0.6),
        peak_bands=(PeakBand(start_h=18, end_h=21, multiplier=3.0),),
    )
    off_peak = statistics.median(f.deliver_after_s for f in draw(knobs, hour=10))
    peak = statistics.median(f.deliver_after_s for f in draw(knobs, hour=19))
    assert 3.7 < off_peak < 4.3
    assert 11.0 < peak < 13.0


def test_known_test_numbers_are_favoured() -> None:
    knobs = Knobs(p_arrive=0.6, known_number_p_arrive=1.0)
    known = share([f.kind is FateKind.DELIVERED for f in draw(knobs, known=True)])
    normal = share([f.kind is FateKind.DELIVERED for f in draw(knobs)])
    assert known == 1.0
    assert abs(normal - 0.6) < 0.025


def test_blackhole_loses_everything_without_dlr() -> None:
    rng = random.Random(0)
    fate = decide_fate(
        Knobs(p_arrive=1.0, p_fake_delivered=1.0),
        text=TEXT,
        profile=ContentProfile.NOTIFICATION,
        known_number=False,
        local_hour=10,
        blackhole=True,
        rng=rng,
    )
    assert fate.kind is FateKind.LOST and fate.dlrs == () and not fate.fake_dlr


@pytest.mark.parametrize(
    ("rewrite", "profile", "text", "expected"),
    [
        (Rewrite(signature=SignatureMode.REPLACE, replacement_signature="通道商"),
         ContentProfile.NOTIFICATION, TEXT, "【通道商】您的工单A7K3Q9已受理。"),
        (Rewrite(signature=SignatureMode.REPLACE, replacement_signature="通道商"),
         ContentProfile.NOTIFICATION, "无签名", "【通道商】无签名"),
        (Rewrite(signature=SignatureMode.APPEND, replacement_signature="通道商"),
         ContentProfile.NOTIFICATION, TEXT, TEXT + "【通道商】"),
        (Rewrite(signature=SignatureMode.MOVE_TO_END), ContentProfile.NOTIFICATION, TEXT,
         "您的工单A7K3Q9已受理。【探针科技】"),
        (Rewrite(rewrite_links_to="http://t.cn/A6x"), ContentProfile.LINK,
         "【探针科技】详见 https://example.com/a?b=1 谢谢",
         "【探针科技】详见 http://t.cn/A6x 谢谢"),
        (Rewrite(unsubscribe=UnsubscribeMode.MARKETING), ContentProfile.MARKETING,
         "【探针科技】特惠", "【探针科技】特惠" + UNSUBSCRIBE_SUFFIX),
        (Rewrite(unsubscribe=UnsubscribeMode.MARKETING), ContentProfile.NOTIFICATION, TEXT, TEXT),
        (Rewrite(unsubscribe=UnsubscribeMode.ALWAYS), ContentProfile.NOTIFICATION, TEXT,
         TEXT + UNSUBSCRIBE_SUFFIX),
        (Rewrite(truncate_at=8), ContentProfile.NOTIFICATION, TEXT, "【探针科技】您的"),
    ],
)  # fmt: skip
def test_content_rewriting(
    rewrite: Rewrite, profile: ContentProfile, text: str, expected: str
) -> None:
    assert rewrite_content(text, rewrite, profile, random.Random(0)) == expected


def test_rewrite_share_is_reported_in_the_fate() -> None:
    knobs = Knobs(p_arrive=1.0, rewrite=Rewrite(p_apply=0.2, truncate_at=10))
    fates = draw(knobs)
    assert abs(share([f.rewritten for f in fates]) - 0.2) < 0.025
    assert all(len(f.text) == 10 for f in fates if f.rewritten)


def _check(
    vendor: VendorScenario,
    *,
    when: str = "2026-11-24T10:00:00",
    elapsed: float = 0.0,
    caps: DailyCaps | None = None,
    bucket: TokenBucket | None = None,
    **kw: Any,
) -> Any:
    fields: dict[str, Any] = {
        "msisdn": "13800138000",
        "signature": "探针科技",
        "content": "您的工单已受理。",
        "template_id": None,
        "profile": ContentProfile.NOTIFICATION,
    }
    fields.update(kw)
    return check_submit(
        vendor,
        now_local=datetime.fromisoformat(when).replace(tzinfo=CHINA_TZ),
        elapsed_s=elapsed,
        caps=caps or DailyCaps(),
        bucket=bucket or TokenBucket(0, 1),
        **fields,
    )  # fmt: skip


def test_submit_policy_rules() -> None:
    v = parse_scenario(scenario_doc({"v": vendor_scenario()})).vendors["v"]
    assert _check(v).accepted
    assert _check(v, signature="").reject is RejectReason.SIGNATURE
    assert _check(v, template_id="SMS_BAD").reject is RejectReason.TEMPLATE
    assert _check(v, profile=ContentProfile.VERIFICATION_CODE).reject is RejectReason.TEMPLATE
    assert _check(v, msisdn="+8613800138000").accepted
    assert _check(v, msisdn="2345").reject is RejectReason.NUMBER
    marketing: dict[str, Any] = {
        "profile": ContentProfile.MARKETING,
        "content": "特惠" + UNSUBSCRIBE_SUFFIX,
    }
    assert _check(v, **marketing).accepted
    assert _check(v, when="2026-11-24T07:59:00", **marketing).reject is RejectReason.CONTENT
    assert _check(v, when="2026-11-24T21:00:00", **marketing).reject is RejectReason.CONTENT
    assert (
        _check(v, profile=ContentProfile.MARKETING, content="特惠").reject is RejectReason.CONTENT
    )


def test_daily_code_cap_resets_at_local_midnight() -> None:
    v = parse_scenario(scenario_doc({"v": vendor_scenario(code_daily_cap=2)})).vendors["v"]
    caps = DailyCaps()
    otp: dict[str, Any] = {
        "profile": ContentProfile.VERIFICATION_CODE,
        "template_id": "SMS_OTP_1",
        "caps": caps,
    }
    assert _check(v, **otp).accepted
    assert _check(v, **otp).accepted
    third = _check(v, when="2026-11-24T23:00:00", **otp)
    assert not third.accepted and third.code == "108"
    assert third.throttled_retry_s == pytest.approx(3600.0)
    assert _check(v, when="2026-11-25T00:00:01", **otp).accepted


def test_token_bucket_throttles_on_simulated_time() -> None:
    bucket = TokenBucket(rate_per_s=2.0, burst=2)
    assert [bucket.take(0.0), bucket.take(0.0)] == [0.0, 0.0]
    assert bucket.take(0.0) == pytest.approx(0.5)
    assert bucket.take(0.5) == 0.0


def test_outage_windows() -> None:
    v = parse_scenario(
        scenario_doc(
            {"v": vendor_scenario(outages=[{"start_s": 10, "end_s": 20},
                                           {"start_s": 30, "end_s": 40, "mode": "blackhole"}])}
        )
    ).vendors["v"]  # fmt: skip
    assert _check(v, elapsed=9.9).accepted
    refused = _check(v, elapsed=10.0)
    assert not refused.accepted and refused.outage is not None
    assert _check(v, elapsed=20.0).accepted
    blackhole = _check(v, elapsed=35.0)
    assert blackhole.accepted and blackhole.outage is not None
    assert blackhole.outage.mode is OutageMode.BLACKHOLE


def test_carrier_by_prefix_and_ported_subscriber_override() -> None:
    assert carrier_for_msisdn("13800138000") is Carrier.CMCC
    assert carrier_for_msisdn("+8613000130000") is Carrier.CUCC
    assert carrier_for_msisdn("18900000000") is Carrier.CTCC
    assert carrier_for_msisdn("19200000000") is Carrier.CBN
    assert carrier_for_msisdn("17030000000") is Carrier.CMCC  # MVNO on Mobile
    assert carrier_for_msisdn("13490000000") is Carrier.CTCC  # 1349 satellite
    assert carrier_for_msisdn("02000000000") is Carrier.UNKNOWN
    doc = scenario_doc({"v": vendor_scenario()})
    doc["subscribers"].append({"msisdn": "13800000099", "modem": "m9", "carrier": "ctcc"})
    sub = parse_scenario(doc).subscriber("8613800000099")
    assert sub is not None and sub.carrier is Carrier.CTCC and sub.modem == "m9"


def test_per_carrier_knobs_override_vendor_defaults() -> None:
    doc = scenario_doc(
        {"v": vendor_scenario(carriers={"cucc": {"p_arrive": 0.5, "p_fake_delivered": 0.2}})}
    )
    v = parse_scenario(doc).vendors["v"]
    assert v.knobs_for(Carrier.CMCC).p_arrive == 1.0
    cucc = v.knobs_for(Carrier.CUCC)
    assert cucc.p_arrive == 0.5 and cucc.p_fake_delivered == 0.2
    assert cucc.latency == v.knobs.latency  # inherited


@pytest.mark.parametrize(
    ("mutate", "path"),
    [
        (lambda d: d["vendors"]["v"].update(bogus=1), "vendors.v.bogus"),
        (lambda d: d["vendors"]["v"]["knobs"].update(p_arrive=1.5), "vendors.v.knobs.p_arrive"),
        (lambda d: d["vendors"]["v"].update(protocol="pigeon"), "vendors.v.protocol"),
        (lambda d: d["vendors"]["v"].update(sender_prefix="955"), "vendors.v.sender_prefix"),
        (lambda d: d["vendors"]["v"].update(outages=[{"start_s": 5, "end_s": 1}]),
         "vendors.v.outages[0].end_s"),
        (lambda d: d["subscribers"].append({"msisdn": "123", "modem": "x"}),
         "subscribers[3].msisdn"),
        (lambda d: d.update(speedup=0), "speedup"),
    ],
)  # fmt: skip
def test_invalid_scenarios_name_the_key_path(mutate: Any, path: str) -> None:
    doc = scenario_doc({"v": vendor_scenario()})
    mutate(doc)
    with pytest.raises(ConfigError) as info:
        parse_scenario(doc)
    assert info.value.key_path == path


def test_load_toml_and_json_files(tmp_path: Path) -> None:
    toml = tmp_path / "s.toml"
    toml.write_text(
        'seed = 3\nspeedup = 10.0\n[vendors.a]\nsender_prefix = "1065"\n'
        '[vendors.a.knobs]\np_arrive = 0.8\n[[subscribers]]\nmsisdn = "13800138000"\n'
        'modem = "m1"\n',
        encoding="utf-8",
    )
    scenario = load_scenario(toml)
    assert scenario.seed == 3 and scenario.vendors["a"].knobs.p_arrive == 0.8
    js = tmp_path / "s.json"
    js.write_text('{"vendors": {"b": {}}}', encoding="utf-8")
    assert load_scenario(js).vendors["b"].sender == "10690001"
    bad = tmp_path / "bad.toml"
    bad.write_text("vendors = [", encoding="utf-8")
    with pytest.raises(ConfigError):
        load_scenario(bad)


def test_early_dlrs_out_of_order_intermediates_and_lost_parts() -> None:
    knobs = Knobs(
        p_arrive=1.0,
        latency=Latency(median_s=10.0, sigma=0.3),
        dlr_latency=Latency(median_s=2.0, sigma=0.3),
        p_dlr_before_arrival=0.2,
        p_enroute_after_final=0.1,
        p_part_lost=0.3,
    )
    rng = random.Random(5)
    long_text = "【探针科技】" + "长" * 200  # 206 UCS2 chars: 4 parts
    fates = [
        decide_fate(knobs, text=long_text, profile=ContentProfile.LONG, known_number=False,
                    local_hour=10, blackhole=False, rng=rng)
        for _ in range(N)
    ]  # fmt: skip
    assert fates[0].deliver_after_s is not None
    early = [f.dlrs[0].after_s < (f.deliver_after_s or 0.0) for f in fates]
    assert abs(share(early) - 0.2) < 0.025
    enroute_last = [f.dlrs[-1].status is DlrStatus.ENROUTE for f in fates]
    assert abs(share(enroute_last) - 0.1) < 0.02
    assert all(
        max(d.after_s for d in f.dlrs if d.status.is_final) < f.dlrs[-1].after_s
        for f in fates
        if f.dlrs[-1].status is DlrStatus.ENROUTE
    )
    lost = [f.lost_part for f in fates]
    assert abs(share([p is not None for p in lost]) - 0.3) < 0.03
    assert {p for p in lost if p is not None} == {0, 1, 2, 3}  # any part can go missing


def test_shipped_example_scenario_is_valid() -> None:
    path = Path(__file__).resolve().parents[4] / "collector/vendors/simulator/example_scenario.toml"
    scenario = load_scenario(path)
    assert set(scenario.vendors) == {"sim106", "simsmpp"}
    assert scenario.vendors["sim106"].knobs.p_part_lost == 0.005
    assert scenario.vendors["sim106"].knobs_for(Carrier.CUCC).p_arrive == 0.93
    sub = scenario.subscriber("13000000002")
    assert sub is not None and sub.carrier is Carrier.CTCC and sub.known_test_number
