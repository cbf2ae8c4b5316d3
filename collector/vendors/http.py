"""`HttpVendor`: one generic adapter for HTTP SMS vendors, shaped entirely by a TOML table.

Over 500 lines on purpose: the adapter and the pure functions it is made of (request
building, classification, DLR parsing, push signatures) are read together when a vendor
misbehaves; each part is a module-level function that is tested alone.

Pure parts (request building, response classification, DLR parsing, signature checks) are
module functions over values; `HttpVendor` only does the I/O around them with aiohttp.
Error classification happens in exactly one place: `classify_submit_response` for answers,
`_transport_error` for exchanges that never got one.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import math
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from ipaddress import IPv4Network, IPv6Address, IPv6Network, ip_address
from typing import Any, NoReturn
from urllib.parse import parse_qsl, urlencode, urlsplit

import aiohttp
import structlog

from collector.vendors.base import (
    AmbiguousSubmitError,
    AuthFailedError,
    Clock,
    DlrSink,
    DlrSource,
    OutgoingSms,
    PushAck,
    PushBatch,
    PushRejectedError,
    QuarantinedDlr,
    RawDlr,
    RejectedError,
    SubmitResult,
    ThrottledError,
    TransientError,
    VendorError,
    billed_parts_value,
    normalise_dlr_status,
    sms_parts,
    wall_clock_ns,
)
from collector.vendors.cloud_auth import (
    acs3_headers,
    aliyun_rpc_params,
    tc3_authorization,
    tc3_signature,
)
from collector.vendors.config import (
    AuthKind,
    BodyFormat,
    DlrFieldSpec,
    DlrPullConfig,
    ErrorClass,
    HttpAuth,
    HttpVendorConfig,
    PushSignature,
    RequestTemplate,
    TimeFormat,
    ca_file_context,
    parse_json_path,
)
from collector.vendors.http_exchange import (
    IncompleteExchange,
    exchange_as_it_comes,
    request_tracing,
    tls_failure,
)

__all__ = [
    "BuiltRequest",
    "HttpVendor",
    "build_request",
    "classify_submit_response",
    "hmac_sha256_hex",
    "json_path_get",
    "parse_dlr_item",
    "parse_vendor_time",
    "signing_headers",
    "verify_push_signature",
]

log = structlog.get_logger(__name__)

_PLACEHOLDER = re.compile(r"\{([A-Za-z_][\w.]*)\}")
_REDACTED = "***"


class _Missing:
    pass


MISSING = _Missing()


def json_path_get(doc: object, path: str) -> object:
    """Follow a simple JSON path (`data.msgid`, `result[0].sid`); `MISSING` if absent."""
    node = doc
    for step in parse_json_path(path):
        if isinstance(step, int):
            if not isinstance(node, list) or step >= len(node):
                return MISSING
            node = node[step]
        else:
            if not isinstance(node, Mapping) or step not in node:
                return MISSING
            node = node[step]
    return node


def hmac_sha256_hex(secret: str, timestamp: str | None, body: bytes) -> str:
    """Hex HMAC-SHA256 over `f"{timestamp}." + body` (or the body alone without timestamp)."""
    message = (f"{timestamp}.".encode() + body) if timestamp is not None else body
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


# --------------------------------------------------------------------------- requests


@dataclass(frozen=True, slots=True)
class BuiltRequest:
    method: str
    url: str
    headers: Mapping[str, str]
    body: bytes
    evidence: bytes  # the same request with secrets redacted, kept in the ledger


def _render(value: str, ctx: Mapping[str, str]) -> str:
    return _PLACEHOLDER.sub(lambda m: ctx.get(m.group(1), m.group(0)), value)


def _field_text(value: object) -> str:
    """A field value as a form/query body carries it (non-strings as JSON)."""
    return value if isinstance(value, str) else json.dumps(value)


def _encode(fmt: BodyFormat, fields: Mapping[str, object]) -> bytes:
    if fmt is BodyFormat.JSON:
        return json.dumps(fields, ensure_ascii=False, separators=(",", ":")).encode()
    return urlencode([(k, _field_text(v)) for k, v in fields.items()]).encode()


def build_request(
    template: RequestTemplate,
    *,
    base_url: str,
    auth: HttpAuth,
    ctx: Mapping[str, str],
    objects: Mapping[str, object],
    redact: tuple[str, ...],
    now_s: int,
    nonce: str | None = None,
) -> BuiltRequest:
    """Render a request template. `ctx` fills `{placeholders}` in strings; a field whose whole
    value is `{name}` with `name` in `objects` is replaced by that object (JSON bodies).
    `nonce` (aliyun_rpc): the SignatureNonce, a fresh uuid4 when None."""
    fields: dict[str, object] = {}
    for key, value in template.fields.items():
        if isinstance(value, str):
            whole = _PLACEHOLDER.fullmatch(value)
            if whole and whole.group(1) in objects:
                obj = objects[whole.group(1)]
                # JSON bodies nest the object; form/query fields carry it as a JSON string.
                fields[key] = (
                    obj
                    if template.body is BodyFormat.JSON
                    else json.dumps(obj, ensure_ascii=False, separators=(",", ":"))
                )
            else:
                fields[key] = _render(value, ctx)
        else:
            fields[key] = value
    url = template.url if not template.url.startswith("/") else base_url + template.url
    if auth.kind is AuthKind.ALIYUN_RPC:
        # Signed over the fields as strings, as they go on the wire (form or query).
        fields = dict(
            aliyun_rpc_params(
                template.method,
                {k: _field_text(v) for k, v in fields.items()},
                key_id=auth.key_id,
                secret=auth.secret,
                now_s=now_s,
                nonce=nonce or uuid.uuid4().hex,
            )
        )
    headers = {k: _render(v, ctx) for k, v in template.headers.items()}
    v3_route: tuple[str, str] | None = None
    if auth.kind is AuthKind.ALIYUN_V3:
        # V3 names the API in x-acs-action/x-acs-version headers, not in the fields.
        fields = {k: _field_text(v) for k, v in fields.items()}
        v3_route = (str(fields.pop("Action")), str(fields.pop("Version")))
    redacted_fields = {k: (_REDACTED if k in redact else v) for k, v in fields.items()}
    if template.body is BodyFormat.QUERY:
        query = _encode(BodyFormat.FORM, fields).decode()
        url_q = f"{url}{'&' if '?' in url else '?'}{query}" if query else url
        evidence_q = _encode(BodyFormat.FORM, redacted_fields).decode()
        evidence_url = f"{url}{'&' if '?' in url else '?'}{evidence_q}" if evidence_q else url
        body = b""
        signed_part = query.encode()
        url, evidence_body = url_q, b""
    else:
        body = _encode(template.body, fields)
        signed_part = body
        evidence_body = _encode(template.body, redacted_fields)
        evidence_url = url
        headers.setdefault(
            "Content-Type",
            "application/json; charset=utf-8"
            if template.body is BodyFormat.JSON
            else "application/x-www-form-urlencoded; charset=utf-8",
        )
    redact_lower = {r.lower() for r in redact}
    secret_headers = {k for k in headers if k.lower() in redact_lower}
    if auth.kind is AuthKind.BASIC:
        # RFC 7617; aiohttp.BasicAuth is deprecated in 3.14.
        credentials = base64.b64encode(f"{auth.username}:{auth.password}".encode()).decode()
        headers["Authorization"] = f"Basic {credentials}"
        secret_headers.add("Authorization")
    elif auth.kind is AuthKind.BEARER:
        headers["Authorization"] = f"Bearer {auth.token}"
        secret_headers.add("Authorization")
    elif auth.kind is AuthKind.HMAC_SHA256:
        ts = str(now_s)
        headers[auth.timestamp_header] = ts
        headers[auth.header] = hmac_sha256_hex(auth.secret, ts, signed_part)
    elif auth.kind is AuthKind.ALIYUN_V3 and v3_route is not None:
        parts = urlsplit(url)
        headers.update(
            acs3_headers(
                template.method,
                host=parts.netloc,
                path=parts.path or "/",
                query={k: _field_text(v) for k, v in fields.items()}
                if template.body is BodyFormat.QUERY
                else {},
                action=v3_route[0],
                version=v3_route[1],
                payload=body,
                key_id=auth.key_id,
                secret=auth.secret,
                now_s=now_s,
                nonce=nonce or uuid.uuid4().hex,
            )
        )
    elif auth.kind is AuthKind.TENCENT_TC3:
        if template.body is BodyFormat.QUERY:  # GET: what the SDK sends and signs
            headers.setdefault("Content-Type", "application/x-www-form-urlencoded")
        parts = urlsplit(url)
        signature = tc3_signature(
            auth.secret,
            service=auth.service,
            host=parts.netloc,
            method=template.method,
            path=parts.path,
            query=parts.query,
            content_type=next(v for k, v in headers.items() if k.lower() == "content-type"),
            payload=body,
            timestamp=now_s,
        )
        headers["X-TC-Timestamp"] = str(now_s)
        headers["Authorization"] = tc3_authorization(
            auth.key_id, signature, service=auth.service, timestamp=now_s
        )
    head = f"{template.method} {evidence_url}\r\n" + "".join(
        f"{k}: {_REDACTED if k in secret_headers else v}\r\n" for k, v in headers.items()
    )
    return BuiltRequest(
        method=template.method,
        url=url,
        headers=headers,
        body=body,
        evidence=head.encode() + b"\r\n" + evidence_body,
    )


def _submit_context(
    sms: OutgoingSms, config: HttpVendorConfig, now_ns: int
) -> tuple[dict[str, str], dict[str, object]]:
    vars_ = config.vars
    ctx = {
        "to": sms.to_msisdn,
        "text": sms.text,
        "signed_text": sms.signed_text,
        "signature": sms.signature,
        "template_id": sms.template_id or config.templates.get(sms.profile.value, ""),
        "params_json": json.dumps(dict(sms.params), ensure_ascii=False, separators=(",", ":")),
        "probe_id": sms.probe_id,
        "sender_id": sms.sender_id or "",
        "profile": sms.profile.value,
        "timestamp_s": str(now_ns // 1_000_000_000),
        "timestamp_ms": str(now_ns // 1_000_000),
    }
    ctx.update({f"param.{k}": v for k, v in sms.params.items()})
    ctx.update({f"var.{k}": v for k, v in vars_.items()})
    # Lists for APIs that take arrays: Tencent's PhoneNumberSet and TemplateParamSet
    # (positional template parameters, in the order the probe gives them).
    objects: dict[str, object] = {
        "params": dict(sms.params),
        "param_values": list(sms.params.values()),
        "to_list": [sms.to_msisdn],
    }
    return ctx, objects


# --------------------------------------------------------------------------- responses


def _error_for(
    cls: ErrorClass,
    message: str,
    *,
    vendor: str,
    code: str,
    raw_request: bytes,
    raw_response: bytes,
    http_status: int,
    retry_after_s: float,
) -> VendorError:
    common: dict[str, Any] = {
        "vendor": vendor,
        "code": code,
        "raw_request": raw_request,
        "raw_response": raw_response,
        "http_status": http_status,
    }
    reason = cls.reject_reason
    if reason is not None:
        return RejectedError(message, reason=reason, **common)
    if cls is ErrorClass.THROTTLED:
        return ThrottledError(message, retry_after_s=retry_after_s, **common)
    if cls is ErrorClass.AUTH:
        return AuthFailedError(message, **common)
    if cls is ErrorClass.TRANSIENT:
        return TransientError(message, **common)
    return AmbiguousSubmitError(message, **common)


def _retry_after(header: str | None, default: float) -> float:
    if header is not None:
        try:
            return max(0.0, float(header))
        except ValueError:
            pass  # HTTP-date form: rare from SMS vendors; fall back to the configured delay
    return default


def classify_submit_response(
    config: HttpVendorConfig,
    *,
    status: int,
    body: bytes,
    retry_after_header: str | None,
    raw_request: bytes,
    accepted_at_ns: int,
    signed_text: str,
) -> SubmitResult:
    """Decide what a vendor's answer means. Returns on acceptance, raises a `VendorError`."""
    sub = config.submit
    default_retry = _retry_after(retry_after_header, config.throttle_retry_after_s)

    def fail(cls: ErrorClass, message: str, code: str = "") -> VendorError:
        return _error_for(
            cls,
            message,
            vendor=config.name,
            code=code,
            raw_request=raw_request,
            raw_response=body,
            http_status=status,
            retry_after_s=default_retry,
        )

    doc: object
    try:
        doc = json.loads(body) if body else MISSING
    except ValueError:
        doc = MISSING

    code = ""
    message = ""
    if not isinstance(doc, _Missing):
        if sub.error_code_path is not None:
            found = json_path_get(doc, sub.error_code_path)
            code = "" if isinstance(found, _Missing) else str(found)
        if not code and sub.success_path is not None:
            found = json_path_get(doc, sub.success_path)
            code = "" if isinstance(found, _Missing) else str(found)
        if sub.error_message_path is not None:
            found = json_path_get(doc, sub.error_message_path)
            message = "" if isinstance(found, _Missing) else str(found)

    mapped = config.errors.get(code) if code else None
    if status == 429:
        raise fail(ErrorClass.THROTTLED, f"HTTP 429 {message}".strip(), code)
    if status in (401, 403):
        raise fail(mapped or ErrorClass.AUTH, f"HTTP {status} {message}".strip(), code)
    if status >= 500:
        # 502/503: a proxy or the vendor refused before taking the message. 500/504 may come
        # after the vendor stored it, so they are ambiguous.
        default = ErrorClass.TRANSIENT if status in (502, 503) else ErrorClass.AMBIGUOUS
        raise fail(mapped or default, f"HTTP {status} {message}".strip(), code)
    if isinstance(doc, _Missing):
        if 200 <= status < 300:
            raise fail(ErrorClass.AMBIGUOUS, f"HTTP {status} with an unreadable body")
        raise fail(ErrorClass.REJECTED_OTHER, f"HTTP {status} with an unreadable body")

    if sub.success_path is not None:
        found = json_path_get(doc, sub.success_path)
        ok = not isinstance(found, _Missing) and str(found) in sub.success_values
    else:
        ok = True
    if not (200 <= status < 300) or not ok:
        raise fail(mapped or ErrorClass.REJECTED_OTHER, message or f"vendor code {code!r}", code)

    found_id = json_path_get(doc, sub.message_id_path)
    ids: tuple[str, ...]
    if isinstance(found_id, list):
        ids = tuple(str(i) for i in found_id if i is not None and str(i) != "")
    elif isinstance(found_id, _Missing) or found_id is None or str(found_id) == "":
        ids = ()
    else:
        ids = (str(found_id),)
    if not ids:
        # Success without an id: the vendor has the message but we cannot correlate its DLRs.
        raise fail(ErrorClass.AMBIGUOUS, f"success without a message id at {sub.message_id_path}")
    billed, billed_from = _submit_billed(doc, sub.parts_path, ids)
    return SubmitResult(
        vendor=config.name,
        message_ids=ids,
        parts=sms_parts(signed_text) if billed is None else billed,
        accepted_at_ns=accepted_at_ns,
        raw_request=raw_request,
        raw_response=body,
        http_status=status,
        billed_parts=billed,
        billed_from=billed_from,
    )


