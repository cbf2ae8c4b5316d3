"""Retention in SQL (migration 0008): mask or purge texts, MSISDNs and raw bytes of rows
older than each cutoff (collector/ledger/retention.py says what and why).

Rows are walked in the order they were written (records by id, probes by planned time,
DLRs and agent samples by id, quiet-hour suppressions by time, alerts by their end) from a
high-water mark per cutoff kept in `cursors` (`retention:<table>:<mark>`), so a run reads
only what it has not handled yet and needs no index on the age; the walk stops at the
first row not old enough (ids follow ingest time). A probe is touched only once final (its
verdict settled); an alert only once ended. One batch is one transaction; a dry run does
the same work in one transaction and rolls it back, so its counts are exactly what a run
would do.

Lock order (PostgreSQL): a batch first locks every probe it will touch, in probe_id order
(`SqlCore._lock_probes`, as `mark_final` and the verdict writes do), then writes probes,
their verdicts and channel observations; DLRs in dlr_id order. A batch PostgreSQL still
aborts (deadlock or serialization failure) is run again.
"""

from __future__ import annotations

import hashlib
from abc import abstractmethod
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from collector.ledger.retention import (
    PERSONAL_RECORD_KINDS,
    Cutoff,
    DataKind,
    Minimisation,
    add_mark,
    apply,
    marks,
    numbers_in_text,
    subject_sim,
    zero_counts,
)
from collector.ledger.sql.core import SqlCore
from collector.ledger.sql.query import Tx, Where, chunks

Counts = dict[str, int]


class _DryRun(Exception):
    """Raised to roll a dry run back."""


def _position(tx: Tx, name: str) -> int:
    rows = tx.all("SELECT position FROM cursors WHERE name = ?", (name,))
    return int(rows[0]["position"]) if rows else 0


def _set_position(tx: Tx, name: str, position: int, at_ns: int) -> None:
    if not tx.run(
        "UPDATE cursors SET position = ?, updated_at_ns = ? WHERE name = ?",
        (position, at_ns, name),
    ):
        tx.run(
            "INSERT INTO cursors (name, position, updated_at_ns) VALUES (?, ?, ?)",
            (name, position, at_ns),
        )


def _rewrite(
    tx: Tx,
    table: str,
    key: str,
    ids: Sequence[Any],
    columns: Sequence[str],
    cut: Cutoff,
    change: Callable[[str], str] | None = None,
) -> int:
    """Mask or purge `columns` of the rows with `key` in ids (each value through `change`,
    by default the cutoff's mask or purge of the whole value); returns rows changed."""
    fn = change or (lambda v: apply(cut.action, cut.kind, v))
    changed = 0
    for chunk in chunks(sorted(ids)):
        where = Where().among(key, chunk)
        rows = tx.all(f"SELECT {key}, {', '.join(columns)} FROM {table}{where}", where.params)
        updates = []
        for r in rows:
            old = [r[c] for c in columns]
            new = [fn(v) for v in old]
            if new != old:
                updates.append((*new, r[key]))
        if updates:
            sets = ", ".join(f"{c} = ?" for c in columns)
            tx.many(f"UPDATE {table} SET {sets} WHERE {key} = ?", sorted(updates, key=_last))
            changed += len(updates)
    return changed


def _last(row: Sequence[Any]) -> Any:
    return row[-1]


