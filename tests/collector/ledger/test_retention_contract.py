"""Retention and the audit log on SQLite and a real PostgreSQL: what a run masks, purges
and keeps, that a dry run counts exactly what a run does, that batches add up, that a
second run finds nothing; audit entries appended, listed and filtered."""

from __future__ import annotations

import hashlib

from collector.ledger import Ledger
from collector.ledger.audit import AuditEntry
from collector.ledger.retention import (
    Action,
    Cutoff,
    DataKind,
    Minimisation,
    mask_msisdn,
    mask_text,
)
from tests.collector.reports.world import INGESTED_AT, MSISDN, NS, T0
from tests.collector.retention.world import (
    CHANNEL_SENDER,
    LANES,
    OPEN_ALERT_SIM,
    PERSON,
    PRIVATE,
    REFUSED_FOR,
    TOUCHES,
    build_retention_world,
)

NOW = INGESTED_AT + 30 * 86400 * NS
OLD = INGESTED_AT + 1  # everything of the world is older than this


def policy(text: Action = Action.MASK, msisdn: Action = Action.MASK) -> Minimisation:
    return Minimisation((Cutoff(DataKind.TEXT, text, OLD), Cutoff(DataKind.MSISDN, msisdn, OLD)))


def run_all(ledger: Ledger, p: Minimisation, limit: int) -> dict[str, int]:
    total: dict[str, int] = {}
    while True:
        counts, more = ledger.minimise(p, at_ns=NOW, limit=limit)
        for k, v in counts.items():
            total[k] = total.get(k, 0) + v
        if not more:
            return total


def test_masking_keeps_rows_verdicts_and_the_signed_record_hash(ledger: Ledger) -> None:
    uuid = build_retention_world(ledger)
    before_sms = {s.uuid: s for s in ledger.received_sms()}
    raw = ledger.record_raw(sorted(before_sms))
    verdicts = {p: (v.verdict.outcome, v.verdict.latency_s) for p, v in ledger.verdicts().items()}
    health_uuids = [h.uuid for h in ledger.modem_health(before_sms[uuid].modem_imei, 0, 2**62)]
    health_raw = ledger.record_raw(health_uuids)

    counted = ledger.minimise_dry_run(policy(), at_ns=NOW)
    assert ledger.received_sms() == list(before_sms.values())  # a dry run changes nothing
    done = run_all(ledger, policy(), limit=7)  # small batches: several transactions
    assert done == counted
    assert done["sms.text"] == len(before_sms) == 14  # 13 probe arrivals and the person's
    assert done["sms.sender"] == len(before_sms)  # "10086" and the person's: numbers
    assert done["sms.msisdn"] == len(before_sms)
    assert done["records.raw"] == len(before_sms)
    assert done["sms_parts.raw_pdu"] == sum(len(s.sms.parts) for s in before_sms.values())
    settled = [p for p in ledger.probes() if p.final]
    assert len(settled) == 16  # p-acme-planned was never sent: never final
    assert done["probes.msisdn"] == done["probes.raw_exchange"] == done["probes.text"] == 16
    assert done["dlrs.raw"] == 10

    after = {s.uuid: s for s in ledger.received_sms()}
    assert set(after) == set(before_sms)  # every row stays
    person = after[uuid]
    assert person.sms.text == mask_text(PRIVATE) and PRIVATE not in person.sms.text
    assert person.sms.sender == mask_msisdn(PERSON) == "+8613*******78"
    assert person.msisdn == mask_msisdn(MSISDN)
    assert person.sms.user_data == b"" and all(p.raw_pdu == b"" for p in person.sms.parts)
    assert person.minimised == "text:mask,msisdn:mask,raw:purge"
    assert person.minimised_at_ns == NOW
    assert person.raw_sha256 == hashlib.sha256(raw[uuid]).hexdigest()
    assert ledger.record_raw(sorted(after)) == {}  # the signed records are gone
    # Times, verdicts and health (no texts, no numbers) are untouched.
    assert person.received_at_ns == before_sms[uuid].received_at_ns
    assert {p: (v.verdict.outcome, v.verdict.latency_s)
            for p, v in ledger.verdicts().items()} == verdicts  # fmt: skip
    assert ledger.record_raw(health_uuids) == health_raw
    for p in ledger.probes(probe_ids=[p.plan.probe_id for p in settled]):
        assert p.plan.msisdn == mask_msisdn(MSISDN) and p.raw_request == b""
        assert p.minimised == "text:mask,msisdn:mask,raw:purge" and p.plan.token
        assert "code" not in p.plan.body
    assert all(d.raw == b"" and d.minimised_at_ns == NOW for d in ledger.all_dlrs())

    # Idempotent: a second run finds nothing left.
    assert sum(ledger.minimise_dry_run(policy(), at_ns=NOW).values()) == 0
    assert sum(run_all(ledger, policy(), limit=1000).values()) == 0


