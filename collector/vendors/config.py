"""Strict, typed configuration of vendor accounts from TOML tables.

Validated once at the edge without touching the network, with the one strict reader
(agent/common/tomlconfig.py): unknown keys are refused, every error names its key path
(`vendors.acme.submit.body: expected one of "form", "json", "query", got "xml"`).
The typed result is frozen; `HttpVendor` never sees raw dicts.
"""

from __future__ import annotations

import re
import ssl
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from ipaddress import IPv4Network, IPv6Network, ip_network
from pathlib import Path
from types import MappingProxyType

from agent.common.tomlconfig import ConfigError, Table, join_key
from collector.vendors.base import ContentProfile, DlrStatus, RejectReason

__all__ = [
    "AuthKind",
    "BodyFormat",
    "DlrFieldSpec",
    "DlrPullConfig",
    "DlrPushConfig",
    "ErrorClass",
    "HttpAuth",
    "HttpVendorConfig",
    "PushSignature",
    "RequestTemplate",
    "SubmitConfig",
    "TimeFormat",
    "ca_file_context",
    "parse_http_vendor",
    "parse_json_path",
]

# --------------------------------------------------------------------------- model


class BodyFormat(StrEnum):
    FORM = "form"
    JSON = "json"
    QUERY = "query"


class AuthKind(StrEnum):
    NONE = "none"
    BASIC = "basic"
    BEARER = "bearer"
    HMAC_SHA256 = "hmac_sha256"
    ALIYUN_RPC = "aliyun_rpc"  # Alibaba Cloud RPC signature V1 (dysmsapi)
    ALIYUN_V3 = "aliyun_v3"  # Alibaba Cloud V3 signature, ACS3-HMAC-SHA256
    TENCENT_TC3 = "tencent_tc3"  # Tencent Cloud API 3.0, TC3-HMAC-SHA256


class TimeFormat(StrEnum):
    """How a vendor writes DLR times. `yymmddhhmmss`/`yymmddhhmm` are the Appendix-B/CMPP
    local-time forms (SMPP 3.4 Appendix B), read with `utc_offset_h`."""

    YYMMDDHHMMSS = "yymmddhhmmss"
    YYMMDDHHMM = "yymmddhhmm"
    YYYYMMDDHHMMSS = "yyyymmddhhmmss"
    UNIX_S = "unix_s"
    UNIX_MS = "unix_ms"
    ISO8601 = "iso8601"


class ErrorClass(StrEnum):
    """What a vendor error code means for us; `rejected.*` carry the reject reason."""

    AUTH = "auth"
    THROTTLED = "throttled"
    TRANSIENT = "transient"
    AMBIGUOUS = "ambiguous"
    REJECTED_TEMPLATE = "rejected.template"
    REJECTED_SIGNATURE = "rejected.signature"
    REJECTED_NUMBER = "rejected.number"
    REJECTED_CONTENT = "rejected.content"
    REJECTED_OTHER = "rejected.other"

    @property
    def reject_reason(self) -> RejectReason | None:
        if not self.value.startswith("rejected."):
            return None
        return RejectReason(self.value.removeprefix("rejected."))


@dataclass(frozen=True, slots=True)
class HttpAuth:
    """Request authentication. HMAC: hex HMAC-SHA256(secret, f"{unix_s}." + body) in `header`,
    the timestamp in `timestamp_header` (signing the timestamp too stops replays).
    aliyun_rpc / tencent_tc3: `key_id` (AccessKeyId / SecretId) and `secret`
    (AccessKeySecret / SecretKey), TC3 also `service` ("sms"); see vendors/cloud_auth.py."""

    kind: AuthKind = AuthKind.NONE
    username: str = ""
    password: str = ""
    token: str = ""
    secret: str = ""
    header: str = "X-Signature"
    timestamp_header: str = "X-Timestamp"
    key_id: str = ""
    service: str = ""


@dataclass(frozen=True, slots=True)
class RequestTemplate:
    """An HTTP request shape. String field values may hold `{placeholders}`."""

    method: str
    url: str
    body: BodyFormat
    fields: Mapping[str, str | int | float | bool]
    headers: Mapping[str, str]


@dataclass(frozen=True, slots=True)
class SubmitConfig:
    request: RequestTemplate
    message_id_path: str
    parts_path: str | None
    success_path: str | None
    success_values: tuple[str, ...]
    error_code_path: str | None
    error_message_path: str | None


