"""WeCom group robot (企业微信群机器人): a markdown message to its webhook
(`https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=...`).

WeCom documents no signing for group robots: the `key` in the URL is the credential (keep
the URL secret). The markdown content may hold at most 4096 bytes (UTF-8); a longer one
is cut at a character boundary. The reply is JSON; `errcode` 0 is delivered, 45009
(API frequency limit: 20 messages a minute per robot) and -1 (system busy) are retried
after the back-off, any other code is final (93000: invalid webhook URL).
"""

from __future__ import annotations

from dataclasses import dataclass

import aiohttp

from collector.alerts.notifiers.base import AlertMessage, Attempt
from collector.alerts.notifiers.robot import post_robot

RATE_LIMITED = frozenset({45009, -1})
MAX_CONTENT_BYTES = 4096


def clip_utf8(text: str, limit: int) -> str:
    data = text.encode()
    return text if len(data) <= limit else data[:limit].decode(errors="ignore")


@dataclass(frozen=True, slots=True)
class WeComRobot:
    url: str
    name: str
    max_attempts: int | None = None

    @property
    def target(self) -> str:
        return f"wecom:{self.name}"

    async def send(self, message: AlertMessage, session: aiohttp.ClientSession) -> Attempt:
        content = clip_utf8(message.markdown(), MAX_CONTENT_BYTES)
        payload = {"msgtype": "markdown", "markdown": {"content": content}}
        return await post_robot(session, self.url, payload, retry_codes=RATE_LIMITED)
