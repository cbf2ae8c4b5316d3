"""The report/evidence world (tests/collector/reports/world.py) made retention-ready: its
probes settled by the real judge past the DLR window, plus one SMS from a third party (a
person's number and words: what retention exists for) on the probe SIM, and the other
places a number lands: a vendor's refusal quoting it, quiet-hour suppressions of two lanes
whose masked numbers look alike, whitelisting alerts naming a SIM (one ended, one open),
and agent samples (a liveness touch a second for a minute)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from agent.wire.signing import RecordSigner
from collector.judging import Judge, JudgingConfig
from collector.ledger.channels import ChannelObservation
from collector.ledger.periods import QuietSuppression
from collector.ledger.probes import Submission
from tests.collector.reports.world import AGENT, INGESTED_AT, NS, T0, Agent, build_world, sms

PERSON = "+8613912345678"  # a third party's number
PRIVATE = "meet me at the old pier at five, bring the papers"  # a third party's words
SETTLED_AT = T0 + 80 * 3600 * NS  # past the 72 h DLR window: every probe final
# Numbers that only the places retention reaches besides sms/probes hold.
REFUSED_FOR = "+8613700003333"  # quoted by the vendor refusing p-acme-10
LANES = ("+8613700001111", "+8613700002211")  # masked alike: +8613*******11
ALERTED_SIM, OPEN_ALERT_SIM = "13700004444", "13700005555"  # national, as alerts name SIMs
TOUCHES = 60  # agent samples added (one a second)
CHANNEL_SENDER = "106901234567801"  # a sender code with the extension: number-like, masked


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
    refused = T0 + 105 * 60 * NS  # p-acme-10's planned time
    ledger.record_submission(
        Submission("p-acme-10", "rejected", refused, refused + NS // 10,
                   error_kind="rejected:template",
                   error_detail=f"mobile {REFUSED_FOR} is on the blacklist (code 4011)")
    )  # fmt: skip
    quiet = T0 + 3600 * NS
    ledger.record_suppressions(
        [QuietSuppression("acme", lane, "marketing", quiet, "2026-11-24", quiet + 9 * 3600 * NS)
         for lane in LANES]
        + [QuietSuppression("acme", LANES[0], "marketing", quiet + 60 * NS, "2026-11-24",
                            quiet + 9 * 3600 * NS)]
    )  # fmt: skip
    for sim, ended in ((ALERTED_SIM, True), (OPEN_ALERT_SIM, False)):
        subject = {"vendor": "acme", "sim": sim}
        ledger.start_alert("whitelisting_suspected", subject, at_ns=T0, figures={"arrived": 9})
        if ended:
            ledger.end_alert("whitelisting_suspected", subject, at_ns=T0 + 3600 * NS, figures={})
    ledger.save_channel_observations(
        [ChannelObservation("p-acme-0", "acme", "china_mobile", "verification", T0 + 5 * 60 * NS,
                            T0 + 5 * 60 * NS + 2 * NS, 2.0, CHANNEL_SENDER, "+8613800100500")]
    )  # fmt: skip
    for k in range(TOUCHES):
        ledger.touch_agent(AGENT, at_ns=T0 + k * NS, outbox_depth=k, oldest_pending_ns=0,
                           clock_offset_ms=0.5, clock_uncertainty_ms=2.0)  # fmt: skip
    Judge(ledger, JudgingConfig(full_pass_interval_s=0), lambda: SETTLED_AT).judge_once()
    return uuid
