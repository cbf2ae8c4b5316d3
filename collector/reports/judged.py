"""Ledger rows as the figures see them: one conversion for reports, alerts, time series,
evidence and the demo, so they all count the same probes the same way.

This is the data seam between the ledger and everything that reports on it; it lives apart
from the `report` command so alerts and evidence do not import a CLI module.
"""

from __future__ import annotations

from agent.common.numberplan import national
from collector.correlation.model import Outcome
from collector.ledger.base import Ledger
from collector.ledger.probes import StoredProbe, StoredVerdict
from collector.reports.figures import JudgedProbe
from collector.reports.lines import line_type


def load_judged(
    ledger: Ledger, *, since_ns: int, until_ns: int, vendor: str | None = None
) -> tuple[list[StoredProbe], dict[str, StoredVerdict], list[JudgedProbe]]:
    """Probes planned in [since, until) with their current verdicts, as the figures see them."""
    probes = [
        p
        for p in ledger.probes(since_ns=since_ns, until_ns=until_ns, vendor=vendor)
        if p.submit_status != "planned"  # never handed to the vendor: not "sent"
    ]
    verdicts = ledger.verdicts([p.plan.probe_id for p in probes])
    judged = [judged_probe(p, verdicts.get(p.plan.probe_id)) for p in probes]
    return probes, verdicts, judged


def judged_probe(probe: StoredProbe, verdict: StoredVerdict | None) -> JudgedProbe:
    """A probe with its current verdict; without one it is pending (or rejected/planned)."""
    plan = probe.plan
    sim = national(plan.msisdn)
    line = line_type(plan.msisdn, plan.carrier, plan.mvno)
    if verdict is None:
        outcome = "rejected" if probe.submit_status == "rejected" else "pending"
        return JudgedProbe(
            probe_id=plan.probe_id,
            vendor=plan.vendor,
            carrier=plan.carrier,
            region=plan.region,
            profile=plan.profile,
            band=plan.band,
            submitted_at_ns=probe.submitted_at_ns or plan.planned_at_ns,
            accepted=probe.submit_status == "accepted",
            outcome=outcome,
            dlr="not_applicable" if outcome == "rejected" else "pending",
            dlr_claim="none",
            content="none",
            parts=plan.parts,
            vendor_billed_parts=probe.billed_parts,
            billed_from=probe.billed_from,
            sim=sim,
            line=line,
        )
    v = verdict.verdict
    return JudgedProbe(
        probe_id=plan.probe_id,
        vendor=plan.vendor,
        carrier=plan.carrier,
        region=plan.region,
        profile=plan.profile,
        band=plan.band,
        submitted_at_ns=probe.submitted_at_ns or plan.planned_at_ns,
        accepted=probe.submit_status == "accepted",
        outcome=v.outcome.value,
        dlr=v.dlr.value,
        dlr_claim=v.dlr_claim.value,
        content=v.content.value,
        latency_s=v.latency_s if v.outcome in (Outcome.DELIVERED, Outcome.LATE) else None,
        latency_uncertainty_s=v.latency_uncertainty_s,
        vendor_delay_s=v.vendor_delay_s,
        carrier_delay_s=v.carrier_delay_s,
        duplicates=v.duplicates,
        parts=plan.parts,
        vendor_billed_parts=probe.billed_parts,
        billed_from=probe.billed_from,
        missing_parts=len(v.missing_parts) if v.outcome is Outcome.PARTIAL else 0,
        sim=sim,
        line=line,
    )
