"""The Judge between full passes, on a real SQLite ledger: hot passes judge recent and
still-pending probes only; a late DLR for a settled probe is attributed and judged at once;
a late SMS for a settled probe waits for the next full pass; a full pass judges all."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from agent.common.units import NS
from agent.wire.records import Record, RecordBody
from collector.correlation.model import Outcome, Policy
from collector.judging import Judge, JudgingConfig
from collector.ledger import open_ledger
from collector.ledger.probes import ProbePlan, Submission
from tests.collector.ledger.builders import CLOCK, T0, health, modem, new_uuid, registration, sms

AGENT = "agent-1"
RX = ("860000000000002", "8986000000000000002", "+8613800000002")
POLICY = Policy(deadline_s=60, give_up_s=600, dlr_due_s=600)
CONFIG = JudgingConfig(
    policy=POLICY, health_max_silence_s=180, margin_s=300, full_pass_interval_s=3600
)
HOUR = 3600 * NS


class CountingLedger:
    """The real ledger, counting the probes each `probes()` call hands the judge."""

    def __init__(self, ledger: Any) -> None:
        self._ledger = ledger
        self.loaded = 0

    def probes(self, **kw: Any) -> Any:
        rows = self._ledger.probes(**kw)
        self.loaded += len(rows)
        return rows

    def __getattr__(self, name: str) -> Any:
        return getattr(self._ledger, name)


def rec(seq: int, body: RecordBody) -> Record:
    return Record(
        uuid=new_uuid(), seq=seq, persisted_at_ns=T0 + seq, clock=CLOCK, body=body,
        modem_imei=RX[0], iccid=RX[1], raw=b"raw",
    )  # fmt: skip


def add_probe(ledger: Any, pid: str, token: str, at_ns: int) -> None:
    ledger.add_probe(
        ProbePlan(
            probe_id=pid, vendor="v", msisdn=RX[2], profile="otp_cn", token=token,
            body=f"code {token}", expected_text=f"code {token}", planned_at_ns=at_ns,
            agent_id=AGENT, modem_imei=RX[0], iccid=RX[1],
        )
    )  # fmt: skip
    ledger.record_submission(Submission(pid, "accepted", at_ns, at_ns, (f"m-{pid}",)))


def test_hot_passes_between_full_ones(tmp_path: Path) -> None:
    real = open_ledger(f"sqlite:///{tmp_path}/ledger.db")
    ledger = CountingLedger(real)
    try:
        real.register_agent(registration(AGENT, modem(*RX)), at_ns=T0 - 10 * NS)
        seq = 0

        def ingest(*bodies: RecordBody) -> None:
            nonlocal seq
            records = []
            for body in bodies:
                seq += 1
                records.append(rec(seq, body))
            real.ingest_batch(AGENT, records, [], at_ns=T0 + seq)

        # Healthy every 60 s for 4 h; 20 probes in the first hour, never arriving.
        ingest(*(health(T0 + k * 60 * NS) for k in range(-5, 4 * 60)))
        for i in range(20):
            add_probe(real, f"old{i}", f"{100000 + i}", T0 + i * 120 * NS)
        now = T0 + 3 * HOUR
        judge = Judge(ledger, CONFIG, lambda: now)
        verdicts, _ = judge.judge_once()  # the first pass is full
        assert judge.full_passes == 1 and len(verdicts) == 20
        assert {v.outcome for v in verdicts} == {Outcome.LOST}

        # A new probe, then a hot pass: only it is loaded and judged.
        add_probe(real, "new", "200000", now - 60 * NS)
        ledger.loaded = 0
        verdicts, _ = judge.judge_once()
        assert (judge.full_passes, judge.hot_passes) == (1, 1)
        assert [v.probe_id for v in verdicts] == ["new"] and ledger.loaded == 1
        assert verdicts[0].outcome is Outcome.PENDING

        # A late DLR for an old, settled probe: attributed and judged in the hot pass.
        real.store_dlr(
            vendor="v", message_id="m-old3", status="DELIVRD", received_at_ns=now,
            raw=b"dlr", dedupe_key="d1",
        )  # fmt: skip
        verdicts, revisions = judge.judge_once()
        assert {v.probe_id for v in verdicts} == {"new", "old3"}
        assert [r.probe_id for r in revisions] == ["old3"]  # lost with a fake DLR now
        old3 = next(v for v in verdicts if v.probe_id == "old3")
        assert old3.dlr.value == "fake_success"

        # An SMS for an old probe uploaded hours late: the hot pass does not look at it,
        # the next full pass revises the probe to late.
        ingest(sms(T0 + 5 * 120 * NS + 700 * NS, "code 100005"))
        verdicts, _ = judge.judge_once()
        assert "old5" not in {v.probe_id for v in verdicts}
        now += CONFIG.full_pass_interval_s * NS
        ingest(*(health(now - k * 60 * NS) for k in range(3)))
        verdicts, revisions = judge.judge_once()
        assert judge.full_passes == 2 and len(verdicts) == 21
        # old5 revised by the late SMS; "new" is past its give-up by now
        assert {r.probe_id for r in revisions} == {"old5", "new"}
        assert next(v for v in verdicts if v.probe_id == "old5").outcome is Outcome.LATE
    finally:
        real.close()


def test_a_probe_still_pending_outside_the_hot_window_is_judged_every_pass(
    tmp_path: Path,
) -> None:
    real = open_ledger(f"sqlite:///{tmp_path}/ledger.db")
    try:
        real.register_agent(registration(AGENT, modem(*RX)), at_ns=T0 - 10 * NS)
        # Health up to 550 s after the probe, then nothing yet: the receiver has not
        # vouched for the end of its window (give-up at 600 s), so the probe waits.
        real.ingest_batch(
            AGENT, [rec(k + 3, health(T0 + k * 50 * NS)) for k in range(-2, 12)], [], at_ns=T0
        )
        add_probe(real, "p", "300000", T0)
        clock = [T0 + 700 * NS]
        judge = Judge(real, CONFIG, lambda: clock[0])
        [v], _ = judge.judge_once()
        assert v.outcome is Outcome.PENDING and "awaiting_receiver_health" in v.reasons
        # Long after the hot window, a hot pass still looks at it; the silence is now
        # longer than max_silence, so nobody can vouch: inconclusive, never lost.
        clock[0] = T0 + 3000 * NS  # hot window 1080 s, next full pass at 4300 s
        [v], _ = judge.judge_once()
        assert judge.hot_passes == 1
        assert v.outcome is Outcome.INCONCLUSIVE and "receiver:not_measured" in v.reasons
        assert judge.judge_once() == ([], [])  # settled: no longer hot
    finally:
        real.close()
