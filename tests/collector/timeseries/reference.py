"""The `probe` and `arrival` points as the report's own objects give them: from
JudgedProbe (collector/reports/judged.py) and the report's cells (`aggregate`) through
`make_point`. The writer builds them from lean ledger rows for speed
(collector/timeseries/probe_lines.py, arrivals.py); these are what its points are held
equal to, and what the dashboard tests feed InfluxDB."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from collector.ledger.probes import StoredProbe
from collector.reports.figures import JudgedProbe, aggregate
from collector.reports.lines import line_type
from collector.timeseries.points import Point, make_point


def probe_point(
    j: JudgedProbe, probe: StoredProbe, lines: Mapping[str, str] | None = None
) -> Point:
    """`lines`: [reports.lines], the buyer's own word on a SIM's kind of line."""
    plan = probe.plan
    line = line_type(plan.msisdn, plan.carrier, plan.mvno, lines) if lines else j.line
    return make_point(
        "probe",
        {
            "vendor": j.vendor,
            "carrier": j.carrier,
            "mvno": plan.mvno,
            "region": j.region,
            "site": plan.site,
            "agent": plan.agent_id,
            "profile": j.profile,
            "line": line,
            "iccid": plan.iccid,
        },
        {
            "latency_s": j.latency_s,
            "vendor_delay_s": j.vendor_delay_s,
            "carrier_delay_s": j.carrier_delay_s,
            "delivered": int(j.outcome in ("delivered", "late")),
            "verdict": j.outcome,
            "dlr_status": j.dlr,
            "fake_dlr": int(j.dlr == "fake_success"),
            "intact": int(j.content == "intact"),
        },
        j.submitted_at_ns,
    )


def arrival_points(probes: Sequence[JudgedProbe], window: str, start_ns: int) -> list[Point]:
    cells = aggregate(probes, group_by=("vendor", "carrier", "region", "profile"))
    points = []
    for c in cells:
        points.append(
            make_point(
                "arrival",
                {**c.key, "window": window},
                {
                    "sent": c.sent,
                    "delivered": c.delivered + c.late,
                    "lost": c.lost,
                    "partial": c.partial,
                    "parts_missing": c.parts_missing,
                    "inconclusive": c.inconclusive,
                    "rate": c.arrival_rate,
                    "ci_low": c.ci_low,
                    "ci_high": c.ci_high,
                    "p50_s": c.latency_p50_s,
                    "p95_s": c.latency_p95_s,
                },
                start_ns,
            )
        )
    return points