@dataclass(frozen=True, slots=True)
class DlrFieldSpec:
    """Where each DLR item keeps its fields (simple JSON paths inside one item)."""

    message_id: str
    status: str
    err: str | None = None
    msisdn: str | None = None
    done_at: str | None = None
    done_at_format: TimeFormat = TimeFormat.YYMMDDHHMMSS
    utc_offset_h: float = 8.0
    status_map: Mapping[str, DlrStatus] = field(default_factory=dict)
    billed_parts: str | None = None  # the parts the report says were billed (sms_size)


@dataclass(frozen=True, slots=True)
class PushSignature:
    secret: str
    header: str = "X-Signature"
    timestamp_header: str | None = "X-Timestamp"
    tolerance_s: float = 300.0


@dataclass(frozen=True, slots=True)
class DlrPushConfig:
    format: BodyFormat
    items_path: str
    max_body_bytes: int
    ack_body: str
    ack_content_type: str
    signature: PushSignature | None
    # Peer networks a push may come from: how a vendor that signs nothing (Alibaba's
    # SmsReport, Tencent's callback) is authenticated. Both set: both must hold.
    allow_from: tuple[IPv4Network | IPv6Network, ...] = ()


@dataclass(frozen=True, slots=True)
class DlrPullConfig:
    request: RequestTemplate
    items_path: str
    success_path: str | None
    success_values: tuple[str, ...]
    dlr: DlrFieldSpec | None = None  # pulled items' own field names (else the vendor's [dlr])
    error_code_path: str | None = None  # a code here fails the pull, mapped by [errors]
    # One request per submission still waiting for a final report (Alibaba QuerySendDetails:
    # {message_id}, {to}, {send_date}); its items carry no id of their own, so the id asked
    # for is the item's, and an item naming another id is quarantined.
    per_message: bool = False
    max_age_s: float = 86400.0  # a submission is asked about for this long at most


@dataclass(frozen=True, slots=True)
class HttpVendorConfig:
    name: str
    base_url: str
    timeout_s: float
    vars: Mapping[str, str]
    auth: HttpAuth
    submit: SubmitConfig
    errors: Mapping[str, ErrorClass]
    throttle_retry_after_s: float
    redact_fields: tuple[str, ...]
    dlr: DlrFieldSpec | None
    dlr_push: DlrPushConfig | None
    dlr_pull: DlrPullConfig | None
    # probe content profile -> the vendor's approved template code ({template_id} when the
    # probe names none): Alibaba/Tencent send a template code and its parameters, not text
    templates: Mapping[str, str] = field(default_factory=dict)
    # PEM CA certificates the vendor's https:// certificate must chain to, instead of the
    # system's trust store (a private CA, a test CA); None: the system's
    ca_file: Path | None = None


# --------------------------------------------------------------------------- parsing

_PATH_SEGMENT = re.compile(r"^([A-Za-z_][\w-]*)?((?:\[\d+\])*)$")
_PLACEHOLDER = re.compile(r"\{([A-Za-z_][\w.]*)\}")
SUBMIT_PLACEHOLDERS = frozenset(
    {
        "to",
        "text",
        "signed_text",
        "signature",
        "template_id",
        "params",
        "params_json",
        "param_values",
        "to_list",
        "probe_id",
        "sender_id",
        "profile",
        "timestamp_s",
        "timestamp_ms",
    }
)
PULL_PLACEHOLDERS = frozenset({"timestamp_s", "timestamp_ms"})
PER_MESSAGE_PULL_PLACEHOLDERS = PULL_PLACEHOLDERS | {"message_id", "to", "send_date"}


def parse_json_path(path: str, where: str = "path", *, file: str = "") -> tuple[str | int, ...]:
    """`data.msgid` -> ("data", "msgid"); `result[0].sid` -> ("result", 0, "sid"); "" -> ()."""
    if path == "":
        return ()
    steps: list[str | int] = []
    for segment in path.split("."):
        match = _PATH_SEGMENT.match(segment)
        if match is None or segment == "":
            raise ConfigError(file, where, "a JSON path like data.items[0].id", path)
        if match.group(1):
            steps.append(match.group(1))
        steps.extend(int(i) for i in re.findall(r"\[(\d+)\]", match.group(2)))
    return tuple(steps)


