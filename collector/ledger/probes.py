"""What the ledger stores about probes and returns: plans, submissions, raw DLRs, verdicts
and their revisions, alerts, canaries, and health rows for the time series.

Plain values, no I/O; the SQL is in collector/ledger/sql/probes.py. Order of writes is
what makes a crash harmless: the plan is stored before the submit, the raw DLR before the
vendor gets its ack, the verdict with its revision log in one transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NamedTuple

from collector.correlation.model import Verdict


@dataclass(frozen=True, slots=True)
class ProbePlan:
    probe_id: str
    vendor: str
    msisdn: str
    profile: str
    token: str
    body: str
    expected_text: str
    planned_at_ns: int
    signature: str = ""
    parts: int = 1
    cost: float = 0.0
    band: str = ""
    carrier: str = ""
    mvno: str = ""
    region: str = ""
    site: str = ""
    agent_id: str = ""
    modem_imei: str = ""
    iccid: str = ""


@dataclass(frozen=True, slots=True)
class Submission:
    probe_id: str
    status: str  # accepted | rejected | ambiguous
    submitted_at_ns: int
    answered_at_ns: int
    message_ids: tuple[str, ...] = ()
    raw_request: bytes = b""
    raw_response: bytes = b""
    error_kind: str = ""
    error_detail: str = ""
    # What the vendor said it billed (its fee, or the parts it acknowledged) and where that
    # figure came from; None: the vendor reported nothing (docs/vendors.md, "Billed parts").
    billed_parts: int | None = None
    billed_from: str = ""


@dataclass(frozen=True, slots=True)
class StoredCanary:
    """A CanarySent record as ingested; sent_at_ns on the agent's clock."""

    canary_id: str
    agent_id: str
    modem_imei: str  # the sending modem
    to_msisdn: str
    sent_at_ns: int
    clock_offset_ms: float  # collector time = agent time + offset
    message_references: tuple[int, ...]
    error: str
    text: str
    uuid: str


@dataclass(frozen=True, slots=True)
class StoredProbe:
    plan: ProbePlan
    submit_status: str
    submitted_at_ns: int
    answered_at_ns: int
    message_ids: tuple[str, ...]
    raw_request: bytes
    raw_response: bytes
    error_kind: str
    error_detail: str
    final: bool
    minimised: str = ""  # retention (migration 0008): "msisdn:mask,raw:purge", ...
    minimised_at_ns: int = 0
    billed_parts: int | None = None  # the vendor's billed parts (migration 0011); None: none
    billed_from: str = ""  # where that figure came from: "submit:<path>", "acks:smpp", ...


@dataclass(frozen=True, slots=True)
class StoredDlr:
    dlr_id: int
    vendor: str
    message_id: str
    status: str
    vendor_status_raw: str
    err: str
    done_at_ns: int
    received_at_ns: int
    source: str
    raw: bytes
    copies: int
    probe_id: str | None
    id_rule: str
    minimised_at_ns: int = 0  # retention purged `raw` then (0: never)
    billed_parts: int | None = None  # billed parts the report item carried (sms_size)
    billed_from: str = ""  # where in the report: "dlr:push:sms_size"


@dataclass(frozen=True, slots=True)
class QuarantinedDlrRow:
    """A vendor report that could not be read, kept raw (vendors.base.QuarantinedDlr)."""

    vendor: str
    source: str
    reason: str
    raw: bytes
    received_at_ns: int


@dataclass(frozen=True, slots=True)
class StoredVerdict:
    verdict: Verdict
    revision: int
    judged_at_ns: int
    change_seq: int


class ProbeSeriesRow(NamedTuple):
    """A judged probe as the time series read it: its current verdict (not pending) with
    the plan's fields the `probe` point and its windows need, nothing else (no bodies or
    raw requests), so a year of them streams cheaply (Ledger.probe_series_after)."""

    change_seq: int
    probe_id: str
    planned_at_ns: int
    submitted_at_ns: int
    vendor: str
    carrier: str
    mvno: str
    region: str
    site: str
    agent_id: str
    profile: str
    msisdn: str
    iccid: str
    outcome: str
    dlr: str
    content: str
    latency_s: float | None
    vendor_delay_s: float | None
    carrier_delay_s: float | None
    missing_parts: int = 0  # when partial: parts missing (the arrival windows count them)


class ArrivalRow(NamedTuple):
    """A probe as the `arrival` windows count it (Ledger.arrival_rows): its cell, its
    current outcome ("" without a verdict: pending or rejected, counted as sent only),
    its latency and, when partial, how many parts are missing."""

    planned_at_ns: int
    vendor: str
    carrier: str
    region: str
    profile: str
    outcome: str
    latency_s: float | None
    missing_parts: int


