"""A small, hand-countable ledger for the report, evidence and alert tests.

One agent (agent-1, one modem) and two vendors on 2026-11-24 (Asia/Shanghai):
- acme: 11 probes, 10 min apart from 00:05 local: p-acme-0..7 delivered (latency 2..9 s,
  one SMS each, a DELIVRD DLR each), p-acme-8 lost with a DELIVRD DLR (fake success),
  p-acme-9 inconclusive (receiver unhealthy), p-acme-10 rejected at submit (template);
- bolt: 5 probes, all delivered in 10 s, two parts each, no DLR.
Hand-computed figures are in the tests that use it.
"""

from __future__ import annotations

import uuid as uuidlib
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from agent.signing import RecordSigner
from collector.api.serde import record_to_proto
from collector.correlation.model import ContentVerdict, DlrClaim, DlrTruth, Outcome, Verdict
from collector.ledger.probes import ProbePlan, Submission
from collector.records import (
    AgentRegistration,
    ClockEstimate,
    IngestRecord,
    ModemHealth,
    ModemInfo,
    ReceivedSms,
    Registration,
    SimInfo,
    SmsPart,
)

NS = 1_000_000_000
TZ = ZoneInfo("Asia/Shanghai")
DAY = datetime(2026, 11, 24, tzinfo=TZ)
T0 = int(DAY.timestamp()) * NS  # 2026-11-24T00:00+08:00
SINCE, UNTIL = "2026-11-24T00:00", "2026-11-25T00:00"  # zone-less: the configured zone
AGENT, IMEI, ICCID, MSISDN = "agent-1", "860000000000001", "8986000000000000001", "+8613800000001"
CLOCK = ClockEstimate(offset_ms=12.5, uncertainty_ms=3.25, measured_at_ns=T0 - NS)
PRICES = {"acme": 0.05, "bolt": 0.04}
# SMS-DELIVER as read off a modem (SMSC +8613010000500, from 10086, GSM 7-bit "hello").
PDU = bytes.fromhex("0891683108100005F0040591806800F6000062101201000000" + "05E8329BFD06")
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


def sms(at_ns: int, parts: int = 1) -> ReceivedSms:
    return ReceivedSms(
        parts=tuple(
            SmsPart(
                uuid=str(uuidlib.uuid4()),
                raw_pdu=PDU,
                storage="SM",
                index=i,
                received_at_ns=at_ns + i,
                scts_ns=at_ns - 2 * NS,
                scts_tz_minutes=480,
                part_seq=i + 1,
            )
            for i in range(parts)
        ),
        smsc="+8613010000500",
        sender="10086",
        text="hello",
        encoding="gsm7",
        concat_ref=-1 if parts == 1 else 7,
        concat_total=parts,
    )


@dataclass
class Agent:
    """Feeds one registered agent's records into the ledger with gap-free seqs."""

    ledger: Any
    signer: RecordSigner | None = None  # the agent signs its records when given a key
    seq: int = 0
    records: list[IngestRecord] = field(default_factory=list)

    def add(self, at_ns: int, body: Any) -> str:
        self.seq += 1
        rec = IngestRecord(
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


def plan(pid: str, vendor: str, at_ns: int, parts: int = 1) -> ProbePlan:
    return ProbePlan(
        probe_id=pid,
        vendor=vendor,
        msisdn=MSISDN,
        profile="verification_code",
        token=f"T{pid}",
        body="code 1234",
        expected_text="【S】code 1234",
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


def build_world(ledger: Any, signer: RecordSigner | None = None, cert_pem: bytes = b"") -> None:
    ledger.register_agent(registration(), at_ns=T0 - 3600 * NS)
    if cert_pem:
        ledger.remember_agent_key(AGENT, cert_pem, at_ns=T0 - 3600 * NS)
    agent = Agent(ledger, signer)
    for k in range(-6, 4 * 12):  # health every 5 min from 23:30 to 04:00
        at = T0 + k * 300 * NS
        # 01:40-01:55 the modem lost its network: p-acme-9 (01:35) is inconclusive.
        agent.add(at, health(at, healthy=not 20 <= k <= 23))
    verdicts: list[Verdict] = []
    for i in range(11):
        pid, at = f"p-acme-{i}", T0 + (5 + 10 * i) * 60 * NS
        p = plan(pid, "acme", at)
        if i == 10:
            submit(ledger, p, status="rejected", error_kind="rejected:template")
            continue
        submit(ledger, p)
        dlr(ledger, "acme", pid, at + 30 * NS)
        if i < 8:
            latency = 2.0 + i
            uuid = agent.add(at + int(latency * NS), sms(at + int(latency * NS)))
            verdicts.append(delivered(pid, latency, uuid))
        elif i == 8:
            verdicts.append(
                Verdict(
                    pid,
                    Outcome.LOST,
                    DlrTruth.FAKE_SUCCESS,
                    DlrClaim.SUCCESS,
                    ContentVerdict.NONE,
                    reasons=("no arrival by give-up",),
                )
            )
        else:
            verdicts.append(
                Verdict(
                    pid,
                    Outcome.INCONCLUSIVE,
                    DlrTruth.UNVERIFIABLE,
                    DlrClaim.SUCCESS,
                    ContentVerdict.NONE,
                    reasons=("receiver not_registered",),
                )
            )
    for i in range(5):
        pid, at = f"p-bolt-{i}", T0 + (7 + 10 * i) * 60 * NS
        p = plan(pid, "bolt", at, parts=2)
        submit(ledger, p)
        uuid = agent.add(at + 10 * NS, sms(at + 10 * NS, parts=2))
        verdicts.append(delivered(pid, 10.0, uuid, DlrClaim.NONE))
    # A probe planned but never handed to the vendor is not "sent".
    ledger.add_probe(plan("p-acme-planned", "acme", T0 + 3 * 3600 * NS))
    agent.flush()
    ledger.save_verdicts(verdicts, at_ns=T0 + 3 * 3600 * NS)
    # p-acme-8 was first judged pending, then lost: one revision in its evidence.
    ledger.save_verdicts(
        [
            Verdict(
                "p-acme-8",
                Outcome.LATE,
                DlrTruth.CONSISTENT,
                DlrClaim.SUCCESS,
                ContentVerdict.INTACT,
                latency_s=99.0,
            )
        ],
        at_ns=T0 + 3 * 3600 * NS + 1,
    )
    ledger.save_verdicts(
        [next(v for v in verdicts if v.probe_id == "p-acme-8")], at_ns=T0 + 3 * 3600 * NS + 2
    )


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
