"""What a retention run does to the ledger (migration 0008), as plain values, and the masks.

Three kinds of personal data, each kept, masked or purged after its own age:

- `text`: message texts (sms.text and its user data, canaries.text, the probe's body and
  expected text, verdicts.content_diff, which quotes what arrived; the probe's token stays);
- `msisdn`: phone numbers (sms.msisdn, a numeric sms.sender, status_reports.recipient,
  canaries.to_msisdn, probes.msisdn, numbers quoted in probes.error_detail, the sender a
  verdict and a channel observation copy from the SMS, quiet_suppressions.msisdn, the SIM
  an ended whitelisting alert names);
- `raw`: bytes that contain both (the signed record, SMS and status-report PDUs, the vendor
  request and response, DLR bodies, quarantined records). Masking a text or a number purges
  the raw bytes of that row too, or the value would still be in them.

And one kind that is not personal but grows without bound: `agent_samples` (a row per
liveness touch, up to one a second per agent stream), deleted after its age, each agent's
latest sample kept.

What stays: every row (agent samples apart), every time, the verdicts (outcome, DLR truth,
latency, ...), their revisions, the aggregates, and `records.raw_sha256`, the hash of the
signed record. Health samples and agent events carry neither texts nor numbers and are not
touched.
"""

from __future__ import annotations

import enum
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass

from agent.common.logs import mask_middle


class DataKind(enum.StrEnum):
    TEXT = "text"
    MSISDN = "msisdn"
    RAW = "raw"
    AGENT_SAMPLES = "agent_samples"  # not personal: trimmed because it grows ~1/s an agent


class Action(enum.StrEnum):
    MASK = "mask"
    PURGE = "purge"


# What a run changes, in the order it reports them: "<table>.<column>".
TARGETS: dict[DataKind, tuple[str, ...]] = {
    DataKind.TEXT: ("sms.text", "canaries.text", "probes.text", "verdicts.content_diff"),
    DataKind.MSISDN: (
        "sms.msisdn",
        "sms.sender",
        "status_reports.recipient",
        "canaries.to_msisdn",
        "probes.msisdn",
        "probes.error_detail",
        "verdicts.sender",
        "channel_observations.sender",
        "quiet_suppressions.msisdn",
        "alerts.subject",
    ),
    DataKind.RAW: (
        "records.raw",
        "sms_parts.raw_pdu",
        "status_reports.raw_pdu",
        "probes.raw_exchange",
        "dlrs.raw",
        "quarantine.raw",
        "dlr_quarantine.raw",
    ),
    DataKind.AGENT_SAMPLES: ("agent_samples.rows",),  # rows deleted
}
# The kinds whose values are personal (agent samples are not: deleting them needs no VACUUM).
PERSONAL_KINDS = (DataKind.TEXT, DataKind.MSISDN, DataKind.RAW)
# Agent records that hold texts or numbers (health samples and events hold neither).
PERSONAL_RECORD_KINDS = ("sms", "status_report", "canary")


@dataclass(frozen=True, slots=True)
class Cutoff:
    """Rows older than `before_ns` (collector clock) get `action`."""

    kind: DataKind
    action: Action
    before_ns: int

    @property
    def mark(self) -> str:
        """What `minimised` lists for it: text:mask, raw:purge, ..."""
        return f"{self.kind.value}:{self.action.value}"


@dataclass(frozen=True, slots=True)
class Minimisation:
    """One run's cutoffs; raw bytes always go no later than a masked text or number."""

    cutoffs: tuple[Cutoff, ...]

    def effective(self) -> tuple[Cutoff, ...]:
        """The cutoffs with raw moved up to the latest text or number cutoff."""
        personal = [c.before_ns for c in self.cutoffs if c.kind in (DataKind.TEXT, DataKind.MSISDN)]
        raw = [c.before_ns for c in self.cutoffs if c.kind is DataKind.RAW]
        out = [c for c in self.cutoffs if c.kind is not DataKind.RAW]
        if personal or raw:
            out.append(Cutoff(DataKind.RAW, Action.PURGE, max(personal + raw)))
        return tuple(out)


