"""The ledger seam: the one `Ledger` protocol (agent-facing, probe-facing and health-facing)
and its error tree.

The ledger is the single source of truth: every method is one transaction, committed and
durable when it returns, so the gRPC edge may ack a batch right after `ingest_batch`
returns. Methods are synchronous; the asyncio server calls them through
`asyncio.to_thread`. Implementations: `SqliteLedger`, `PostgresLedger` (both `SqlLedger`);
pick one with `open_ledger(url)`. Consumers type their ledger as `Ledger`; the values it
takes and returns are in model.py (agents), probes.py and health.py.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Sequence
from datetime import tzinfo
from typing import Any, Protocol

from smsprobe.v1 import agent_pb2

from agent.wire.records import AgentRegistration, Record
from collector.correlation.model import Verdict
from collector.ledger.audit import AuditEntry
from collector.ledger.channels import ChannelObservation, FailoverSend
from collector.ledger.health import SpanChange, UnitChange, UnitRow, UnmeasuredSpan
from collector.ledger.invoices import InvoiceHeader, InvoiceLine
from collector.ledger.leases import DeliveryRow, Fence, Grant, Lease
from collector.ledger.model import (
    AgentSample,
    AgentStatus,
    BatchOutcome,
    GapSpan,
    LedgerEvent,
    QuarantineEntry,
    ReceivedTextRow,
    RegistrationOutcome,
    SmsPartRow,
    SmsRow,
    StoredHealth,
    StoredSms,
    StoredStatusReport,
)
from collector.ledger.periods import BurstRequest, BurstState, QuietSuppression
from collector.ledger.probes import (
    AlertRow,
    ArrivalRow,
    ChargeRow,
    DlrRow,
    HealthRow,
    JudgedRow,
    ProbeFacts,
    ProbePlan,
    ProbeSeriesRow,
    QuarantinedDlrRow,
    Revision,
    StoredCanary,
    StoredDlr,
    StoredProbe,
    StoredVerdict,
    Submission,
)
from collector.ledger.retention import Minimisation
from collector.ledger.rollups import (
    CountSum,
    HourMark,
    RollupCheck,
    RollupCount,
    RollupValue,
    Slices,
    ValueRun,
)
from collector.quarantine import Quarantined

# ---------------------------------------------------------------- errors


class LedgerError(Exception):
    """Root of every error the ledger raises."""


class LedgerUnavailableError(LedgerError):
    """Transient: the database could not be reached or was busy; retry the call."""


class LedgerConflictError(LedgerUnavailableError):
    """Transient: PostgreSQL aborted the transaction to resolve a deadlock or a
    serialization failure; nothing of it was written, running it again is safe."""


class UnknownAgentError(LedgerError):
    """The agent never registered; it must call Register before uploading."""

    def __init__(self, agent_id: str) -> None:
        super().__init__(f"agent {agent_id!r} is not registered")
        self.agent_id = agent_id


class FencedError(LedgerError):
    """A write protected by a lease came from a tenure that is no longer current (another
    collector took the lease over) or from a collector not holding it: nothing written."""


class MigrationError(LedgerError):
    """The schema is newer than this code, or a migration failed."""


# ---------------------------------------------------------------- the seam


class Ledger(Protocol):
    """Durable store of everything agents report, the probes and their verdicts, and the
    collector's own health. Each call is one committed transaction."""

    # ------------------------------------------------------------ agent-facing

    def migrate(self) -> None:
        """Bring the schema up to date; idempotent, safe with concurrent collectors."""
        ...

    def close(self) -> None: ...

    def schema_version(self) -> int:
        """The newest migration applied (0 before the first)."""
        ...

    def register_agent(self, reg: AgentRegistration, *, at_ns: int) -> RegistrationOutcome:
        """Upsert the agent, its modems and SIMs; record what changed as events."""
        ...

    def ingest_batch(
        self,
        agent_id: str,
        records: Sequence[Record],
        quarantined: Sequence[Quarantined],
        *,
        at_ns: int,
    ) -> BatchOutcome:
        """Idempotent by record uuid; validates (ledger/ingest_rules.py), stores, tracks seqs.

        Raises UnknownAgentError when the agent never registered.
        """
        ...

    def ingest_batches(
        self,
        agent_id: str,
        batches: Sequence[tuple[Sequence[Record], Sequence[Quarantined]]],
        *,
        at_ns: int,
    ) -> list[BatchOutcome]:
        """Group commit: several batches of one agent in one transaction, outcomes in order."""
        ...

    def ingest_agents(
        self,
        commits: Sequence[tuple[str, Sequence[tuple[Sequence[Record], Sequence[Quarantined]]]]],
        *,
        at_ns: int,
    ) -> list[list[BatchOutcome]]:
        """`ingest_batches` of several agents in one transaction, outcomes per commit."""
        ...

    def ingest_wire(
        self,
        commits: Sequence[tuple[str, Sequence[agent_pb2.Batch]]],
        *,
        at_ns: int,
    ) -> list[list[BatchOutcome]]:
        """`ingest_agents` of batches as uploaded, each decoded as `records_from_batch`
        (collector/quarantine.py) would: the same outcomes and rows, cheaper."""
        ...

    def set_connected(
        self, agent_id: str, connected: bool, *, at_ns: int, peer: str = "", via: str = ""
    ) -> None:
        """Liveness (agent_connected / agent_disconnected events). `via` names the
        collector instance holding the stream; a disconnect clears the flag only when that
        instance set it. An agent that never registered gets a bare row (still refused by
        ingest_batch); never raises UnknownAgentError."""
        ...

    def remember_agent_key(self, agent_id: str, cert_pem: bytes, *, at_ns: int) -> str:
        """Keep the certificate an agent connected with (its records are signed with its
        key); returns the key id (`Record.signer`). Idempotent."""
        ...

    def agent_keys(self, signers: Sequence[str] | None = None) -> dict[str, tuple[str, bytes]]:
        """key id -> (agent_id, certificate PEM), for the given ids or all."""
        ...

    def record_raw(self, uuids: Sequence[str]) -> dict[str, bytes]:
        """The records as received (serialised smsprobe.v1.Record, signature included)."""
        ...

    def release_connections(self, via: str, *, at_ns: int) -> list[str]:
        """Clear the connected flags instance `via` left behind (it died without closing
        its streams); returns the agents, each with an agent_disconnected event."""
        ...

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
        """The agent's own view (outbox, clock) and last_seen; like set_connected, it
        never raises UnknownAgentError. clock_uncertainty_ms inf = never measured."""
        ...

    def agents(self) -> list[AgentStatus]: ...

    def agent_samples_after(self, sample_id: int, limit: int) -> list[AgentSample]:
        """The agents' rows as each change left them (touch, connect, disconnect,
        registration), after `sample_id` in order: the `agent` time series' source."""
        ...

    def last_agent_samples(self) -> list[AgentSample]:
        """Each agent's latest sample."""
        ...

    def gaps(self, agent_id: str | None = None) -> list[GapSpan]: ...

    def report_lost_backlog(
        self, *, at_ns: int, offline_after_s: float, grace_s: float
    ) -> list[GapSpan]:
        """Queued gaps (GapSpan.queued) of agents down — disconnected, or silent for longer
        than `offline_after_s` — for longer than `grace_s` ([agents] backlog_grace_s):
        reported missing now (a seq_gap_detected event, `queued` cleared; the gap stays a
        not-measured span), each once however many collectors call this at once. Returns
        those this call reported. Fenced by the probing lease (collector/lost_backlog.py)."""
        ...

    def events(self, agent_id: str | None = None, since_ns: int = 0) -> list[LedgerEvent]: ...

    def received_sms(
        self, *, since_ns: int = 0, until_ns: int | None = None, agent_id: str | None = None
    ) -> list[StoredSms]:
        """SMS whose first part was received in [since_ns, until_ns) (agent clock)."""
        ...

    def sms_of(self, uuids: Sequence[str]) -> dict[str, StoredSms]:
        """The SMS with these record uuids (those a verdict names), by uuid; unknown ones
        are left out."""
        ...

    def sms_rows(
        self, uuids: Sequence[str]
    ) -> tuple[dict[str, SmsRow], dict[int, list[SmsPartRow]]]:
        """`sms_of` with each one's signed record (`record_raw`; None where retention
        purged it or the agent did not send it) in one read, as plain tuples (the evidence
        export quotes each arrival with its signed record): the SMS by uuid, and their
        parts by record_id in the order `sms_of` gives them."""
        ...

    def received_texts(self, *, since_ns: int, msisdns: Sequence[str]) -> list[ReceivedTextRow]:
        """The texts of the SMS received on these MSISDNs from since_ns (agent clock) on,
        with their collector-clock time, per MSISDN oldest first: what canary judging
        matches, without the parts and bytes `received_sms` carries."""
        ...

    def status_reports(
        self, *, since_ns: int = 0, until_ns: int | None = None, agent_id: str | None = None
    ) -> list[StoredStatusReport]: ...

    def modem_health(self, imei: str, since_ns: int, until_ns: int) -> list[StoredHealth]:
        """Health readings of one modem with since_ns <= at_ns < until_ns, oldest first."""
        ...

    def quarantine(self, agent_id: str | None = None) -> list[QuarantineEntry]: ...

    def record_count(self) -> int:
        """Records ingested (all kinds), quarantine excluded."""
        ...

    # ------------------------------------------------------------ probe-facing

    def add_probe(self, plan: ProbePlan) -> None:
        """Store the plan before the submit, so a crash mid-submit leaves a trace."""
        ...

    def record_submission(self, sub: Submission) -> None:
        """The vendor's answer to a planned probe, with the parts it says it billed when it
        said; KeyError when none was planned."""
        ...

    def probes(
        self,
        *,
        open_only: bool = False,
        since_ns: int = 0,
        until_ns: int | None = None,
        vendor: str | None = None,
        probe_ids: Sequence[str] | None = None,
    ) -> list[StoredProbe]:
        """Probes planned in [since_ns, until_ns), oldest first."""
        ...

    def first_planned_ns(self) -> int | None:
        """The earliest planned time of any probe; None when no probe is planned."""
        ...

    def mark_final(self, probe_ids: Iterable[str]) -> None: ...

    def store_dlr(
        self,
        *,
        vendor: str,
        message_id: str,
        status: str,
        received_at_ns: int,
        raw: bytes,
        dedupe_key: str,
        vendor_status_raw: str = "",
        err: str = "",
        done_at_ns: int = 0,
        source: str = "",
        billed_parts: int | None = None,
        billed_from: str = "",
    ) -> tuple[StoredDlr, bool]:
        """Store a raw DLR durably; (row, True) when new, (row, False) for a re-sent copy
        (same dedupe key, see RawDlr.dedupe_key): counted, not stored twice.
        `billed_parts`: the parts the report says were billed (Alibaba `sms_size`), from
        where `billed_from` says; None when it carried none."""
        ...

    def attribute_dlrs(self, matches: Sequence[tuple[int, str, str]]) -> None:
        """(dlr_id, probe_id, id rule) for DLRs the correlation matched. A DLR's billed
        parts become its probe's when the submission reported none (StoredProbe)."""
        ...

    def unattributed_dlrs(self, *, since_ns: int = 0) -> list[StoredDlr]: ...

    def dlrs_of(self, probe_ids: Sequence[str]) -> dict[str, list[StoredDlr]]: ...

    def probe_facts(self, *, vendor: str, since_ns: int, until_ns: int) -> list[ProbeFacts]:
        """The vendor's probes planned in [since, until) and handed to it (not "planned"),
        each with its current verdict, oldest first (as `probes`), as plain tuples."""
        ...

    def judged_rows(
        self,
        *,
        since_ns: int,
        until_ns: int,
        vendor: str | None = None,
        outcomes: Sequence[str] | None = None,
    ) -> list[JudgedRow]:
        """Probes planned in [since, until) and handed to their vendor (not "planned"),
        each with its current verdict's figures, oldest first (as `probes`), as plain
        tuples (reports/judged.load_judged_rows); `outcomes`: only probes with one of
        these outcomes as judged_of_row has it (a verdict's; without one "rejected" or
        "pending"), filtered in SQL (the report's listed over-charged probes)."""
        ...

    def route_run_rows(
        self,
        *,
        since_ns: int,
        until_ns: int,
        vendor: str | None = None,
        ok: Sequence[str],
        failed: Sequence[str],
        refused: Sequence[str],
        min_run: int,
    ) -> list[JudgedRow]:
        """`judged_rows` of only the probes a route's degradation episodes read
        (channels/switchover.py): per vendor × carrier, its attempts in submit order
        (submitted_at_ns, else planned; ties in judged_rows' order) — a verdict outcome in
        `ok` or `failed`, or refused at submit (no verdict) with an error kind in
        `refused` (failed), failover sends left out — the failed attempts in runs of at
        least `min_run` (2; any run below) and the attempt just before and after each such
        run, in judged_rows' order; then every failover send of the period in that order.
        Only the failed attempts are read to find them, with the attempts next to them
        looked up in the route index of migration 0019 (ledger/sql/route_runs.py): a
        month's probes are not read to find a few runs."""
        ...

    def charge_rows(
        self,
        *,
        since_ns: int,
        until_ns: int,
        outcomes: Sequence[str],
        vendor: str | None = None,
    ) -> list[ChargeRow]:
        """The accepted probes planned in [since, until) whose current verdict's outcome
        is one of `outcomes`, each with what a billing statement reads of a probe it lists
        (billing/load.py counted_statements), in no set order: only the charged can be
        over-charged, and only a verdict's outcome is verifiable. The same probes and
        fields as `judged_rows(outcomes=...)` restricted to accepted probes with a
        verdict, read from the verdicts of those outcomes."""
        ...

    def dlr_rows_of(self, probe_ids: Sequence[str]) -> dict[str, list[DlrRow]]:
        """`dlrs_of` as plain tuples (the evidence export's bulk read), in the same order."""
        ...

    def all_dlrs(self, *, since_ns: int = 0) -> list[StoredDlr]: ...

    def quarantine_dlr(
        self, *, vendor: str, source: str, reason: str, raw: bytes, digest: str, at_ns: int
    ) -> None:
        """Keep an unreadable vendor report raw with its reason; the same one (digest)
        pushed again is kept once."""
        ...

    def dlr_quarantine(self, vendor: str | None = None) -> list[QuarantinedDlrRow]: ...

    def save_verdicts(self, verdicts: Sequence[Verdict], *, at_ns: int) -> list[Revision]:
        """Store verdicts that changed; a changed outcome, DLR truth or content is a
        revision, logged with what it was before. Unchanged verdicts are not rewritten."""
        ...

    def verdicts(self, probe_ids: Sequence[str] | None = None) -> dict[str, StoredVerdict]: ...

    def verdicts_changed_after(self, change_seq: int, limit: int) -> list[StoredVerdict]: ...

    def arrival_rows(self, since_ns: int, until_ns: int) -> list[ArrivalRow]:
        """Probes planned in [since_ns, until_ns), oldest first, each with its current
        verdict's outcome and latency: what the time series' arrival windows count."""
        ...

    def probe_series_after(self, change_seq: int, limit: int) -> list[ProbeSeriesRow]:
        """Up to `limit` verdicts changed after `change_seq` (in change order), not pending,
        each with its probe's plan fields: the time series' one read per page."""
        ...

    def probe_rows_planned(self, since_ns: int, until_ns: int) -> list[ProbeSeriesRow]:
        """Every probe planned in [since_ns, until_ns), oldest first, as `probe_series_after`
        gives it, pending and never-judged ones too (outcome "" and change_seq 0 without a
        verdict): a backfill's one read serving the probe points and the arrival windows."""
        ...

    def last_change_seq(self) -> int:
        """The highest verdict change sequence written (0: none)."""
        ...

    def verdict_revisions(self, probe_id: str | None = None) -> list[Revision]: ...

    def revisions_of(self, probe_ids: Sequence[str]) -> dict[str, list[Revision]]:
        """The revisions of these probes (oldest first), by probe; none: left out."""
        ...

    def rollup_counts(
        self, *, since_ns: int = 0, until_ns: int | None = None, vendor: str | None = None
    ) -> list[RollupCount]:
        """Hourly rollup rows (probes with their current verdict, counted by every field
        the report reads) of the planned hours in [since_ns, until_ns); kept in the
        transaction of each write that changes them (ledger/rollups.py)."""
        ...

    def rollup_values(
        self, *, since_ns: int = 0, until_ns: int | None = None, vendor: str | None = None
    ) -> list[RollupValue]:
        """The exact multisets of latencies, uncertainties and delays of those hours."""
        ...

    def check_rollups(self, *, rebuild: bool = False, zone: tzinfo | None = None) -> RollupCheck:
        """Recompute the rollups from the raw rows and list every difference; `rebuild`
        replaces them with the recomputed rows instead (hours holding probes retention
        minimised are left alone: their rollups keep the SIMs the rows no longer show) and
        compacts the closed days again, cut per local day of `zone` as `compact_rollups`."""
        ...

    def rollup_value_runs(
        self, *, since_ns: int = 0, until_ns: int | None = None, vendor: str | None = None
    ) -> list[ValueRun]:
        """The same multisets as `rollup_values`, one run per value group and kind (values
        ascending, with counts): from a compacted day's blobs (migration 0016), else from
        the hourly rows."""
        ...

    def rollup_count_sum_rows(
        self,
        *,
        since_ns: int,
        until_ns: int,
        vendor: str | None = None,
        slices: Slices,
        skip_hours: Collection[int] = (),
    ) -> list[CountSum]:
        """`rollup_counts` of those hours but `skip_hours`, summed per key without its
        hours and per slice (rollups.Slices), as plain tuples (the month report's read;
        a compacted day's rows from its packed texts, migration 0020); each with the
        first send hour it holds (a slice's start may lie in skipped hours a not-measured
        span cuts)."""
        ...

    def rollup_value_sums(
        self,
        *,
        since_ns: int,
        until_ns: int,
        vendor: str | None = None,
        slices: Slices,
        skip_hours: Collection[int] = (),
    ) -> list[ValueRun]:
        """`rollup_value_runs` of those hours but `skip_hours`, one run per value key
        without its hours, kind and local day of the send (values not ascending, but
        `AscendingValues` when a whole day's stored local part for `slices`' zone is all
        the run holds; counts `stats.Ones` when the key's whole days hold each value once)."""
        ...

    def rollup_hour_marks(
        self, *, since_ns: int, until_ns: int, vendor: str | None = None
    ) -> list[HourMark]:
        """What decides a report's raw hours, per distinct combination in each hour."""
        ...

    def compact_rollups(
        self,
        *,
        before_ns: int | None = None,
        since_ns: int = 0,
        max_days: int | None = None,
        zone: tzinfo | None = None,
    ) -> int:
        """Pack the value rows of every closed day (ended 6 h before `before_ns`, default
        now) not compacted yet, or written since, into blobs, newest first, at most
        `max_days`; returns the days packed. `zone` (the reports' zone): each blob also
        holds its values merged ascending per local day of the send hours when the zone's
        offset is whole hours and the same over the day (migration 0021); None: not."""
        ...

    def cursor(self, name: str) -> int:
        """A consumer's high-water mark (0 when never set)."""
        ...

    def set_cursor(self, name: str, position: int, *, at_ns: int) -> None: ...

    def open_alerts(self) -> list[AlertRow]: ...

    def alerts(self, *, open_only: bool = False, since_ns: int = 0) -> list[AlertRow]: ...

    def start_alert(
        self,
        kind: str,
        subject: dict[str, str],
        *,
        at_ns: int,
        figures: dict[str, Any],
        deliver_to: Sequence[str] = (),
    ) -> int:
        """Open an alert; with `deliver_to`, a pending delivery per webhook in the same
        transaction (alert_deliveries), so a start is never recorded without its page."""
        ...

    def end_alert(
        self,
        kind: str,
        subject: dict[str, str],
        *,
        at_ns: int,
        figures: dict[str, Any],
        deliver_to: Sequence[str] = (),
    ) -> int:
        """End the open alert of (kind, subject); its id, 0 when none was open."""
        ...

    def pending_deliveries(self) -> list[DeliveryRow]:
        """Alert deliveries not settled: pending, or claimed by a holder that may have died."""
        ...

    def deliveries(self, alert_id: int | None = None) -> list[DeliveryRow]: ...

    def claim_delivery(self, alert_id: int, phase: str, url: str, *, by: str) -> bool:
        """Claim a delivery before the POST: True when pending, or claimed by an earlier
        tenure of the alerts lease (fenced view: the claim carries its token)."""
        ...

    def settle_delivery(self, alert_id: int, phase: str, url: str, *, delivered: bool) -> None: ...

    def note_alert_delivery(self, alert_id: int, note: str) -> None: ...

    def health_after(self, record_id: int, limit: int) -> list[HealthRow]:
        """Modem health records ingested after `record_id` (ingest order), for the writer."""
        ...

    def canaries_sent(
        self, *, since_ns: int = 0, until_ns: int | None = None
    ) -> list[StoredCanary]:
        """CanarySent records with sent_at_ns (agent clock) in [since_ns, until_ns), oldest
        first, with the sending modem and the clock offset to put them on collector time."""
        ...

    # ------------------------------------------------------------ coordination

    def acquire_lease(
        self, name: str, holder: str, *, ttl_s: float, restart: bool = False
    ) -> Grant:
        """Take a free or expired lease (new tenure: fencing token + 1) or renew one held;
        `restart`: a new process of the same instance takes over its old tenure."""
        ...

    def release_lease(self, name: str, holder: str, token: int) -> bool: ...

    def leases(self) -> list[Lease]: ...

    def ledger_now_ns(self) -> int:
        """The clock leases expire by (PostgreSQL: the server's)."""
        ...

    def fenced(self, fence: Callable[[], Fence | None]) -> Ledger:
        """A view whose lease-protected writes (add_probe, record_submission, mark_final,
        attribute_dlrs, save_verdicts, set_cursor, alerts and their deliveries) check in
        their own transaction that `fence()` is the lease's current tenure; FencedError
        otherwise."""
        ...

    # ------------------------------------------------------------ channel-facing

    def save_channel_observations(self, observations: Sequence[ChannelObservation]) -> int:
        """Keep each arrived probe's channel fingerprint (collector/channels); replaces an
        earlier observation of the same probe. Returns how many were written."""
        ...

    def channel_observations(
        self, *, since_ns: int = 0, until_ns: int | None = None, vendor: str | None = None
    ) -> list[ChannelObservation]:
        """Observations of probes submitted in [since_ns, until_ns), by arrival time."""
        ...

    def channel_observations_after(
        self, seq: int, limit: int
    ) -> list[tuple[int, ChannelObservation]]:
        """Observations written after `seq` (each write takes the next seq), in seq order:
        the `channel` time series' cursor."""
        ...

    def record_failover_send(self, send: FailoverSend) -> None:
        """A probe sent through a route group's backup (idempotent by probe id)."""
        ...

    def failover_sends(
        self, *, since_ns: int = 0, until_ns: int | None = None
    ) -> list[FailoverSend]:
        """Failover sends planned in [since_ns, until_ns), oldest first."""
        ...

    # ------------------------------------------------------------ health-facing

    def save_health(
        self, instance: str, units: Sequence[UnitRow], spans: Sequence[SpanChange]
    ) -> None:
        """Unit states (upserted, heartbeat moved) and span changes, in one transaction."""
        ...

    def collector_units(self, instance: str | None = None) -> list[UnitRow]: ...

    def unit_changes_after(self, change_id: int, limit: int) -> list[UnitChange]:
        """Every change of a unit's state, failures or restarts after `change_id`, in
        order: the `collector_unit` time series' source."""
        ...

    def unmeasured_spans(
        self, *, since_ns: int = 0, until_ns: int | None = None, vendor: str | None = None
    ) -> list[UnmeasuredSpan]:
        """Spans overlapping [since_ns, until_ns) (open ones included), oldest first."""
        ...

    def resume_health(self, instance: str, *, at_ns: int) -> list[UnmeasuredSpan]:
        """On start: this instance was not measuring anything since it last wrote its
        health. Spans it left open end now; if it left none, each vendor it probed gets a
        `collector` span from its last heartbeat to now — unless it was on standby (another
        collector held the probing lease and measured them). Its old unit rows are removed
        (the new run writes its own). Returns the spans it closed or added."""
        ...

    # ------------------------------------------------------------ retention and audit

    def minimise(
        self, policy: Minimisation, *, at_ns: int, limit: int = 2000
    ) -> tuple[dict[str, int], bool]:
        """One batch (one transaction) of a retention run: mask or purge the texts, MSISDNs
        and raw bytes of rows older than the policy's cutoffs (ledger/retention.py), marking
        each row. Returns rows changed per target and whether more may be left."""
        ...

    def minimise_dry_run(self, policy: Minimisation, *, at_ns: int) -> dict[str, int]:
        """What a whole run would change, per target; changes nothing."""
        ...

    def reclaim_space(self) -> None:
        """Make the old values unreadable from the database files (SQLite: VACUUM and an
        emptied WAL; PostgreSQL: VACUUM of the tables retention rewrites)."""
        ...

    def add_audit(self, entry: AuditEntry) -> int:
        """Append an operator action to the audit log; returns its id."""
        ...

    def audit_entries(
        self, *, since_ns: int = 0, until_ns: int | None = None, kind: str | None = None
    ) -> list[AuditEntry]:
        """Actions with since_ns <= at_ns < until_ns, oldest first."""
        ...

    # ------------------------------------------------------------ periods and bursts

    def record_suppressions(self, rows: Sequence[QuietSuppression]) -> int:
        """Marketing probes the scheduler held back by quiet hours (fenced by the probing
        lease; a row already kept is not doubled). Returns how many were new."""
        ...

    def suppressions(
        self, *, since_ns: int = 0, until_ns: int | None = None, vendor: str | None = None
    ) -> list[QuietSuppression]:
        """Suppressions with since_ns <= at_ns < until_ns, oldest first."""
        ...

    def request_burst(self, request: BurstRequest) -> bool:
        """Queue a one-off burst (state pending); False when its name is already taken."""
        ...

    def burst_requests(self, *, state: BurstState | None = None) -> list[BurstRequest]:
        """Burst requests (of one state), by start time."""
        ...

    def start_burst(self, name: str, *, at_ns: int, by: str) -> bool:
        """Claim a pending burst for sending (fenced by the probing lease); False when it
        was not pending, so no burst is ever sent twice."""
        ...

    def settle_burst(self, name: str, state: BurstState, *, sent: int = 0, note: str = "") -> None:
        """Mark a burst done (probes sent), expired or refused (why), fenced."""
        ...

    # ------------------------------------------------------------ invoices (billing)

    def import_invoice(
        self,
        *,
        vendor: str,
        source: str,
        sha256: str,
        currency: str,
        lines: Sequence[InvoiceLine],
        at_ns: int,
    ) -> tuple[int, bool]:
        """Store an invoice/CDR file's lines, all or none; the same file (vendor, SHA-256)
        again adds nothing. Returns (invoice id, whether it was new)."""
        ...

    def invoices(self, vendor: str | None = None) -> list[InvoiceHeader]:
        """Imported files, oldest first."""
        ...

    def invoice_lines(self, *, vendor: str, message_ids: Sequence[str]) -> list[InvoiceLine]:
        """Every imported line of `vendor` billing one of `message_ids`, by file and line."""
        ...
