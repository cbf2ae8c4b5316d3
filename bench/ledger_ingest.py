"""Ledger-only ingest rate (no gRPC): Batch bytes -> serde -> ingest_batch, committed.

Not a test (pytest does not collect it).
Runs SQLite (WAL, synchronous=FULL) and a real PostgreSQL 15 started like the tests do.
Prints one JSON line per backend.
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "protos" / "python")]

import psycopg  # noqa: E402
import structlog  # noqa: E402
from smsprobe.v1 import agent_pb2  # noqa: E402

from agent.wire.serde import record_to_proto  # noqa: E402
from collector.ledger import open_ledger  # noqa: E402
from collector.quarantine import records_from_batch  # noqa: E402
from tests.collector.ledger.builders import NOW, record, registration  # noqa: E402
from tests.servers.postgres import start_postgres  # noqa: E402

RECORDS, BATCH, REPLAY_BATCHES = 40_000, 500, 20


def run(url: str, backend: str) -> None:
    ledger = open_ledger(url)
    ledger.register_agent(registration(), at_ns=NOW)
    batches = [
        agent_pb2.Batch(
            agent_id="agent-1",
            batch_id=b,
            records=[record_to_proto(record(b * BATCH + i + 1)) for i in range(BATCH)],
        ).SerializeToString()
        for b in range(RECORDS // BATCH)
    ]
    cpu0, t0 = time.process_time(), time.perf_counter()
    for raw in batches:
        recs, bad = records_from_batch(agent_pb2.Batch.FromString(raw))
        ledger.ingest_batch("agent-1", recs, bad, at_ns=NOW)
    cpu1, t1 = time.process_time(), time.perf_counter()
    for raw in batches[:REPLAY_BATCHES]:
        recs, bad = records_from_batch(agent_pb2.Batch.FromString(raw))
        assert ledger.ingest_batch("agent-1", recs, bad, at_ns=NOW).duplicates == BATCH
    t2 = time.perf_counter()
    assert ledger.record_count() == RECORDS
    ledger.close()
    print(
        json.dumps(
            {
                "bench": "ledger_ingest",
                "ledger": backend,
                "records": RECORDS,
                "batch": BATCH,
                "per_s": round(RECORDS / (t1 - t0)),
                "cpu_per_s": round(RECORDS / (cpu1 - cpu0)),
                "replay_per_s": round(REPLAY_BATCHES * BATCH / (t2 - t1)),
            }
        )
    )


def main() -> None:
    # stdout carries only the JSON lines
    structlog.configure(logger_factory=structlog.PrintLoggerFactory(file=sys.stderr))
    with tempfile.TemporaryDirectory() as d:
        run(f"{d}/ledger.db", "sqlite")
    server = start_postgres()
    try:
        with psycopg.connect(server.url(), autocommit=True) as conn:
            conn.execute("CREATE DATABASE bench")
        run(server.url("bench"), "postgresql")
    finally:
        server.stop()


if __name__ == "__main__":
    main()
