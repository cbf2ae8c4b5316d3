"""Kinds of line and the per-SIM whitelisting test, held against the vendor simulator's
ground truth: a vendor that knows a test number (`known_test_number` subscriber,
`known_number_p_arrive = 1.0`) is flagged, an honest one with the same base rate is not."""

from __future__ import annotations

import pytest

from agent.common.tomlconfig import ConfigError
from collector.reports.build import build_report
from collector.reports.config import parse_reports
from collector.reports.figures import aggregate
from collector.reports.lines import line_type
from collector.reports.render import render_markdown
from collector.reports.sims import sim_outliers, whitelisting_suspects
from tests.collector.reports.whitelist_world import (
    MSISDN_OTHER,
    counts,
    judged_from_truth,
    simulate,
)
from tests.collector.vendors.helpers import MSISDN_CMCC, MSISDN_KNOWN


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


def test_the_trial_run_figures_are_not_enough_to_flag() -> None:
    """One SIM 16/16, the others 12/18, 20/24, 25/30: p = 0.036 for that SIM alone, but
    four SIMs were tested, so Holm multiplies it by 4 -> 0.146: not flagged at 0.05."""
    probes = [
        *counts("v", "a", 16, 16),
        *counts("v", "b", 12, 18),
        *counts("v", "c", 20, 24),
        *counts("v", "d", 25, 30),
    ]
    rows = {r.sim: r for r in sim_outliers(probes)}
    assert round(rows["a"].p_value, 4) == 0.0364
    assert round(rows["a"].p_adjusted, 4) == 0.1457
    assert (rows["a"].rest_arrived, rows["a"].rest_judged) == (57, 72)
    assert not any(r.flagged for r in rows.values())
    # The same shares at 3x the probes decide it.
    more = [
        *counts("v", "a", 48, 48),
        *counts("v", "b", 36, 54),
        *counts("v", "c", 60, 72),
        *counts("v", "d", 75, 90),
    ]
    assert [r.sim for r in sim_outliers(more) if r.flagged] == ["a"]


def test_whitelisting_vendor_flagged_honest_vendor_not() -> None:
    records = simulate(per_sim=40)
    truth_rate = {
        (r.vendor, r.msisdn): sum(
            q.fate == "delivered" for q in records if (q.vendor, q.msisdn) == (r.vendor, r.msisdn)
        )
        for r in records
    }
    # Ground truth: the known number always arrives through "white", not through "honest".
    assert truth_rate[("white", MSISDN_KNOWN)] == 40
    assert truth_rate[("honest", MSISDN_KNOWN)] < 40
    suspects = whitelisting_suspects(sim_outliers(judged_from_truth(records)))
    assert list(suspects) == ["white"]
    [flag] = suspects["white"]
    assert flag.sim == MSISDN_KNOWN and (flag.arrived, flag.judged) == (40, 40)
    assert flag.p_adjusted < 0.05


def test_report_has_line_and_sim_tables_and_names_the_favoured_sim() -> None:
    records = simulate(per_sim=40)
    judged = judged_from_truth(records)
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
