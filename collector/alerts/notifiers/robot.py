"""What the chat robots (DingTalk, WeCom, Feishu) have in common: a JSON POST whose
HTTP 200 reply carries a result code; only code 0 is delivered. A rate-limit code is
worth another try after the back-off; any other code is final (a wrong signature, a
revoked robot, a refused message stay so on a retry)."""

from __future__ import annotations

import json
from collections.abc import Collection, Sequence
from typing import Any

import aiohttp

from collector.alerts.notifiers.base import Attempt, post_json, retryable_status


def reply_attempt(
    status: int,
    raw: bytes,
    *,
    code_keys: Sequence[str],
    message_keys: Sequence[str],
    retry_codes: Collection[int],
) -> Attempt:
    """Judge a robot's reply: HTTP status first, then the first code key present."""
    if not 200 <= status < 300:
        return Attempt(False, retryable_status(status), status, f"HTTP {status}")
    try:
        body: Any = json.loads(raw)
    except ValueError:
        return Attempt(False, True, status, f"reply not JSON: {raw[:80]!r}")
    code = next((body[k] for k in code_keys if isinstance(body, dict) and k in body), None)
    if not isinstance(code, int):
        return Attempt(False, True, status, f"reply without {'/'.join(code_keys)}: {raw[:80]!r}")
    if code == 0:
        return Attempt(True, False, status)
    msg = next((str(body[k]) for k in message_keys if k in body), "")
    return Attempt(False, code in retry_codes, status, f"code {code}: {msg}".rstrip(": "))


async def post_robot(
    session: aiohttp.ClientSession,
    url: str,
    payload: dict[str, Any],
    *,
    code_keys: Sequence[str] = ("errcode",),
    message_keys: Sequence[str] = ("errmsg",),
    retry_codes: Collection[int] = (),
) -> Attempt:
    status, raw = await post_json(session, url, payload)
    return reply_attempt(
        status, raw, code_keys=code_keys, message_keys=message_keys, retry_codes=retry_codes
    )
