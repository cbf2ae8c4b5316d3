"""Quiet-hour suppressions and burst requests in SQL (migration 0012)."""

from __future__ import annotations

from collections.abc import Sequence

from collector.ledger.periods import BurstRequest, BurstState, QuietSuppression
from collector.ledger.sql.core import SqlCore
from collector.ledger.sql.query import Row, Where

_QUIET_COLS = "vendor, msisdn, profile, at_ns, local_day, resume_at_ns"
_BURST_COLS = (
    "name, vendor, profile, probe_count, within_s, at_ns, budget, max_attempts,"
    " requested_at_ns, requested_by, state, started_at_ns, started_by, sent, note"
)


def _burst(r: Row) -> BurstRequest:
    return BurstRequest(
        name=r["name"],
        vendor=r["vendor"],
        profile=r["profile"],
        count=int(r["probe_count"]),
        within_s=float(r["within_s"]),
        at_ns=int(r["at_ns"]),
        budget=float(r["budget"]),
        max_attempts=int(r["max_attempts"]),
        requested_at_ns=int(r["requested_at_ns"]),
        requested_by=r["requested_by"],
        state=BurstState(r["state"]),
        started_at_ns=int(r["started_at_ns"]),
        started_by=r["started_by"],
        sent=int(r["sent"]),
        note=r["note"],
    )


class PeriodSql(SqlCore):
    def record_suppressions(self, rows: Sequence[QuietSuppression]) -> int:
        """Fenced by the probing lease (the scheduler's writes); a row already kept (same
        lane and time) is not doubled. Returns how many were new."""
        added = 0
        with self._transaction() as tx:
            self._check_fence(tx)
            for s in rows:
                key = (s.vendor, s.msisdn, s.profile, s.at_ns)
                if tx.all(
                    "SELECT 1 AS x FROM quiet_suppressions"
                    " WHERE vendor = ? AND msisdn = ? AND profile = ? AND at_ns = ?",
                    key,
                ):
                    continue
                tx.run(
                    f"INSERT INTO quiet_suppressions ({_QUIET_COLS}) VALUES (?, ?, ?, ?, ?, ?)",
                    (*key, s.local_day, s.resume_at_ns),
                )
                added += 1
        return added

    def suppressions(
        self, *, since_ns: int = 0, until_ns: int | None = None, vendor: str | None = None
    ) -> list[QuietSuppression]:
        where = (
            Where()
            .add("at_ns >= ?", since_ns)
            .maybe("at_ns < ?", until_ns)
            .maybe("vendor = ?", vendor)
        )
        with self._transaction(write=False) as tx:
            rows = tx.all(
                f"SELECT {_QUIET_COLS}, lanes FROM quiet_suppressions{where}"
                " ORDER BY at_ns, vendor, msisdn, profile",
                where.params,
            )
        return [  # a row retention merged (masked numbers alike) stands for `lanes` (0017)
            QuietSuppression(
                vendor=r["vendor"],
                msisdn=r["msisdn"],
                profile=r["profile"],
                at_ns=int(r["at_ns"]),
                local_day=r["local_day"],
                resume_at_ns=int(r["resume_at_ns"]),
            )
            for r in rows
            for _ in range(int(r["lanes"]))
        ]

    def request_burst(self, request: BurstRequest) -> bool:
        """Queue a burst; False (nothing written) when its name is taken."""
        r = request
        with self._transaction() as tx:
            if tx.all("SELECT 1 AS x FROM burst_requests WHERE name = ?", (r.name,)):
                return False
            tx.run(
                f"INSERT INTO burst_requests ({_BURST_COLS})"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (r.name, r.vendor, r.profile, r.count, r.within_s, r.at_ns, r.budget,
                 r.max_attempts, r.requested_at_ns, r.requested_by, BurstState.PENDING.value,
                 0, "", 0, r.note),
            )  # fmt: skip
        return True

    def burst_requests(self, *, state: BurstState | None = None) -> list[BurstRequest]:
        where = Where().maybe("state = ?", None if state is None else state.value)
        with self._transaction(write=False) as tx:
            rows = tx.all(
                f"SELECT {_BURST_COLS} FROM burst_requests{where} ORDER BY at_ns, name",
                where.params,
            )
        return [_burst(r) for r in rows]

    def start_burst(self, name: str, *, at_ns: int, by: str) -> bool:
        """Claim a pending burst (fenced by the probing lease): True when this call moved
        it to started; False when it was not pending (claimed before, or settled)."""
        with self._transaction() as tx:
            self._check_fence(tx)
            return bool(
                tx.run(
                    "UPDATE burst_requests SET state = ?, started_at_ns = ?, started_by = ?"
                    " WHERE name = ? AND state = ?",
                    (BurstState.STARTED.value, at_ns, by, name, BurstState.PENDING.value),
                )
            )

    def settle_burst(self, name: str, state: BurstState, *, sent: int = 0, note: str = "") -> None:
        """A claimed burst done (with the probes it sent), or a pending one expired or
        refused (with why). Fenced by the probing lease."""
        with self._transaction() as tx:
            self._check_fence(tx)
            tx.run(
                "UPDATE burst_requests SET state = ?, sent = ?, note = ? WHERE name = ?",
                (state.value, sent, note, name),
            )
