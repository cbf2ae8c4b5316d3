"""Request signing of the two big Chinese cloud SMS APIs, so the generic HTTP adapter can
describe them in TOML (docs/vendors.md). Pure functions over values.

- Alibaba Cloud RPC signature (dysmsapi `SendSms`, `QuerySendDetails`): HMAC-SHA1 with key
  `secret + "&"` over `METHOD&%2F&` + the percent-encoded, sorted query; common parameters
  AccessKeyId, SignatureMethod, SignatureVersion, SignatureNonce and Timestamp join the
  request's own (Action, Version, PhoneNumbers, ...), then `Signature`.
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


def aliyun_rpc_signature(method: str, params: Mapping[str, str], secret: str) -> str:
    canonical = "&".join(
        f"{aliyun_percent(k)}={aliyun_percent(v)}" for k, v in sorted(params.items())
    )
    to_sign = f"{method.upper()}&%2F&{aliyun_percent(canonical)}"
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