def _json_path(t: Table, key: str, value: str) -> str:
    parse_json_path(value, t.key_path(key), file=t.file)
    return value


def _check_placeholders(
    t: Table, where: str, value: str, allowed: frozenset[str], vars_: Mapping[str, str]
) -> None:
    for name in _PLACEHOLDER.findall(value):
        if name in allowed or (name.startswith("param.") and "params" in allowed):
            continue
        if name.startswith("var.") and name.removeprefix("var.") in vars_:
            continue
        raise ConfigError(t.file, where, f"only known placeholders ({{{name}}} is not one)", value)


def _request(
    t: Table, base_url: str, allowed: frozenset[str], vars_: Mapping[str, str]
) -> RequestTemplate:
    method = t.get_str("method", "POST").upper()
    if method not in ("GET", "POST", "PUT"):
        raise t.error("method", "GET, POST or PUT", method)
    url = t.get_str("url")
    if not (url.startswith("/") or url.startswith("http://") or url.startswith("https://")):
        raise t.error("url", "an absolute URL or a /path", url)
    if url.startswith("/") and not base_url:
        raise t.error("url", "an absolute URL (a /path needs base_url)", url)
    body = t.get_enum("body", BodyFormat, "form" if method != "GET" else "query")
    if method == "GET" and body is not BodyFormat.QUERY:
        raise t.error("body", '"query" (GET requests carry fields in the query)', body.value)
    fields = t.get_scalar_map("fields")
    for key, value in fields.items():
        if isinstance(value, str):
            _check_placeholders(t, join_key(t.key_path("fields"), key), value, allowed, vars_)
    headers = t.get_str_map("headers")
    for key, value in headers.items():
        _check_placeholders(t, join_key(t.key_path("headers"), key), value, allowed, vars_)
    return RequestTemplate(method=method, url=url, body=body, fields=fields, headers=headers)


def _opt_path(t: Table, key: str) -> str | None:
    value = t.get_optional_str(key)
    return None if value is None else _json_path(t, key, value)


def _dlr_fields(t: Table) -> DlrFieldSpec:
    status_map_raw = t.get_str_map("status_map")
    status_map: dict[str, DlrStatus] = {}
    for raw, normalised in status_map_raw.items():
        try:
            status_map[raw] = DlrStatus(normalised)
        except ValueError:
            allowed = ", ".join(f'"{s.value}"' for s in DlrStatus)
            raise ConfigError(
                t.file, join_key(t.key_path("status_map"), raw), f"one of {allowed}", normalised
            ) from None
    spec = DlrFieldSpec(
        message_id=_json_path(t, "message_id", t.get_str("message_id")),
        status=_json_path(t, "status", t.get_str("status")),
        err=_opt_path(t, "err"),
        msisdn=_opt_path(t, "msisdn"),
        done_at=_opt_path(t, "done_at"),
        done_at_format=t.get_enum("done_at_format", TimeFormat, TimeFormat.YYMMDDHHMMSS),
        utc_offset_h=t.get_float("utc_offset_h", 8.0, min_value=-14.0),
        status_map=MappingProxyType(status_map),
        billed_parts=_opt_path(t, "billed_parts"),
    )
    t.finish()
    return spec


def _auth(t: Table | None) -> HttpAuth:
    if t is None:
        return HttpAuth()
    kind = t.get_enum("kind", AuthKind)
    auth = HttpAuth(kind=kind)
    if kind is AuthKind.BASIC:
        auth = HttpAuth(kind=kind, username=t.get_str("username"), password=t.get_str("password"))
    elif kind is AuthKind.BEARER:
        auth = HttpAuth(kind=kind, token=t.get_str("token"))
    elif kind is AuthKind.HMAC_SHA256:
        auth = HttpAuth(
            kind=kind,
            secret=t.get_str("secret"),
            header=t.get_str("header", "X-Signature"),
            timestamp_header=t.get_str("timestamp_header", "X-Timestamp"),
        )
    elif kind in (AuthKind.ALIYUN_RPC, AuthKind.ALIYUN_V3):
        auth = HttpAuth(kind=kind, key_id=t.get_str("key_id"), secret=t.get_str("secret"))
    elif kind is AuthKind.TENCENT_TC3:
        auth = HttpAuth(
            kind=kind,
            key_id=t.get_str("key_id"),
            secret=t.get_str("secret"),
            service=t.get_str("service", "sms"),
        )
    t.finish()
    return auth