def _submit_billed(
    doc: object, parts_path: str | None, ids: tuple[str, ...]
) -> tuple[int | None, str]:
    """What an accepted submit says was billed: the fee at `parts_path` (Tencent `Fee`, 253
    `data.fee`), else one id per part when the vendor gave several. A fee that is no count
    is no figure (the raw answer keeps it); the submit stays accepted."""
    if parts_path is None:
        return (len(ids), "acks:http") if len(ids) > 1 else (None, "")
    found = json_path_get(doc, parts_path)
    try:
        billed = billed_parts_value(_present(found), parts_path)
    except ValueError as exc:
        log.warning("vendor_fee_unreadable", error=str(exc))
        return None, ""
    return (None, "") if billed is None else (billed, f"submit:{parts_path}")


# --------------------------------------------------------------------------- DLRs


def parse_vendor_time(value: object, fmt: TimeFormat, utc_offset_h: float) -> int | None:
    """Vendor time -> ns since epoch; local forms use `utc_offset_h` (China: +8). None if
    unparseable (the raw value is still kept in `RawDlr.raw`)."""
    tz = timezone(timedelta(hours=utc_offset_h))
    text = str(value).strip()
    try:
        if fmt is TimeFormat.UNIX_S:
            return int(float(text) * 1_000_000_000)
        if fmt is TimeFormat.UNIX_MS:
            return int(text) * 1_000_000
        if fmt is TimeFormat.ISO8601:
            parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
            if parsed.tzinfo is None:
                parsed = parsed.replace(tzinfo=tz)
            return int(parsed.timestamp() * 1_000_000_000)
        pattern = {
            TimeFormat.YYMMDDHHMMSS: "%y%m%d%H%M%S",
            TimeFormat.YYMMDDHHMM: "%y%m%d%H%M",
            TimeFormat.YYYYMMDDHHMMSS: "%Y%m%d%H%M%S",
        }[fmt]
        parsed = datetime.strptime(text, pattern).replace(tzinfo=tz)
        return int(parsed.timestamp()) * 1_000_000_000
    except (ValueError, OverflowError):
        return None


