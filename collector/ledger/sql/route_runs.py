"""The report's channel read (`Ledger.route_run_rows`): which probes a route's degradation
episodes depend on, found from its failed attempts alone.

A route's attempts are its probes in submit order (the submit time, else the planned time;
ties by planned time, then id), those the episodes read: a verdict that arrived or failed,
or a refusal that says the vendor would not carry the message; failover sends and every
other probe (pending, inconclusive, refused before the route) are left out. Failures are
a few in a hundred, so only the period's are read (migration 0019 indexes failed verdicts
by their probe's planned time, and refusals; 0025 copies the route and attempt time into
the verdict, so no failed probe's row is read), each with the first attempt after it in its
route within `REACH` of its time, looked up in the route index (migration 0019): when that
attempt is a failure, it is the next one and the two are in one run. The failures come in
the verdicts' order and are put in route order in Python (a window over them cost SQLite
a third of the read: a month's 124,000 sorted in its sorter); a failure with no attempt
within `REACH` but a failure after it is looked up again up to that failure's time (rare:
a route silent for that long). The attempt just before and after each run long enough is
then looked up once per run. Whatever orders the ids in SQL orders them as Python does
(byte order: COLLATE "C" on PostgreSQL), so runs are found as over every attempt.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from collector.ledger.migrations import Dialect
from collector.ledger.sql.query import CHUNK, Tx, chunks, marks

_SENDS = "SELECT probe_id FROM failover_sends"
# (forward, vendor, carrier, at, planned, id, bound): one lookup of `RouteRuns.around`
Edge = tuple[bool, str, str, int, int, str, int]
# how far after a failure its next attempt is looked for in the one statement: it bounds
# the scan after a route's last failure (probes planned after the period, pending ones);
# a failure whose next attempt is further but has a failure after it is looked up again
REACH = 600 * 1_000_000_000
# a run's edge as VALUES: typed on PostgreSQL; untyped on SQLite, where an INTEGER column
# compared with the route index's time expression (no affinity) kept the index from
# bounding the lookup: each scanned its vendor's period (a day of runs of one: minutes)
# (the seventh column: the edge's place in the lookup, as rows come back in no set order)
_EDGE = {
    True: "(?, ?, CAST(? AS BIGINT), CAST(? AS BIGINT), ?, CAST(? AS BIGINT), CAST(? AS INTEGER))",
    False: "(?, ?, ?, ?, ?, ?, ?)",
}


def sent(alias: str) -> str:
    """An attempt's time, as migration 0019's route index has it."""
    a = alias
    return f"CASE WHEN {a}.submitted_at_ns <> 0 THEN {a}.submitted_at_ns ELSE {a}.planned_at_ns END"


def failed_runs(items: Sequence[tuple[Any, ...]], min_run: int) -> Iterator[tuple[int, int]]:
    """Of one route's failed attempts in submit order, each (at, planned, id, vendor,
    carrier, id of the first attempt after it, if known): [i, j) of each run of
    consecutive failures at least `min_run` long (2; any run below)."""
    least = min(max(min_run, 1), 2)
    n, i = len(items), 0
    while i < n:
        j = i + 1
        while j < n and items[j - 1][5] == items[j][2]:
            j += 1
        if j - i >= least:
            yield i, j
        i = j


def unresolved(items: Sequence[tuple[Any, ...]]) -> list[Edge]:
    """What `RouteRuns.firsts` looks up for one route's failures in submit order whose
    next attempt was not found within `REACH` though a failure follows: on from each to
    the next failure's time."""
    return [
        (True, f[3], f[4], f[0], f[1], f[2], items[k + 1][0])
        for k, f in enumerate(items[:-1])
        if f[5] is None
    ]