class ProbeFacts(NamedTuple):
    """A sent probe (not "planned") with its current verdict as the evidence export reads
    them (Ledger.probe_facts): the columns as stored, a plain tuple each (a vendor-month is
    800,000 of them). The list columns are as stored: message ids and reasons one a line,
    missing parts and arrival uuids comma-separated. Without a verdict `outcome` is None
    and so is the rest of the verdict's side."""

    probe_id: str
    vendor: str
    msisdn: str
    profile: str
    token: str
    body: str
    expected_text: str
    planned_at_ns: int
    signature: str
    parts: int
    cost: float
    band: str
    carrier: str
    mvno: str
    region: str
    site: str
    agent_id: str
    modem_imei: str
    iccid: str
    submit_status: str
    submitted_at_ns: int
    answered_at_ns: int
    vendor_message_ids: str
    raw_request: bytes | None
    raw_response: bytes | None
    error_kind: str
    error_detail: str
    minimised: str
    minimised_at_ns: int
    billed_parts: int | None
    billed_from: str
    revision: int | None
    judged_at_ns: int | None
    outcome: str | None
    dlr: str | None
    dlr_claim: str | None
    content: str | None
    content_diff: str | None
    latency_s: float | None
    latency_uncertainty_s: float | None
    vendor_delay_s: float | None
    carrier_delay_s: float | None
    sender: str | None
    duplicates: int | None
    missing_parts: str | None
    reasons: str | None
    arrival_uuids: str | None


class JudgedRow(NamedTuple):
    """A sent probe (not "planned") with what the figures, billing and channels take of it
    and of its current verdict (Ledger.judged_rows): a plain tuple each, a month is 4
    million. Message ids one a line as stored; without a verdict `outcome` and the rest of
    the verdict's side are None; `missing_parts` is the count of a partial's missing parts
    (0 otherwise)."""

    probe_id: str
    vendor: str
    msisdn: str
    carrier: str
    mvno: str
    region: str
    profile: str
    band: str
    planned_at_ns: int
    parts: int
    submit_status: str
    submitted_at_ns: int
    vendor_message_ids: str
    error_kind: str
    billed_parts: int | None
    billed_from: str
    outcome: str | None
    dlr: str | None
    dlr_claim: str | None
    content: str | None
    latency_s: float | None
    latency_uncertainty_s: float | None
    vendor_delay_s: float | None
    carrier_delay_s: float | None
    duplicates: int | None
    missing_parts: int

    @property
    def message_ids(self) -> tuple[str, ...]:
        return tuple(m for m in self.vendor_message_ids.split("\n") if m)


class DlrRow(NamedTuple):
    """A probe's raw DLR as the evidence export quotes it (Ledger.dlr_rows_of), read as a
    plain tuple: a vendor-month is about a million of them. `raw` is b"" once purged."""

    probe_id: str
    dlr_id: int
    message_id: str
    status: str
    vendor_status_raw: str
    err: str
    done_at_ns: int
    received_at_ns: int
    source: str
    copies: int
    id_rule: str
    raw: bytes
    billed_parts: int | None
    billed_from: str
    minimised_at_ns: int


@dataclass(frozen=True, slots=True)
class Revision:
    probe_id: str
    revision: int
    at_ns: int
    old: tuple[str, str, str]  # outcome, dlr, content
    new: tuple[str, str, str]


@dataclass(frozen=True, slots=True)
class HealthRow:
    record_id: int
    agent_id: str
    modem_imei: str
    at_ns: int  # collector clock (agent time + the record's clock offset)
    rssi_dbm: float | None
    registration: int  # smsprobe.v1.Registration
    storage_used: int
    healthy: bool
    iccid: str
    site: str
    carrier: str


@dataclass(frozen=True, slots=True)
class AlertRow:
    alert_id: int
    kind: str
    subject: dict[str, str]
    started_at_ns: int
    ended_at_ns: int
    figures: dict[str, Any]
    end_figures: dict[str, Any]
    notified: str


class ChargeRow(NamedTuple):
    """An accepted probe with a verdict, with only what a billing statement reads of an
    over-charged probe it lists by id: its price (carrier, profile), its charged and
    arrived parts, the listing's fields (Ledger.charge_rows). A plain tuple: a priced
    month lists 10^5. `missing_parts` as JudgedRow's (a partial's count, 0 otherwise)."""

    probe_id: str
    vendor: str
    carrier: str
    profile: str
    parts: int
    billed_parts: int | None
    outcome: str
    dlr_claim: str
    missing_parts: int