def parse_dlr_item(
    item: Mapping[str, object],
    spec: DlrFieldSpec,
    *,
    vendor: str,
    source: DlrSource,
    received_at_ns: int,
    raw: bytes,
    message_id: str | None = None,
) -> RawDlr:
    """One DLR item -> `RawDlr`. Raises `ValueError` naming the field when the id or status
    is missing or a field has a type the vendor does not send (an object for an id).
    `message_id`: the id a per-message query asked about; an item without an id of its own
    is that message's, one naming another id is refused."""
    msg_id = json_path_get(item, spec.message_id)
    status_raw = json_path_get(item, spec.status)
    if message_id is not None:
        if isinstance(msg_id, _Missing) or msg_id is None or str(msg_id) == "":
            msg_id = message_id
        elif str(msg_id) != message_id:
            raise ValueError(
                f"{spec.message_id} {msg_id!r}, but the query asked for {message_id!r}"
            )
    if isinstance(msg_id, _Missing) or msg_id is None or str(msg_id) == "":
        raise ValueError(f"DLR item without {spec.message_id}")
    # Ids are strings, or integers in some vendors' JSON (never floats: 1e21 is no id).
    if isinstance(msg_id, bool) or not isinstance(msg_id, str | int):
        raise ValueError(f"{spec.message_id} is {_json_type(msg_id)}, expected a string")
    if isinstance(status_raw, _Missing) or status_raw is None:
        raise ValueError(f"DLR item without {spec.status}")
    # Statuses are words, booleans (Alibaba `success`) or integer codes (QuerySendDetails
    # SendStatus 1/2/3) the status_map names; any other number is no documented status.
    numeric = isinstance(status_raw, int) and not isinstance(status_raw, bool)
    if not isinstance(status_raw, str | bool) and not (
        numeric and str(status_raw) in spec.status_map
    ):
        raise ValueError(f"{spec.status} is {_json_type(status_raw)}, expected a string")
    # JSON booleans (Alibaba `success`) become words a status map can name.
    status_text = (
        str(status_raw).lower() if isinstance(status_raw, bool) else str(status_raw).strip()
    )
    status = spec.status_map.get(status_text) or normalise_dlr_status(status_text)

    def opt(path: str | None) -> str | None:
        if path is None:
            return None
        found = json_path_get(item, path)
        if isinstance(found, _Missing) or found is None:
            return None
        if isinstance(found, dict | list):
            raise ValueError(f"{path} is {_json_type(found)}, expected a string")
        return str(found)

    done_raw = opt(spec.done_at)
    billed = (
        None
        if spec.billed_parts is None
        else billed_parts_value(_present(json_path_get(item, spec.billed_parts)), spec.billed_parts)
    )
    return RawDlr(
        vendor=vendor,
        message_id=str(msg_id),
        status=status,
        vendor_status_raw=status_text,
        err=opt(spec.err) or "",
        done_at_ns=(
            parse_vendor_time(done_raw, spec.done_at_format, spec.utc_offset_h)
            if done_raw
            else None
        ),
        received_at_ns=received_at_ns,
        raw=raw,
        source=source,
        msisdn=opt(spec.msisdn),
        billed_parts=billed,
        billed_from="" if billed is None else f"dlr:{source.value}:{spec.billed_parts}",
    )