class RouteRuns:
    """The SQL of one `route_run_rows` read (module doc)."""

    def __init__(
        self,
        dialect: Dialect,
        *,
        since_ns: int,
        until_ns: int,
        vendor: str | None,
        ok: Sequence[str],
        failed: Sequence[str],
        refused: Sequence[str],
    ) -> None:
        self._byte = ' COLLATE "C"' if dialect is Dialect.POSTGRESQL else ""
        self._pg = dialect is Dialect.POSTGRESQL
        self._since, self._until, self._vendor = since_ns, until_ns, vendor
        self._failed, self._refused = list(failed), list(refused)
        shows = marks(len(ok) + len(failed))
        if self._pg:  # scalar lookups: an EXISTS here was planned as a hash of all verdicts
            judged = (
                f"(SELECT w.outcome FROM verdicts w WHERE w.probe_id = q.probe_id) IN ({shows})"
            )
            unjudged = "(SELECT w.probe_id FROM verdicts w WHERE w.probe_id = q.probe_id) IS NULL"
        else:  # one probe of verdicts_by_outcome per outcome, no verdict row read
            judged = (
                "EXISTS (SELECT 1 FROM verdicts w INDEXED BY verdicts_by_outcome WHERE"
                f" w.outcome IN ({shows}) AND w.planned_at_ns = q.planned_at_ns"
                " AND w.probe_id = q.probe_id)"
            )
            unjudged = "NOT EXISTS (SELECT 1 FROM verdicts w WHERE w.probe_id = q.probe_id)"
        # an attempt of the period (q): judged ok or failed, or refused by the vendor
        self._attempt = (
            "q.planned_at_ns >= ? AND q.planned_at_ns < ? AND q.submit_status <> 'planned'"
            f" AND q.probe_id NOT IN ({_SENDS}) AND ({judged} OR (q.submit_status = 'rejected'"
            f" AND q.error_kind IN ({marks(len(refused))}) AND {unjudged}))"
        )
        self._attempt_params = [since_ns, until_ns, *ok, *failed, *refused]

    def failures(self) -> tuple[str, list[Any]]:
        """Every failed attempt of the period: at, planned, id, vendor, carrier, and the id
        of the first attempt after it within `REACH` (NULL without one), in no order."""

        def scope(a: str) -> tuple[str, list[Any]]:
            terms = f"{a}.planned_at_ns >= ? AND {a}.planned_at_ns < ?"
            params: list[Any] = [self._since, self._until]
            if self._vendor is not None:
                terms += f" AND {a}.vendor = ?"
                params.append(self._vendor)
            return f"{terms} AND {a}.probe_id NOT IN ({_SENDS})", params

        (v_scope, v_params), (p_scope, p_params) = scope("v"), scope("p")
        # On SQLite the attempt time as an expression (`+ 0`: no affinity, like the route
        # index's CASE): an INTEGER column compared with it keeps the index from bounding
        # the step below (see _EDGE), which then scans its route's period for every failure.
        index, at = ("", "v.sent_at_ns") if self._pg else (" INDEXED BY verdicts_by_outcome",
                                                           "v.sent_at_ns + 0")  # fmt: skip
        # the period's failed verdicts: a range of verdicts_by_outcome per outcome, each
        # with its probe's planned time, route and attempt time copied (0019, 0025; NULL:
        # still planned, no attempt), so no probe row is read; then the refusals
        failed = (
            f"SELECT {at} AS at_ns, v.planned_at_ns, v.probe_id, v.vendor, v.carrier"
            f" FROM verdicts v{index} WHERE v.outcome IN ({marks(len(self._failed))})"
            f" AND {v_scope} AND v.sent_at_ns IS NOT NULL"
            f" UNION ALL SELECT {sent('p')} AS at_ns, p.planned_at_ns, p.probe_id, p.vendor,"
            f" p.carrier FROM probes p WHERE p.submit_status = 'rejected' AND {p_scope}"
            f" AND p.error_kind IN ({marks(len(self._refused))}) AND NOT EXISTS"
            " (SELECT 1 FROM verdicts v WHERE v.probe_id = p.probe_id)"
        )
        reach = "CAST(? AS BIGINT)" if self._pg else "?"
        after, after_params = self.step(
            forward=True, cols="q.probe_id", vendor="f.vendor", carrier="f.carrier",
            start=("f.at_ns", "f.planned_at_ns", "f.probe_id"), bound=f"f.at_ns + {reach}",
        )  # fmt: skip
        sql = (
            f"WITH f AS ({failed})"
            f" SELECT at_ns, planned_at_ns, probe_id, vendor, carrier, ({after}) FROM f"
        )
        params = [*self._failed, *v_params, *p_params]
        params += [*self._refused, REACH, *after_params]  # the bound's before the step's
        return sql, params

    def step(
        self,
        *,
        forward: bool,
        cols: str,
        vendor: str,
        carrier: str,
        start: tuple[str, str, str],
        bound: str,
    ) -> tuple[str, list[Any]]:
        """The first attempt of the route after `start` (forward), or the last before it,
        not past the time `bound`; SQL expressions."""
        at, planned, probe_id = start
        more, order = (">", "") if forward else ("<", " DESC")
        q_at, q_id = sent("q"), f"q.probe_id{self._byte}"
        terms = [f"q.vendor = {vendor}", f"q.carrier = {carrier}", f"{q_at} {more}= {at}"]
        terms.append(f"{q_at} {'<' if forward else '>'}= {bound}")
        terms.append(f"({q_at}, q.planned_at_ns, {q_id}) {more} ({at}, {planned}, {probe_id})")
        sql = (
            f"SELECT {cols} FROM probes q"
            f" WHERE {' AND '.join(terms)} AND {self._attempt}"
            f" ORDER BY {q_at}{order}, q.planned_at_ns{order}, {q_id}{order} LIMIT 1"
        )
        return sql, list(self._attempt_params)

    def firsts(self, tx: Tx, edges: Sequence[Edge]) -> list[str | None]:
        """The id of the attempt just before (after) each edge's start, not past its
        bound (None without one), in one statement per direction and CHUNK of edges (a
        lookup per edge cost a round trip each on PostgreSQL)."""
        found: dict[int, str | None] = {}
        for forward in (False, True):
            sub, params = self.step(
                forward=forward, cols="q.probe_id", vendor="e.column1", carrier="e.column2",
                start=("e.column3", "e.column4", "e.column5"), bound="e.column6",
            )  # fmt: skip
            todo = [(*e[1:], k) for k, e in enumerate(edges) if e[0] is forward]
            for chunk in chunks(todo, CHUNK // 7):
                values = ", ".join([_EDGE[self._pg]] * len(chunk))
                sql = f"SELECT e.column7, ({sub}) FROM (VALUES {values}) e"
                rows = tx.tuples(sql, [*params, *(x for e in chunk for x in e)])
                found.update((int(r[0]), r[1]) for r in rows)
        return [found[k] for k in range(len(edges))]

    def around(self, tx: Tx, edges: Sequence[Edge]) -> list[tuple[int, str]]:
        """(planned, id) of the attempt just before (after) each run: from its first (last)
        failure, not past the failure before (after) it (`firsts`)."""
        ids = sorted({i for i in self.firsts(tx, edges) if i is not None})
        out: list[tuple[int, str]] = []
        for some in chunks(ids):
            out += [(int(r[0]), r[1]) for r in tx.tuples(
                f"SELECT planned_at_ns, probe_id FROM probes WHERE probe_id IN"
                f" ({marks(len(some))})", some,
            )]  # fmt: skip
        return out


def edges(items: Sequence[tuple[Any, ...]], i: int, j: int) -> list[Edge]:
    """What `RouteRuns.around` looks up for the run items[i:j] of one route's failures:
    back from its first failure to the one before, on from its last to the one after
    (without one, to the end of the route)."""
    first, last = items[i], items[j - 1]
    low = items[i - 1][0] if i > 0 else -(2**63)
    high = items[j][0] if j < len(items) else 2**63 - 1
    return [
        (False, first[3], first[4], first[0], first[1], first[2], low),
        (True, last[3], last[4], last[0], last[1], last[2], high),
    ]