def _check_auth_fits(auth: HttpAuth, request: RequestTemplate, t: Table) -> None:
    """The cloud signatures fix the request shape: Alibaba's sign form/query fields, TC3 a
    JSON POST or a GET query (API 3.0)."""
    aliyun = (AuthKind.ALIYUN_RPC, AuthKind.ALIYUN_V3)
    if auth.kind in aliyun and request.body is BodyFormat.JSON:
        raise t.error(
            "body", f'"form" or "query" ({auth.kind.value} signs fields)', request.body.value
        )
    if auth.kind is AuthKind.ALIYUN_V3 and not {"Action", "Version"} <= request.fields.keys():
        raise t.error(
            "fields",
            "Action and Version fields (aliyun_v3 sends them as x-acs-* headers)",
            ", ".join(request.fields) or "none",
        )
    if auth.kind is AuthKind.TENCENT_TC3 and not (
        (request.method == "POST" and request.body is BodyFormat.JSON)
        or (request.method == "GET" and request.body is BodyFormat.QUERY)
    ):
        raise t.error(
            "body",
            'method = "POST" with body = "json", or "GET" with "query" (tencent_tc3)',
            f"{request.method} {request.body.value}",
        )


def parse_http_vendor(
    name: str, data: object, path: str | None = None, *, file: str = ""
) -> HttpVendorConfig:
    """Validate one `[vendors.<name>]` table with `kind = "http"`."""
    t = Table(data, file=file, path=path if path is not None else f"vendors.{name}")
    t.get_choice("kind", ("http",), "http")
    base_url = t.get_str("base_url", "").rstrip("/")
    timeout_s = t.get_float("timeout_s", 10.0, above=0.0)
    vars_ = t.get_str_map("vars")
    auth = _auth(t.get_table("auth"))

    s = t.get_table("submit", required=True)
    assert s is not None
    submit = SubmitConfig(
        request=_request(s, base_url, SUBMIT_PLACEHOLDERS, vars_),
        message_id_path=_json_path(s, "message_id_path", s.get_str("message_id_path")),
        parts_path=_opt_path(s, "parts_path"),
        success_path=_opt_path(s, "success_path"),
        success_values=s.get_str_list("success_values", ["0"], non_empty_items=False),
        error_code_path=_opt_path(s, "error_code_path"),
        error_message_path=_opt_path(s, "error_message_path"),
    )
    _check_auth_fits(auth, submit.request, s)
    s.finish()

    errors_raw = t.get_str_map("errors")
    errors: dict[str, ErrorClass] = {}
    for code, cls in errors_raw.items():
        try:
            errors[code] = ErrorClass(cls)
        except ValueError:
            allowed = ", ".join(f'"{c.value}"' for c in ErrorClass)
            raise ConfigError(
                file, join_key(t.key_path("errors"), code), f"one of {allowed}", cls
            ) from None

    dlr_t = t.get_table("dlr")
    dlr = _dlr_fields(dlr_t) if dlr_t is not None else None

    push: DlrPushConfig | None = None
    push_t = t.get_table("dlr_push")
    if push_t is not None:
        sig_t = push_t.get_table("signature")
        signature: PushSignature | None = None
        if sig_t is not None:
            # An empty timestamp_header means the vendor signs the body alone.
            ts_header = sig_t.get_str("timestamp_header", "X-Timestamp")
            signature = PushSignature(
                secret=sig_t.get_str("secret"),
                header=sig_t.get_str("header", "X-Signature"),
                timestamp_header=ts_header or None,
                tolerance_s=sig_t.get_float("tolerance_s", 300.0, min_value=0.0),
            )
            sig_t.finish()
        push = DlrPushConfig(
            format=push_t.get_enum("format", BodyFormat, BodyFormat.JSON),
            items_path=_json_path(push_t, "items_path", push_t.get_str("items_path", "")),
            max_body_bytes=push_t.get_int("max_body_bytes", 1 << 20, min_value=1),
            ack_body=push_t.get_str("ack_body", "OK"),
            ack_content_type=push_t.get_str("ack_content_type", "text/plain"),
            signature=signature,
            allow_from=_networks(push_t, "allow_from"),
        )
        push_t.finish()

    pull: DlrPullConfig | None = None
    pull_t = t.get_table("dlr_pull")
    if pull_t is not None:
        pull_dlr_t = pull_t.get_table("dlr")
        per_message = pull_t.get_bool("per_message", False)
        pull = DlrPullConfig(
            request=_request(
                pull_t,
                base_url,
                PER_MESSAGE_PULL_PLACEHOLDERS if per_message else PULL_PLACEHOLDERS,
                vars_,
            ),
            items_path=_json_path(pull_t, "items_path", pull_t.get_str("items_path", "")),
            success_path=_opt_path(pull_t, "success_path"),
            success_values=pull_t.get_str_list("success_values", ["0"], non_empty_items=False),
            dlr=_dlr_fields(pull_dlr_t) if pull_dlr_t is not None else None,
            error_code_path=_opt_path(pull_t, "error_code_path"),
            per_message=per_message,
            max_age_s=pull_t.get_float("max_age_s", 86400.0, above=0.0),
        )
        _check_auth_fits(auth, pull.request, pull_t)
        pull_t.finish()

    if dlr is None and (push is not None or (pull is not None and pull.dlr is None)):
        raise t.error("dlr", "a [dlr] field table (dlr_push/dlr_pull need one)")

    if push is not None and push.signature is None and not push.allow_from:
        # An unauthenticated push would let anyone write DLRs into the evidence.
        expected = (
            "a [signature] table (the vendor signs) or allow_from = [networks the vendor "
            "pushes from] (it signs nothing): a DLR push must be authenticated"
        )
        raise ConfigError(
            file, t.key_path("dlr_push"), expected, problem=f"expected {expected}, got neither"
        )
    ca_file = t.get_path("ca_file", None, base_dir=Path(file).parent)
    if ca_file is not None:
        if not base_url.startswith("https://"):
            raise t.error("ca_file", "no ca_file: base_url is not https://", str(ca_file))
        try:
            ca_file_context(ca_file)
        except (OSError, ssl.SSLError) as exc:
            raise ConfigError(
                file, t.key_path("ca_file"), "", problem=f"{ca_file}: {_ca_problem(exc)}"
            ) from None
    config = HttpVendorConfig(
        name=name,
        base_url=base_url,
        timeout_s=timeout_s,
        vars=vars_,
        auth=auth,
        submit=submit,
        errors=MappingProxyType(errors),
        throttle_retry_after_s=t.get_float("throttle_retry_after_s", 60.0, min_value=0.0),
        redact_fields=t.get_str_list(
            "redact_fields", ["password", "pswd", "secret", "sign"], non_empty_items=False
        ),
        dlr=dlr,
        dlr_push=push,
        dlr_pull=pull,
        templates=MappingProxyType(_templates(t)),
        ca_file=ca_file,
    )
    t.finish()
    return config


