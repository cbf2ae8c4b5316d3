"""Kinds of line and the per-SIM whitelisting test, held against the vendor simulator's
ground truth: a vendor that knows a test number (`known_test_number` subscriber,
`known_number_p_arrive = 1.0`) is flagged, an honest one with the same base rate is not."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest

from agent.common.tomlconfig import ConfigError
from collector.reports.build import build_report
from collector.reports.config import parse_reports
from collector.reports.figures import JudgedProbe, aggregate
from collector.reports.lines import line_type
from collector.reports.render import render_markdown
from collector.reports.sims import sim_outliers, whitelisting_suspects
from collector.vendors.simulator.network import Accepted, CarrierNetwork, RecordingModemSink
from collector.vendors.simulator.scenario import parse_scenario
from collector.vendors.simulator.truth import TruthLog, TruthRecord
from tests.collector.vendors.helpers import (
    MSISDN_CMCC,
    MSISDN_CUCC,
    MSISDN_KNOWN,
    run,
    scenario_doc,
    vendor_scenario,
)

MSISDN_OTHER = "13500135000"
SIG = "探针科技"


def test_line_type_from_segment_and_imsi_carrier() -> None:
    assert line_type("13800138000", "china_mobile") == "home"
    assert line_type("+8613800138000", "china_unicom") == "ported"  # CMCC segment, CUCC IMSI
    assert line_type("17012345678", "china_unicom") == "mvno"
    assert line_type("16512345678", "china_mobile", "") == "mvno"  # segment re-derived
    assert line_type("13800138000", "") == "unknown"
    assert line_type("10086", "china_mobile") == "unknown"
    assert line_type("13800138000", "china_mobile", overrides={"13800138000": "ported"}) == (
        "ported"
    )


def _probe(vendor: str, sim: str, outcome: str, i: int, line: str = "home") -> JudgedProbe:
    return JudgedProbe(
        probe_id=f"{vendor}-{sim}-{i}", vendor=vendor, carrier="china_mobile", region="bj",
        profile="notification", band="day", submitted_at_ns=i, accepted=True, outcome=outcome,
        dlr="consistent", dlr_claim="success", content="intact", sim=sim, line=line,
    )  # fmt: skip


def _counts(vendor: str, sim: str, arrived: int, judged: int) -> list[JudgedProbe]:
    return [_probe(vendor, sim, "delivered" if i < arrived else "lost", i) for i in range(judged)]


def test_the_trial_run_figures_are_not_enough_to_flag() -> None:
    """One SIM 16/16, the others 12/18, 20/24, 25/30: p = 0.036 for that SIM alone, but
    four SIMs were tested, so Holm multiplies it by 4 -> 0.146: not flagged at 0.05."""
    probes = [
        *_counts("v", "a", 16, 16),
        *_counts("v", "b", 12, 18),
        *_counts("v", "c", 20, 24),
        *_counts("v", "d", 25, 30),
    ]
    rows = {r.sim: r for r in sim_outliers(probes)}
    assert round(rows["a"].p_value, 4) == 0.0364
    assert round(rows["a"].p_adjusted, 4) == 0.1457
    assert (rows["a"].rest_arrived, rows["a"].rest_judged) == (57, 72)
    assert not any(r.flagged for r in rows.values())
    # The same shares at 3x the probes decide it.
    more = [
        *_counts("v", "a", 48, 48),
        *_counts("v", "b", 36, 54),
        *_counts("v", "c", 60, 72),
        *_counts("v", "d", 75, 90),
    ]
    assert [r.sim for r in sim_outliers(more) if r.flagged] == ["a"]


def _simulate(per_sim: int) -> list[TruthRecord]:
    knobs: dict[str, Any] = {
        "p_arrive": 0.7,
        "latency": {"dist": "fixed", "median_s": 2.0},
        "dlr_latency": {"dist": "fixed", "median_s": 1.0},
    }
    doc = scenario_doc(
        {
            "white": vendor_scenario(knobs={**knobs, "known_number_p_arrive": 1.0}),
            "honest": vendor_scenario(knobs=knobs),
        }
    )
    # A China Mobile number ported to Unicom: the simulator's truth says where it lives.
    doc["subscribers"].append({"msisdn": MSISDN_OTHER, "modem": "m4", "carrier": "cucc"})

    async def scenario() -> list[TruthRecord]:
        net = CarrierNetwork(parse_scenario(doc), RecordingModemSink(), TruthLog(None))
        try:
            for i in range(per_sim):
                for vendor in ("white", "honest"):
                    for msisdn in (MSISDN_CMCC, MSISDN_CUCC, MSISDN_KNOWN, MSISDN_OTHER):
                        out = net.submit(
                            vendor, msisdn=msisdn, content=f"您的订单{i:06d}已发货。", signature=SIG
                        )
                        assert isinstance(out, Accepted), out
            await net.wait_idle()
        finally:
            await net.close()
        return list(net.truth.records)

    return run(scenario())


# The simulator's carrier (the network the subscriber lives on) as the IMSI would say it.
IMSI_CARRIER = {"cmcc": "china_mobile", "cucc": "china_unicom", "ctcc": "china_telecom"}


def _judged_from_truth(records: Sequence[TruthRecord]) -> list[JudgedProbe]:
    """The simulator's fates as the figures see them (the judge is tested elsewhere)."""
    return [
        _probe(r.vendor, r.msisdn, "delivered" if r.fate == "delivered" else "lost", i,
               line=line_type(r.msisdn, IMSI_CARRIER[r.carrier]))
        for i, r in enumerate(records)
    ]  # fmt: skip


