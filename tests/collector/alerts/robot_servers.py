"""Local stand-ins for the chat robots' webhook APIs, on real loopback sockets, written
from their documentation (not from our senders): each checks the request the way the
service does — credential in the URL, signature recomputed and compared, timestamp
within an hour, message shape — and answers with the service's JSON result codes.

- DingTalk custom robot: POST /robot/send?access_token=T[&timestamp=ms&sign=S];
  S = urlencode(base64(HMAC-SHA256(key=secret, msg=timestamp + "\\n" + secret)));
  {"errcode": 0, "errmsg": "ok"}; 310000 sign not match; 300001 token; 40035 bad body;
  130101 send too fast.
- WeCom group robot: POST /cgi-bin/webhook/send?key=K (no signing);
  {"errcode": 0, "errmsg": "ok"}; 93000 invalid webhook url; 40008 invalid message type;
  40058 content too long (markdown > 4096 bytes); 45009 api freq out of limit.
- Feishu custom bot: POST /open-apis/bot/v2/hook/<token>, body {"timestamp": "s",
  "sign": S, "msg_type": ..., "content": ...}; S = base64(HMAC-SHA256(key=timestamp +
  "\\n" + secret, msg="")); {"code": 0, "msg": "success", "data": {}}; 19021 sign match
  fail or timestamp out of range; 9499 bad request; 11232 frequency limited.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import socket
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

HOUR_S = 3600


@dataclass
class Robot:
    """One robot's credentials, what it accepted, and how many posts it refuses first."""

    token: str
    secret: str = ""
    rate_limit_first: int = 0  # answer the first N posts with the rate-limit code
    accepted: list[dict[str, Any]] = field(default_factory=list)
    refused: list[tuple[int, str]] = field(default_factory=list)  # (code, why)
    posts: int = 0


async def serve_loopback(app: web.Application) -> tuple[web.AppRunner, str]:
    """Serve `app` on a free loopback port; the runner (cleanup() it) and the base URL."""
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    await web.SockSite(runner, sock).start()
    return runner, f"http://127.0.0.1:{sock.getsockname()[1]}"


def _b64_hmac(key: bytes, msg: bytes) -> str:
    return base64.b64encode(hmac.new(key, msg, hashlib.sha256).digest()).decode()


