"""`Ledger.probe_series_after`, the time-series writer's cursor read: paging from any
cursor gives exactly the rows of one read (SQLite and a real PostgreSQL), and on
PostgreSQL every page is an index range scan of verdicts_by_change from the cursor with
each probe looked up by its key — never a scan of the probes (or verdicts) before it.

The rows are written with bulk SQL (as bench/year_ledger.py does): probes with verdicts,
every 13th pending, a third revised later (a new change_seq after all others, as the
judge's revisions take)."""

from __future__ import annotations

from typing import Any

import pytest

from collector.ledger import Ledger, open_ledger
from collector.ledger.migrations import Dialect
from collector.ledger.sql import SqlLedger
from collector.ledger.sql.probes import SERIES_AFTER_SQL

PROBE_SQL = (
    "INSERT INTO probes (probe_id, vendor, msisdn, carrier, region, site, agent_id,"
    " modem_imei, iccid, profile, token, body, expected_text, planned_at_ns, submit_status,"
    " submitted_at_ns, answered_at_ns, vendor_message_ids, final)"
    " VALUES (?, ?, ?, 'china_mobile', 'cn-east', 's', 'agent-1', '860000000000001', '8986',"
    " 'otp_cn', 't', 'b', 'b', ?, 'accepted', ?, 0, '', 1)"
)
VERDICT_SQL = (
    "INSERT INTO verdicts (probe_id, revision, judged_at_ns, outcome, dlr, dlr_claim, content,"
    " latency_s, missing_parts, change_seq, planned_at_ns) VALUES (?, 1, 0, ?, 'consistent',"
    " 'success', 'intact', ?, ?, ?, ?)"
)


def _fill(ledger: Ledger, n: int) -> None:
    assert isinstance(ledger, SqlLedger)
    probes, verdicts = [], []
    for i in range(1, n + 1):
        outcome = "pending" if i % 13 == 0 else ("partial" if i % 7 == 0 else "delivered")
        change = i + n if i % 3 == 0 else i  # revised later: after every first judgement
        probes.append((f"p{i:07d}", f"vendor-{i % 5}", f"+86139{i % 97:08d}", i, i + 1))
        verdicts.append((f"p{i:07d}", outcome, i / 1000, "1,3" if i % 7 == 0 else "", change, i))
    with ledger._transaction() as tx:
        tx.insert(PROBE_SQL, probes)
        tx.insert(VERDICT_SQL, verdicts)
        tx.run("ANALYZE")


def _walk(ledger: Ledger, after: int, page: int) -> list[Any]:
    rows: list[Any] = []
    while True:
        got = ledger.probe_series_after(after, page)
        rows += got
        if len(got) < page:
            return rows
        after = got[-1].change_seq


def test_paging_from_any_cursor_gives_the_rows_of_one_read(ledger: Ledger) -> None:
    n = 600
    _fill(ledger, n)
    whole = ledger.probe_series_after(0, 10 * n)
    seqs = [r.change_seq for r in whole]
    assert seqs == sorted(seqs) and len(whole) == n - n // 13
    assert all(r.outcome != "pending" for r in whole)
    assert {r.missing_parts for r in whole if r.outcome == "partial"} == {2}
    for cursor in (0, 1, 299, n, n + 1, 2 * n - 5, 2 * n):
        after = [r for r in whole if r.change_seq > cursor]
        for page in (1, 7, 500):
            assert _walk(ledger, cursor, page) == after, (cursor, page)


def _nodes(plan: dict[str, Any]) -> list[dict[str, Any]]:
    out = [plan]
    for child in plan.get("Plans", ()):
        out += _nodes(child)
    return out


@pytest.mark.parametrize("depth", ["start", "middle", "tip"])
def test_a_postgresql_page_is_an_index_range_scan_from_the_cursor(
    postgres_url: str, depth: str
) -> None:
    n, page = 60_000, 5000
    ledger = open_ledger(postgres_url)
    try:
        assert isinstance(ledger, SqlLedger)
        _fill(ledger, n)
        with ledger._transaction(write=False) as tx:
            ((tip,),) = tx.tuples(  # two pages before the end: a live pass catching up
                "SELECT change_seq FROM verdicts ORDER BY change_seq DESC LIMIT 1 OFFSET ?",
                (2 * page,),
            )
            cursor = {"start": 0, "middle": n, "tip": tip}[depth]
            (row,) = tx.tuples(
                f"EXPLAIN (ANALYZE, FORMAT JSON) {SERIES_AFTER_SQL[Dialect.POSTGRESQL]}",
                (cursor, page),
            )
            ((after,),) = tx.tuples("SELECT COUNT(*) FROM verdicts WHERE change_seq > ?", (cursor,))
        nodes = _nodes(row[0][0]["Plan"])
    finally:
        ledger.close()
    assert not [x for x in nodes if x["Node Type"] == "Seq Scan"]
    # The verdicts from the cursor on, through their index: an index scan in change order
    # that stops at the page, or (near the end, where the planner finds it cheaper) a
    # bitmap scan of the few rows after the cursor, sorted.
    (by_change,) = [x for x in nodes if x.get("Index Name") == "verdicts_by_change"]
    assert by_change["Index Cond"].startswith("(change_seq >")
    (verdicts,) = [x for x in nodes if x.get("Relation Name") == "verdicts"]
    read = (
        verdicts["Actual Rows"]
        + verdicts.get("Rows Removed by Filter", 0)
        + verdicts.get("Rows Removed by Index Recheck", 0)
    )
    assert read <= min(after, 2 * page)  # nothing before the cursor, not all after it
    scans = [x for x in nodes if "Relation Name" in x]
    (probes,) = [x for x in scans if x["Relation Name"] == "probes"]
    assert probes["Index Cond"].startswith("(probe_id = ")  # the verdict's probe_id
    assert (probes["Node Type"], probes["Index Name"]) == ("Index Scan", "probes_pkey")
    assert probes["Actual Loops"] == page and probes["Actual Rows"] == 1  # one per loop
