"""The `probe` point as the schema-checked path builds it: from the report's JudgedProbe
(collector/reports/judged.py) through `make_point`. The writer encodes probe points
straight from ledger rows (collector/timeseries/probe_lines.py) for speed; this is what
those lines are held equal to, and what the dashboard tests feed InfluxDB."""

from __future__ import annotations

from collections.abc import Mapping

from collector.ledger.probes import StoredProbe
from collector.reports.figures import JudgedProbe
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
