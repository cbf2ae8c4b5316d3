"""Vendor channels in SQL (migration 0009): channel observations and failover sends."""

from __future__ import annotations

from collections.abc import Sequence

from collector.ledger.channels import ChannelObservation, FailoverSend
from collector.ledger.sql.convert import opt_float
from collector.ledger.sql.core import SqlCore
from collector.ledger.sql.query import Row, Where

_OBS_COLS = (
    "probe_id, vendor, carrier, profile, submitted_at_ns, arrived_at_ns, latency_s, sender,"
    " smsc, pid, dcs, record_uuid"
)
# One writer of channel observations at a time across processes: MAX(seq) + 1 below.
CHANNEL_WRITE_LOCK = 0x6368616E6E656C73
_SEND_COLS = "probe_id, route_group, primary_vendor, backup_vendor, carrier, profile, at_ns"


def _latency(x: float | None) -> float | None:
    return None if x is None else opt_float(x)


class ChannelSql(SqlCore):
    def save_channel_observations(self, observations: Sequence[ChannelObservation]) -> int:
        """Insert or replace by probe id (a re-judged probe may have arrived otherwise);
        each row written gets the next `seq` (the channel series' cursor, migration 0014)."""
        with self._transaction() as tx:
            self._serialize(tx, CHANNEL_WRITE_LOCK)
            # Read before the delete: a replaced row that held the top seq must not lend it
            # to its replacement (the cursor is already past it).
            top = tx.all("SELECT COALESCE(MAX(seq), 0) AS top FROM channel_observations")
            seq = int(top[0]["top"])
            for o in observations:
                tx.run("DELETE FROM channel_observations WHERE probe_id = ?", (o.probe_id,))
            tx.many(
                f"INSERT INTO channel_observations ({_OBS_COLS}, seq)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    (
                        o.probe_id,
                        o.vendor,
                        o.carrier,
                        o.profile,
                        o.submitted_at_ns,
                        o.arrived_at_ns,
                        _latency(o.latency_s),
                        o.sender,
                        o.smsc,
                        o.pid,
                        o.dcs,
                        o.record_uuid,
                        seq + i,
                    )
                    for i, o in enumerate(observations, start=1)
                ],
            )
        return len(observations)

    def channel_observations(
        self, *, since_ns: int = 0, until_ns: int | None = None, vendor: str | None = None
    ) -> list[ChannelObservation]:
        where = (
            Where()
            .add("submitted_at_ns >= ?", since_ns)
            .maybe("submitted_at_ns < ?", until_ns)
            .maybe("vendor = ?", vendor)
        )
        with self._transaction(write=False) as tx:
            rows = tx.all(
                f"SELECT {_OBS_COLS} FROM channel_observations{where}"
                " ORDER BY arrived_at_ns, probe_id",
                where.params,
            )
        return [_observation(r) for r in rows]

    def channel_observations_after(
        self, seq: int, limit: int
    ) -> list[tuple[int, ChannelObservation]]:
        with self._transaction(write=False) as tx:
            rows = tx.all(
                f"SELECT {_OBS_COLS}, seq FROM channel_observations WHERE seq > ?"
                " ORDER BY seq LIMIT ?",
                (seq, limit),
            )
        return [(int(r["seq"]), _observation(r)) for r in rows]

    def record_failover_send(self, send: FailoverSend) -> None:
        with self._transaction() as tx:
            if not tx.all("SELECT 1 AS x FROM failover_sends WHERE probe_id = ?", (send.probe_id,)):
                tx.run(
                    f"INSERT INTO failover_sends ({_SEND_COLS}) VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (send.probe_id, send.route_group, send.primary_vendor, send.backup_vendor,
                     send.carrier, send.profile, send.at_ns),
                )  # fmt: skip

    def failover_sends(
        self, *, since_ns: int = 0, until_ns: int | None = None
    ) -> list[FailoverSend]:
        where = Where().add("at_ns >= ?", since_ns).maybe("at_ns < ?", until_ns)
        with self._transaction(write=False) as tx:
            rows = tx.all(
                f"SELECT {_SEND_COLS} FROM failover_sends{where} ORDER BY at_ns, probe_id",
                where.params,
            )
        return [
            FailoverSend(
                probe_id=r["probe_id"],
                route_group=r["route_group"],
                primary_vendor=r["primary_vendor"],
                backup_vendor=r["backup_vendor"],
                carrier=r["carrier"],
                profile=r["profile"],
                at_ns=int(r["at_ns"]),
            )
            for r in rows
        ]


def _observation(r: Row) -> ChannelObservation:
    return ChannelObservation(
        probe_id=r["probe_id"],
        vendor=r["vendor"],
        carrier=r["carrier"],
        profile=r["profile"],
        submitted_at_ns=int(r["submitted_at_ns"]),
        arrived_at_ns=int(r["arrived_at_ns"]),
        latency_s=None if r["latency_s"] is None else float(r["latency_s"]),
        sender=r["sender"],
        smsc=r["smsc"],
        pid=int(r["pid"]),
        dcs=int(r["dcs"]),
        record_uuid=r["record_uuid"],
    )