def test_whitelisting_vendor_flagged_honest_vendor_not() -> None:
    records = _simulate(per_sim=40)
    truth_rate = {
        (r.vendor, r.msisdn): sum(
            q.fate == "delivered" for q in records if (q.vendor, q.msisdn) == (r.vendor, r.msisdn)
        )
        for r in records
    }
    # Ground truth: the known number always arrives through "white", not through "honest".
    assert truth_rate[("white", MSISDN_KNOWN)] == 40
    assert truth_rate[("honest", MSISDN_KNOWN)] < 40
    suspects = whitelisting_suspects(sim_outliers(_judged_from_truth(records)))
    assert list(suspects) == ["white"]
    [flag] = suspects["white"]
    assert flag.sim == MSISDN_KNOWN and (flag.arrived, flag.judged) == (40, 40)
    assert flag.p_adjusted < 0.05


def test_report_has_line_and_sim_tables_and_names_the_favoured_sim() -> None:
    records = _simulate(per_sim=40)
    judged = _judged_from_truth(records)
    report = build_report(
        judged, since="s", until="u", generated_at="g", software_version="t",
        line_overrides={MSISDN_CMCC: "mvno"},  # the buyer knows better
    )  # fmt: skip
    by_line = {c.key["line"]: c.judged for c in report.tables["line"]}
    # 4 SIMs x 2 vendors x 40: the ported one derived, one overridden by config
    assert by_line == {"home": 160, "mvno": 80, "ported": 80}
    sims = {(c.key["vendor"], c.key["sim"]): c for c in report.tables["vendor_sim"]}
    assert sims[("white", MSISDN_KNOWN)].arrival_rate == 1.0
    assert sims[("white", MSISDN_OTHER)].key["line"] == "ported"
    assert [(o.vendor, o.sim) for o in report.sim_outliers if o.flagged] == [
        ("white", MSISDN_KNOWN)
    ]
    text = render_markdown(report)
    assert f"white: SIM {MSISDN_KNOWN} (home) 40/40" in text
    assert "## By vendor × SIM" in text
    assert report.to_json()["sim_outliers"][0]["vendor"] in ("honest", "white")
    assert aggregate(judged, group_by=("vendor", "line"))[0].key == {
        "vendor": "honest", "line": "home"
    }  # fmt: skip


def test_reports_lines_config_is_checked() -> None:
    cfg = parse_reports({"lines": {"13800138000": "ported"}}, file="c.toml")
    assert dict(cfg.lines) == {"13800138000": "ported"}
    with pytest.raises(ConfigError, match=r"c.toml: reports.lines.13800138000: expected one of"):
        parse_reports({"lines": {"13800138000": "roaming"}}, file="c.toml")
    with pytest.raises(ConfigError, match=r"c.toml: reports.lines.*11-digit"):
        parse_reports({"lines": {"10086": "home"}}, file="c.toml")