def _records(tx: Tx, cut: Cutoff, at_ns: int, limit: int, counts: Counts) -> bool:
    """One batch of agent records; True when there may be more."""
    name = f"retention:records:{cut.mark}"
    start = _position(tx, name)
    rows = tx.all(
        "SELECT id, kind, ingested_at_ns, minimised FROM records WHERE id > ? ORDER BY id LIMIT ?",
        (start, limit),
    )
    last, todo = start, []
    for r in rows:
        if int(r["ingested_at_ns"]) >= cut.before_ns:
            break
        last = int(r["id"])
        if r["kind"] in PERSONAL_RECORD_KINDS and cut.mark not in marks(r["minimised"]):
            todo.append((last, str(r["kind"]), str(r["minimised"])))
    by_kind = {k: [i for i, kind, _ in todo if kind == k] for k in PERSONAL_RECORD_KINDS}
    sms, reports, canaries = by_kind["sms"], by_kind["status_report"], by_kind["canary"]
    if cut.kind is DataKind.TEXT:
        counts["sms.text"] += _rewrite(tx, "sms", "record_id", sms, ("text",), cut)
        for chunk in chunks(sms):  # the text's own bytes (TS 23.040 user data)
            where = Where().among("record_id", chunk)
            tx.run(f"UPDATE sms SET user_data = ?{where}", (b"", *where.params))
        counts["canaries.text"] += _rewrite(tx, "canaries", "record_id", canaries, ("text",), cut)
    elif cut.kind is DataKind.MSISDN:
        counts["sms.msisdn"] += _rewrite(tx, "sms", "record_id", sms, ("msisdn",), cut)
        counts["sms.sender"] += _rewrite(tx, "sms", "record_id", sms, ("sender",), cut)
        counts["status_reports.recipient"] += _rewrite(
            tx, "status_reports", "record_id", reports, ("recipient",), cut
        )
        counts["canaries.to_msisdn"] += _rewrite(
            tx, "canaries", "record_id", canaries, ("to_msisdn",), cut
        )
    else:
        ids = [i for i, _, _ in todo]
        for chunk in chunks(ids):
            where = Where().among("id", chunk).add("raw IS NOT NULL")
            found = tx.all(f"SELECT id, raw FROM records{where} ORDER BY id", where.params)
            tx.many(
                "UPDATE records SET raw = NULL, raw_sha256 = ? WHERE id = ?",
                [(hashlib.sha256(bytes(r["raw"])).hexdigest(), r["id"]) for r in found],
            )
            counts["records.raw"] += len(found)
        counts["sms_parts.raw_pdu"] += _empty(tx, "sms_parts", "record_id", sms, "raw_pdu")
        counts["status_reports.raw_pdu"] += _empty(
            tx, "status_reports", "record_id", reports, "raw_pdu"
        )
    tx.many(
        "UPDATE records SET minimised = ?, minimised_at_ns = ? WHERE id = ?",
        [(add_mark(m, cut.mark), at_ns, i) for i, _, m in todo],
    )
    _set_position(tx, name, last, at_ns)
    return len(rows) == limit and last != start


def _empty(tx: Tx, table: str, key: str, ids: Sequence[int], column: str) -> int:
    changed = 0
    for chunk in chunks(list(ids)):
        where = Where().among(key, chunk).add(f"length({column}) > 0")
        changed += tx.run(f"UPDATE {table} SET {column} = ?{where}", (b"", *where.params))
    return changed


def _probe_walk(tx: Tx, cut: Cutoff, limit: int) -> Sequence[Any]:
    """The probes one batch of `cut` looks at (planned before the cutoff, not done yet);
    read before their rows are locked, read again (`_probes`) once they are."""
    start = _position(tx, f"retention:probes:{cut.mark}")
    return tx.all(
        "SELECT probe_id FROM probes WHERE planned_at_ns >= ?"
        " AND planned_at_ns < ? AND (',' || minimised || ',') NOT LIKE ?"
        " ORDER BY planned_at_ns, probe_id LIMIT ?",
        (start, cut.before_ns, f"%,{cut.mark},%", limit),
    )


def _probes(
    tx: Tx, cut: Cutoff, walk: Sequence[Any], at_ns: int, limit: int, counts: Counts
) -> bool:
    """One batch of final probes planned before the cutoff (`walk`, rows locked)."""
    name = f"retention:probes:{cut.mark}"
    rows: list[Any] = []
    for chunk in chunks(sorted(str(r["probe_id"]) for r in walk)):
        where = Where().among("probe_id", chunk)
        rows += tx.all(
            f"SELECT probe_id, planned_at_ns, final, minimised FROM probes{where}", where.params
        )
    rows = [r for r in rows if cut.mark not in marks(r["minimised"])]  # done meanwhile
    todo = sorted((str(r["probe_id"]), str(r["minimised"])) for r in rows if int(r["final"]))
    # The mark stays below the first probe still open: it is handled once settled.
    open_at = [int(r["planned_at_ns"]) for r in rows if not int(r["final"])]
    done_at = [int(r["planned_at_ns"]) for r in rows if int(r["final"])]
    ids = [p for p, _ in todo]
    if cut.kind is DataKind.TEXT:
        counts["probes.text"] += _rewrite(
            tx, "probes", "probe_id", ids, ("body", "expected_text"), cut
        )
        counts["verdicts.content_diff"] += _rewrite(
            tx, "verdicts", "probe_id", ids, ("content_diff",), cut
        )
    elif cut.kind is DataKind.MSISDN:
        counts["probes.msisdn"] += _rewrite(tx, "probes", "probe_id", ids, ("msisdn",), cut)
        counts["probes.error_detail"] += _rewrite(
            tx, "probes", "probe_id", ids, ("error_detail",), cut,
            lambda v: numbers_in_text(cut.action, v),
        )  # fmt: skip
        # The arrival's sender, copied from sms.sender (masked there too).
        counts["verdicts.sender"] += _rewrite(tx, "verdicts", "probe_id", ids, ("sender",), cut)
        counts["channel_observations.sender"] += _rewrite(
            tx, "channel_observations", "probe_id", ids, ("sender",), cut
        )
    else:
        for chunk in chunks(ids):
            where = Where().among("probe_id", chunk)
            where.add("(raw_request IS NOT NULL OR raw_response IS NOT NULL)")
            counts["probes.raw_exchange"] += tx.run(
                f"UPDATE probes SET raw_request = NULL, raw_response = NULL{where}", where.params
            )
    tx.many(
        "UPDATE probes SET minimised = ?, minimised_at_ns = ? WHERE probe_id = ?",
        [(add_mark(m, cut.mark), at_ns, p) for p, m in todo],
    )
    if done_at:
        _set_position(tx, name, min([max(done_at), *open_at]), at_ns)
    return bool(todo) and len(walk) == limit


