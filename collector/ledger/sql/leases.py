"""Leases with fencing tokens and claimed alert deliveries in SQL (migration 0007).

A lease row is locked (FOR UPDATE on PostgreSQL; BEGIN IMMEDIATE on SQLite) while it is
taken or renewed, and read with a share lock by the fence check of every protected write,
so a takeover and a write of the old tenure serialise: the write commits before the token
moves, or sees the new token and is refused (FencedError). Expiry is judged on the
ledger's clock (`_now_ns`: the database server's on PostgreSQL), one clock for the group.
"""

from __future__ import annotations

from agent.common.units import NS
from collector.ledger.leases import DeliveryRow, Grant, Lease
from collector.ledger.sql.core import SqlCore
from collector.ledger.sql.query import Row, Tx

_LEASE_COLS = "name, holder, token, acquired_at_ns, renewed_at_ns, expires_at_ns, previous_holder"
_DELIVERY_COLS = "alert_id, phase, url, state, claimed_token, claimed_by, attempts"


def _lease(r: Row) -> Lease:
    return Lease(
        name=r["name"],
        holder=r["holder"],
        token=int(r["token"]),
        acquired_at_ns=int(r["acquired_at_ns"]),
        renewed_at_ns=int(r["renewed_at_ns"]),
        expires_at_ns=int(r["expires_at_ns"]),
        previous_holder=r["previous_holder"],
    )


def _delivery(r: Row) -> DeliveryRow:
    return DeliveryRow(
        alert_id=int(r["alert_id"]),
        phase=r["phase"],
        url=r["url"],
        state=r["state"],
        claimed_token=int(r["claimed_token"]),
        claimed_by=r["claimed_by"],
        attempts=int(r["attempts"]),
    )


class LeaseSql(SqlCore):
    # ------------------------------------------------------------------ leases
    def acquire_lease(
        self, name: str, holder: str, *, ttl_s: float, restart: bool = False
    ) -> Grant:
        """Take `name` when it is free or expired (a new tenure, token + 1), renew it when
        `holder` has it; `restart`: a process taking over its own instance's lease from
        its previous life (always a new tenure). Otherwise held=False, nothing changes."""
        with self._transaction() as tx:
            now = self._now_ns(tx)
            tx.run("INSERT INTO leases (name) VALUES (?) ON CONFLICT (name) DO NOTHING", (name,))
            rows = tx.all(
                f"SELECT {_LEASE_COLS} FROM leases WHERE name = ?{self._for_update}", (name,)
            )
            old = _lease(rows[0])
            expires = now + int(ttl_s * NS)
            live = old.expires_at_ns > now
            if live and old.holder == holder and not restart:
                tx.run(
                    "UPDATE leases SET renewed_at_ns = ?, expires_at_ns = ? WHERE name = ?",
                    (now, expires, name),
                )
                return Grant(Lease(name, holder, old.token, old.acquired_at_ns, now, expires,
                                   old.previous_holder), held=True)  # fmt: skip
            if live and old.holder != holder:
                return Grant(old, held=False)
            token = old.token + 1
            tx.run(
                "UPDATE leases SET holder = ?, token = ?, acquired_at_ns = ?, renewed_at_ns = ?,"
                " expires_at_ns = ?, previous_holder = ? WHERE name = ?",
                (holder, token, now, now, expires, old.holder, name),
            )
            lapsed = old.holder if old.expires_at_ns != 0 and old.holder else ""
            return Grant(
                Lease(name, holder, token, now, now, expires, old.holder),
                held=True,
                new_tenure=True,
                lapsed_holder=lapsed,
                lapsed_renewed_at_ns=old.renewed_at_ns if lapsed else 0,
            )

    def release_lease(self, name: str, holder: str, token: int) -> bool:
        """Give the lease up at once (a clean stop): the next collector need not wait for
        it to expire. Only the tenure that holds it can release it."""
        with self._transaction() as tx:
            return bool(
                tx.run(
                    "UPDATE leases SET expires_at_ns = 0 WHERE name = ? AND holder = ?"
                    " AND token = ?",
                    (name, holder, token),
                )
            )

    def leases(self) -> list[Lease]:
        with self._transaction(write=False) as tx:
            rows = tx.all(f"SELECT {_LEASE_COLS} FROM leases ORDER BY name")
        return [_lease(r) for r in rows]

    def ledger_now_ns(self) -> int:
        """The clock leases expire by (the database server's on PostgreSQL)."""
        with self._transaction(write=False) as tx:
            return self._now_ns(tx)

    # -------------------------------------------------------- alert deliveries
    def _queue_deliveries(self, tx: Tx, alert_id: int, phase: str, urls: tuple[str, ...]) -> None:
        tx.many(
            "INSERT INTO alert_deliveries (alert_id, phase, url, updated_at_ns)"
            " VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING",
            [(alert_id, phase, url, self._clock()) for url in urls],
        )

    def pending_deliveries(self) -> list[DeliveryRow]:
        """Deliveries not settled: pending, or claimed by a holder that may have died."""
        with self._transaction(write=False) as tx:
            rows = tx.all(
                f"SELECT {_DELIVERY_COLS} FROM alert_deliveries"
                " WHERE state IN ('pending', 'claimed') ORDER BY alert_id, phase, url"
            )
        return [_delivery(r) for r in rows]

    def deliveries(self, alert_id: int | None = None) -> list[DeliveryRow]:
        where, params = ("", ()) if alert_id is None else (" WHERE alert_id = ?", (alert_id,))
        with self._transaction(write=False) as tx:
            rows = tx.all(
                f"SELECT {_DELIVERY_COLS} FROM alert_deliveries{where}"
                " ORDER BY alert_id, phase, url",
                params,
            )
        return [_delivery(r) for r in rows]

    def claim_delivery(self, alert_id: int, phase: str, url: str, *, by: str) -> bool:
        """Claim one delivery before posting it: True when it was pending, or claimed by an
        earlier tenure of the alerts lease (its holder died not knowing the outcome)."""
        with self._transaction() as tx:
            self._check_fence(tx)
            fence = self._fence() if self._fence is not None else None
            token = fence.token if fence is not None else 0
            self._queue_deliveries(tx, alert_id, phase, (url,))  # queued with the alert or now
            return bool(
                tx.run(
                    "UPDATE alert_deliveries SET state = 'claimed', claimed_token = ?,"
                    " claimed_by = ?, attempts = attempts + 1, updated_at_ns = ?"
                    " WHERE alert_id = ? AND phase = ? AND url = ? AND (state = 'pending'"
                    " OR (state = 'claimed' AND (claimed_token < ? OR ? = 0)))",
                    (token, by, self._clock(), alert_id, phase, url, token, token),
                )
            )

    def settle_delivery(self, alert_id: int, phase: str, url: str, *, delivered: bool) -> None:
        with self._transaction() as tx:
            self._check_fence(tx)
            tx.run(
                "UPDATE alert_deliveries SET state = ?, updated_at_ns = ?"
                " WHERE alert_id = ? AND phase = ? AND url = ?",
                ("delivered" if delivered else "failed", self._clock(), alert_id, phase, url),
            )
