"""What the evidence export reads, on SQLite and a real PostgreSQL: each read as plain
tuples (probes: tests/collector/evidence/test_probe_facts.py) equal to the object reads
it replaces — the arrivals a verdict names with their signed records (`Ledger.sms_rows`
against `sms_of` and `record_raw`), the DLRs (`dlr_rows_of` against `dlrs_of`) — and
the canaries' texts."""

from __future__ import annotations

from dataclasses import replace

from agent.common.units import NS
from collector.ledger import Ledger
from tests.collector.ledger.builders import NOW, T0, record, registration, sms


def test_received_texts_are_received_sms_without_parts(ledger: Ledger) -> None:
    """What canary judging reads of every SMS since the oldest canary: the texts to the
    targets on the collector clock, per MSISDN in the order received_sms gives them."""
    ledger.register_agent(registration(), at_ns=T0)
    recs = [record(i + 1, sms(T0 + (7 - i) * NS, f"text {i}", parts=1 + i % 2)) for i in range(8)]
    ledger.ingest_batch("agent-1", recs, [], at_ns=NOW)
    every = ledger.received_sms(since_ns=T0 + 2 * NS)
    msisdn = every[0].msisdn
    offset = round(every[0].clock.offset_ms * 1e6)

    got = ledger.received_texts(since_ns=T0 + 2 * NS, msisdns=[msisdn, "+8613999999999"])

    assert [tuple(r) for r in got] == [
        (s.uuid, s.msisdn, s.sms.text, s.received_at_ns + offset) for s in every
    ]
    assert len(got) == 6 and offset != 0
    assert ledger.received_texts(since_ns=T0, msisdns=["+8613999999999"]) == []


def test_dlr_rows_of_are_dlrs_of_as_tuples(ledger: Ledger) -> None:
    """The export's DLR read (plain tuples) holds what `dlrs_of` gives, field for field,
    per probe in the same order; a probe without DLRs is absent, an unattributed DLR too."""
    from collector.ledger.probes import DlrRow
    from tests.collector.ledger.test_probe_contract import plan

    for i in (1, 2, 3):
        ledger.add_probe(plan(i))
    stored = []
    for n, (pid, at) in enumerate([("p1", 30), ("p2", 10), ("p1", 20), ("", 5), ("p2", 40)]):
        d, _ = ledger.store_dlr(
            vendor="acme", message_id=f"M{n}", status="DELIVRD", received_at_ns=T0 + at,
            raw=b"id:\x00\xff" + bytes([n]), dedupe_key=f"k{n}", vendor_status_raw="DELIVRD",
            err="000" if n else "", done_at_ns=T0 + at - 1, source="push",
            billed_parts=n if n % 2 else None, billed_from="dlr:push:sms_size" if n % 2 else "",
        )  # fmt: skip
        if pid:
            stored.append((d.dlr_id, pid))
    ledger.attribute_dlrs([(dlr_id, pid, "same") for dlr_id, pid in stored])
    ledger.store_dlr(vendor="acme", message_id="M0", status="DELIVRD", received_at_ns=T0 + 30,
                     raw=b"id:\x00\xff\x00", dedupe_key="k0")  # a copy  # fmt: skip

    objects = ledger.dlrs_of(["p1", "p2", "p3"])
    rows = ledger.dlr_rows_of(["p1", "p2", "p3"])

    assert sorted(rows) == sorted(objects) == ["p1", "p2"]
    for pid, dlrs in objects.items():
        assert [type(r) for r in rows[pid]] == [DlrRow] * len(dlrs)
        assert rows[pid] == [DlrRow(*(getattr(d, f) for f in DlrRow._fields)) for d in dlrs]
    assert [r.copies for r in rows["p1"]] == [1, 2]  # received_at_ns order, the copy counted
    assert [r.billed_parts for r in rows["p2"]] == [1, None]
    assert ledger.dlr_rows_of([]) == {}


def test_sms_rows_are_sms_of_and_record_raw_as_tuples(ledger: Ledger) -> None:
    """The export's arrival read (plain tuples) holds what `sms_of` and `record_raw` give:
    each SMS as the exporter takes a StoredSms to an SmsRow (records.sms_row_of), its
    parts in the same order, its signed bytes (None without), its arrival JSON the same."""
    from collector.evidence.records import _arrival, arrival_json, sms_row_of

    ledger.register_agent(registration(), at_ns=T0)
    recs = [record(i + 1, sms(T0 + i, f"text {i}", parts=1 + i % 3)) for i in range(6)]
    recs[3] = replace(recs[3], raw=b"")  # no signed record kept for this one
    ledger.ingest_batch("agent-1", recs, [], at_ns=NOW)
    wanted = [recs[1].uuid, recs[2].uuid, recs[3].uuid, "no-such-uuid", recs[1].uuid]

    objects = ledger.sms_of(wanted)
    raw = ledger.record_raw(sorted(objects))
    rows, parts = ledger.sms_rows(wanted)

    assert sorted(rows) == sorted(objects) == sorted({*wanted} - {"no-such-uuid"})
    assert len(parts[rows[recs[2].uuid].record_id]) == 3
    assert raw[recs[1].uuid] == recs[1].raw and recs[3].uuid not in raw
    for uuid, s in objects.items():
        row, its_parts = sms_row_of(s)
        got = rows[uuid]
        assert got._replace(record_id=0, raw=None) == row
        assert got.raw == raw.get(uuid) and [p._replace(record_id=0) for p in parts.get(
            got.record_id, [])] == its_parts  # fmt: skip
        assert _arrival(got, parts[got.record_id], raw) == arrival_json(s, raw)
    assert rows[recs[3].uuid].raw is None
    assert ledger.sms_rows([]) == ({}, {})