def _dlrs(tx: Tx, cut: Cutoff, at_ns: int, limit: int, counts: Counts, for_update: str) -> bool:
    name = f"retention:dlrs:{cut.mark}"
    start = _position(tx, name)
    rows = tx.all(
        "SELECT dlr_id, received_at_ns FROM dlrs WHERE dlr_id > ? ORDER BY dlr_id LIMIT ?",
        (start, limit),
    )
    ids: list[int] = []
    for r in rows:
        if int(r["received_at_ns"]) >= cut.before_ns:
            break
        ids.append(int(r["dlr_id"]))
    for chunk in chunks(ids):  # ids ascending: dlr_id order, as attribute_dlrs writes
        where = Where().among("dlr_id", chunk).add("raw IS NOT NULL")
        found = tx.all(f"SELECT dlr_id FROM dlrs{where} ORDER BY dlr_id{for_update}", where.params)
        counts["dlrs.raw"] += tx.many(
            "UPDATE dlrs SET raw = NULL, minimised_at_ns = ? WHERE dlr_id = ?",
            [(at_ns, r["dlr_id"]) for r in found],
        )
    if ids:
        _set_position(tx, name, ids[-1], at_ns)
    return len(rows) == limit and len(ids) == len(rows)


def _quarantines(tx: Tx, cut: Cutoff, counts: Counts) -> None:
    for table in ("quarantine", "dlr_quarantine"):
        counts[f"{table}.raw"] += tx.run(
            f"UPDATE {table} SET raw = ? WHERE received_at_ns < ? AND length(raw) > 0",
            (b"", cut.before_ns),
        )


def _window(tx: Tx, name: str, table: str, column: str, cut: Cutoff, limit: int, where: str = ""
            ) -> tuple[int, int, bool]:  # fmt: skip
    """The next batch of a table walked by a time `column`: rows with after < column <=
    upto, at least `limit` of them unless the walk ends (rows of one time never split),
    and whether more may follow."""
    after = _position(tx, name)
    edge = tx.all(
        f"SELECT {column} AS t FROM {table} WHERE {column} > ? AND {column} < ?{where}"
        f" ORDER BY {column} LIMIT 1 OFFSET ?",
        (after, cut.before_ns, limit - 1),
    )
    if edge:
        return after, int(edge[0]["t"]), True
    return after, cut.before_ns - 1, False


def _suppressions(tx: Tx, cut: Cutoff, at_ns: int, limit: int, counts: Counts) -> bool:
    """Quiet-hour suppressions (the lane's SIM number is in their key): masked rows of
    lanes whose numbers now look alike merge, their `lanes` summed, so none is lost."""
    name = f"retention:quiet_suppressions:{cut.mark}"
    after, upto, more = _window(tx, name, "quiet_suppressions", "at_ns", cut, limit)
    rows = tx.all(
        "SELECT vendor, msisdn, profile, at_ns, lanes FROM quiet_suppressions"
        " WHERE at_ns > ? AND at_ns <= ? ORDER BY at_ns, vendor, msisdn, profile",
        (after, upto),
    )
    key = "vendor = ? AND msisdn = ? AND profile = ? AND at_ns = ?"
    for r in rows:
        new = apply(cut.action, cut.kind, r["msisdn"])
        if new == r["msisdn"]:
            continue
        old_key = (r["vendor"], r["msisdn"], r["profile"], r["at_ns"])
        new_key = (r["vendor"], new, r["profile"], r["at_ns"])
        if tx.run(f"UPDATE quiet_suppressions SET lanes = lanes + ? WHERE {key}",
                  (r["lanes"], *new_key)):  # fmt: skip
            tx.run(f"DELETE FROM quiet_suppressions WHERE {key}", old_key)
        else:
            tx.run(f"UPDATE quiet_suppressions SET msisdn = ? WHERE {key}", (new, *old_key))
        counts["quiet_suppressions.msisdn"] += 1
    _set_position(tx, name, upto, at_ns)
    return more


