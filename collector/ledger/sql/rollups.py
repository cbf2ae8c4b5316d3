"""Hourly rollups kept exactly consistent with the raw probe and verdict rows (migration
0015, collector/ledger/rollups.py).

Every write that can change a rollup key (add_probe, record_submission, attribute_dlrs,
save_verdicts) reads the touched probes' contribution before and after its change in its
own transaction and applies the difference (`_rollup_capture`, `_rollup_follow`): a verdict
judged again moves its probe from one row to another, never counted twice. On PostgreSQL
the touched probe rows are locked first, so no other writer changes them between the two
reads. `check_rollups` recomputes the rows from the raw ones, week by week (bounded
memory), and reports (or, rebuilding, replaces) any difference.

The key expressions below are the ones migration 0015 used to fill an existing ledger.
"""

from __future__ import annotations

import bisect
from collections import Counter
from collections.abc import Collection, Sequence
from datetime import tzinfo
from typing import Any

from collector.correlation.model import Outcome, Verdict
from collector.ledger.migrations import Dialect
from collector.ledger.rollups import (
    DAY_NS,
    HOUR_NS,
    CountSum,
    HourMark,
    RollupCheck,
    RollupCount,
    RollupValue,
    Slices,
)
from collector.ledger.sql.query import Row, Tx, Where, chunks
from collector.ledger.sql.rollup_days import (
    COUNT_KEY,
    MARK_COLS,
    RollupDaySql,
    count_entries,
    hour_ranges,
)

Key = tuple[Any, ...]

_SENT = "CASE WHEN p.submitted_at_ns > 0 THEN p.submitted_at_ns ELSE p.planned_at_ns END"
_PROBE_KEY = (
    ("hour_ns", f"p.planned_at_ns / {HOUR_NS} * {HOUR_NS}"),
    ("vendor", "p.vendor"),
    ("sent_hour_ns", f"({_SENT}) / {HOUR_NS} * {HOUR_NS}"),
    ("carrier", "p.carrier"),
    ("mvno", "p.mvno"),
    ("region", "p.region"),
    ("profile", "p.profile"),
    ("band", "p.band"),
    ("msisdn", "p.msisdn"),
    ("burst", "CASE WHEN substr(p.probe_id, 1, 6) = 'burst-' THEN 1 ELSE 0 END"),
    ("submit_status", "p.submit_status"),
)
_COUNT_KEY = (
    *_PROBE_KEY,
    ("parts", "p.parts"),
    ("billed_parts", "COALESCE(p.billed_parts, -1)"),
    ("billed_from", "p.billed_from"),
    ("outcome", "COALESCE(v.outcome, '')"),
    ("dlr", "COALESCE(v.dlr, '')"),
    ("dlr_claim", "COALESCE(v.dlr_claim, '')"),
    ("content", "COALESCE(v.content, '')"),
    ("duplicates", "COALESCE(v.duplicates, 0)"),
    ("missing_parts", "COALESCE(v.missing_parts, '')"),
)
_VALUE_OF = (
    "CASE k.kind WHEN 'latency' THEN v.latency_s WHEN 'uncertainty' THEN"
    " v.latency_uncertainty_s WHEN 'vendor_delay' THEN v.vendor_delay_s"
    " ELSE v.carrier_delay_s END"
)
_KINDS = (
    "(SELECT 'latency' AS kind UNION ALL SELECT 'uncertainty' UNION ALL"
    " SELECT 'vendor_delay' UNION ALL SELECT 'carrier_delay') k"
)


def _cols(key: Sequence[tuple[str, str]]) -> list[str]:
    return [name for name, _ in key]


def _count_select(where: str) -> str:
    exprs = ", ".join(f"{e} AS {n}" for n, e in _COUNT_KEY)
    groups = ", ".join(str(i + 1) for i in range(len(_COUNT_KEY)))
    return (
        f"SELECT {exprs}, COUNT(*) AS n FROM probes p"
        f" LEFT JOIN verdicts v ON v.probe_id = p.probe_id{where} GROUP BY {groups}"
    )


