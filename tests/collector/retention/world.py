"""The report/evidence world (tests/collector/reports/world.py) made retention-ready: its
probes settled by the real judge past the DLR window, plus one SMS from a third party (a
person's number and words: what retention exists for) on the probe SIM."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from agent.wire.signing import RecordSigner
from collector.judging import Judge, JudgingConfig
from tests.collector.reports.world import AGENT, INGESTED_AT, NS, T0, Agent, build_world, sms

PERSON = "+8613912345678"  # a third party's number
PRIVATE = "meet me at the old pier at five, bring the papers"  # a third party's words
SETTLED_AT = T0 + 80 * 3600 * NS  # past the 72 h DLR window: every probe final


def build_retention_world(
    ledger: Any, signer: RecordSigner | None = None, cert_pem: bytes = b""
) -> str:
    """Returns the uuid of the third party's SMS."""
    build_world(ledger, signer, cert_pem)
    (status,) = [a for a in ledger.agents() if a.agent_id == AGENT]
    agent = Agent(ledger, signer, seq=status.committed_seq)
    at = T0 + 150 * 60 * 1_000_000_000
    uuid = agent.add(at, replace(sms(at, PRIVATE, at - NS), sender=PERSON))
    agent.flush(INGESTED_AT)
    Judge(ledger, JudgingConfig(full_pass_interval_s=0), lambda: SETTLED_AT).judge_once()
    return uuid