def ca_file_context(ca_file: Path) -> ssl.SSLContext:
    """A client TLS context that trusts only the CA certificates in `ca_file` (PEM), with
    host name checking. Raises OSError (unreadable) or ssl.SSLError (no PEM certificate)."""
    # With cafile the system's store is not loaded; a file without PEM certificates
    # raises SSLError, an empty one loads nothing (checked).
    context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=str(ca_file))
    if not context.cert_store_stats()["x509"]:
        raise ssl.SSLError(f"no certificate in {ca_file}")
    return context


def _ca_problem(exc: OSError | ssl.SSLError) -> str:
    if isinstance(exc, ssl.SSLError):
        return f"expected PEM CA certificates ({exc.reason or exc})"
    return f"cannot read it: {exc.strerror or exc}"


def _networks(t: Table, key: str) -> tuple[IPv4Network | IPv6Network, ...]:
    out = []
    for i, text in enumerate(t.get_str_list(key, [], non_empty_items=False)):
        try:
            out.append(ip_network(text, strict=False))
        except ValueError:
            raise ConfigError(
                t.file, f"{t.key_path(key)}[{i}]", "an IP network like 203.0.113.0/24", text
            ) from None
    return tuple(out)


def _templates(t: Table) -> dict[str, str]:
    templates = dict(t.get_str_map("templates"))
    allowed = sorted(p.value for p in ContentProfile)
    for profile in templates:
        if profile not in allowed:
            raise ConfigError(
                t.file,
                join_key(t.key_path("templates"), profile),
                f"a content profile as key ({', '.join(allowed)})",
                profile,
            )
    return templates
