"""The vendor seam: one `SmsVendor` protocol for every way a probe leaves the collector.

Every implementation (`HttpVendor`, `SmppVendor`, fakes) returns the same value types and
raises from the same error tree, so the scheduler decides retry policy in one place:

    VendorError                           root; carries the raw exchange as evidence
    ├── RejectedError(reason)             permanent: template, signature, number, content, other
    ├── ThrottledError(retry_after_s)     rate-limited: retry the same probe later
    ├── AuthFailedError                   credentials/signing wrong: stop this vendor
    ├── TransientError                    vendor-side hiccup before acceptance: safe to retry
    └── AmbiguousSubmitError              may have been accepted (timeout, reset, RSYSERR):
                                          never retried blindly (docs/vendors.md)

Each carries `kind`, the stable name the ledger records as a failed submit's error kind.

DLRs are claims, not evidence (docs/vendors.md): they are stored raw first through
a `DlrSink` and only then acknowledged to the vendor.
"""

from __future__ import annotations

import hashlib
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from types import MappingProxyType
from typing import ClassVar, Protocol, runtime_checkable

from agent.sms import split_text

__all__ = [
    "AmbiguousSubmitError",
    "AuthFailedError",
    "Clock",
    "ContentProfile",
    "DlrPushEndpoint",
    "DlrSink",
    "DlrSource",
    "DlrStatus",
    "OutgoingSms",
    "PushAck",
    "PushBatch",
    "PushRejectedError",
    "QuarantinedDlr",
    "RawDlr",
    "RejectReason",
    "RejectedError",
    "SmsVendor",
    "SubmitResult",
    "ThrottledError",
    "TransientError",
    "VendorError",
    "billed_parts_value",
    "normalise_dlr_status",
    "sms_parts",
    "wall_clock_ns",
]

Clock = Callable[[], int]
"""Returns the current time in ns since the epoch; injected so tests control time."""


def wall_clock_ns() -> int:
    return time.time_ns()


class ContentProfile(StrEnum):
    """Probe content categories; vendors and carriers treat each differently (docs/vendors.md)."""

    VERIFICATION_CODE = "verification_code"
    NOTIFICATION = "notification"
    MARKETING = "marketing"
    LINK = "link"
    LONG = "long"


class DlrStatus(StrEnum):
    """Normalised DLR state, SMPP 3.4 Appendix B vocabulary."""

    DELIVRD = "DELIVRD"
    UNDELIV = "UNDELIV"
    EXPIRED = "EXPIRED"
    REJECTD = "REJECTD"
    DELETED = "DELETED"
    ACCEPTD = "ACCEPTD"
    ENROUTE = "ENROUTE"
    UNKNOWN = "UNKNOWN"

    @property
    def is_final(self) -> bool:
        # ENROUTE/ACCEPTD are intermediate and must never overwrite a final state.
        return self not in (DlrStatus.ACCEPTD, DlrStatus.ENROUTE)


class DlrSource(StrEnum):
    PUSH = "push"
    PULL = "pull"
    SMPP = "smpp"
    CMPP = "cmpp"  # China's carrier gateways (collector/vendors/cngw)
    SGIP = "sgip"
    SMGP = "smgp"


class RejectReason(StrEnum):
    TEMPLATE = "template"
    SIGNATURE = "signature"
    NUMBER = "number"
    CONTENT = "content"
    OTHER = "other"


@dataclass(frozen=True, slots=True)
class OutgoingSms:
    """One probe as handed to a vendor.

    `text` is the rendered content WITHOUT the signature; `signature` is the bare name
    (no 【】) - the vendor or adapter adds the brackets (docs/vendors.md).
    Template vendors get `template_id` + `params`; `text` stays the expected rendering.
    """

    probe_id: str
    to_msisdn: str
    text: str
    signature: str = ""
    template_id: str | None = None
    params: Mapping[str, str] = field(default_factory=dict)
    profile: ContentProfile = ContentProfile.NOTIFICATION
    sender_id: str | None = None

    def __post_init__(self) -> None:
        # Read-only view so the frozen value cannot be mutated through the mapping.
        object.__setattr__(self, "params", MappingProxyType(dict(self.params)))

    @property
    def signed_text(self) -> str:
        """The text as a handset should show it: 【signature】 prefix, then the content."""
        return f"【{self.signature}】{self.text}" if self.signature else self.text


@dataclass(frozen=True, slots=True)
class SubmitResult:
    """A vendor accepted the probe. `message_ids` has one id per part for per-part vendors
    (SMPP, CMPP) and a single id for per-message HTTP vendors; `parts` is the count sent
    (the vendor's where it gives one, else the 70/67 rule).

    `billed_parts` is what the vendor itself reported charging, kept as evidence against
    the rule (docs/vendors.md, "Billed parts"): its fee field, or the parts it acknowledged
    with one id each; None when it reported nothing. `billed_from` says where it came from
    ("submit:<json path>", "acks:smpp", "acks:cmpp")."""

    vendor: str
    message_ids: tuple[str, ...]
    parts: int
    accepted_at_ns: int
    raw_request: bytes
    raw_response: bytes
    http_status: int | None = None
    smpp_status: int | None = None
    billed_parts: int | None = None
    billed_from: str = ""


