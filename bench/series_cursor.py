"""The time-series writer's probe read (`Ledger.probe_series_after`) paged through a large
PostgreSQL ledger: is a page deep into the ledger as cheap as one at its start?

The ledger is bench/year_ledger.py's (`generate`: 100 SIMs x 5 vendors at `--scale` of
the year's density for `--days`, every probe with its verdict; `--rejudged` of them
revised later, taking new change_seqs as the judge's revisions do), on a real PostgreSQL 15
started here. The writer's walk is replayed: from cursor 0, pages of `--page` verdicts in
change order, each from the last page's last change_seq, to the end. Timed per page, for
ours and, in the same run, the previous query text (`BEFORE_SQL`, the baseline);
`*_start_ms` is the median of the first 5 pages, `*_deep_ms` of the last 5 full pages,
`*_tip_ms` of 5 reads of the last `--tip` verdicts (a pass of the live writer).
Both walks must give the same rows as one read of everything (`equal`). EXPLAIN (ANALYZE,
BUFFERS) of a deep page says how many buffers each touches and whether rows before the
cursor are read. Prints one JSON line.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "protos" / "python"), str(ROOT / "bench")]

import structlog  # noqa: E402
from year_ledger import generate  # noqa: E402

from agent.common.units import NS  # noqa: E402
from collector.ledger import open_ledger  # noqa: E402
from collector.ledger.probes import ProbeSeriesRow  # noqa: E402
from collector.ledger.sql import SqlLedger  # noqa: E402
from collector.ledger.sql.probes import _SERIES_COLS, SERIES_AFTER_SQL  # noqa: E402
from tests.servers.postgres import start_postgres  # noqa: E402

# The read as it was before this bench's change (the baseline of the same run).
BEFORE_SQL = (
    f"SELECT {_SERIES_COLS} FROM verdicts v JOIN probes p ON p.probe_id = v.probe_id"
    " WHERE v.change_seq > ? AND v.outcome <> 'pending' ORDER BY v.change_seq LIMIT ?"
)

Read = Callable[[int, int], Sequence[ProbeSeriesRow]]


def before(ledger: SqlLedger) -> Read:
    def read(after: int, limit: int) -> list[ProbeSeriesRow]:
        with ledger._transaction(write=False) as tx:
            return list(map(ProbeSeriesRow._make, tx.tuples(BEFORE_SQL, (after, limit))))

    return read


def walk(read: Read, page: int) -> tuple[list[float], list[ProbeSeriesRow]]:
    """The writer's walk from cursor 0: seconds per full page, every row read."""
    cursor = 0
    times: list[float] = []
    rows: list[ProbeSeriesRow] = []
    while True:
        t0 = time.perf_counter()
        got = read(cursor, page)
        dt = time.perf_counter() - t0
        rows += got
        if len(got) < page:
            return times, rows
        times.append(dt)
        cursor = got[-1].change_seq


def explain(ledger: SqlLedger, sql: str, after: int, page: int) -> dict[str, Any]:
    with ledger._transaction(write=False) as tx:
        plan = tx.tuples(f"EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) {sql}", (after, page))
    top = plan[0][0][0]["Plan"]
    nodes: list[str] = []

    def visit(node: dict[str, Any]) -> None:
        nodes.append(f"{node['Node Type']}:{node.get('Index Name', node.get('Relation Name', ''))}")
        for child in node.get("Plans", ()):
            visit(child)

    visit(top)
    return {
        "buffers": top["Shared Hit Blocks"] + top["Shared Read Blocks"],
        "ms": round(top["Actual Total Time"], 2),
        "nodes": nodes,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--scale", type=float, default=0.05)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--page", type=int, default=5000)  # WriterSettings.batch
    parser.add_argument("--tip", type=int, default=200)  # verdicts new since a live pass
    parser.add_argument("--rejudged", type=float, default=0.3)  # verdicts revised later
    args = parser.parse_args()
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(40))
    pg = start_postgres()
    try:
        ledger = open_ledger(pg.url(pg.create_database()))
        assert isinstance(ledger, SqlLedger)
        end_ns = time.time_ns() // NS * NS
        made = generate(ledger, args.scale, end_ns, args.days)
        with ledger._transaction() as tx:
            # Late facts revise verdicts: each revision takes the next change_seq, and on
            # PostgreSQL a new row version somewhere in the heap (not in change order).
            tx.run(
                "UPDATE verdicts SET change_seq = change_seq + (SELECT MAX(change_seq)"
                " FROM verdicts) WHERE MOD(change_seq * 7919, 1000) < ?",
                (int(args.rejudged * 1000),),
            )
            tx.run("ANALYZE")
        out: dict[str, Any] = {"bench": "series_cursor", "ledger": "postgresql", **made}
        walks = {"ours": ledger.probe_series_after, "before": before(ledger)}
        rows_of = {}
        for name, read in walks.items():
            times, rows = walk(read, args.page)
            rows_of[name] = rows
            out[f"{name}_pages"] = len(times)
            out[f"{name}_start_ms"] = round(statistics.median(times[:5]) * 1e3, 2)
            out[f"{name}_deep_ms"] = round(statistics.median(times[-5:]) * 1e3, 2)
            out[f"{name}_walk_s"] = round(sum(times), 2)
        # The live writer's pass: the verdicts changed since its last pass, at the tip.
        tip = ledger.last_change_seq() - args.tip
        for name, read in walks.items():
            times = []
            for _ in range(5):
                t0 = time.perf_counter()
                read(tip, args.page)
                times.append(time.perf_counter() - t0)
            out[f"{name}_tip_ms"] = round(statistics.median(times) * 1e3, 2)
        out["explain_tip_ours"] = explain(ledger, SERIES_AFTER_SQL[ledger.dialect], tip, args.page)
        out["explain_tip_before"] = explain(ledger, BEFORE_SQL, tip, args.page)
        whole = ledger.probe_series_after(0, 1 << 62)
        out["rows"] = len(whole)
        out["equal"] = rows_of["ours"] == rows_of["before"] == whole
        deep = whole[-2 * args.page].change_seq
        out["explain_deep_ours"] = explain(
            ledger, SERIES_AFTER_SQL[ledger.dialect], deep, args.page
        )
        out["explain_deep_before"] = explain(ledger, BEFORE_SQL, deep, args.page)
        out["explain_start_before"] = explain(ledger, BEFORE_SQL, 0, args.page)
        ledger.close()
    finally:
        pg.stop()
    print(json.dumps(out))


if __name__ == "__main__":
    main()