def test_purge_after_mask_and_cutoffs_by_age(ledger: Ledger) -> None:
    uuid = build_retention_world(ledger)
    young = Minimisation((Cutoff(DataKind.TEXT, Action.MASK, T0),))  # all younger
    assert sum(run_all(ledger, young, limit=50).values()) == 0
    # Probes (planned from T0 + 5 min) are older than this, the records (ingested then) not.
    mid = Minimisation((Cutoff(DataKind.TEXT, Action.MASK, INGESTED_AT),))
    done = run_all(ledger, mid, limit=50)
    assert (done["probes.text"], done["sms.text"], done["records.raw"]) == (16, 0, 0)
    assert next(s for s in ledger.received_sms() if s.uuid == uuid).sms.text == PRIVATE
    run_all(ledger, policy(), limit=50)
    purged = run_all(ledger, policy(text=Action.PURGE, msisdn=Action.PURGE), limit=50)
    assert purged["sms.text"] == 14 and purged["records.raw"] == 0  # raw went with the mask
    person = next(s for s in ledger.received_sms() if s.uuid == uuid)
    assert (person.sms.text, person.sms.sender, person.msisdn) == ("", "", "")
    assert person.minimised == "raw:purge,text:purge,msisdn:purge"


def test_raw_alone_purges_bytes_and_keeps_texts(ledger: Ledger) -> None:
    uuid = build_retention_world(ledger)
    raw_only = Minimisation((Cutoff(DataKind.RAW, Action.PURGE, OLD),))
    done = run_all(ledger, raw_only, limit=100)
    assert done["records.raw"] == 14 and done["sms.text"] == 0 and done["dlrs.raw"] == 10
    person = next(s for s in ledger.received_sms() if s.uuid == uuid)
    assert person.sms.text == PRIVATE and person.minimised == "raw:purge"


def test_probes_still_open_wait_until_settled(ledger: Ledger) -> None:
    build_retention_world(ledger)
    run_all(ledger, policy(), limit=3)
    (open_probe,) = ledger.probes(probe_ids=["p-acme-planned"])  # never sent, never final
    assert not open_probe.final and open_probe.minimised == ""
    assert open_probe.plan.msisdn == MSISDN and "code" in open_probe.plan.body