def _value_select(where: str) -> str:
    """`where` filters the probes (alias p) inside the join."""
    inner = ", ".join(f"{e} AS {n}" for n, e in _PROBE_KEY)
    names = ", ".join([*_cols(_PROBE_KEY), "kind"])
    return (
        f"SELECT {names}, x_value AS value, COUNT(*) AS n FROM ("
        f"SELECT {inner}, k.kind AS kind, {_VALUE_OF} AS x_value, v.outcome AS x_outcome"
        f" FROM probes p JOIN verdicts v ON v.probe_id = p.probe_id CROSS JOIN {_KINDS}"
        f"{where}) x WHERE x_value IS NOT NULL"
        " AND (kind <> 'latency' OR x_outcome IN ('delivered', 'late'))"
        f" GROUP BY {names}, x_value"
    )


_COUNT_COLS = _cols(_COUNT_KEY)
_VALUE_COLS = [*_cols(_PROBE_KEY), "kind", "value"]


def _key(row: Row, cols: Sequence[str]) -> Key:
    return tuple(row[c] for c in cols)


def _verdict_key(v: Verdict | None) -> Key:
    """The verdict's part of a count key, as `_COUNT_KEY` reads it from the verdicts table."""
    if v is None:
        return ("", "", "", "", 0, "")
    return (v.outcome.value, v.dlr.value, v.dlr_claim.value, v.content.value, v.duplicates,
            ",".join(map(str, v.missing_parts)))  # fmt: skip


def _measured(v: Verdict | None) -> list[tuple[str, float]]:
    """The verdict's values as `_value_select` reads them (latency of arrived probes)."""
    if v is None:
        return []
    arrived = v.outcome in (Outcome.DELIVERED, Outcome.LATE)
    pairs = (("latency", v.latency_s if arrived else None),
             ("uncertainty", v.latency_uncertainty_s), ("vendor_delay", v.vendor_delay_s),
             ("carrier_delay", v.carrier_delay_s))  # fmt: skip
    return [(kind, value) for kind, value in pairs if value is not None]


