"""Issue 10 point 4, end to end on a simulated clock: two-part probes whose parts the
simulated network drops or delays, through the agent's outbox on disk, the wire format,
the collector's SQLite ledger, the judge and the alert conditions.

The network side is the vendor simulator's own pieces: `decide_fate` with `p_part_lost`
picks the part that never arrives (its ground truth), `encode_sms` builds the real
SMS-DELIVER PDUs. The handset side stands in for modem + receiver (named as such): each
delivered PDU is decoded with the agent's `decode_part` and persisted with
`Outbox.persist_part`, as the receiver does after AT+CMGL. The agent's housekeeping
(`expire_groups`, every 60 s) and the uplink (`pending_wire`, serialised `smsprobe.v1`
records) run on the same simulated clock.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from agent.outbox.store import ModemRef, Outbox
from agent.receive.receiver import decode_part
from agent.wire.records import ModemHealth, Record, Registration
from collector.alerts.engine import AlertKind, AlertRules, conditions
from collector.correlation.model import DlrTruth, Outcome, Policy
from collector.correlation.tokens import TokenKind, make_token
from collector.judging import Judge, JudgingConfig
from collector.ledger import open_ledger
from collector.ledger.probes import ProbePlan, Submission
from collector.ledger.sql import SqlLedger
from collector.probes.content import Category, expected_text
from collector.probes.content import ProbeProfile as Profile
from collector.quarantine import record_from_bytes
from collector.reports.figures import aggregate
from collector.reports.judged import load_judged
from collector.vendors.base import ContentProfile, sms_parts
from collector.vendors.simulator.network import encode_sms
from collector.vendors.simulator.scenario import Carrier, Knobs, Latency, LatencyDist, decide_fate
from tests.collector.ledger.builders import modem, registration

NS = 1_000_000_000
T0 = 1_767_225_600 * NS
AGENT = "agent-1"
IMEI, ICCID, MSISDN = "860000000000002", "8986000000000000002", "+8613800000002"
SENDER = "106901234"
SIGNATURE = "探针科技"
FILLER = (
    "您的保单已完成年度续期，保障范围与去年一致，电子保单已发送至您预留的邮箱，如需变更请登录应用"
)
HOUSEKEEPING_S = 60


class World:
    """One SIM, its agent's outbox and the collector's ledger, on a clock the test moves."""

    def __init__(self, tmp_path: Path) -> None:
        self.now = T0
        self.outbox = Outbox(tmp_path / "outbox.sqlite", now_ns=lambda: self.now)
        self.ledger: SqlLedger = open_ledger(f"sqlite:///{tmp_path}/ledger.db")
        self.ledger.register_agent(
            registration(AGENT, modem(IMEI, ICCID, MSISDN)), at_ns=T0 - 10 * NS
        )
        self.modem = ModemRef(IMEI, IMEI, ICCID)
        self.judge = Judge(
            self.ledger, JudgingConfig(policy=Policy(), full_pass_interval_s=0), lambda: self.now
        )
        self.uploaded = 0
        self.slot = 0
        self.next_health = T0 - 30 * NS

    def close(self) -> None:
        self.outbox.close()
        self.ledger.close()

    def deliver(self, pdu: bytes) -> None:
        """The stand-in for modem + receiver: persist the part as read off the SIM."""
        facts = decode_part(pdu)
        assert not isinstance(facts, ModemHealth)
        self.outbox.persist_part(self.modem, "SM", self.slot, pdu, facts)  # type: ignore[arg-type]
        self.slot += 1

    def run_until(self, until_ns: int) -> None:
        """Health every 30 s, housekeeping every 60 s, upload what is pending."""
        while self.now < until_ns:
            self.now = min(until_ns, self.now + HOUSEKEEPING_S * NS)
            while self.next_health <= self.now:
                self.outbox.append(
                    ModemHealth(self.next_health, True, -70.0, 0, Registration.HOME, healthy=True),
                    self.modem,
                )
                self.next_health += 30 * NS
            self.outbox.expire_groups()
            self.upload()

    def upload(self) -> None:
        wire = self.outbox.pending_wire(self.uploaded, 10_000)
        records = [record_from_bytes(w.wire) for w in wire]
        assert all(isinstance(r, Record) for r in records)
        if records:
            outcome = self.ledger.ingest_batch(AGENT, records, [], at_ns=self.now)  # type: ignore[arg-type]
            assert outcome.ingested == len(records), outcome
            self.outbox.mark_acked(w.seq for w in wire)
            self.uploaded = wire[-1].seq

    def submit(self, n: int) -> tuple[str, str, tuple[bytes, ...]]:
        """A two-part probe as the scheduler plans it; returns (probe id, text, PDUs)."""
        pid = f"p{n}"
        token = make_token(b"secret", pid, TokenKind.ORDER)
        text = expected_text_of(token)
        assert sms_parts(text) == 2
        self.ledger.add_probe(
            ProbePlan(
                probe_id=pid, vendor="acme", msisdn=MSISDN, profile="long_ucs2", token=token,
                body=text, expected_text=text, planned_at_ns=self.now, signature=SIGNATURE,
                parts=2, carrier="cmcc", agent_id=AGENT, modem_imei=IMEI, iccid=ICCID,
            )
        )  # fmt: skip
        self.ledger.record_submission(
            Submission(pid, "accepted", self.now, self.now, (f"m{n}a", f"m{n}b"))
        )
        scts = datetime.fromtimestamp(self.now / NS, UTC)
        sms = encode_sms(SENDER, text, scts, carrier=Carrier.CMCC, concat_ref=n)
        return pid, text, sms.pdus

    def delivrd(self, n: int, at_ns: int) -> None:
        for mid in (f"m{n}a", f"m{n}b"):
            self.ledger.store_dlr(
                vendor="acme", message_id=mid, status="DELIVRD", received_at_ns=at_ns,
                raw=mid.encode(), dedupe_key=mid,
            )  # fmt: skip


def expected_text_of(token: str) -> str:
    # Shaped like the long_ucs2 profile: the token in the first and in the last part.
    profile = Profile(
        "long", Category.NOTIFICATION, TokenKind.ORDER, f"保单{{token}}：{FILLER}。单号{{token}}"
    )
    return expected_text(profile, token, SIGNATURE)


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    w = World(tmp_path)
    yield w
    w.close()


def firing(world: World) -> set[AlertKind]:
    _, _, judged = load_judged(world.ledger, since_ns=T0 - NS, until_ns=world.now + NS)
    found = conditions(judged, [], [], now_ns=world.now, rules=AlertRules(window_s=4 * 3600))
    return {c.kind for c in found}


def test_fifteen_probes_each_with_a_part_never_delivered_are_partial_not_lost(
    world: World,
) -> None:
    """The issue's measurement: 15 two-part probes, one part each dropped by the network,
    DELIVRD for every part; was 15 x lost + fake_success and two false alerts."""
    knobs = Knobs(p_arrive=1.0, p_part_lost=1.0, latency=Latency(LatencyDist.FIXED, 3.0))
    rng = random.Random(10)
    truth: dict[str, int] = {}
    for n in range(15):
        pid, text, pdus = world.submit(n)
        fate = decide_fate(
            knobs, text=text, profile=ContentProfile.NOTIFICATION, known_number=False,
            local_hour=12, blackhole=False, rng=rng,
        )  # fmt: skip
        assert fate.lost_part is not None and len(pdus) == 2  # the simulator's ground truth
        truth[pid] = fate.lost_part + 1
        world.run_until(world.now + 3 * NS)
        for i, pdu in enumerate(pdus):
            if i != fate.lost_part:
                world.deliver(pdu)
        world.delivrd(n, world.now + 5 * NS)
        world.run_until(world.now + 20 * NS)
    assert sorted(set(truth.values())) == [1, 2]  # both parts were dropped in this run

    world.run_until(T0 + 1500 * NS)  # past every probe's give-up and health silence
    verdicts, _ = world.judge.judge_once()
    assert len(verdicts) == 15
    for v in verdicts:
        assert v.outcome is Outcome.PARTIAL, (v.probe_id, v.outcome, v.reasons)
        assert v.dlr is DlrTruth.CONSISTENT
        assert v.missing_parts == (truth[v.probe_id],)
    _, _, judged = load_judged(world.ledger, since_ns=T0 - NS, until_ns=world.now + NS)
    [cell] = aggregate(judged, group_by=("vendor",))
    assert (cell.partial, cell.parts_missing, cell.lost, cell.dlr["fake_success"]) == (15, 15, 0, 0)
    assert (cell.billed_parts, cell.verified_parts) == (30, 15)
    kinds = firing(world)
    assert AlertKind.FAKE_DLR_SURGE not in kinds and AlertKind.SLA_BREACH not in kinds


def test_a_second_part_two_hours_late_turns_partial_into_late_delivered(world: World) -> None:
    pid, _, (first, second) = world.submit(1)
    world.run_until(world.now + 4 * NS)
    world.deliver(first)
    world.delivrd(1, world.now + 2 * NS)

    world.run_until(T0 + 1000 * NS)
    [v] = world.judge.judge_once()[0]
    assert (v.outcome, v.dlr, v.missing_parts) == (Outcome.PARTIAL, DlrTruth.CONSISTENT, (2,))
    assert firing(world) == set()

    world.run_until(T0 + 7200 * NS)
    world.deliver(second)  # two hours late
    world.run_until(T0 + 7500 * NS)  # its own reassembly timeout, then the upload
    [v] = world.judge.judge_once()[0]
    assert (v.outcome, v.dlr, v.missing_parts) == (Outcome.LATE, DlrTruth.CONSISTENT, ())
    assert v.content.value == "intact" and v.latency_s is not None and v.latency_s >= 7200
    assert len(v.arrival_uuids) == 2 and v.duplicates == 0
    revisions = world.ledger.verdict_revisions(pid)
    assert [r.new[0] for r in revisions][-1] == "late"
    _, _, judged = load_judged(world.ledger, since_ns=T0 - NS, until_ns=world.now + NS)
    [cell] = aggregate(judged, group_by=("vendor",))
    assert (cell.late, cell.partial, cell.lost, cell.arrival_rate) == (1, 0, 0, 1.0)
    assert firing(world) == set()
