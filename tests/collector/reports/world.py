"""A small, hand-countable ledger for the report, evidence and alert tests.

One agent (agent-1, one modem, health every minute) and two vendors on 2026-11-24
(Asia/Shanghai):
- acme: 11 probes, 10 min apart from 00:05 local: p-acme-0..7 delivered (latency 2..9 s on
  the collector's clock, the SMSC stamp 1 s after submit, one SMS each, a DELIVRD DLR
  each), p-acme-8 lost with a DELIVRD DLR (fake success), p-acme-9 inconclusive (the modem
  lost its network 01:40-02:00), p-acme-10 rejected at submit (template);
- bolt: 5 probes, all delivered in 10 s, two parts each, no DLR.
The verdicts are the real judge's (collector/judging.py), run over these facts at 01:26
(p-acme-8 still pending) and 03:00, so every bundle exported from it re-judges as it is.
Hand-computed figures are in the tests that use it.
"""

from __future__ import annotations

import hashlib
import uuid as uuidlib
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from agent.sms.tpdu import encode_deliver
from agent.wire.records import (
    AgentRegistration,
    ClockEstimate,
    ModemHealth,
    ModemInfo,
    ReceivedSms,
    Record,
    Registration,
    SimInfo,
    SmsPart,
)
from agent.wire.serde import record_to_proto
from agent.wire.signing import RecordSigner
from collector.correlation.model import ContentVerdict, DlrClaim, DlrTruth, Outcome, Verdict
from collector.judging import Judge, JudgingConfig
from collector.ledger.probes import ProbePlan, Submission

NS = 1_000_000_000
TZ = ZoneInfo("Asia/Shanghai")
DAY = datetime(2026, 11, 24, tzinfo=TZ)
T0 = int(DAY.timestamp()) * NS  # 2026-11-24T00:00+08:00
SINCE, UNTIL = "2026-11-24T00:00", "2026-11-25T00:00"  # zone-less: the configured zone
AGENT, IMEI, ICCID, MSISDN = "agent-1", "860000000000001", "8986000000000000001", "+8613800000001"
CLOCK = ClockEstimate(offset_ms=12.5, uncertainty_ms=3.25, measured_at_ns=T0 - NS)
PRICES = {"acme": 0.05, "bolt": 0.04}
SMSC, SENDER = "+8613010000500", "10086"
INGESTED_AT = T0 + 20 * 3600 * NS


def registration(at_ns: int = T0 - 3600 * NS) -> AgentRegistration:
    sim = SimInfo(iccid=ICCID, imsi="460001234567890", msisdn=MSISDN, carrier="china_mobile")
    return AgentRegistration(
        agent_id=AGENT,
        software_version="0.1.0",
        capabilities=("sms-receive",),
        site="bj-1",
        region="north",
        modems=(
            ModemInfo(imei=IMEI, manufacturer="Quectel", model="EC25", firmware="R1", sim=sim),
        ),
        agent_time_ns=at_ns,
    )


def health(at_ns: int, healthy: bool = True) -> ModemHealth:
    return ModemHealth(
        at_ns=at_ns,
        responding=True,
        rssi_dbm=-71.0,
        registration=Registration.HOME if healthy else Registration.SEARCHING,
        operator_mcc_mnc="46000",
        sim_state="READY",
        storage_used=3,
        storage_total=50,
        healthy=healthy,
        reasons=() if healthy else ("not_registered",),
        iccid=ICCID,
    )


def pdus(text: str, scts_ns: int) -> list[bytes]:
    """SMS-DELIVER PDUs of `text` as read off a modem (SMSC prefix included)."""
    scts = datetime.fromtimestamp(scts_ns / NS, UTC).astimezone(TZ)
    return [e.pdu for e in encode_deliver(SENDER, text, scts, smsc=SMSC, concat_ref=7)]


def sms(received_ns: int, text: str, scts_ns: int) -> ReceivedSms:
    """`text` received at `received_ns` (agent clock), all parts read at once."""
    raw = pdus(text, scts_ns)
    return ReceivedSms(
        parts=tuple(
            SmsPart(
                uuid=str(uuidlib.uuid4()),
                raw_pdu=pdu,
                storage="SM",
                index=i,
                received_at_ns=received_ns,
                scts_ns=scts_ns,
                scts_tz_minutes=480,
                part_seq=i + 1,
            )
            for i, pdu in enumerate(raw)
        ),
        smsc=SMSC,
        sender=SENDER,
        text=text,
        encoding="ucs2",
        dcs=8,
        concat_ref=-1 if len(raw) == 1 else 7,
        concat_total=len(raw),
    )


@dataclass
class Agent:
    """Feeds one registered agent's records into the ledger with gap-free seqs."""

    ledger: Any
    signer: RecordSigner | None = None  # the agent signs its records when given a key
    seq: int = 0
    records: list[Record] = field(default_factory=list)

    def add(self, at_ns: int, body: Any) -> str:
        self.seq += 1
        rec = Record(
            uuid=str(uuidlib.uuid4()),
            seq=self.seq,
            persisted_at_ns=at_ns,
            clock=CLOCK,
            body=body,
            modem_imei=IMEI,
            iccid=ICCID,
        )
        wire = record_to_proto(rec).SerializeToString(deterministic=True)
        rec = replace(rec, raw=self.signer.sign(wire) if self.signer else wire)
        self.records.append(rec)
        return rec.uuid

    def flush(self, at_ns: int = INGESTED_AT) -> None:
        outcome = self.ledger.ingest_batch(AGENT, self.records, [], at_ns=at_ns)
        assert outcome.quarantined == 0, outcome.rejections
        self.records = []


def token(pid: str) -> str:
    """A 6-digit verification code per probe (collector/correlation/tokens.py finds it)."""
    return str(100000 + int(hashlib.sha256(pid.encode()).hexdigest(), 16) % 900000)