def _present(found: object) -> object:
    return None if isinstance(found, _Missing) else found


def _json_type(value: object) -> str:
    names = {dict: "an object", list: "an array", bool: "a boolean", str: "a string"}
    return names.get(type(value), "a number")


def _items(doc: object, items_path: str) -> list[Mapping[str, object]]:
    found = json_path_get(doc, items_path) if items_path else doc
    if isinstance(found, Mapping):
        return [found]
    if isinstance(found, list) and all(isinstance(i, Mapping) for i in found):
        return list(found)
    raise ValueError(f"no DLR list at {items_path or 'the top level'}")


def _canonical(item: Mapping[str, object]) -> bytes:
    return json.dumps(item, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode()


def _peer_allowed(remote: str | None, networks: tuple[IPv4Network | IPv6Network, ...]) -> bool:
    if not remote:
        return False
    try:
        address = ip_address(remote.split("%", 1)[0])  # drop an IPv6 zone id
    except ValueError:
        return False  # a Unix socket or a name: not an address anyone listed
    if isinstance(address, IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return any(address in net for net in networks)


def _push_evidence(sig: PushSignature | None, headers: Mapping[str, str], signed: bytes) -> bytes:
    if sig is None:
        return signed
    lowered = {k.lower(): v for k, v in headers.items()}
    names = [sig.header] + ([sig.timestamp_header] if sig.timestamp_header else [])
    head = "".join(f"{n}: {lowered.get(n.lower(), '')}\r\n" for n in names)
    return head.encode() + b"\r\n" + signed


def verify_push_signature(
    sig: PushSignature, headers: Mapping[str, str], signed: bytes, now_ns: int
) -> None:
    """Raise `PushRejectedError(401)` unless the HMAC matches and the timestamp is fresh."""
    lowered = {k.lower(): v for k, v in headers.items()}
    given = lowered.get(sig.header.lower())
    if not given:
        raise PushRejectedError(f"missing {sig.header}", status=401)
    ts: str | None = None
    if sig.timestamp_header is not None:
        ts = lowered.get(sig.timestamp_header.lower())
        if not ts:
            raise PushRejectedError(f"missing {sig.timestamp_header}", status=401)
        try:
            skew_s = abs(now_ns / 1e9 - float(ts))
        except ValueError:
            raise PushRejectedError("unreadable timestamp", status=401) from None
        # nan compares false with everything and inf - inf is nan: only a finite skew
        # within the tolerance passes.
        if not math.isfinite(skew_s) or not skew_s <= sig.tolerance_s:
            raise PushRejectedError(f"timestamp {ts!r} outside {sig.tolerance_s:g} s", status=401)
    expected = hmac_sha256_hex(sig.secret, ts, signed)
    if not hmac.compare_digest(expected, given.strip().lower()):
        raise PushRejectedError("signature mismatch", status=401)


# --------------------------------------------------------------------------- adapter


def _tls_error(
    exc: BaseException, config: HttpVendorConfig, raw_request: bytes = b""
) -> AuthFailedError | None:
    """A certificate the vendor's TLS handshake did not prove: nothing was sent, and
    nothing will be until the trust is fixed (`ca_file`, or the vendor's certificate)."""
    why = tls_failure(exc)
    if why is None:
        return None
    trust = f"ca_file {config.ca_file}" if config.ca_file else "the system's CA certificates"
    host = urlsplit(config.base_url).netloc
    log.error("vendor_tls_failed", vendor=config.name, host=host, trust=trust, error=why)
    return AuthFailedError(
        f"TLS: the certificate of {host} is not trusted by {trust}: {why}",
        vendor=config.name,
        raw_request=raw_request,
    )


def _transport_error(exc: BaseException, vendor: str, raw_request: bytes) -> VendorError:
    """Exchanges without an answer: refused connects are safe to retry, anything after the
    request may have left is ambiguous (docs/vendors.md)."""
    refused = isinstance(exc, aiohttp.ClientConnectorError) and not isinstance(
        exc, aiohttp.ClientConnectorCertificateError
    )
    if refused or isinstance(exc, aiohttp.ConnectionTimeoutError):
        return TransientError(f"connect failed: {exc!r}", vendor=vendor, raw_request=raw_request)
    if isinstance(exc, TimeoutError):
        return AmbiguousSubmitError(
            "no answer before timeout", vendor=vendor, raw_request=raw_request
        )
    return AmbiguousSubmitError(f"exchange broke: {exc!r}", vendor=vendor, raw_request=raw_request)


class HttpVendor:
    """A `SmsVendor` (and `DlrPushEndpoint` when `[dlr_push]` is configured) over HTTP."""

    def __init__(self, config: HttpVendorConfig, *, clock: Clock = wall_clock_ns) -> None:
        self._config = config
        self._clock = clock
        self._session: aiohttp.ClientSession | None = None
        self._sink: DlrSink | None = None
        self._log = log.bind(vendor=config.name)
        # per-message pulls: message id -> (number, accepted at), until its final report
        self._awaiting: dict[str, tuple[str, int]] = {}

    @property
    def name(self) -> str:
        return self._config.name

    @property
    def config(self) -> HttpVendorConfig:
        return self._config

    @property
    def push_ack(self) -> PushAck:
        push = self._config.dlr_push
        if push is None:
            return PushAck()
        return PushAck(body=push.ack_body.encode(), content_type=push.ack_content_type)

    @property
    def accepts_push(self) -> bool:
        return self._config.dlr_push is not None

    async def start(self, dlr_sink: DlrSink) -> None:
        self._sink = dlr_sink
        if self._session is None:
            ca_file = self._config.ca_file
            self._session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=self._config.timeout_s),
                trace_configs=[request_tracing()],
                connector=aiohttp.TCPConnector(
                    ssl=ca_file_context(ca_file) if ca_file is not None else True
                ),
            )

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    def _require_session(self) -> aiohttp.ClientSession:
        if self._session is None:
            raise RuntimeError(f"vendor {self.name} used before start()")
        return self._session

    async def _exchange(self, req: BuiltRequest) -> tuple[int, bytes, str | None]:
        session = self._require_session()
        async with session.request(
            req.method, req.url, data=req.body or None, headers=dict(req.headers)
        ) as resp:
            return resp.status, await resp.read(), resp.headers.get("Retry-After")

    async def submit(self, sms: OutgoingSms) -> SubmitResult:
        now_ns = self._clock()
        ctx, objects = _submit_context(sms, self._config, now_ns)
        req = build_request(
            self._config.submit.request,
            base_url=self._config.base_url,
            auth=self._config.auth,
            ctx=ctx,
            objects=objects,
            redact=self._config.redact_fields,
            now_s=now_ns // 1_000_000_000,
        )
        try:
            status, body, retry_after = await self._exchange(req)
        except (aiohttp.ClientError, TimeoutError) as exc:
            error = _tls_error(exc, self._config, req.evidence) or _transport_error(
                exc, self.name, req.evidence
            )
            self._log.warning("vendor_submit_failed", probe_id=sms.probe_id, error=error.kind)
            raise error from exc
        try:
            result = classify_submit_response(
                self._config,
                status=status,
                body=body,
                retry_after_header=retry_after,
                raw_request=req.evidence,
                accepted_at_ns=self._clock(),
                signed_text=sms.signed_text,
            )
        except VendorError as error:
            self._log.info(
                "vendor_submit_refused",
                probe_id=sms.probe_id,
                error=error.kind,
                code=error.code,
                http_status=status,
            )
            raise
        pull = self._config.dlr_pull
        if pull is not None and pull.per_message:
            for message_id in result.message_ids:
                self._awaiting[message_id] = (sms.to_msisdn, result.accepted_at_ns)
        self._log.info(
            "vendor_submit_accepted",
            probe_id=sms.probe_id,
            message_ids=list(result.message_ids),
            parts=result.parts,
        )
        return result

    # ---- push

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
        push, spec = self._config.dlr_push, self._config.dlr
        if push is None or spec is None:
            raise PushRejectedError(f"vendor {self.name} takes no DLR push", status=404)
        if len(body) > push.max_body_bytes:
            raise PushRejectedError("body too large", status=413)
        if push.allow_from and not _peer_allowed(remote, push.allow_from):
            raise PushRejectedError(f"source {remote} not in allow_from", status=401)
        signed = (
            urlencode(sorted(query.items())).encode() if push.format is BodyFormat.QUERY else body
        )
        if push.signature is not None:
            verify_push_signature(push.signature, headers, signed, received_at_ns)
        # Evidence: the signed bytes exactly as received, behind the signature headers, so the
        # vendor's signature can be re-verified offline; a batch's DLRs share it.
        raw = _push_evidence(push.signature, headers, signed)

        def held(reason: str, what: bytes) -> QuarantinedDlr:
            return QuarantinedDlr(self.name, reason, what, received_at_ns, DlrSource.PUSH)

        try:
            items: list[Mapping[str, object]]
            if push.format is BodyFormat.JSON:
                items = _items(json.loads(body), push.items_path)
            elif push.format is BodyFormat.FORM:
                items = [dict(parse_qsl(body.decode("utf-8"), keep_blank_values=True))]
            else:
                items = [dict(query)]
        except RecursionError:
            # json refuses nesting deeper than the interpreter's stack: hostile or broken.
            reason = "malformed DLR push: JSON nested too deeply"
            raise PushRejectedError(reason, status=400, quarantine=held(reason, raw)) from None
        except (ValueError, UnicodeDecodeError) as exc:
            reason = f"malformed DLR push: {exc}"
            raise PushRejectedError(reason, status=400, quarantine=held(reason, raw)) from exc
        # Each item on its own: a bad one is kept in quarantine, the good ones stored.
        batch = PushBatch()
        for index, item in enumerate(items):
            try:
                batch.dlrs.append(
                    parse_dlr_item(
                        item,
                        spec,
                        vendor=self.name,
                        source=DlrSource.PUSH,
                        received_at_ns=received_at_ns,
                        raw=raw,
                    )
                )
            except ValueError as exc:
                where = f"item {index}: " if len(items) > 1 else ""
                batch.quarantined.append(held(f"{where}{exc}", _canonical(item)))
        return batch

    # ---- pull

    async def poll_dlrs(self) -> int:
        """One pull: the vendor's queue, or (per_message) one query per submission still
        waiting for its final report. Returns how many DLRs were stored."""
        pull = self._config.dlr_pull
        spec = (pull.dlr if pull is not None else None) or self._config.dlr
        if pull is None or spec is None:
            return 0
        if self._sink is None:
            raise RuntimeError(f"vendor {self.name} polled before start()")
        now_ns = self._clock()
        ctx = {
            "timestamp_s": str(now_ns // 1_000_000_000),
            "timestamp_ms": str(now_ns // 1_000_000),
        }
        ctx.update({f"var.{k}": v for k, v in self._config.vars.items()})
        if not pull.per_message:
            items, received_at = await self._pull_items(pull, ctx, now_ns)
            return await self._take(items, spec, received_at, asked=None)
        stored = 0
        local = timezone(timedelta(hours=spec.utc_offset_h))
        for message_id, (to, sent_ns) in list(self._awaiting.items()):
            if now_ns - sent_ns > pull.max_age_s * 1e9:
                del self._awaiting[message_id]
                self._log.warning("dlr_pull_gave_up", message_id=message_id)
                continue
            day = datetime.fromtimestamp(sent_ns / 1e9, local).strftime("%Y%m%d")
            asked = {**ctx, "message_id": message_id, "to": to, "send_date": day}
            items, received_at = await self._pull_items(pull, asked, now_ns)
            stored += await self._take(items, spec, received_at, asked=message_id)
        return stored

    async def _pull_items(
        self, pull: DlrPullConfig, ctx: Mapping[str, str], now_ns: int
    ) -> tuple[list[Mapping[str, object]], int]:
        req = build_request(
            pull.request,
            base_url=self._config.base_url,
            auth=self._config.auth,
            ctx=ctx,
            objects={},
            redact=self._config.redact_fields,
            now_s=now_ns // 1_000_000_000,
        )
        try:
            status, body = await exchange_as_it_comes(
                self._require_session(),
                req.method,
                req.url,
                body=req.body or None,
                headers=req.headers,
                timeout_s=self._config.timeout_s,
            )
        except IncompleteExchange as exc:
            await self._pull_incomplete(exc, req.url, read_once=not pull.per_message)
        received_at = self._clock()
        if status == 429:
            raise ThrottledError(
                "DLR pull throttled",
                vendor=self.name,
                retry_after_s=self._config.throttle_retry_after_s,
                raw_response=body,
            )
        try:
            doc = json.loads(body)
            code = json_path_get(doc, pull.error_code_path) if pull.error_code_path else None
            if code is not None and not isinstance(code, _Missing) and str(code):
                # e.g. Tencent's Response.Error.Code: an answer, not an unreadable body
                cls = self._config.errors.get(str(code), ErrorClass.TRANSIENT)
                raise _error_for(
                    cls if cls is not ErrorClass.AMBIGUOUS else ErrorClass.TRANSIENT,
                    f"DLR pull refused: {code}",
                    vendor=self.name,
                    code=str(code),
                    raw_request=req.evidence,
                    raw_response=body,
                    http_status=status,
                    retry_after_s=self._config.throttle_retry_after_s,
                )
            if pull.success_path is not None:
                ok = json_path_get(doc, pull.success_path)
                known = str(ok) in self._config.errors
                if (isinstance(ok, _Missing) or str(ok) not in pull.success_values) and (
                    known or 200 <= status < 300
                ):
                    # Alibaba answers a wrong key with HTTP 4xx and a JSON Code: by [errors]
                    cls = self._config.errors.get(str(ok), ErrorClass.REJECTED_OTHER)
                    raise _error_for(
                        cls if cls is not ErrorClass.AMBIGUOUS else ErrorClass.TRANSIENT,
                        f"DLR pull refused: {ok!r}",
                        vendor=self.name,
                        code=str(ok),
                        raw_request=req.evidence,
                        raw_response=body,
                        http_status=status,
                        retry_after_s=self._config.throttle_retry_after_s,
                    )
            if status in (401, 403):
                raise AuthFailedError(
                    f"DLR pull HTTP {status}", vendor=self.name, raw_response=body
                )
            if not 200 <= status < 300:
                raise TransientError(f"DLR pull HTTP {status}", vendor=self.name, raw_response=body)
            found = json_path_get(doc, pull.items_path) if pull.items_path else doc
            items = [] if found is None or found == [] or found == {} else _items(found, "")
        except RecursionError:
            await self._quarantine_pull(body, "DLR pull unparseable: nested too deeply", now_ns)
            raise TransientError(
                "DLR pull unparseable: nested too deeply", vendor=self.name
            ) from None
        except ValueError as exc:
            if not 200 <= status < 300:
                raise TransientError(
                    f"DLR pull HTTP {status}", vendor=self.name, raw_response=body
                ) from exc
            # Read-once queues (Tencent) will not send these reports again: keep the body.
            await self._quarantine_pull(body, f"DLR pull unparseable: {exc}", received_at)
            raise TransientError(f"DLR pull unparseable: {exc}", vendor=self.name) from exc
        return items, received_at

    async def _pull_incomplete(
        self, exc: IncompleteExchange, url: str, *, read_once: bool
    ) -> NoReturn:
        """A pull without a complete answer fails as transient (the next pull asks again: a
        per-message query keeps its submission waiting). What arrived is quarantined raw,
        and so is the bare fact when a read-once queue took the request and answered
        nothing: the vendor may have handed out reports we never got."""
        tls = _tls_error(exc.__cause__, self._config) if exc.__cause__ else None
        if tls is not None:
            raise tls from exc
        if not exc.sent and not exc.received:
            raise TransientError(f"DLR pull failed: {exc}", vendor=self.name) from exc
        reason = f"DLR pull incomplete: {exc}"
        self._log.error(
            "dlr_pull_incomplete",
            url=url,
            error=str(exc),
            stalled=exc.stalled,
            received_octets=len(exc.received),
        )
        if exc.received or read_once:
            assert self._sink is not None
            await self._sink.quarantine(
                QuarantinedDlr(self.name, reason, exc.received, self._clock(), DlrSource.PULL)
            )
        raise TransientError(reason, vendor=self.name) from exc

    async def _quarantine_pull(self, body: bytes, reason: str, at_ns: int) -> None:
        assert self._sink is not None
        self._log.error("dlr_pull_unparsed", reason=reason)
        await self._sink.quarantine(QuarantinedDlr(self.name, reason, body, at_ns, DlrSource.PULL))

    async def _take(
        self,
        items: list[Mapping[str, object]],
        spec: DlrFieldSpec,
        received_at: int,
        *,
        asked: str | None,
    ) -> int:
        """Store the pulled items; a bad one is quarantined with the reason. `asked`: the id
        a per-message query named (its items carry none, or must carry that one)."""
        assert self._sink is not None
        dlrs = []
        for item in items:
            try:
                dlr = parse_dlr_item(
                    item,
                    spec,
                    vendor=self.name,
                    source=DlrSource.PULL,
                    received_at_ns=received_at,
                    raw=_canonical(item),
                    message_id=asked,
                )
            except ValueError as exc:
                self._log.warning("dlr_pull_item_quarantined", reason=str(exc))
                await self._sink.quarantine(
                    QuarantinedDlr(
                        self.name, str(exc), _canonical(item), received_at, DlrSource.PULL
                    )
                )
                continue
            if asked is not None and not dlr.status.is_final:
                continue  # still waiting (QuerySendDetails SendStatus 1): asked again later
            dlrs.append(dlr)
        for dlr in dlrs:
            await self._sink.store(dlr)
        if asked is not None and dlrs:
            self._awaiting.pop(asked, None)
        if dlrs:
            self._log.info("dlrs_pulled", count=len(dlrs))
        return len(dlrs)


def signing_headers(auth: HttpAuth, body: bytes, now_s: int) -> dict[str, str]:
    """The headers `HttpVendor` adds for HMAC auth; the simulator signs pushes the same way."""
    ts = str(now_s)
    return {auth.timestamp_header: ts, auth.header: hmac_sha256_hex(auth.secret, ts, body)}