def test_numbers_beyond_sms_and_probes_masked_then_purged(ledger: Ledger) -> None:
    build_retention_world(ledger)
    suppressed = ledger.suppressions()
    assert sorted(q.msisdn for q in suppressed) == sorted([*LANES, LANES[0]])
    done = run_all(ledger, policy(), limit=1)  # one suppression, one alert a batch
    assert done["quiet_suppressions.msisdn"] == 3 and done["alerts.subject"] == 1
    assert done["probes.error_detail"] == 1 and done["channel_observations.sender"] == 1
    assert done["verdicts.sender"] == 13  # the arrivals' sender 10086 (sms.sender: masked)
    masked = ledger.suppressions()
    assert len(masked) == 3  # the two lanes now alike merged into one row of lanes = 2
    assert [(q.vendor, q.profile, q.at_ns, q.local_day, q.resume_at_ns) for q in masked] == [
        (q.vendor, q.profile, q.at_ns, q.local_day, q.resume_at_ns) for q in suppressed
    ]
    assert {q.msisdn for q in masked} == {"+8613*******11"}
    alerts = {a.alert_id: a for a in ledger.alerts()}
    assert sorted(a.subject["sim"] for a in alerts.values()) == ["1370*****44", OPEN_ALERT_SIM]
    (refused,) = ledger.probes(probe_ids=["p-acme-10"])
    assert REFUSED_FOR not in refused.error_detail and "(code 4011)" in refused.error_detail
    (seen,) = ledger.channel_observations()
    assert seen.sender == mask_msisdn(CHANNEL_SENDER) and seen.smsc == "+8613800100500"
    assert {v.verdict.sender for v in ledger.verdicts().values()} <= {"***86", ""}
    assert sum(run_all(ledger, policy(), limit=1).values()) == 0  # idempotent

    purged = run_all(ledger, policy(Action.PURGE, Action.PURGE), limit=2)
    assert purged["quiet_suppressions.msisdn"] == 2 and purged["alerts.subject"] == 1
    assert len(ledger.suppressions()) == 3  # purged numbers merge too: none lost
    assert {q.msisdn for q in ledger.suppressions()} == {""}
    assert ledger.probes(probe_ids=["p-acme-10"])[0].error_detail == (
        "mobile  is on the blacklist (code 4011)"
    )
    assert sorted(a.subject["sim"] for a in ledger.alerts()) == ["", OPEN_ALERT_SIM]


def test_agent_samples_trimmed_by_age_each_agents_latest_kept(ledger: Ledger) -> None:
    build_retention_world(ledger)
    ledger.set_connected("agent-2", True, at_ns=T0, peer="p")  # another agent, one sample
    before = ledger.agent_samples_after(0, 100_000)
    assert len(before) > TOUCHES
    cut = T0 + (TOUCHES // 2) * NS  # half the touches are older
    trim = Minimisation((Cutoff(DataKind.AGENT_SAMPLES, Action.PURGE, cut),))
    assert ledger.minimise_dry_run(trim, at_ns=NOW)["agent_samples.rows"] > 0
    done = run_all(ledger, trim, limit=7)
    after = ledger.agent_samples_after(0, 100_000)
    latest = {s.agent_id: s.sample_id for s in before}  # ascending: the last one wins
    expected = [s.sample_id for s in before if s.at_ns >= cut or s.sample_id in latest.values()]
    assert [s.sample_id for s in after] == expected
    assert done["agent_samples.rows"] == len(before) - len(after) > 0
    assert sum(v for k, v in done.items() if k != "agent_samples.rows") == 0  # nothing else
    assert sum(run_all(ledger, trim, limit=7).values()) == 0


def test_audit_entries_appended_listed_and_filtered(ledger: Ledger) -> None:
    first = ledger.add_audit(
        AuditEntry(at_ns=100, kind="evidence_export", actor="alice", summary="export acme",
                   arguments={"vendor": "acme", "records": 11}, host="h1")
    )  # fmt: skip
    second = ledger.add_audit(
        AuditEntry(at_ns=200, kind="retention_run", actor="root (sudo by bob)",
                   summary="run", outcome="failed: ledger busy")
    )  # fmt: skip
    third = ledger.add_audit(AuditEntry(at_ns=300, kind="evidence_export", actor="carol",
                                        summary="export bolt"))  # fmt: skip
    assert first < second < third
    entries = ledger.audit_entries()
    assert [e.audit_id for e in entries] == [first, second, third]
    assert dict(entries[0].arguments) == {"records": 11, "vendor": "acme"}
    assert (entries[0].actor, entries[0].host, entries[1].outcome) == (
        "alice", "h1", "failed: ledger busy"
    )  # fmt: skip
    assert [e.summary for e in ledger.audit_entries(kind="evidence_export")] == [
        "export acme", "export bolt"
    ]  # fmt: skip
    assert [e.at_ns for e in ledger.audit_entries(since_ns=150, until_ns=300)] == [200]