class RobotServers:
    """DingTalk, WeCom and Feishu on one loopback port; `clock` is the servers' time."""

    def __init__(self) -> None:
        self.dingtalk: dict[str, Robot] = {}
        self.wecom: dict[str, Robot] = {}
        self.feishu: dict[str, Robot] = {}
        self.clock = time.time
        self.base = ""
        self._runner: web.AppRunner | None = None

    # ------------------------------------------------------------------ DingTalk
    async def _dingtalk(self, request: web.Request) -> web.Response:
        robot = self.dingtalk.get(request.query.get("access_token", ""))
        if robot is None:
            return web.json_response({"errcode": 300001, "errmsg": "token is not exist"})
        robot.posts += 1
        if robot.secret:
            ts, sign = request.query.get("timestamp", ""), request.query.get("sign", "")
            expected = _b64_hmac(robot.secret.encode(), f"{ts}\n{robot.secret}".encode())
            fresh = ts.isdigit() and abs(self.clock() * 1000 - int(ts)) < HOUR_S * 1000
            if not (fresh and hmac.compare_digest(sign, expected)):
                return self._refuse(robot, "errcode", 310000, "sign not match")
        try:
            body = json.loads(await request.read())
            md = body["markdown"]
            ok = body["msgtype"] == "markdown" and md["title"] and md["text"]
        except (ValueError, KeyError, TypeError):
            ok = False
        if not ok:
            return self._refuse(robot, "errcode", 40035, "缺少参数 json")
        if robot.posts <= robot.rate_limit_first:
            return self._refuse(
                robot, "errcode", 130101, "send too fast, exceed 20 times per minute"
            )
        robot.accepted.append(body)
        return web.json_response({"errcode": 0, "errmsg": "ok"})

    # --------------------------------------------------------------------- WeCom
    async def _wecom(self, request: web.Request) -> web.Response:
        robot = self.wecom.get(request.query.get("key", ""))
        if robot is None:
            return web.json_response({"errcode": 93000, "errmsg": "invalid webhook url"})
        robot.posts += 1
        try:
            body = json.loads(await request.read())
            kind, content = body["msgtype"], body["markdown"]["content"]
        except (ValueError, KeyError, TypeError):
            return self._refuse(robot, "errcode", 40008, "invalid message type")
        if kind != "markdown" or not isinstance(content, str):
            return self._refuse(robot, "errcode", 40008, "invalid message type")
        if len(content.encode()) > 4096:
            return self._refuse(robot, "errcode", 40058, "markdown.content exceed max length 4096")
        if robot.posts <= robot.rate_limit_first:
            return self._refuse(robot, "errcode", 45009, "api freq out of limit")
        robot.accepted.append(body)
        return web.json_response({"errcode": 0, "errmsg": "ok"})

    # -------------------------------------------------------------------- Feishu
    async def _feishu(self, request: web.Request) -> web.Response:
        robot = self.feishu.get(request.match_info["token"])
        if robot is None:
            return web.json_response(
                {
                    "code": 19001,
                    "msg": "param invalid: incoming webhook access token invalid",
                    "data": {},
                }
            )
        robot.posts += 1
        try:
            body = json.loads(await request.read())
        except ValueError:
            return self._refuse(robot, "code", 9499, "Bad Request")
        if robot.secret:
            ts, sign = str(body.get("timestamp", "")), str(body.get("sign", ""))
            expected = _b64_hmac(f"{ts}\n{robot.secret}".encode(), b"")
            fresh = ts.isdigit() and abs(self.clock() - int(ts)) < HOUR_S
            if not (fresh and hmac.compare_digest(sign, expected)):
                return self._refuse(
                    robot,
                    "code",
                    19021,
                    "sign match fail or timestamp is not within one hour from current time",
                )
        try:
            post = body["content"]["post"]
            ok = (
                body["msg_type"] == "post"
                and all(
                    isinstance(v["title"], str) and isinstance(v["content"], list)
                    for v in post.values()
                )
                and bool(post)
            )
        except (KeyError, TypeError, AttributeError):
            ok = False
        if not ok:
            return self._refuse(robot, "code", 9499, "Bad Request")
        if robot.posts <= robot.rate_limit_first:
            return self._refuse(
                robot, "code", 11232, "frequency limited psm[lark.oapi.app_platform_runtime]"
            )
        robot.accepted.append(body)
        return web.json_response({"code": 0, "msg": "success", "data": {}})

    # ------------------------------------------------------------------ plumbing
    def _refuse(self, robot: Robot, key: str, code: int, why: str) -> web.Response:
        robot.refused.append((code, why))
        other = "errmsg" if key == "errcode" else "msg"
        return web.json_response({key: code, other: why})

    async def __aenter__(self) -> RobotServers:
        app = web.Application()
        app.router.add_post("/robot/send", self._dingtalk)
        app.router.add_post("/cgi-bin/webhook/send", self._wecom)
        app.router.add_post("/open-apis/bot/v2/hook/{token}", self._feishu)
        self._runner, self.base = await serve_loopback(app)
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._runner is not None
        await self._runner.cleanup()

    def dingtalk_url(self, token: str) -> str:
        return f"{self.base}/robot/send?access_token={token}"

    def wecom_url(self, key: str) -> str:
        return f"{self.base}/cgi-bin/webhook/send?key={key}"

    def feishu_url(self, token: str) -> str:
        return f"{self.base}/open-apis/bot/v2/hook/{token}"


def run_with_robots(scenario: Callable[[RobotServers], Awaitable[None]]) -> RobotServers:
    """Run `scenario` against fresh robot servers; returns them for the assertions."""

    async def main() -> RobotServers:
        async with RobotServers() as srv:
            await scenario(srv)
            return srv

    return asyncio.run(main())