@dataclass(frozen=True, slots=True)
class RawDlr:
    """One delivery report as received, normalised but with the raw bytes kept as evidence."""

    vendor: str
    message_id: str
    status: DlrStatus
    vendor_status_raw: str
    err: str
    done_at_ns: int | None
    received_at_ns: int
    raw: bytes
    source: DlrSource
    msisdn: str | None = None
    # The parts the report says were billed (Alibaba SmsReport `sms_size`), and where:
    # "dlr:push:sms_size". None: the report carried no such figure.
    billed_parts: int | None = None
    billed_from: str = ""

    @property
    def dedupe_key(self) -> str:
        """Same vendor, id, raw status and done time = the same report."""
        basis = "\x1f".join(
            (self.vendor, self.message_id, self.vendor_status_raw, str(self.done_at_ns))
        )
        return hashlib.sha256(basis.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class QuarantinedDlr:
    """A report from an authenticated vendor that could not be read: kept raw with the
    reason (never dropped, never stored as a DLR)."""

    vendor: str
    reason: str
    raw: bytes
    received_at_ns: int
    source: DlrSource

    @property
    def digest(self) -> str:
        """The same bad item pushed again is kept once."""
        h = hashlib.sha256()
        for piece in (self.vendor.encode(), self.reason.encode(), self.raw):
            h.update(len(piece).to_bytes(8, "big"))
            h.update(piece)
        return h.hexdigest()


@dataclass(frozen=True, slots=True)
class PushBatch:
    """One authenticated push: the reports read, and the items kept in quarantine."""

    dlrs: list[RawDlr] = field(default_factory=list)
    quarantined: list[QuarantinedDlr] = field(default_factory=list)


# --------------------------------------------------------------------------- errors


class VendorError(Exception):
    """Root of every vendor failure. Carries the raw exchange so the ledger can keep it."""

    # The error kind the ledger records for a failed submit and logs show: stable names,
    # kept apart from the Python class names so a rename changes no stored data.
    kind: ClassVar[str] = "VendorError"

    def __init__(
        self,
        message: str,
        *,
        vendor: str = "",
        code: str = "",
        raw_request: bytes = b"",
        raw_response: bytes = b"",
        http_status: int | None = None,
        smpp_status: int | None = None,
    ) -> None:
        super().__init__(message)
        self.vendor = vendor
        self.code = code
        self.raw_request = raw_request
        self.raw_response = raw_response
        self.http_status = http_status
        self.smpp_status = smpp_status


class RejectedError(VendorError):
    """Permanent refusal of this probe; retrying the same content will fail again."""

    kind = "Rejected"

    def __init__(
        self,
        message: str,
        *,
        reason: RejectReason,
        vendor: str = "",
        code: str = "",
        raw_request: bytes = b"",
        raw_response: bytes = b"",
        http_status: int | None = None,
        smpp_status: int | None = None,
    ) -> None:
        super().__init__(
            message,
            vendor=vendor,
            code=code,
            raw_request=raw_request,
            raw_response=raw_response,
            http_status=http_status,
            smpp_status=smpp_status,
        )
        self.reason = reason


class ThrottledError(VendorError):
    """Rate limit hit (RTHROTTLED, HTTP 429, per-number caps); retry after a delay."""

    kind = "Throttled"

    def __init__(
        self,
        message: str,
        *,
        retry_after_s: float | None = None,
        vendor: str = "",
        code: str = "",
        raw_request: bytes = b"",
        raw_response: bytes = b"",
        http_status: int | None = None,
        smpp_status: int | None = None,
    ) -> None:
        super().__init__(
            message,
            vendor=vendor,
            code=code,
            raw_request=raw_request,
            raw_response=raw_response,
            http_status=http_status,
            smpp_status=smpp_status,
        )
        self.retry_after_s = retry_after_s


class AuthFailedError(VendorError):
    """Credentials or request signature refused."""

    kind = "AuthFailed"


class TransientError(VendorError):
    """Vendor-side failure known to be before acceptance (5xx with a clear body, refused
    connection): safe to retry."""

    kind = "Transient"


class AmbiguousSubmitError(VendorError):
    """The vendor may have accepted the probe (timeout, reset, RSYSERR). No blind retry:
    a retry is a new probe, and late evidence is matched to either attempt."""

    kind = "AmbiguousSubmit"


class PushRejectedError(Exception):
    """A pushed DLR request that must not be stored: `status` is the HTTP answer (400/401)."""

    def __init__(
        self, message: str, *, status: int, quarantine: QuarantinedDlr | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.quarantine = quarantine


# --------------------------------------------------------------------------- seams


class DlrSink(Protocol):
    """Durable DLR storage. `store` returns only once the DLR is durable; the vendor is
    acknowledged after that (persist before ack, docs/vendors.md)."""

    async def store(self, dlr: RawDlr) -> None: ...

    async def quarantine(self, item: QuarantinedDlr) -> None:
        """Keep an unreadable report raw with its reason; returns once durable."""
        ...


@runtime_checkable
class SmsVendor(Protocol):
    """One vendor account. `start` before `submit`; `close` is idempotent."""

    @property
    def name(self) -> str: ...

    async def start(self, dlr_sink: DlrSink) -> None: ...

    async def submit(self, sms: OutgoingSms) -> SubmitResult:
        """Returns on acceptance; raises a `VendorError` subclass otherwise."""
        ...

    async def poll_dlrs(self) -> int:
        """Pull DLRs (if the vendor offers pull), store each in the sink, return how many
        were stored. Push-only vendors return 0."""
        ...

    async def close(self) -> None: ...


@dataclass(frozen=True, slots=True)
class PushAck:
    """What the vendor expects back after a pushed DLR was stored (e.g. `OK`, `{"code":0}`)."""

    body: bytes = b"OK"
    content_type: str = "text/plain"


@runtime_checkable
class DlrPushEndpoint(Protocol):
    """A vendor that receives DLRs by HTTP push; the webhook server routes `/dlr/{name}` here."""

    @property
    def name(self) -> str: ...

    def parse_push(
        self,
        *,
        method: str,
        headers: Mapping[str, str],
        query: Mapping[str, str],
        body: bytes,
        received_at_ns: int,
        remote: str | None,
    ) -> PushBatch:
        """Authenticate and parse one push request from peer address `remote`. Raises
        `PushRejectedError` (401 unauthenticated, 400 malformed body; `quarantine` then holds
        the raw body of an authenticated one). Items that cannot be read are returned in
        `PushBatch.quarantined`. Pure: no I/O."""
        ...

    @property
    def push_ack(self) -> PushAck: ...


# --------------------------------------------------------------------------- normalising

_STATUS_WORDS: Mapping[str, DlrStatus] = MappingProxyType(
    {
        "DELIVRD": DlrStatus.DELIVRD,
        "DELIVERED": DlrStatus.DELIVRD,
        "SUCCESS": DlrStatus.DELIVRD,
        "UNDELIV": DlrStatus.UNDELIV,
        "UNDELIVERABLE": DlrStatus.UNDELIV,
        "UNDELIVERED": DlrStatus.UNDELIV,
        "FAIL": DlrStatus.UNDELIV,
        "FAILED": DlrStatus.UNDELIV,
        "EXPIRED": DlrStatus.EXPIRED,
        "REJECTD": DlrStatus.REJECTD,
        "REJECTED": DlrStatus.REJECTD,
        "DELETED": DlrStatus.DELETED,
        "ACCEPTD": DlrStatus.ACCEPTD,
        "ACCEPTED": DlrStatus.ACCEPTD,
        "QUEUED": DlrStatus.ACCEPTD,
        "SENT": DlrStatus.ACCEPTD,
        "BUFFERED": DlrStatus.ACCEPTD,
        "ENROUTE": DlrStatus.ENROUTE,
        "SENDING": DlrStatus.ENROUTE,
        "UNKNOWN": DlrStatus.UNKNOWN,
    }
)
# Chinese gateway codes such as MK:0005 pass through verbatim (docs/vendors.md);
# CJ: (keyword/audit block) and HD: (frequency cap) are the aggregator's policy refusals.
_GATEWAY_CODE = re.compile(r"^([A-Z]{2}):\w+$")
_POLICY_PREFIXES = frozenset({"CJ", "HD"})


def normalise_dlr_status(raw: str) -> DlrStatus:
    """Map a vendor's status word or gateway code onto `DlrStatus`. Pure; unknown -> UNKNOWN."""
    word = raw.strip().upper()
    known = _STATUS_WORDS.get(word)
    if known is not None:
        return known
    match = _GATEWAY_CODE.match(word)
    if match:
        return DlrStatus.REJECTD if match.group(1) in _POLICY_PREFIXES else DlrStatus.UNDELIV
    return DlrStatus.UNKNOWN


def billed_parts_value(value: object, where: str) -> int | None:
    """A vendor's billed-parts field (Tencent `Fee`, 253 `data.fee`, Alibaba `sms_size`):
    a non-negative integer, or a string of digits. None when absent (JSON null or missing,
    passed in as None); ValueError naming `where` for anything else."""
    if value is None:
        return None
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    if isinstance(value, str) and value.strip().isascii() and value.strip().isdigit():
        return int(value.strip())
    raise ValueError(f"{where} is {value!r}, expected a count of parts (an integer >= 0)")


def sms_parts(text: str) -> int:
    """How many SMS parts `text` needs: UCS2 70 single / 67 per part, GSM 7-bit 160 / 153
    septets (TS 23.040 9.2.3.24.1 UDH costs 6 octets; docs/vendors.md).
    Chinese vendors bill by this rule with the 【signature】 included. The codec decides
    (it never splits an escape sequence or a surrogate pair across parts)."""

    return len(split_text(text)[1])