def _alerts(tx: Tx, cut: Cutoff, at_ns: int, limit: int, counts: Counts) -> bool:
    """Ended alerts naming a SIM (whitelisting suspected): its number in the subject. An
    open alert keeps it (ending it matches the subject)."""
    name = f"retention:alerts:{cut.mark}"
    after, upto, more = _window(tx, name, "alerts", "ended_at_ns", cut, limit)
    rows = tx.all(
        "SELECT alert_id, subject FROM alerts WHERE ended_at_ns > ? AND ended_at_ns <= ?"
        " ORDER BY alert_id",
        (after, upto),
    )
    updates = []
    for r in rows:
        new = subject_sim(cut.action, r["subject"])
        if new != r["subject"]:
            updates.append((new, r["alert_id"]))
    counts["alerts.subject"] += tx.many("UPDATE alerts SET subject = ? WHERE alert_id = ?", updates)
    _set_position(tx, name, upto, at_ns)
    return more


def _agent_samples(tx: Tx, cut: Cutoff, at_ns: int, limit: int, counts: Counts) -> bool:
    """Delete agent samples older than the cutoff, each agent's latest one kept (it is the
    agent's last known state: `last_agent_samples`)."""
    name = f"retention:agent_samples:{cut.mark}"
    start = _position(tx, name)
    rows = tx.all(
        "SELECT sample_id, agent_id, at_ns FROM agent_samples WHERE sample_id > ?"
        " ORDER BY sample_id LIMIT ?",
        (start, limit),
    )
    ids: list[int] = []
    agents: set[str] = set()
    for r in rows:
        if int(r["at_ns"]) >= cut.before_ns:
            break
        ids.append(int(r["sample_id"]))
        agents.add(r["agent_id"])
    if not ids:
        return False
    latest = set()  # one index probe per agent (agent_samples_by_agent), not a table scan
    for agent in sorted(agents):
        top = tx.all("SELECT MAX(sample_id) AS top FROM agent_samples WHERE agent_id = ?", (agent,))
        latest.add(int(top[0]["top"]))
    gone = [i for i in ids if i not in latest]
    for chunk in chunks(gone):
        where = Where().among("sample_id", chunk)
        counts["agent_samples.rows"] += tx.run(f"DELETE FROM agent_samples{where}", where.params)
    _set_position(tx, name, ids[-1], at_ns)
    return len(rows) == limit and len(ids) == len(rows)


def _batch(
    core: SqlCore, tx: Tx, cutoffs: Iterable[Cutoff], at_ns: int, limit: int, counts: Counts
) -> bool:
    more = False
    cutoffs = tuple(cutoffs)
    personal = tuple(c for c in cutoffs if c.kind is not DataKind.AGENT_SAMPLES)
    # Every probe this batch may touch, locked first in the one order (module docstring).
    walks = {cut: _probe_walk(tx, cut, limit) for cut in personal}
    core._lock_probes(tx, [str(r["probe_id"]) for walk in walks.values() for r in walk])
    for cut in cutoffs:
        if cut.kind is DataKind.AGENT_SAMPLES:
            more |= _agent_samples(tx, cut, at_ns, limit, counts)
            continue
        more |= _records(tx, cut, at_ns, limit, counts)
        more |= _probes(tx, cut, walks[cut], at_ns, limit, counts)
        if cut.kind is DataKind.MSISDN:
            more |= _suppressions(tx, cut, at_ns, limit, counts)
            more |= _alerts(tx, cut, at_ns, limit, counts)
        if cut.kind is DataKind.RAW:
            more |= _dlrs(tx, cut, at_ns, limit, counts, core._for_update)
            _quarantines(tx, cut, counts)
    return more


class RetentionSql(SqlCore):
    @abstractmethod
    def reclaim_space(self) -> None:
        """Old values unreadable from the database files (the backend's VACUUM)."""

    def minimise(
        self, policy: Minimisation, *, at_ns: int, limit: int = 2000
    ) -> tuple[Counts, bool]:
        """One batch (one transaction) of the policy's work: rows changed per target
        (`TARGETS`), and whether more may be left (call again)."""

        def work() -> tuple[Counts, bool]:
            counts = zero_counts()
            with self._transaction() as tx:
                more = _batch(self, tx, policy.effective(), at_ns, limit, counts)
            return counts, more

        return self._retry_conflicts(work)

    def minimise_dry_run(self, policy: Minimisation, *, at_ns: int) -> Counts:
        """What `minimise` would change, counted by doing it in one transaction that is
        rolled back (it holds the write lock meanwhile)."""
        counts = zero_counts()
        try:
            with self._transaction() as tx:
                while _batch(self, tx, policy.effective(), at_ns, 5000, counts):
                    pass
                raise _DryRun
        except _DryRun:
            pass
        return counts


__all__ = ["RetentionSql"]
