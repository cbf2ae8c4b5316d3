from __future__ import annotations

import math

import pytest

from collector.timeseries.points import SchemaError, make_point, to_line
from collector.timeseries.schema import MEASUREMENTS


def test_line_protocol_escaping_and_types() -> None:
    p = make_point(
        "probe",
        {"vendor": "acme sms,cn", "carrier": "china_mobile", "region": "", "profile": "a=b"},
        {"latency_s": 3, "delivered": True, "verdict": 'de"l\\', "fake_dlr": 0, "intact": None},
        1_700_000_000_000_000_000,
    )
    line = to_line(p)
    assert line == (
        r"probe,carrier=china_mobile,profile=a\=b,vendor=acme\ sms\,cn "
        r'latency_s=3.0,delivered=1i,verdict="de\"l\\",fake_dlr=0i 1700000000000000000'
    )


def test_schema_is_enforced() -> None:
    with pytest.raises(SchemaError, match="unknown measurement"):
        make_point("nope", {}, {"x": 1}, 0)
    with pytest.raises(SchemaError, match="unknown tags"):
        make_point("probe", {"msisdn": "8613800000000"}, {"latency_s": 1.0}, 0)
    with pytest.raises(SchemaError, match="expected int"):
        make_point("probe", {}, {"delivered": 0.5}, 0)
    with pytest.raises(SchemaError, match="expected float"):
        make_point("probe", {}, {"latency_s": "slow"}, 0)
    with pytest.raises(SchemaError, match="at least one field"):
        make_point("probe", {}, {"latency_s": math.nan}, 0)


def test_schema_matches_design() -> None:
    assert set(MEASUREMENTS) == {
        "probe", "arrival", "modem", "agent", "channel", "collector_unit", "collector_vendor"
    }  # fmt: skip
    assert MEASUREMENTS["probe"].tags == (
        "vendor",
        "carrier",
        "mvno",
        "region",
        "site",
        "agent",
        "profile",
        "line",
        "iccid",
    )
    assert set(MEASUREMENTS["arrival"].fields) == {
        "sent",
        "delivered",
        "lost",
        "partial",
        "parts_missing",
        "inconclusive",
        "rate",
        "ci_low",
        "ci_high",
        "p50_s",
        "p95_s",
    }
