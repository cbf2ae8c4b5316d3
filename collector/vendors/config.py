"""Strict, typed configuration of vendor accounts from TOML tables.

Validated once at the edge without touching the network: unknown keys are rejected, every
error names its key path (`vendors.acme.submit.body: expected one of form, json, query`).
The typed result is frozen; `HttpVendor` never sees raw dicts.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum, StrEnum
from ipaddress import IPv4Network, IPv6Network, ip_network
from types import MappingProxyType
from typing import TypeVar

from collector.configlib import ConfigError, describe
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
    "StrictTable",
    "SubmitConfig",
    "TimeFormat",
    "VendorConfigError",
    "parse_http_vendor",
    "parse_json_path",
]

E = TypeVar("E", bound=Enum)
_MISSING = object()


class VendorConfigError(ConfigError):
    """Invalid vendor configuration; `path` is the dotted key path of the offending value.
    A `ConfigError` (collector/configlib.py), so the collector's config loading catches one
    error type for every section."""

    def __init__(self, path: str, problem: str, *, file: str = "") -> None:
        super().__init__(file, path, "", problem=problem)
        self.path = path
        # Without a file name the message starts at the key path.
        self.args = (f"{file}: {path}: {problem}" if file else f"{path}: {problem}",)

    def __str__(self) -> str:
        return str(self.args[0])


class StrictTable:
    """Reads typed values from one TOML table and rejects keys nobody asked for."""

    def __init__(self, data: object, path: str) -> None:
        if not isinstance(data, Mapping):
            raise VendorConfigError(path, "expected a table")
        self._data: Mapping[str, object] = data
        self._path = path
        self._seen: set[str] = set()

    @property
    def path(self) -> str:
        return self._path

    def _key(self, key: str) -> str:
        return f"{self._path}.{key}" if self._path else key

    def _get(self, key: str, default: object) -> object:
        self._seen.add(key)
        if key in self._data:
            return self._data[key]
        if default is _MISSING:
            raise VendorConfigError(self._key(key), "required key is missing")
        return default

    def has(self, key: str) -> bool:
        return key in self._data

    def names(self) -> tuple[str, ...]:
        return tuple(self._data)

    def raw(self, key: str, default: object = None) -> object:
        """An untyped value (lists of tables); the caller validates it."""
        return self._get(key, default)

    def string(self, key: str, default: object = _MISSING) -> str:
        value = self._get(key, default)
        if not isinstance(value, str):
            raise VendorConfigError(self._key(key), "expected a string")
        return value

    def opt_str(self, key: str) -> str | None:
        value = self._get(key, None)
        if value is not None and not isinstance(value, str):
            raise VendorConfigError(self._key(key), "expected a string")
        return value

    def number(self, key: str, default: object = _MISSING, *, min_value: float = 0.0) -> float:
        value = self._get(key, default)
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise VendorConfigError(self._key(key), "expected a number")
        if not math.isfinite(value):  # nan passes every comparison below
            raise VendorConfigError(self._key(key), f"expected a finite number, got {value}")
        if value < min_value:
            raise VendorConfigError(self._key(key), f"must be >= {min_value}")
        return float(value)

    def integer(self, key: str, default: object = _MISSING, *, min_value: int = 0) -> int:
        value = self._get(key, default)
        if isinstance(value, bool) or not isinstance(value, int):
            raise VendorConfigError(self._key(key), "expected an integer")
        if value < min_value:
            raise VendorConfigError(self._key(key), f"must be >= {min_value}")
        return value

    def boolean(self, key: str, default: object = _MISSING) -> bool:
        value = self._get(key, default)
        if not isinstance(value, bool):
            raise VendorConfigError(self._key(key), "expected true or false")
        return value

    def enum(self, key: str, cls: type[E], default: object = _MISSING) -> E:
        value = self._get(key, default)
        if isinstance(value, cls):
            return value
        try:
            return cls(value)
        except ValueError:
            allowed = ", ".join(str(m.value) for m in cls)
            raise VendorConfigError(self._key(key), f"expected one of {allowed}") from None

    def str_list(self, key: str, default: object = _MISSING) -> tuple[str, ...]:
        value = self._get(key, default)
        if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
            raise VendorConfigError(self._key(key), "expected a list of strings")
        return tuple(value)

    def str_map(self, key: str) -> Mapping[str, str]:
        value = self._get(key, {})
        if not isinstance(value, Mapping) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in value.items()
        ):
            raise VendorConfigError(self._key(key), "expected a table of strings")
        return MappingProxyType(dict(value))

    def scalar_map(self, key: str) -> Mapping[str, str | int | float | bool]:
        value = self._get(key, {})
        if not isinstance(value, Mapping):
            raise VendorConfigError(self._key(key), "expected a table of strings/numbers/booleans")
        for k, v in value.items():
            if not isinstance(v, str | int | float | bool) or (
                isinstance(v, float) and not math.isfinite(v)
            ):
                raise VendorConfigError(
                    f"{self._key(key)}.{k}",
                    f"expected a string, a finite number or true/false, got {describe(v)}",
                )
        return MappingProxyType(dict(value))

    def table(self, key: str) -> StrictTable:
        return StrictTable(self._get(key, _MISSING), self._key(key))

    def opt_table(self, key: str) -> StrictTable | None:
        value = self._get(key, None)
        return None if value is None else StrictTable(value, self._key(key))

    def finish(self) -> None:
        unknown = sorted(set(self._data) - self._seen)
        if unknown:
            raise VendorConfigError(self._key(unknown[0]), "unknown key")


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
    ALIYUN_RPC = "aliyun_rpc"  # Alibaba Cloud RPC signature (dysmsapi)
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


def parse_json_path(path: str, where: str = "path") -> tuple[str | int, ...]:
    """`data.msgid` -> ("data", "msgid"); `result[0].sid` -> ("result", 0, "sid"); "" -> ()."""
    if path == "":
        return ()
    steps: list[str | int] = []
    for segment in path.split("."):
        match = _PATH_SEGMENT.match(segment)
        if match is None or segment == "":
            raise VendorConfigError(where, f"bad JSON path {path!r}")
        if match.group(1):
            steps.append(match.group(1))
        steps.extend(int(i) for i in re.findall(r"\[(\d+)\]", match.group(2)))
    return tuple(steps)


def _check_placeholders(
    value: str, where: str, allowed: frozenset[str], vars_: Mapping[str, str]
) -> None:
    for name in _PLACEHOLDER.findall(value):
        if name in allowed or (name.startswith("param.") and "params" in allowed):
            continue
        if name.startswith("var.") and name.removeprefix("var.") in vars_:
            continue
        raise VendorConfigError(where, f"unknown placeholder {{{name}}}")


def _request(
    t: StrictTable, base_url: str, allowed: frozenset[str], vars_: Mapping[str, str]
) -> RequestTemplate:
    method = t.string("method", "POST").upper()
    if method not in ("GET", "POST", "PUT"):
        raise VendorConfigError(f"{t.path}.method", "expected GET, POST or PUT")
    url = t.string("url")
    if not (url.startswith("/") or url.startswith("http://") or url.startswith("https://")):
        raise VendorConfigError(f"{t.path}.url", "expected an absolute URL or a /path")
    if url.startswith("/") and not base_url:
        raise VendorConfigError(f"{t.path}.url", "a /path needs base_url")
    body = t.enum("body", BodyFormat, "form" if method != "GET" else "query")
    if method == "GET" and body is not BodyFormat.QUERY:
        raise VendorConfigError(f"{t.path}.body", "GET requests carry fields in the query")
    fields = t.scalar_map("fields")
    for key, value in fields.items():
        if isinstance(value, str):
            _check_placeholders(value, f"{t.path}.fields.{key}", allowed, vars_)
    headers = t.str_map("headers")
    for key, value in headers.items():
        _check_placeholders(value, f"{t.path}.headers.{key}", allowed, vars_)
    return RequestTemplate(method=method, url=url, body=body, fields=fields, headers=headers)


def _opt_path(t: StrictTable, key: str) -> str | None:
    value = t.opt_str(key)
    if value is not None:
        parse_json_path(value, f"{t.path}.{key}")
    return value


def _dlr_fields(t: StrictTable) -> DlrFieldSpec:
    status_map_raw = t.str_map("status_map")
    status_map: dict[str, DlrStatus] = {}
    for raw, normalised in status_map_raw.items():
        try:
            status_map[raw] = DlrStatus(normalised)
        except ValueError:
            allowed = ", ".join(s.value for s in DlrStatus)
            raise VendorConfigError(
                f"{t.path}.status_map.{raw}", f"expected one of {allowed}"
            ) from None
    spec = DlrFieldSpec(
        message_id=t.string("message_id"),
        status=t.string("status"),
        err=_opt_path(t, "err"),
        msisdn=_opt_path(t, "msisdn"),
        done_at=_opt_path(t, "done_at"),
        done_at_format=t.enum("done_at_format", TimeFormat, TimeFormat.YYMMDDHHMMSS),
        utc_offset_h=t.number("utc_offset_h", 8.0, min_value=-14.0),
        status_map=MappingProxyType(status_map),
    )
    parse_json_path(spec.message_id, f"{t.path}.message_id")
    parse_json_path(spec.status, f"{t.path}.status")
    t.finish()
    return spec


def _auth(t: StrictTable | None) -> HttpAuth:
    if t is None:
        return HttpAuth()
    kind = t.enum("kind", AuthKind)
    auth = HttpAuth(kind=kind)
    if kind is AuthKind.BASIC:
        auth = HttpAuth(kind=kind, username=t.string("username"), password=t.string("password"))
    elif kind is AuthKind.BEARER:
        auth = HttpAuth(kind=kind, token=t.string("token"))
    elif kind is AuthKind.HMAC_SHA256:
        auth = HttpAuth(
            kind=kind,
            secret=t.string("secret"),
            header=t.string("header", "X-Signature"),
            timestamp_header=t.string("timestamp_header", "X-Timestamp"),
        )
    elif kind is AuthKind.ALIYUN_RPC:
        auth = HttpAuth(kind=kind, key_id=t.string("key_id"), secret=t.string("secret"))
    elif kind is AuthKind.TENCENT_TC3:
        auth = HttpAuth(
            kind=kind,
            key_id=t.string("key_id"),
            secret=t.string("secret"),
            service=t.string("service", "sms"),
        )
    t.finish()
    return auth


def _check_auth_fits(auth: HttpAuth, request: RequestTemplate, path: str) -> None:
    """The cloud signatures fix the request shape: RPC signs form/query fields, TC3 a JSON
    POST."""
    if auth.kind is AuthKind.ALIYUN_RPC and request.body is BodyFormat.JSON:
        raise VendorConfigError(f"{path}.body", "expected form or query (aliyun_rpc signs fields)")
    if auth.kind is AuthKind.TENCENT_TC3 and (
        request.body is not BodyFormat.JSON or request.method != "POST"
    ):
        raise VendorConfigError(
            f"{path}.body", 'expected method = "POST" and body = "json" (tencent_tc3)'
        )


def parse_http_vendor(name: str, data: object, path: str | None = None) -> HttpVendorConfig:
    """Validate one `[vendors.<name>]` table with `kind = "http"`."""
    t = StrictTable(data, path if path is not None else f"vendors.{name}")
    kind = t.string("kind", "http")
    if kind != "http":
        raise VendorConfigError(f"{t.path}.kind", "expected http")
    base_url = t.string("base_url", "").rstrip("/")
    timeout_s = t.number("timeout_s", 10.0)
    if timeout_s <= 0:
        raise VendorConfigError(f"{t.path}.timeout_s", "must be > 0")
    vars_ = t.str_map("vars")
    auth = _auth(t.opt_table("auth"))

    s = t.table("submit")
    submit = SubmitConfig(
        request=_request(s, base_url, SUBMIT_PLACEHOLDERS, vars_),
        message_id_path=s.string("message_id_path"),
        parts_path=_opt_path(s, "parts_path"),
        success_path=_opt_path(s, "success_path"),
        success_values=s.str_list("success_values", ["0"]),
        error_code_path=_opt_path(s, "error_code_path"),
        error_message_path=_opt_path(s, "error_message_path"),
    )
    parse_json_path(submit.message_id_path, f"{s.path}.message_id_path")
    _check_auth_fits(auth, submit.request, s.path)
    s.finish()

    errors_raw = t.str_map("errors")
    errors: dict[str, ErrorClass] = {}
    for code, cls in errors_raw.items():
        try:
            errors[code] = ErrorClass(cls)
        except ValueError:
            allowed = ", ".join(c.value for c in ErrorClass)
            raise VendorConfigError(
                f"{t.path}.errors.{code}", f"expected one of {allowed}"
            ) from None

    dlr_t = t.opt_table("dlr")
    dlr = _dlr_fields(dlr_t) if dlr_t is not None else None

    push: DlrPushConfig | None = None
    push_t = t.opt_table("dlr_push")
    if push_t is not None:
        sig_t = push_t.opt_table("signature")
        signature: PushSignature | None = None
        if sig_t is not None:
            # An empty timestamp_header means the vendor signs the body alone.
            ts_header = sig_t.string("timestamp_header", "X-Timestamp")
            signature = PushSignature(
                secret=sig_t.string("secret"),
                header=sig_t.string("header", "X-Signature"),
                timestamp_header=ts_header or None,
                tolerance_s=sig_t.number("tolerance_s", 300.0),
            )
            sig_t.finish()
        push = DlrPushConfig(
            format=push_t.enum("format", BodyFormat, BodyFormat.JSON),
            items_path=push_t.string("items_path", ""),
            max_body_bytes=push_t.integer("max_body_bytes", 1 << 20, min_value=1),
            ack_body=push_t.string("ack_body", "OK"),
            ack_content_type=push_t.string("ack_content_type", "text/plain"),
            signature=signature,
            allow_from=_networks(push_t, "allow_from"),
        )
        parse_json_path(push.items_path, f"{push_t.path}.items_path")
        push_t.finish()

    pull: DlrPullConfig | None = None
    pull_t = t.opt_table("dlr_pull")
    if pull_t is not None:
        pull_dlr_t = pull_t.opt_table("dlr")
        pull = DlrPullConfig(
            request=_request(pull_t, base_url, PULL_PLACEHOLDERS, vars_),
            items_path=pull_t.string("items_path", ""),
            success_path=_opt_path(pull_t, "success_path"),
            success_values=pull_t.str_list("success_values", ["0"]),
            dlr=_dlr_fields(pull_dlr_t) if pull_dlr_t is not None else None,
            error_code_path=_opt_path(pull_t, "error_code_path"),
        )
        parse_json_path(pull.items_path, f"{pull_t.path}.items_path")
        _check_auth_fits(auth, pull.request, pull_t.path)
        pull_t.finish()

    if dlr is None and (push is not None or (pull is not None and pull.dlr is None)):
        raise VendorConfigError(f"{t.path}.dlr", "dlr_push/dlr_pull need a [dlr] field table")

    if push is not None and push.signature is None and not push.allow_from:
        # An unauthenticated push would let anyone write DLRs into the evidence.
        raise VendorConfigError(
            f"{t.path}.dlr_push",
            "a DLR push must be authenticated: a [signature] table (the vendor signs) "
            "or allow_from = [networks the vendor pushes from] (it signs nothing)",
        )
    config = HttpVendorConfig(
        name=name,
        base_url=base_url,
        timeout_s=timeout_s,
        vars=vars_,
        auth=auth,
        submit=submit,
        errors=MappingProxyType(errors),
        throttle_retry_after_s=t.number("throttle_retry_after_s", 60.0),
        redact_fields=t.str_list("redact_fields", ["password", "pswd", "secret", "sign"]),
        dlr=dlr,
        dlr_push=push,
        dlr_pull=pull,
        templates=MappingProxyType(_templates(t)),
    )
    t.finish()
    return config


def _networks(t: StrictTable, key: str) -> tuple[IPv4Network | IPv6Network, ...]:
    out = []
    for text in t.str_list(key, []):
        try:
            out.append(ip_network(text, strict=False))
        except ValueError:
            raise VendorConfigError(
                f"{t.path}.{key}", f"expected IP networks like 203.0.113.0/24, got {text!r}"
            ) from None
    return tuple(out)


def _templates(t: StrictTable) -> dict[str, str]:
    templates = dict(t.str_map("templates"))
    allowed = {p.value for p in ContentProfile}
    for profile in templates:
        if profile not in allowed:
            raise VendorConfigError(
                f"{t.path}.templates.{profile}", f"expected one of {', '.join(sorted(allowed))}"
            )
    return templates
