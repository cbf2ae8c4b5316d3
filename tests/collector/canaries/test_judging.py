"""The ledger query and the Judge on a real SQLite ledger: a probe to a receiver that failed
its canary is inconclusive ("receiver:canary_failed"); with the canary received it is lost."""

from __future__ import annotations

from pathlib import Path

from agent.canary import canary_text, canary_token
from agent.wire.records import CanarySent, Record, RecordBody
from collector.correlation.model import Outcome
from collector.judging import Judge, JudgingConfig
from collector.ledger import open_ledger
from collector.ledger.probes import ProbePlan, Submission
from tests.collector.ledger.builders import (
    CLOCK,
    NS,
    T0,
    health,
    modem,
    new_uuid,
    registration,
    sms,
)

AGENT = "agent-1"
SENDER = ("860000000000001", "8986000000000000001", "+8613800000001")
RECEIVER = ("860000000000002", "8986000000000000002", "+8613800000002")


def rec(seq: int, body: RecordBody, who: tuple[str, str, str]) -> Record:
    return Record(
        uuid=new_uuid(),
        seq=seq,
        persisted_at_ns=T0 + seq,
        clock=CLOCK,
        body=body,
        modem_imei=who[0],
        iccid=who[1],
        raw=b"raw",
    )


def run_case(tmp_path: Path, canary_arrives: bool) -> tuple[Outcome, tuple[str, ...]]:
    ledger = open_ledger(f"sqlite:///{tmp_path}/ledger.db")
    try:
        ledger.register_agent(
            registration(AGENT, modem(*SENDER), modem(*RECEIVER)), at_ns=T0 - 10 * NS
        )
        token = canary_token("c1", T0)
        text = canary_text("smsprobe canary {token}", token)
        records = [rec(1, CanarySent("c1", T0, RECEIVER[2], (7,), "", text), SENDER)]
        if canary_arrives:
            records.append(rec(2, sms(T0 + 5 * NS, text), RECEIVER))
        # Both modems report healthy every 30 s from before the canary to the end.
        seq = 10
        for k in range(-2, 40):
            for who in (SENDER, RECEIVER):
                records.append(rec(seq, health(T0 + k * 30 * NS), who))
                seq += 1
        ledger.ingest_batch(AGENT, records, [], at_ns=T0 + 1200 * NS)
        [stored] = ledger.canaries_sent(since_ns=T0 - NS)
        assert (stored.modem_imei, stored.to_msisdn, stored.text) == (SENDER[0], RECEIVER[2], text)
        assert stored.message_references == (7,) and stored.clock_offset_ms == CLOCK.offset_ms
        assert ledger.canaries_sent(since_ns=T0 + 1) == []

        # A probe to the receiver 100 s after the canary, never arriving.
        submitted = T0 + 100 * NS
        ledger.add_probe(
            ProbePlan(
                probe_id="p1", vendor="v", msisdn=RECEIVER[2], profile="otp_cn", token="482913",
                body="code 482913", expected_text="code 482913", planned_at_ns=submitted,
                agent_id=AGENT, modem_imei=RECEIVER[0], iccid=RECEIVER[1],
            )
        )  # fmt: skip
        ledger.record_submission(Submission("p1", "accepted", submitted, submitted, ("m1",)))
        now = T0 + 1000 * NS  # past the 600 s give-up and the 300 s canary deadline
        judge = Judge(ledger, JudgingConfig(health_max_silence_s=180.0), lambda: now)
        [verdict], _ = judge.judge_once()
        return verdict.outcome, verdict.reasons
    finally:
        ledger.close()


def test_a_receiver_that_failed_its_canary_makes_probes_to_it_inconclusive(
    tmp_path: Path,
) -> None:
    outcome, reasons = run_case(tmp_path, canary_arrives=False)
    assert outcome is Outcome.INCONCLUSIVE
    assert "receiver:canary_failed" in reasons


def test_with_its_canary_received_the_same_probe_is_lost(tmp_path: Path) -> None:
    outcome, reasons = run_case(tmp_path, canary_arrives=True)
    assert outcome is Outcome.LOST
    assert not any(r.startswith("receiver:") for r in reasons)
