"""The agents' side of the ledger apart from their records: registration (agent, modems,
SIMs, with what changed as events), liveness, the agent's own view, signing keys, and
the agents view (`smsprobe-collector agents`, alerts, time series)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import structlog
from cryptography import x509

from agent.wire.records import AgentRegistration, Registration, SimInfo
from agent.wire.signing import key_id
from collector.ledger.ingest_rules import no_longer_pending, scrub_strings
from collector.ledger.lost_backlog import NOT_PENDING, OUTBOX_RESTARTED
from collector.ledger.model import (
    AgentSample,
    AgentStatus,
    GapSpan,
    HealthSummary,
    LedgerEvent,
    LedgerEventKind,
    ModemStatus,
    RegistrationOutcome,
)
from collector.ledger.sql.convert import inf, nan, opt_float, strs
from collector.ledger.sql.gaps import GapSql, log_reported
from collector.ledger.sql.query import Row, Tx, Where

log = structlog.get_logger("collector.ledger")


class AgentSql(GapSql):
    # ------------------------------------------------------------ registration

    def register_agent(self, reg: AgentRegistration, *, at_ns: int) -> RegistrationOutcome:
        reg = scrub_strings(reg)  # PostgreSQL TEXT cannot hold U+0000 (ingest_rules.scrub_nul)
        events: list[LedgerEvent] = []
        lost: list[GapSpan] = []
        caps = "\n".join(reg.capabilities)
        with self._transaction() as tx:
            # Insert-if-absent then lock: two replicas registering one new agent at once
            # serialise on the row instead of one failing on the primary key.
            tx.run(
                "INSERT INTO agents (agent_id) VALUES (?) ON CONFLICT (agent_id) DO NOTHING",
                (reg.agent_id,),
            )
            row = tx.all(
                "SELECT seq_epoch, max_seq, committed_seq, first_registered_at_ns FROM agents"
                " WHERE agent_id = ?" + self._for_update,
                (reg.agent_id,),
            )
            agent = row[0]
            epoch, max_seq = int(agent["seq_epoch"]), int(agent["max_seq"])
            committed, first_at = int(agent["committed_seq"]), int(agent["first_registered_at_ns"])
            if reg.last_seq < max_seq:
                # The agent persisted fewer records than we already hold: its outbox was
                # lost and seqs restart. A new epoch keeps old and new seqs apart.
                events.append(
                    LedgerEvent(
                        agent_id=reg.agent_id,
                        at_ns=at_ns,
                        kind=LedgerEventKind.AGENT_SEQ_RESET,
                        detail=f"agent last_seq {reg.last_seq} < ledger max_seq {max_seq}",
                        attributes={
                            "old_epoch": str(epoch),
                            "new_epoch": str(epoch + 1),
                            "old_max_seq": str(max_seq),
                        },
                    )
                )
                tx.run(
                    "UPDATE agents SET seq_epoch = ?, max_seq = 0, max_seq_persisted_ns = 0,"
                    " committed_seq = 0 WHERE agent_id = ?",
                    (epoch + 1, reg.agent_id),
                )
                committed = 0
                # The old outbox's backlog will never come: its queued gaps are missing.
                lost = self._queued_gaps(tx, reg.agent_id, epoch)
            tx.run(
                "UPDATE agents SET site = ?, region = ?, software_version = ?,"
                " capabilities = ?, first_registered_at_ns = ?, registered_at_ns = ?,"
                " last_seen_ns = ?, reported_last_seq = ? WHERE agent_id = ?",
                (
                    reg.site,
                    reg.region,
                    reg.software_version,
                    caps,
                    first_at or at_ns,  # 0: a bare row from set_connected/touch_agent
                    at_ns,
                    at_ns,
                    reg.last_seq,
                    reg.agent_id,
                ),
            )
            events.append(
                LedgerEvent(
                    agent_id=reg.agent_id,
                    at_ns=at_ns,
                    kind=LedgerEventKind.AGENT_REGISTERED,
                    detail=f"{reg.software_version} with {len(reg.modems)} modem(s)",
                    attributes={
                        "software_version": reg.software_version,
                        "modems": str(len(reg.modems)),
                        "last_seq": str(reg.last_seq),
                    },
                )
            )
            events.extend(self._register_modems(tx, reg, at_ns))
            self._insert_events(tx, events)
            lost = self._report_queued(tx, lost, at_ns, OUTBOX_RESTARTED)
            self._sample(tx, [reg.agent_id], at_ns)
        for e in events:
            if e.kind is LedgerEventKind.AGENT_SEQ_RESET:
                log.warning("agent_seq_reset", agent_id=reg.agent_id, **e.attributes)
        log_reported(reg.agent_id, lost, OUTBOX_RESTARTED)
        return RegistrationOutcome(committed_seq=committed, events=tuple(events))

    def _register_modems(self, tx: Tx, reg: AgentRegistration, at_ns: int) -> list[LedgerEvent]:
        events: list[LedgerEvent] = []
        existing = {
            str(r["imei"]): (bool(r["present"]), str(r["iccid"]))
            for r in tx.all(
                "SELECT imei, present, iccid FROM modems WHERE agent_id = ?", (reg.agent_id,)
            )
        }
        modems = {m.imei: m for m in reg.modems}  # a repeated IMEI: the last entry wins

        def event(kind: LedgerEventKind, imei: str, detail: str, **attrs: str) -> None:
            events.append(
                LedgerEvent(
                    agent_id=reg.agent_id,
                    at_ns=at_ns,
                    kind=kind,
                    modem_imei=imei,
                    detail=detail,
                    attributes=attrs,
                )
            )

        modem_rows: list[tuple[Any, ...]] = []
        sim_rows: list[tuple[Any, ...]] = []
        for imei, m in modems.items():
            iccid = m.sim.iccid if m.sim else ""
            prev = existing.get(imei)
            if prev is None or not prev[0]:
                event(LedgerEventKind.MODEM_APPEARED, imei, f"{m.manufacturer} {m.model}".strip())
            if prev is not None:
                old = prev[1]
                if old and iccid and old != iccid:
                    event(
                        LedgerEventKind.SIM_SWAPPED,
                        imei,
                        f"ICCID {old} -> {iccid}",
                        old_iccid=old,
                        new_iccid=iccid,
                    )
                elif old and not iccid:
                    event(LedgerEventKind.SIM_REMOVED, imei, f"ICCID {old}", old_iccid=old)
                elif not old and iccid:
                    event(LedgerEventKind.SIM_INSERTED, imei, f"ICCID {iccid}", new_iccid=iccid)
            modem_rows.append(
                (
                    reg.agent_id,
                    imei,
                    m.manufacturer,
                    m.model,
                    m.firmware,
                    m.port,
                    m.profile,
                    iccid,
                    at_ns,
                    at_ns,
                )
            )
            if m.sim and m.sim.iccid:
                s = m.sim
                sim_rows.append(
                    (
                        s.iccid,
                        s.imsi,
                        s.msisdn,
                        s.operator_mcc_mnc,
                        s.carrier,
                        s.mvno,
                        s.registered_mcc_mnc,
                        reg.agent_id,
                        imei,
                        at_ns,
                    )
                )
        if modem_rows:
            tx.many(
                "INSERT INTO modems (agent_id, imei, manufacturer, model, firmware, port, profile,"
                " present, iccid, first_seen_ns, last_registered_ns)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, 1, ?, ?, ?)"
                " ON CONFLICT (agent_id, imei) DO UPDATE SET manufacturer = excluded.manufacturer,"
                " model = excluded.model, firmware = excluded.firmware, port = excluded.port,"
                " profile = excluded.profile, present = 1, iccid = excluded.iccid,"
                " last_registered_ns = excluded.last_registered_ns",
                modem_rows,
            )
        if sim_rows:
            tx.many(
                "INSERT INTO sims (iccid, imsi, msisdn, operator_mcc_mnc, carrier, mvno,"
                " registered_mcc_mnc, agent_id, modem_imei, last_seen_ns)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
                " ON CONFLICT (iccid) DO UPDATE SET imsi = excluded.imsi, msisdn = excluded.msisdn,"
                " operator_mcc_mnc = excluded.operator_mcc_mnc, carrier = excluded.carrier,"
                " mvno = excluded.mvno, registered_mcc_mnc = excluded.registered_mcc_mnc,"
                " agent_id = excluded.agent_id, modem_imei = excluded.modem_imei,"
                " last_seen_ns = excluded.last_seen_ns",
                sim_rows,
            )
        gone = [imei for imei, (present, _) in existing.items() if present and imei not in modems]
        for imei in gone:
            event(LedgerEventKind.MODEM_DISAPPEARED, imei, "absent from the latest registration")
        if gone:
            tx.many(
                "UPDATE modems SET present = 0 WHERE agent_id = ? AND imei = ?",
                [(reg.agent_id, imei) for imei in gone],
            )
        return events

    # ------------------------------------------------------------ liveness

    def set_connected(
        self, agent_id: str, connected: bool, *, at_ns: int, peer: str = "", via: str = ""
    ) -> None:
        kind = LedgerEventKind.AGENT_CONNECTED if connected else LedgerEventKind.AGENT_DISCONNECTED
        with self._transaction() as tx:
            # An agent not registered yet (first connect) gets a row so liveness is kept.
            tx.run(
                "INSERT INTO agents (agent_id, peer, last_seen_ns) VALUES (?, ?, ?)"
                " ON CONFLICT (agent_id) DO UPDATE SET peer = excluded.peer,"
                " last_seen_ns = excluded.last_seen_ns",
                (agent_id, peer, at_ns),
            )
            if connected:
                tx.run(
                    "UPDATE agents SET connected = 1, connected_via = ? WHERE agent_id = ?",
                    (via, agent_id),
                )
            else:
                # Only the instance that holds the stream clears the flag: the agent may
                # already be connected through another collector.
                tx.run(
                    "UPDATE agents SET connected = 0"
                    " WHERE agent_id = ? AND connected_via IN (?, '')",
                    (agent_id, via),
                )
            self._sample(tx, [agent_id], at_ns)
            self._insert_events(
                tx,
                [
                    LedgerEvent(
                        agent_id=agent_id,
                        at_ns=at_ns,
                        kind=kind,
                        detail=peer,
                        attributes={"peer": peer} if peer else {},
                    )
                ],
            )

    def remember_agent_key(self, agent_id: str, cert_pem: bytes, *, at_ns: int) -> str:
        cert = x509.load_pem_x509_certificate(cert_pem)
        signer = key_id(cert.public_key())  # type: ignore[arg-type]
        with self._transaction() as tx:
            tx.run(
                "INSERT INTO agent_keys (signer, agent_id, cert_pem, first_seen_ns)"
                " VALUES (?, ?, ?, ?) ON CONFLICT (signer) DO NOTHING",
                (signer, agent_id, cert_pem.decode("ascii"), at_ns),
            )
        return signer

    def agent_keys(self, signers: Sequence[str] | None = None) -> dict[str, tuple[str, bytes]]:
        where = Where()
        if signers is not None:
            if not signers:
                return {}
            where.among("signer", signers)
        with self._transaction(write=False) as tx:
            rows = tx.all(f"SELECT signer, agent_id, cert_pem FROM agent_keys{where}", where.params)
        return {
            str(r["signer"]): (str(r["agent_id"]), str(r["cert_pem"]).encode("ascii")) for r in rows
        }

    def release_connections(self, via: str, *, at_ns: int) -> list[str]:
        """At a collector's start: the agents it held streams of before it stopped (a
        SIGKILL records no disconnect) are disconnected now, with an event each."""
        with self._transaction() as tx:
            rows = tx.all(
                "SELECT agent_id FROM agents WHERE connected = 1 AND connected_via = ?", (via,)
            )
            agents = [str(r["agent_id"]) for r in rows]
            tx.many(
                "UPDATE agents SET connected = 0 WHERE agent_id = ? AND connected_via = ?",
                [(a, via) for a in agents],
            )
            self._sample(tx, agents, at_ns)
            self._insert_events(
                tx,
                [
                    LedgerEvent(
                        agent_id=a,
                        at_ns=at_ns,
                        kind=LedgerEventKind.AGENT_DISCONNECTED,
                        detail=f"collector {via} restarted: the stream ended with it",
                        attributes={"collector": via},
                    )
                    for a in agents
                ],
            )
        return agents

    def touch_agent(
        self,
        agent_id: str,
        *,
        at_ns: int,
        outbox_depth: int,
        oldest_pending_ns: int,
        clock_offset_ms: float,
        clock_uncertainty_ms: float,
    ) -> None:
        with self._transaction() as tx:
            tx.run(
                "INSERT INTO agents (agent_id, last_seen_ns, outbox_depth, oldest_pending_ns,"
                " clock_offset_ms, clock_uncertainty_ms) VALUES (?, ?, ?, ?, ?, ?)"
                " ON CONFLICT (agent_id) DO UPDATE SET last_seen_ns = excluded.last_seen_ns,"
                " outbox_depth = excluded.outbox_depth,"
                " oldest_pending_ns = excluded.oldest_pending_ns,"
                " clock_offset_ms = excluded.clock_offset_ms,"
                " clock_uncertainty_ms = excluded.clock_uncertainty_ms",
                (
                    agent_id,
                    at_ns,
                    outbox_depth,
                    oldest_pending_ns,
                    clock_offset_ms if math.isfinite(clock_offset_ms) else 0.0,
                    opt_float(clock_uncertainty_ms),
                ),
            )
            self._sample(tx, [agent_id], at_ns)
            # Gaps held as queued (ingest: the backlog was to fill them) that the agent's
            # outbox no longer holds are missing: reported now, once.
            missing = [
                g
                for g in self._queued_gaps(tx, agent_id)
                if no_longer_pending(
                    g,
                    outbox_depth=outbox_depth,
                    oldest_pending_ns=oldest_pending_ns,
                    claimed_at_ns=at_ns,
                )
            ]
            missing = self._report_queued(tx, missing, at_ns, NOT_PENDING)
        log_reported(agent_id, missing, NOT_PENDING)

    def _sample(self, tx: Tx, agent_ids: Sequence[str], at_ns: int) -> None:
        """Keep the agents' rows as they are now (migration 0014): the agent series is
        derived from these, never from the latest row alone."""
        tx.many(
            "INSERT INTO agent_samples (agent_id, site, at_ns, connected, outbox_depth,"
            " oldest_pending_ns, clock_offset_ms, clock_uncertainty_ms)"
            " SELECT agent_id, site, ?, connected, outbox_depth, oldest_pending_ns,"
            " clock_offset_ms, clock_uncertainty_ms FROM agents WHERE agent_id = ?",
            [(at_ns, a) for a in agent_ids],
        )

    def agent_samples_after(self, sample_id: int, limit: int) -> list[AgentSample]:
        with self._transaction(write=False) as tx:
            rows = tx.all(
                f"{_SAMPLE_SELECT} WHERE s.sample_id > ? ORDER BY s.sample_id LIMIT ?",
                (sample_id, limit),
            )
        return [_agent_sample(r) for r in rows]

    def last_agent_samples(self) -> list[AgentSample]:
        with self._transaction(write=False) as tx:
            rows = tx.all(
                f"{_SAMPLE_SELECT} WHERE s.sample_id = (SELECT MAX(l.sample_id)"
                " FROM agent_samples l WHERE l.agent_id = s.agent_id) ORDER BY s.agent_id"
            )
        return [_agent_sample(r) for r in rows]

    # ------------------------------------------------------------ views

    def agents(self) -> list[AgentStatus]:
        with self._transaction(write=False) as tx:
            agent_rows = tx.all(
                "SELECT agent_id, site, region, software_version, capabilities, connected, peer,"
                " registered_at_ns, last_seen_ns, clock_offset_ms, clock_uncertainty_ms,"
                " outbox_depth, oldest_pending_ns, committed_seq FROM agents ORDER BY agent_id"
            )
            modem_rows = tx.all(
                "SELECT m.agent_id, m.imei, m.manufacturer, m.model, m.firmware, m.port, m.profile,"
                " m.present, m.iccid, m.last_health_at_ns, m.last_healthy, m.last_rssi_dbm,"
                " m.last_registration, m.last_reasons, s.imsi, s.msisdn, s.operator_mcc_mnc,"
                " s.carrier, s.mvno, s.registered_mcc_mnc"
                " FROM modems m LEFT JOIN sims s ON s.iccid = m.iccid"
                " ORDER BY m.agent_id, m.imei"
            )
        by_agent: dict[str, list[ModemStatus]] = {}
        for m in modem_rows:
            by_agent.setdefault(m["agent_id"], []).append(_modem_status(m))
        return [
            AgentStatus(
                agent_id=a["agent_id"],
                site=a["site"],
                region=a["region"],
                software_version=a["software_version"],
                capabilities=strs(a["capabilities"], "\n"),
                connected=bool(a["connected"]),
                peer=a["peer"],
                registered_at_ns=int(a["registered_at_ns"]),
                last_seen_ns=int(a["last_seen_ns"]),
                clock_offset_ms=float(a["clock_offset_ms"]),
                clock_uncertainty_ms=inf(a["clock_uncertainty_ms"]),
                outbox_depth=int(a["outbox_depth"]),
                oldest_pending_ns=int(a["oldest_pending_ns"]),
                committed_seq=int(a["committed_seq"]),
                modems=tuple(by_agent.get(a["agent_id"], ())),
            )
            for a in agent_rows
        ]


# A sample with the agent's sample before it (index agent_id, sample_id).
_SAMPLE_SELECT = (
    "SELECT s.sample_id, s.agent_id, s.site, s.at_ns, s.connected,"
    " s.outbox_depth, s.oldest_pending_ns, s.clock_offset_ms, s.clock_uncertainty_ms,"
    " p.at_ns AS prev_at_ns, p.connected AS prev_connected, p.site AS prev_site"
    " FROM agent_samples s"
    " LEFT JOIN agent_samples p ON p.sample_id = (SELECT MAX(q.sample_id) FROM agent_samples q"
    " WHERE q.agent_id = s.agent_id AND q.sample_id < s.sample_id)"
)


def _agent_sample(r: Row) -> AgentSample:
    return AgentSample(
        sample_id=int(r["sample_id"]),
        agent_id=r["agent_id"],
        site=r["site"],
        at_ns=int(r["at_ns"]),
        connected=bool(r["connected"]),
        outbox_depth=int(r["outbox_depth"]),
        oldest_pending_ns=int(r["oldest_pending_ns"]),
        clock_offset_ms=float(r["clock_offset_ms"]),
        clock_uncertainty_ms=inf(r["clock_uncertainty_ms"]),
        prev_at_ns=int(r["prev_at_ns"] or 0),
        prev_connected=bool(r["prev_connected"]),
        prev_site=r["prev_site"] or "",
    )


def _modem_status(m: Row) -> ModemStatus:
    """A row of modems LEFT JOIN sims (the SIM columns are NULL without a SIM)."""
    iccid = m["iccid"]
    sim = (
        SimInfo(
            iccid=iccid,
            imsi=m["imsi"] or "",
            msisdn=m["msisdn"] or "",
            operator_mcc_mnc=m["operator_mcc_mnc"] or "",
            carrier=m["carrier"] or "",
            mvno=m["mvno"] or "",
            registered_mcc_mnc=m["registered_mcc_mnc"] or "",
        )
        if iccid
        else None
    )
    health = (
        HealthSummary(
            at_ns=int(m["last_health_at_ns"]),
            healthy=bool(m["last_healthy"]),
            rssi_dbm=nan(m["last_rssi_dbm"]),
            registration=Registration(int(m["last_registration"])),
            reasons=strs(m["last_reasons"]),
        )
        if m["last_health_at_ns"]
        else None
    )
    return ModemStatus(
        imei=m["imei"],
        manufacturer=m["manufacturer"],
        model=m["model"],
        firmware=m["firmware"],
        port=m["port"],
        profile=m["profile"],
        present=bool(m["present"]),
        sim=sim,
        last_health=health,
    )