class RollupSql(RollupDaySql):
    # ------------------------------------------------------------ maintenance
    def _rollup_capture(self, tx: Tx, probe_ids: Sequence[str]) -> tuple[Counter[Key], ...]:
        """The rollup contribution of these probes as they are now (lock them first where
        the backend has row locks, so it cannot change under the caller)."""
        counts: Counter[Key] = Counter()
        values: Counter[Key] = Counter()
        ids = sorted(set(probe_ids))
        for chunk in chunks(ids):
            where = Where().among("p.probe_id", chunk)
            if self._for_update:
                lock = Where().among("probe_id", chunk)
                tx.all(  # in probe_id order, as every writer of probes (SqlCore._lock_probes)
                    f"SELECT probe_id FROM probes{lock} ORDER BY probe_id{self._for_update}",
                    lock.params,
                )
            for r in tx.all(_count_select(str(where)), where.params):
                counts[_key(r, _COUNT_COLS)] += int(r["n"])
            for r in tx.all(_value_select(str(where)), where.params):
                values[_key(r, _VALUE_COLS)] += int(r["n"])
        return counts, values

    def _rollup_follow(
        self, tx: Tx, probe_ids: Sequence[str], before: tuple[Counter[Key], ...]
    ) -> None:
        """Apply the difference between these probes' contribution now and `before`."""
        after = self._rollup_capture(tx, probe_ids)
        for table, cols, old, new in (
            ("rollup_counts", _COUNT_COLS, before[0], after[0]),
            ("rollup_values", _VALUE_COLS, before[1], after[1]),
        ):
            delta = Counter(new)
            delta.subtract(old)
            self._rollup_add(tx, table, cols, {k: d for k, d in delta.items() if d})

    def _rollup_verdicts(self, tx: Tx, changes: Sequence[tuple[Verdict, Verdict | None]]) -> None:
        """Move probes whose verdict changes (new, old or None) between rollup rows: the
        probe fields of each key from SQL (the same expressions, its row locked), the
        verdict's as the verdicts table stores them — one query instead of four."""
        probes: dict[str, Key] = {}
        for chunk in chunks(sorted({v.probe_id for v, _ in changes})):
            where = Where().among("p.probe_id", chunk)
            exprs = ", ".join(f"{e} AS {n}" for n, e in _COUNT_KEY[: len(_PROBE_KEY) + 3])
            for r in tx.all(
                f"SELECT p.probe_id AS probe_id, {exprs} FROM probes p{where}"
                f" ORDER BY p.probe_id{self._for_update}",  # the one lock order
                where.params,
            ):
                probes[r["probe_id"]] = _key(r, _COUNT_COLS[: len(_PROBE_KEY) + 3])
        counts: Counter[Key] = Counter()
        values: Counter[Key] = Counter()
        for new, old in changes:
            key = probes.get(new.probe_id)
            if key is None:
                continue  # a verdict without its probe is in no rollup (nor the report)
            for verdict, sign in ((old, -1), (new, 1)):
                counts[key + _verdict_key(verdict)] += sign
                for kind, value in _measured(verdict):
                    values[(*key[: len(_PROBE_KEY)], kind, value)] += sign
        self._rollup_add(tx, "rollup_counts", _COUNT_COLS, {k: d for k, d in counts.items() if d})
        self._rollup_add(tx, "rollup_values", _VALUE_COLS, {k: d for k, d in values.items() if d})

    def _rollup_add(self, tx: Tx, table: str, cols: Sequence[str], delta: dict[Key, int]) -> None:
        if not delta:
            return
        names = ", ".join(cols)
        marks = ", ".join("?" * (len(cols) + 1))
        tx.many(
            f"INSERT INTO {table} ({names}, n) VALUES ({marks}) ON CONFLICT ({names})"
            f" DO UPDATE SET n = {table}.n + excluded.n",
            [(*k, d) for k, d in sorted(delta.items())],  # one lock order,
        )
        # the days' compacted blobs and count texts no longer hold them (k[0]: hour_ns)
        self._rollup_days_touched(tx, {k[0] for k in delta})
        gone = [k for k, d in delta.items() if d < 0]
        if gone:
            match = " AND ".join(f"{c} = ?" for c in cols)
            tx.many(f"DELETE FROM {table} WHERE {match} AND n = 0", gone)

    # ------------------------------------------------------------ reading
    def rollup_counts(
        self, *, since_ns: int = 0, until_ns: int | None = None, vendor: str | None = None
    ) -> list[RollupCount]:
        """Rows of the planned hours in [since_ns, until_ns)."""
        where = Where().add("hour_ns >= ?", since_ns).maybe("hour_ns < ?", until_ns)
        where.maybe("vendor = ?", vendor)
        names = ", ".join(_COUNT_COLS)
        with self._transaction(write=False) as tx:  # plain tuples: a month is ~500,000 rows
            rows = tx.tuples(f"SELECT {names}, n FROM rollup_counts{where} ORDER BY {names}",
                             where.params)  # fmt: skip
        return [_count_tuple(r) for r in rows]

    def rollup_count_sum_rows(
        self,
        *,
        since_ns: int,
        until_ns: int,
        vendor: str | None = None,
        slices: Slices,
        skip_hours: Collection[int] = (),
    ) -> list[CountSum]:
        """The count rows of the planned hours in [since_ns, until_ns) but `skip_hours`,
        summed per key without its hours and per slice (`Slices.bounds`), as
        plain tuples (a month: 484,000 sums), each with the first send hour it holds. Not
        the slice's start: a report sets probes apart by their send time (not-measured
        spans), and a span may cover the slice's start while the hours summed lie after it
        (the span's hours are read raw, `skip_hours`); an hour the sum holds is one no span
        cuts. A compacted day's rows come from its packed row per vendor (integers,
        migration 0022, or text, 0020), the other days' from the hourly rows, a day of
        planned hours a query."""
        skip = {h for h in skip_hours if since_ns <= h < until_ns}
        # A month's count rows hardly repeat a key within a slice (513,677 rows, 484,533
        # sums hour by hour): summed here, by (slice, key number), not by a GROUP BY.
        summed: dict[tuple[int, int], list[int]] = {}  # -> [n, first send hour]
        numbers: dict[tuple[Any, ...], int] = {}  # key as stored -> its number
        known: dict[str, tuple[Any, ...]] = {}  # a packed key's text -> the key
        cuts_of: dict[tuple[int, ...], Cuts | None] = {}  # send hours -> their slices
        with self._transaction(write=False) as tx:
            # the packed days (migrations 0020, 0022): a row per day and vendor, ~30 a vendor
            done, where = self._compacted(tx, since_ns, until_ns, vendor)
            for day_ns, text, entries in (
                tx.tuples(
                    f"SELECT day_ns, counts, entries FROM rollup_count_days{where}", where.params
                )
                if done
                else ()
            ):
                whole = (
                    since_ns <= day_ns
                    and day_ns + DAY_NS <= until_ns
                    and not any(day_ns <= h < day_ns + DAY_NS for h in skip)
                )
                packed = None if entries is None else bytes(entries)
                for stored, hours, sents, ns in count_entries(text, packed, known):
                    if (number := numbers.get(stored)) is None:
                        number = numbers[stored] = len(numbers)
                    if whole and _sum_slices(summed, number, sents, ns, cuts_of, slices):
                        continue
                    for hour, sent_ns, n in zip(hours, sents, ns, strict=True):
                        if whole or (hour not in skip and since_ns <= hour < until_ns):
                            _add(summed, (slices.bounds(sent_ns)[0], number), n, sent_ns)
            # the other days' hourly rows
            for lo, hi in (
                r for days in hour_ranges(since_ns, until_ns, done, DAY_NS)
                for r in hour_ranges(*days, skip)
            ):  # fmt: skip
                for at in range(lo, hi, DAY_NS):
                    where = Where().add("hour_ns >= ?", at).add("hour_ns < ?", min(hi, at + DAY_NS))
                    where.maybe("vendor = ?", vendor)
                    for r in tx.tuples(
                        f"SELECT {', '.join(COUNT_KEY)}, sent_hour_ns, n FROM rollup_counts{where}",
                        where.params,
                    ):
                        if (number := numbers.get(stored := r[:-2])) is None:
                            number = numbers[stored] = len(numbers)
                        _add(summed, (slices.bounds(r[-2])[0], number), r[-1], r[-2])
        keys = [_sum_key(stored) for stored in numbers]  # RollupCount's types, one per key
        new = tuple.__new__  # not the NamedTuple's __new__, a Python function (~2x)
        return [new(CountSum, (first, keys[k[1]], n)) for k, (n, first) in summed.items()]

    def rollup_hour_marks(
        self, *, since_ns: int, until_ns: int, vendor: str | None = None
    ) -> list[HourMark]:
        """The distinct (hour, send hour, burst, billed above the rule, outcome, content)
        of the count rows of the planned hours in [since_ns, until_ns): a compacted day's
        from its marks (migration 0022: ~700 a day instead of a DISTINCT over its ~17,000
        rows), the other days' from the rows; the two cover different hours."""
        rows: list[tuple[Any, ...]] = []
        with self._transaction(write=False) as tx:
            done, where = self._compacted(tx, since_ns, until_ns, vendor)
            if done:
                where.add("hour_ns >= ?", since_ns).add("hour_ns < ?", until_ns)
                rows += tx.tuples(
                    f"SELECT DISTINCT {', '.join(MARK_COLS[1:])} FROM rollup_mark_days{where}",
                    where.params,
                )
            for lo, hi in hour_ranges(since_ns, until_ns, done, DAY_NS):
                at = Where().add("hour_ns >= ?", lo).add("hour_ns < ?", hi)
                at.maybe("vendor = ?", vendor)
                rows += tx.tuples(
                    "SELECT DISTINCT hour_ns, sent_hour_ns, burst, CASE WHEN billed_parts > parts"
                    f" THEN 1 ELSE 0 END, outcome, content FROM rollup_counts{at}",
                    at.params,
                )
        return [HourMark(int(h), int(s), bool(b), bool(o), out, c) for h, s, b, o, out, c in rows]

    def rollup_values(
        self, *, since_ns: int = 0, until_ns: int | None = None, vendor: str | None = None
    ) -> list[RollupValue]:
        """Value rows of the planned hours in [since_ns, until_ns)."""
        rows = self._rollup_rows("rollup_values", _VALUE_COLS, since_ns, until_ns, vendor)
        return [_value_row(r) for r in rows]

    def _rollup_rows(
        self, table: str, cols: Sequence[str], since: int, until: int | None, vendor: str | None
    ) -> Sequence[Row]:
        where = Where().add("hour_ns >= ?", since).maybe("hour_ns < ?", until)
        where.maybe("vendor = ?", vendor)
        names = ", ".join(cols)
        with self._transaction(write=False) as tx:
            return tx.all(f"SELECT {names}, n FROM {table}{where} ORDER BY {names}", where.params)

    # ------------------------------------------------------------ check / rebuild
    def check_rollups(
        self, *, rebuild: bool = False, step_ns: int = 7 * 24 * HOUR_NS, zone: tzinfo | None = None
    ) -> RollupCheck:
        """Recompute the rollups from the raw rows, a week of planned hours at a time (one
        transaction each), and report every difference; `rebuild` replaces the rows with
        the recomputed ones instead (in SQL, no comparison) and compacts the closed days
        again (`zone`: the reports' zone, as `compact_rollups` takes it)."""
        with self._transaction(write=False) as tx:
            span = tx.all("SELECT MIN(planned_at_ns) AS lo, MAX(planned_at_ns) AS hi FROM probes")
            kept = tx.all("SELECT MIN(hour_ns) AS lo, MAX(hour_ns) AS hi FROM rollup_counts")
        bounds = [int(r[c]) for r in (*span, *kept) for c in ("lo", "hi") if r[c] is not None]
        out = RollupCheck(count_rows=0, value_rows=0, rebuilt=rebuild)
        if not bounds:
            return out
        start = min(bounds) - min(bounds) % HOUR_NS
        while start <= max(bounds):
            self._check_window(start, start + step_ns, rebuild, out)
            start += step_ns
        if rebuild:
            out.compacted_days = self.compact_rollups(zone=zone)
        else:
            out.value_blobs = self._check_days(out.differences)
        return out

    def _check_window(self, lo: int, hi: int, rebuild: bool, out: RollupCheck) -> None:
        with self._transaction(write=rebuild) as tx:
            if rebuild and self.dialect is Dialect.POSTGRESQL:
                # Writers of deltas wait until the window is rebuilt (their upserts take
                # ROW EXCLUSIVE, which this conflicts with), so none is lost or doubled.
                tx.run("LOCK TABLE rollup_counts, rollup_values IN SHARE ROW EXCLUSIVE MODE")
            if rebuild:
                self._rollup_days_dropped(tx, lo, hi)
            masked_sql = (
                f"SELECT DISTINCT planned_at_ns / {HOUR_NS} * {HOUR_NS} AS h FROM probes"
                " WHERE planned_at_ns >= ? AND planned_at_ns < ? AND minimised <> ''"
            )
            masked = {int(r["h"]) for r in tx.all(masked_sql, (lo, hi))}
            out.minimised_hours += len(masked)
            raw = Where().add("p.planned_at_ns >= ?", lo).add("p.planned_at_ns < ?", hi)
            for table, cols, select in (
                ("rollup_counts", _COUNT_COLS, _count_select),
                ("rollup_values", _VALUE_COLS, _value_select),
            ):
                names = ", ".join(cols)
                if rebuild:  # replace the window's rows in SQL, minimised hours kept
                    keep = f" AND hour_ns NOT IN ({masked_sql})"
                    tx.run(f"DELETE FROM {table} WHERE hour_ns >= ? AND hour_ns < ?{keep}",
                           (lo, hi, lo, hi))  # fmt: skip
                    out.differences.clear()
                    rows = tx.run(
                        f"INSERT INTO {table} ({names}, n) SELECT * FROM"
                        f" ({select(str(raw))}) w WHERE hour_ns NOT IN ({masked_sql})",
                        (*raw.params, lo, hi),
                    )
                    if table == "rollup_counts":
                        out.count_rows += rows
                    else:
                        out.value_rows += rows
                    continue
                want: Counter[Key] = Counter()
                for r in tx.all(select(str(raw)), raw.params):
                    want[_key(r, cols)] += int(r["n"])
                have: Counter[Key] = Counter()
                for r in tx.all(
                    f"SELECT {names}, n FROM {table} WHERE hour_ns >= ? AND hour_ns < ?", (lo, hi)
                ):
                    have[_key(r, cols)] = int(r["n"])
                kept = sum(1 for k in have if k[0] not in masked)
                if table == "rollup_counts":
                    out.count_rows += kept
                else:
                    out.value_rows += kept
                for k in sorted(set(want) | set(have)):
                    if k[0] not in masked and want[k] != have[k]:
                        out.differences.append((table, k, have[k], want[k]))


