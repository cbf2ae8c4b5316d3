"""DingTalk custom robot (钉钉自定义机器人): a markdown message to its webhook
(`https://oapi.dingtalk.com/robot/send?access_token=...`).

Signing ("加签"): string_to_sign = timestamp + "\n" + secret, with timestamp the current
time in milliseconds; sign = base64(HMAC-SHA256(key=secret, message=string_to_sign)),
URL-encoded; both go as the `timestamp` and `sign` query parameters. The robot refuses a
timestamp more than an hour from its clock, so every attempt is signed afresh.
The reply is JSON; `errcode` 0 is delivered, 130101 ("send too fast", 20 messages a
minute per robot) is retried after the back-off, any other code is final.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import quote_plus

import aiohttp

from collector.alerts.notifiers.base import AlertMessage, Attempt
from collector.alerts.notifiers.robot import post_robot

RATE_LIMITED = frozenset({130101})


def dingtalk_sign(secret: str, timestamp_ms: int) -> str:
    mac = hmac.new(secret.encode(), f"{timestamp_ms}\n{secret}".encode(), hashlib.sha256)
    return base64.b64encode(mac.digest()).decode()


@dataclass(frozen=True, slots=True)
class DingTalkRobot:
    url: str
    name: str
    secret: str = ""
    max_attempts: int | None = None
    clock: Callable[[], float] = field(default=time.time, compare=False)

    @property
    def target(self) -> str:
        return f"dingtalk:{self.name}"

    def signed_url(self) -> str:
        if not self.secret:
            return self.url
        ts = int(self.clock() * 1000)
        sep = "&" if "?" in self.url else "?"
        sign = quote_plus(dingtalk_sign(self.secret, ts))
        return f"{self.url}{sep}timestamp={ts}&sign={sign}"

    async def send(self, message: AlertMessage, session: aiohttp.ClientSession) -> Attempt:
        payload = {
            "msgtype": "markdown",
            "markdown": {"title": message.text.title, "text": message.markdown()},
        }
        return await post_robot(session, self.signed_url(), payload, retry_codes=RATE_LIMITED)
