"""Large batches through the ingest insert (`Tx.insert`: multi-row VALUES statements of at
most 1,000 rows on PostgreSQL, executemany on SQLite): on both back-ends every row is
stored once, exactly as sent, across the statement boundaries, with duplicates inside one
batch and a replay counted as such."""

from __future__ import annotations

from dataclasses import replace

from collector.ledger import Ledger
from tests.collector.ledger.builders import (
    NOW,
    health,
    record,
    registration,
    sms,
    status_report,
)

AGENT = registration().agent_id


def test_a_batch_across_statement_boundaries_is_stored_once_as_sent(ledger: Ledger) -> None:
    ledger.register_agent(registration(), at_ns=NOW)
    records = [record(seq) for seq in range(1, 2502)]  # 2,501 rows: three statements
    records[1000] = replace(records[1000], body=sms(records[1000].persisted_at_ns, parts=3))
    records[7] = replace(records[7], body=health(records[7].persisted_at_ns))
    records[2000] = replace(records[2000], body=status_report(records[2000].persisted_at_ns))
    # Re-serialise the changed ones: raw is what the agent sent.
    records = [record(r.seq, r.body, uuid=r.uuid) for r in records]
    batch = [*records, records[5], records[1999]]  # the same uuids twice in one batch
    out = ledger.ingest_batch(AGENT, batch, [], at_ns=NOW)
    assert (out.ingested, out.duplicates, out.quarantined) == (2501, 2, 0)
    assert ledger.record_count() == 2501
    uuids = [r.uuid for r in records]
    assert ledger.record_raw(uuids) == {r.uuid: r.raw for r in records}
    stored = {s.uuid: s for s in ledger.received_sms()}
    assert len(stored) == 2499  # one health record, one status report
    assert len(stored[records[1000].uuid].sms.parts) == 3
    assert stored[records[2500].uuid].sms.text == records[2500].body.text  # type: ignore[union-attr]
    replay = ledger.ingest_batch(AGENT, batch, [], at_ns=NOW + 1)
    assert (replay.ingested, replay.duplicates) == (0, 2503)
    assert ledger.record_count() == 2501