def _count_tuple(r: tuple[Any, ...]) -> RollupCount:
    """A count row as read in _COUNT_COLS order, then n."""
    (hour, vendor, sent, carrier, mvno, region, profile, band, msisdn, burst, status, parts,
     billed, billed_from, outcome, dlr, claim, content, duplicates, missing, n) = r  # fmt: skip
    return RollupCount(
        int(hour), int(sent), vendor, carrier, mvno, region, profile, band, msisdn, bool(burst),
        int(parts), None if billed < 0 else int(billed), billed_from, status, outcome, dlr,
        claim, content, int(duplicates), missing, int(n),
    )  # fmt: skip


# An entry's slices (`_slice_cuts`): its first index, end, the slice's start, first send hour
Cuts = list[tuple[int, int, int, int]]


def _slice_cuts(sents: Sequence[int], slices: Slices) -> Cuts | None:
    """Ascending send hours cut per slice (the step holding a send hour, cut at its local
    day's ends) by bisecting; None when they do not ascend."""
    if list(sents) != sorted(sents):
        return None
    out: Cuts = []
    i, m = 0, len(sents)
    while i < m:
        first, end = slices.bounds(sents[i])
        j = bisect.bisect_left(sents, end, i + 1)
        out.append((i, j, first, sents[i]))
        i = j
    return out