def personal_changes(counts: Mapping[str, int]) -> int:
    """Values of texts, numbers and raw bytes changed (what a VACUUM must then reclaim)."""
    return sum(counts.get(t, 0) for kind in PERSONAL_KINDS for t in TARGETS[kind])


def zero_counts() -> dict[str, int]:
    """Rows changed per target, all zero, in report order."""
    return {t: 0 for kind in DataKind for t in TARGETS[kind]}


def marks(minimised: str) -> tuple[str, ...]:
    return tuple(m for m in minimised.split(",") if m)


def add_mark(minimised: str, mark: str) -> str:
    """The comma list with `mark` added; a purge replaces an earlier mask of the kind."""
    kind = mark.split(":", 1)[0]
    kept = [m for m in marks(minimised) if m.split(":", 1)[0] != kind]
    return ",".join([*kept, mark])


_PHONE = re.compile(r"^\+?\d{5,20}$")


def is_phone_number(value: str) -> bool:
    """An MSISDN-like value (alphanumeric sender ids are not personal and stay)."""
    return bool(_PHONE.match(value))


def mask_msisdn(value: str) -> str:
    """Country and network prefix and the last two digits stay (carrier-level figures and
    telling SIMs apart keep working); the subscriber part becomes '*'. Deterministic, so
    rows of one SIM still join after masking. Its own format (more kept than a log's
    mask_msisdn) because rows masked by earlier runs must stay equal to new ones."""
    if not is_phone_number(value):
        return value
    plus = "+" if value.startswith("+") else ""
    digits = value.removeprefix("+")
    return plus + mask_middle(digits, 4 if len(digits) > 8 else 0)


def mask_text(value: str) -> str:
    """Every letter and digit becomes '*': length and layout stay, the content goes."""
    return "".join("*" if ch.isalnum() else ch for ch in value)


_MASKED_PHONE = re.compile(r"^\+?[\d*]{5,20}$")  # a number masked before (mask_msisdn)
# A phone number inside free text (a vendor's error message quoting the recipient): 7+
# digits in a row, so error codes, ports and years stay.
_NUMBER_IN_TEXT = re.compile(r"\+?\d{7,20}")
_NUMBER_OR_MASK_IN_TEXT = re.compile(r"\+?\d[\d*]{5,18}\d")  # one masked before, too


def numbers_in_text(action: Action, value: str) -> str:
    """`value` with each phone number in it masked (as mask_msisdn) or removed."""
    if action is Action.PURGE:
        return _NUMBER_OR_MASK_IN_TEXT.sub("", value)
    return _NUMBER_IN_TEXT.sub(lambda m: mask_msisdn(m.group()), value)


def subject_sim(action: Action, subject: str) -> str:
    """An alert subject (canonical JSON) with the SIM number it names masked or purged."""
    try:
        parsed = json.loads(subject)
    except ValueError:
        return subject
    if not isinstance(parsed, dict) or not isinstance(parsed.get("sim"), str):
        return subject
    parsed["sim"] = apply(action, DataKind.MSISDN, parsed["sim"])
    return json.dumps(parsed, sort_keys=True)


def apply(action: Action, kind: DataKind, value: str) -> str:
    if action is Action.PURGE:
        keep = kind is DataKind.MSISDN and not _MASKED_PHONE.match(value)
        return value if keep else ""
    return mask_msisdn(value) if kind is DataKind.MSISDN else mask_text(value)


__all__ = [
    "PERSONAL_KINDS",
    "PERSONAL_RECORD_KINDS",
    "RETENTION_TABLES",
    "TARGETS",
    "Action",
    "Cutoff",
    "DataKind",
    "Minimisation",
    "add_mark",
    "apply",
    "is_phone_number",
    "marks",
    "mask_msisdn",
    "mask_text",
    "numbers_in_text",
    "personal_changes",
    "subject_sim",
]

# Tables a retention run rewrites (PostgreSQL VACUUMs them afterwards).
RETENTION_TABLES = (
    "records", "sms", "sms_parts", "status_reports", "canaries", "probes", "verdicts",
    "dlrs", "quarantine", "dlr_quarantine", "channel_observations", "quiet_suppressions",
    "alerts", "agent_samples",
)  # fmt: skip
