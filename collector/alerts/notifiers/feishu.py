"""Feishu / Lark custom bot (飞书自定义机器人): a rich-text ("post") message to its
webhook (`https://open.feishu.cn/open-apis/bot/v2/hook/<token>`, Lark:
`https://open.larksuite.com/...`).

Signing ("签名校验"): string_to_sign = timestamp + "\n" + secret, with timestamp the
current time in seconds; sign = base64(HMAC-SHA256(key=string_to_sign, message="")) —
the string is the key, the message is empty (unlike DingTalk). `timestamp` (a string)
and `sign` go in the JSON body; the bot refuses a timestamp more than an hour off.
The reply is JSON with `code` (older deployments: `StatusCode`); 0 is delivered, 11232
(frequency limited) is retried after the back-off, any other code is final (19021: sign
match fail or timestamp out of range).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from collector.alerts.notifiers.base import AlertMessage, Attempt
from collector.alerts.notifiers.robot import post_robot

RATE_LIMITED = frozenset({11232})


def feishu_sign(secret: str, timestamp_s: int) -> str:
    mac = hmac.new(f"{timestamp_s}\n{secret}".encode(), b"", hashlib.sha256)
    return base64.b64encode(mac.digest()).decode()


def post_content(message: AlertMessage) -> dict[str, Any]:
    lines: list[list[dict[str, str]]] = [[{"tag": "text", "text": message.text.summary}]]
    if message.text.evidence_url:
        lines.append([{"tag": "a", "text": "Evidence", "href": message.text.evidence_url}])
    return {"post": {"zh_cn": {"title": message.text.title, "content": lines}}}


@dataclass(frozen=True, slots=True)
class FeishuBot:
    url: str
    name: str
    secret: str = ""
    max_attempts: int | None = None
    clock: Callable[[], float] = field(default=time.time, compare=False)

    @property
    def target(self) -> str:
        return f"feishu:{self.name}"

    async def send(self, message: AlertMessage, session: aiohttp.ClientSession) -> Attempt:
        payload: dict[str, Any] = {"msg_type": "post", "content": post_content(message)}
        if self.secret:
            ts = int(self.clock())
            payload.update(timestamp=str(ts), sign=feishu_sign(self.secret, ts))
        return await post_robot(
            session, self.url, payload, code_keys=("code", "StatusCode"),
            message_keys=("msg", "StatusMessage"), retry_codes=RATE_LIMITED,
        )  # fmt: skip
