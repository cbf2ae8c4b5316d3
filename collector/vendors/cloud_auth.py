"""Request signing of the two big Chinese cloud SMS APIs, so the generic HTTP adapter can
describe them in TOML (docs/vendors.md). Pure functions over values.

- Alibaba Cloud RPC signature (dysmsapi `SendSms`, `QuerySendDetails`): HMAC-SHA1 with key
  `secret + "&"` over `METHOD&%2F&` + the percent-encoded, sorted query; common parameters
  AccessKeyId, SignatureMethod, SignatureVersion, SignatureNonce and Timestamp join the
  request's own (Action, Version, PhoneNumbers, ...), then `Signature`.
- Alibaba Cloud V3 signature `ACS3-HMAC-SHA256` (what the current SDK sends by default): a
  canonical request over the method, path, sorted encoded query, the signed headers (host,
  x-acs-*) and the SHA-256 of the payload; its hex SHA-256 behind the algorithm name is the
  string to sign, the hex HMAC-SHA256 with the AccessKeySecret the signature.
- Tencent Cloud API 3.0 `TC3-HMAC-SHA256` (sms `SendSms`, `PullSmsSendStatus`): a
  canonical request over `content-type;host` and the SHA-256 of the payload, a key derived
  from the date and the service, the result in `Authorization`.

Both are checked against the vendors' published examples
(tests/collector/vendors/test_cloud_auth.py).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Mapping
from datetime import UTC, datetime
from urllib.parse import quote


def aliyun_percent(value: str) -> str:
    """RFC 3986 encoding as Alibaba specifies it: unreserved A-Z a-z 0-9 - _ . ~ stay,
    everything else (space as %20, * as %2A) is %XX of its UTF-8 bytes."""
    return quote(value, safe="~")


def aliyun_rpc_string_to_sign(method: str, params: Mapping[str, str]) -> str:
    """`METHOD&%2F&` + the encoded, sorted, encoded-again parameters (`Signature` excluded)."""
    canonical = "&".join(
        f"{aliyun_percent(k)}={aliyun_percent(v)}"
        for k, v in sorted(params.items())
        if k != "Signature"
    )
    return f"{method.upper()}&%2F&{aliyun_percent(canonical)}"


def aliyun_rpc_signature(method: str, params: Mapping[str, str], secret: str) -> str:
    to_sign = aliyun_rpc_string_to_sign(method, params)
    digest = hmac.new(f"{secret}&".encode(), to_sign.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


def aliyun_rpc_params(
    method: str,
    params: Mapping[str, str],
    *,
    key_id: str,
    secret: str,
    now_s: int,
    nonce: str,
) -> dict[str, str]:
    """`params` with the common parameters added and signed (`Signature` last)."""
    signed = {
        **params,
        "AccessKeyId": key_id,
        "SignatureMethod": "HMAC-SHA1",
        "SignatureVersion": "1.0",
        "SignatureNonce": nonce,
        "Timestamp": datetime.fromtimestamp(now_s, UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    signed.setdefault("Format", "JSON")
    signed["Signature"] = aliyun_rpc_signature(method, signed, secret)
    return signed


ACS3 = "ACS3-HMAC-SHA256"


def acs3_canonical_request(
    method: str,
    path: str,
    query: Mapping[str, str],
    headers: Mapping[str, str],
    signed_headers: list[str],
    payload_sha256: str,
) -> str:
    """The V3 canonical request. `headers` by any case; `signed_headers` lower-case names."""
    by_name: dict[str, list[str]] = {}
    for name, value in headers.items():
        by_name.setdefault(name.lower(), []).append(str(value).strip())
    canonical_query = "&".join(
        f"{aliyun_percent(k)}={aliyun_percent(v)}" for k, v in sorted(query.items())
    )
    names = sorted(signed_headers)
    canonical_headers = "".join(f"{n}:{','.join(sorted(by_name.get(n, [''])))}\n" for n in names)
    return "\n".join(
        (
            method.upper(),
            path or "/",
            canonical_query,
            canonical_headers,
            ";".join(names),
            payload_sha256,
        )
    )


def acs3_string_to_sign(canonical_request: str) -> str:
    return f"{ACS3}\n{hashlib.sha256(canonical_request.encode()).hexdigest()}"


def acs3_signature(string_to_sign: str, secret: str) -> str:
    return hmac.new(secret.encode(), string_to_sign.encode(), hashlib.sha256).hexdigest()


def acs3_headers(
    method: str,
    *,
    host: str,
    path: str,
    query: Mapping[str, str],
    action: str,
    version: str,
    payload: bytes,
    key_id: str,
    secret: str,
    now_s: int,
    nonce: str,
) -> dict[str, str]:
    """The headers of one V3-signed request, `Authorization` included. Signed: host and
    every x-acs-* header, as the V3 documentation requires at least."""
    headers = {
        "host": host,
        "x-acs-action": action,
        "x-acs-version": version,
        "x-acs-date": datetime.fromtimestamp(now_s, UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "x-acs-signature-nonce": nonce,
        "x-acs-content-sha256": hashlib.sha256(payload).hexdigest(),
    }
    names = sorted(headers)
    canonical = acs3_canonical_request(
        method, path, query, headers, names, headers["x-acs-content-sha256"]
    )
    signature = acs3_signature(acs3_string_to_sign(canonical), secret)
    headers["Authorization"] = (
        f"{ACS3} Credential={key_id},SignedHeaders={';'.join(names)},Signature={signature}"
    )
    return headers


def parse_acs3_authorization(value: str) -> dict[str, str] | None:
    """`ACS3-HMAC-SHA256 Credential=…,SignedHeaders=…,Signature=…` -> its three fields."""
    if not value.startswith(ACS3 + " "):
        return None
    fields: dict[str, str] = {}
    for part in value[len(ACS3) + 1 :].split(","):
        name, sep, found = part.strip().partition("=")
        if sep:
            fields[name] = found
    if not {"Credential", "SignedHeaders", "Signature"} <= fields.keys():
        return None
    return fields


def _hmac256(key: bytes, message: str) -> bytes:
    return hmac.new(key, message.encode(), hashlib.sha256).digest()


def tc3_signature(
    secret_key: str,
    *,
    service: str,
    host: str,
    method: str,
    path: str,
    query: str,
    content_type: str,
    payload: bytes,
    timestamp: int,
) -> str:
    """Hex TC3-HMAC-SHA256 signature of one request signed over content-type and host."""
    canonical_request = "\n".join(
        (
            method.upper(),
            path or "/",
            query,
            f"content-type:{content_type}\nhost:{host}\n",
            "content-type;host",
            hashlib.sha256(payload).hexdigest(),
        )
    )
    date = datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%d")
    scope = f"{date}/{service}/tc3_request"
    to_sign = "\n".join(
        (
            "TC3-HMAC-SHA256",
            str(timestamp),
            scope,
            hashlib.sha256(canonical_request.encode()).hexdigest(),
        )
    )
    key = _hmac256(_hmac256(_hmac256(f"TC3{secret_key}".encode(), date), service), "tc3_request")
    return hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()


def tc3_authorization(secret_id: str, signature: str, *, service: str, timestamp: int) -> str:
    date = datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%d")
    return (
        f"TC3-HMAC-SHA256 Credential={secret_id}/{date}/{service}/tc3_request, "
        f"SignedHeaders=content-type;host, Signature={signature}"
    )
