"""How many probe intervals a simulated vendor outage takes to raise its alert.

A vendor probes 8 SIMs every interval (60 s). For 6 simulated hours it delivers 98.5 % of
probes within seconds; then it breaks in one of two ways:
- hard: submits fail (connection refused / 5xx) — visible at once;
- silent: submits are accepted and DLRs say DELIVRD, nothing arrives — visible only when
  probes pass their give-up time (600 s).
Each interval every probe is judged with the real verdict rules and the real alert engine
evaluates. Baseline, in the same run: a naive alert that pages on every newly lost probe or failed
submit — how fast it is, and how many false alarms it raised in the healthy hours (ours
must raise none).
Prints one JSON line.
"""

from __future__ import annotations

import json
import pathlib
import random
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent))

from agent.common.units import NS
from collector.alerts.engine import AlertEngine, AlertKind, AlertRules, SubmitFailure, conditions
from collector.correlation.model import (
    Arrival,
    ArrivalPart,
    DlrObservation,
    Policy,
    ProbeSpec,
)
from collector.correlation.verdicts import judge
from collector.reports.figures import JudgedProbe

INTERVAL_S = 60
SIMS = 8
HEALTHY_INTERVALS = 360
POLICY = Policy(deadline_s=60, give_up_s=600, dlr_due_s=600)
RULES = AlertRules(window_s=1800, raise_after=2, clear_after=3)
T0 = 1_800_000_000 * NS


def simulate(kind: str, seed: int) -> dict[str, int | None]:
    rng = random.Random(seed)
    engine = AlertEngine(RULES)
    probes: list[tuple[ProbeSpec, Arrival | None]] = []
    failures: list[SubmitFailure] = []
    ours_false = naive_false = 0
    ours_at = naive_at = None
    outage_start = HEALTHY_INTERVALS
    outage_at = T0 + (outage_start - 1) * INTERVAL_S * NS
    seen_lost: set[str] = set()
    for step in range(HEALTHY_INTERVALS + 60):
        now = T0 + step * INTERVAL_S * NS
        broken = step >= outage_start
        for sim in range(SIMS):
            at = now + rng.randint(0, INTERVAL_S - 1) * NS - INTERVAL_S * NS
            if broken and kind == "hard":
                failures.append(SubmitFailure("v", at))
                continue
            spec = ProbeSpec(
                f"p{step}-{sim}",
                "v",
                f"86138{sim:08d}",
                "notification",
                "T",
                "t",
                "S",
                at,
                "accepted",
                (f"m{step}-{sim}",),
                carrier="china_mobile",
            )
            arrived = not broken and rng.random() < 0.985
            arrival = (
                Arrival(spec.probe_id, "t", "106", (ArrivalPart(1, at + 4 * NS, 0, 0.0, 5.0),))
                if arrived
                else None
            )
            probes.append((spec, arrival))
        judged = []
        for spec, arrival in probes[-int(RULES.window_s // INTERVAL_S) * SIMS * 2 :]:
            # Honest DLRs while healthy; during the silent outage the vendor fakes DELIVRD.
            status = "DELIVRD" if arrival or spec.submitted_at_ns >= outage_at else "UNDELIV"
            dlrs = [
                DlrObservation(spec.vendor_message_ids[0], status, spec.submitted_at_ns + 6 * NS)
            ]
            v = judge(spec, [arrival] if arrival else [], dlrs, [], now_ns=now, policy=POLICY)
            judged.append(
                JudgedProbe(
                    spec.probe_id,
                    "v",
                    spec.carrier,
                    "",
                    "notification",
                    "day",
                    spec.submitted_at_ns,
                    True,
                    v.outcome.value,
                    v.dlr.value,
                    v.dlr_claim.value,
                    v.content.value,
                    latency_s=v.latency_s,
                )
            )
        events = engine.evaluate(
            conditions(judged, failures, [], now_ns=now, rules=RULES), now_ns=now
        )
        started = [
            e
            for e in events
            if e.phase == "start"
            and e.kind in (AlertKind.SLA_BREACH, AlertKind.VENDOR_OUTAGE, AlertKind.FAKE_DLR_SURGE)
        ]
        # Naive: page on every newly lost probe or failed submit.
        new_lost = {j.probe_id for j in judged if j.outcome == "lost"} - seen_lost
        seen_lost |= new_lost
        lost_now = bool(new_lost) or (broken and kind == "hard")
        if started:
            if step < outage_start:
                ours_false += 1
            elif ours_at is None:
                ours_at = step - outage_start
        if lost_now:
            if step < outage_start:
                naive_false += 1
            elif naive_at is None:
                naive_at = step - outage_start
        if ours_at is not None and naive_at is not None:
            break
    return {
        "intervals_to_alert": ours_at,
        "false_alarms_before": ours_false,
        "naive_intervals_to_alert": naive_at,
        "naive_false_alarms_before": naive_false,
    }


def main() -> None:
    hard = simulate("hard", 1)
    silent = simulate("silent", 2)
    print(
        json.dumps(
            {
                "bench": "alert_latency",
                "probe_interval_s": INTERVAL_S,
                "sims": SIMS,
                "give_up_s": POLICY.give_up_s,
                "hard_outage": hard,
                "silent_outage": silent,
            }
        )
    )


if __name__ == "__main__":
    main()