def plan(pid: str, vendor: str, at_ns: int, parts: int = 1) -> ProbePlan:
    # A two-part probe is long enough for two UCS-2 segments (TS 23.038: 67 per part).
    body = f"code {token(pid)}" + "，请勿泄露给他人" * 9 * (parts - 1)
    return ProbePlan(
        probe_id=pid,
        vendor=vendor,
        msisdn=MSISDN,
        profile="verification_code",
        token=token(pid),
        body=body,
        expected_text=f"【S】{body}",
        planned_at_ns=at_ns,
        signature="S",
        parts=parts,
        band="00-06",
        carrier="china_mobile",
        region="north",
        site="bj-1",
        agent_id=AGENT,
        modem_imei=IMEI,
        iccid=ICCID,
    )


def submit(
    ledger: Any,
    p: ProbePlan,
    *,
    status: str = "accepted",
    error_kind: str = "",
    at_ns: int | None = None,
) -> None:
    at = p.planned_at_ns if at_ns is None else at_ns
    ledger.add_probe(p)
    ledger.record_submission(
        Submission(
            p.probe_id,
            status,
            at,
            at + NS // 10,
            (f"M{p.probe_id}",) if status == "accepted" else (),
            f"mobile={MSISDN}&content={p.body}".encode(),
            b'{"code":0,"msgid":"M' + p.probe_id.encode() + b'"}',
            error_kind,
            "refused" if error_kind else "",
        )
    )


def dlr(ledger: Any, vendor: str, pid: str, at_ns: int, status: str = "DELIVRD") -> None:
    row, _ = ledger.store_dlr(
        vendor=vendor,
        message_id=f"M{pid}",
        status=status,
        received_at_ns=at_ns,
        raw=f"id:M{pid} stat:{status}".encode(),
        dedupe_key=f"{pid}-{status}",
        vendor_status_raw=status,
    )
    ledger.attribute_dlrs([(row.dlr_id, pid, "same")])


def delivered(
    pid: str, latency: float, uuid: str, dlr_claim: DlrClaim = DlrClaim.SUCCESS
) -> Verdict:
    """A hand-made delivered verdict (the alert tests store verdicts directly)."""
    return Verdict(
        pid,
        Outcome.DELIVERED,
        DlrTruth.CONSISTENT if dlr_claim is DlrClaim.SUCCESS else DlrTruth.MISSING,
        dlr_claim,
        ContentVerdict.INTACT,
        latency_s=latency,
        latency_uncertainty_s=0.5,
        vendor_delay_s=1.0,
        carrier_delay_s=latency - 1.0,
        sender="10086",
        reasons=(f"arrived {latency:.1f} s after submit",),
        arrival_uuids=(uuid,),
    )


def arrive(agent: Agent, p: ProbePlan, latency_s: float) -> str:
    """The probe's SMS on the SIM `latency_s` after submit on the collector's clock (the
    agent's clock is CLOCK.offset_ms behind), stamped by the SMSC 1 s after submit."""
    at = p.planned_at_ns + int(latency_s * NS) - round(CLOCK.offset_ms * 1e6)
    return agent.add(at, sms(at, p.expected_text, p.planned_at_ns + NS))


def build_world(ledger: Any, signer: RecordSigner | None = None, cert_pem: bytes = b"") -> None:
    ledger.register_agent(registration(), at_ns=T0 - 3600 * NS)
    if cert_pem:
        ledger.remember_agent_key(AGENT, cert_pem, at_ns=T0 - 3600 * NS)
    agent = Agent(ledger, signer)
    for k in range(-30, 4 * 60):  # health every minute from 23:30 to 04:00
        at = T0 + k * 60 * NS
        # 01:40-02:00 the modem lost its network: p-acme-9 (01:35) is inconclusive.
        agent.add(at, health(at, healthy=not 100 <= k < 120))
    for i in range(11):
        pid, at = f"p-acme-{i}", T0 + (5 + 10 * i) * 60 * NS
        p = plan(pid, "acme", at)
        if i == 10:
            submit(ledger, p, status="rejected", error_kind="rejected:template")
            continue
        submit(ledger, p)
        dlr(ledger, "acme", pid, at + 30 * NS)
        if i < 8:
            arrive(agent, p, 2.0 + i)
    for i in range(5):
        p = plan(f"p-bolt-{i}", "bolt", T0 + (7 + 10 * i) * 60 * NS, parts=2)
        submit(ledger, p)
        arrive(agent, p, 10.0)
    # A probe planned but never handed to the vendor is not "sent".
    ledger.add_probe(plan("p-acme-planned", "acme", T0 + 3 * 3600 * NS))
    agent.flush()
    # The real judge (default settings, as `evidence export` states them without [probes]):
    # p-acme-8 (01:25) is pending at 01:26, lost at 03:00 (one revision in its evidence).
    clock = [T0 + 86 * 60 * NS]
    judge = Judge(ledger, JudgingConfig(full_pass_interval_s=0), lambda: clock[0])
    judge.judge_once()
    clock[0] = T0 + 3 * 3600 * NS
    judge.judge_once()


def write_config(directory: Any, ledger_url: str, *, extra: str = "") -> Any:
    """collector.toml with [reports] for these tests; returns its path."""
    path = directory / "collector.toml"
    path.write_text(
        f"""
[ledger]
url = "{ledger_url}"

[reports]
timezone = "Asia/Shanghai"
evidence_base_url = "https://probe.example/evidence"
[reports.thresholds]
arrival_rate = 0.97
p95_latency_s = 60
alpha = 0.05
[reports.prices]
acme = 0.05
bolt = 0.04
{extra}
"""
    )
    return path
