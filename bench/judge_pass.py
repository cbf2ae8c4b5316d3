"""Judging cost at a day's scale: a full pass over every open probe against a hot pass.

A SQLite ledger holds 24 h of one site: 20 SIMs probed every 5 min (5,760 probes, 97 %
arrived, DLRs for all), health every 60 s. The baseline is the judge as it was before
hot passes — every pass full (`full_pass_interval_s = 0`) — run in the same process on the
same ledger; "ratio" is how many times cheaper the hot pass the collector runs every
`judge_interval_s` is. Prints one JSON line.
"""

from __future__ import annotations

import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "protos" / "python")]

import structlog  # noqa: E402

from agent.common.units import NS  # noqa: E402
from agent.wire.records import Record, RecordBody  # noqa: E402
from collector.correlation.model import Policy  # noqa: E402
from collector.judging import Judge, JudgingConfig  # noqa: E402
from collector.ledger import open_ledger  # noqa: E402
from collector.ledger.probes import ProbePlan, Submission  # noqa: E402
from collector.ledger.sql import SqlLedger  # noqa: E402
from tests.collector.ledger.builders import CLOCK, T0, health, modem, new_uuid, registration, sms  # noqa: E402

SIMS, HOURS, PROBE_EVERY_S, HEALTH_EVERY_S, REPEATS = 20, 24, 300, 60, 5
AGENT = "agent-1"
POLICY = Policy(deadline_s=60, give_up_s=600, dlr_due_s=600)


def build(url: str) -> tuple[SqlLedger, int]:
    ledger = open_ledger(url)
    sims = [
        (f"8600000000{i:05d}", f"89860000000000{i:05d}", f"+86138000{i:05d}") for i in range(SIMS)
    ]
    ledger.register_agent(registration(AGENT, *(modem(*s) for s in sims)), at_ns=T0)
    seq = 0
    end = T0 + HOURS * 3600 * NS
    records: list[Record] = []

    def add(body: RecordBody, who: tuple[str, str, str]) -> None:
        nonlocal seq
        seq += 1
        records.append(
            Record(
                uuid=new_uuid(), seq=seq, persisted_at_ns=T0 + seq, clock=CLOCK,
                body=body, modem_imei=who[0], iccid=who[1], raw=b"raw",
            )
        )  # fmt: skip

    n = 0
    for s, who in enumerate(sims):
        for t in range(0, HOURS * 3600, HEALTH_EVERY_S):
            add(health(T0 + t * NS), who)
        for t in range(s, HOURS * 3600, PROBE_EVERY_S):
            n += 1
            pid, token, at = f"p{n}", f"{100000 + n}", T0 + t * NS
            ledger.add_probe(
                ProbePlan(
                    probe_id=pid, vendor="v", msisdn=who[2], profile="otp_cn", token=token,
                    body=f"code {token}", expected_text=f"code {token}", planned_at_ns=at,
                    agent_id=AGENT, modem_imei=who[0], iccid=who[1],
                )
            )  # fmt: skip
            ledger.record_submission(Submission(pid, "accepted", at, at, (f"m{n}",)))
            ledger.store_dlr(
                vendor="v", message_id=f"m{n}", status="DELIVRD", received_at_ns=at + 3 * NS,
                raw=b"dlr", dedupe_key=f"d{n}",
            )  # fmt: skip
            if n % 33:  # ~97 % arrive
                add(sms(at + 5 * NS, f"code {token}"), who)
    for i in range(0, len(records), 2000):
        ledger.ingest_batch(AGENT, records[i : i + 2000], [], at_ns=end)
    return ledger, n


def timed(judge: Judge) -> float:
    t0 = time.perf_counter()
    judge.judge_once()
    return time.perf_counter() - t0


def main() -> None:
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(40))
    base = "/dev/shm" if Path("/dev/shm").is_dir() else None
    with tempfile.TemporaryDirectory(dir=base) as tmp:
        ledger, probes = build(f"sqlite:///{tmp}/ledger.db")
        now = T0 + (HOURS * 3600 + 60) * NS
        config = JudgingConfig(policy=POLICY, health_max_silence_s=180, full_pass_interval_s=300)
        judge = Judge(ledger, config, lambda: now)
        full = timed(judge)  # the first pass is full
        hot = statistics.median(timed(judge) for _ in range(REPEATS))
        assert judge.full_passes == 1 and judge.hot_passes == REPEATS
        always_full = Judge(
            ledger,
            JudgingConfig(policy=POLICY, health_max_silence_s=180, full_pass_interval_s=0),
            lambda: now,
        )
        baseline = statistics.median(timed(always_full) for _ in range(REPEATS))
        ledger.close()
    print(
        json.dumps(
            {
                "bench": "judge_pass",
                "ledger": "sqlite",
                "open_probes": probes,
                "sims": SIMS,
                "hours": HOURS,
                "first_full_pass_s": round(full, 3),
                "hot_pass_s": round(hot, 4),
                "baseline_every_pass_full_s": round(baseline, 3),
                "ratio": round(baseline / hot, 1),
            }
        )
    )


if __name__ == "__main__":
    main()