def _sum_slices(
    summed: dict[tuple[int, int], list[int]], number: int, sents: Sequence[int],
    ns: Sequence[int], cuts_of: dict[tuple[int, ...], Cuts | None], slices: Slices,
) -> bool:  # fmt: skip
    """A whole day's packed entry (send hours, their n) of key `number` added to
    `summed` per slice as rollup_count_sum_rows' loop adds it triple by triple, a slice
    at a time, each slice's n summed in C. Its cuts are made once per distinct send hours
    (`cuts_of`: a month's 29,000 entries have few patterns, e.g. a day's 24 hours). A
    month's 513,677 triples are ~140,000 slices. False (nothing added) when the send hours
    do not ascend (the compaction packs them ascending)."""
    at = tuple(sents)
    try:
        cuts = cuts_of[at]
    except KeyError:
        cuts = cuts_of[at] = _slice_cuts(at, slices)
    if cuts is None:
        return False
    for i, j, first, sent in cuts:
        _add(summed, (first, number), ns[i] if j == i + 1 else sum(ns[i:j]), sent)
    return True


def _add(summed: dict[tuple[int, int], list[int]], k: tuple[int, int], n: int, sent: int) -> None:
    """n probes of slice and key `k` sent in hour `sent` added to its [n, first send hour]."""
    if (got := summed.get(k)) is None:
        summed[k] = [n, sent]
    else:
        got[0] += n
        if sent < got[1]:
            got[1] = sent


def _sum_key(r: tuple[Any, ...]) -> tuple[Any, ...]:
    """A count key read in COUNT_KEY order with RollupCount's types (as _count_tuple)."""
    (vendor, carrier, mvno, region, profile, band, msisdn, burst, parts, billed, billed_from,
     status, outcome, dlr, claim, content, duplicates, missing) = r  # fmt: skip
    return (vendor, carrier, mvno, region, profile, band, msisdn, bool(burst), int(parts),
            None if billed < 0 else int(billed), billed_from, status, outcome, dlr, claim,
            content, int(duplicates), missing)  # fmt: skip


def _value_row(r: Row) -> RollupValue:
    return RollupValue(
        hour_ns=int(r["hour_ns"]), vendor=r["vendor"], sent_hour_ns=int(r["sent_hour_ns"]),
        carrier=r["carrier"], mvno=r["mvno"], region=r["region"], profile=r["profile"],
        band=r["band"], msisdn=r["msisdn"], burst=bool(r["burst"]),
        submit_status=r["submit_status"], kind=r["kind"], value=float(r["value"]),
        n=int(r["n"]),
    )  # fmt: skip
