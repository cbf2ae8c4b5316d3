"""Each channel against a local server speaking its documented API (robot_servers.py:
signatures recomputed from the docs, not by our signers) and a real SMTP server
(aiosmtpd, STARTTLS and AUTH), through the dispatcher and a real SQLite ledger: every
attempt noted, rate limits retried, wrong signatures final, nothing sent twice."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
from collections.abc import Iterator
from email import message_from_bytes, policy
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, Envelope, LoginPassword, Session

from agent.common.units import NS
from collector.alerts.engine import AlertEvent, AlertKind
from collector.alerts.notifiers.base import Notifier
from collector.alerts.notifiers.dingtalk import DingTalkRobot
from collector.alerts.notifiers.feishu import FeishuBot
from collector.alerts.notifiers.mail import EmailNotifier
from collector.alerts.notifiers.wecom import WeComRobot
from collector.alerts.notify import AlertNotifier, Delivery
from collector.alerts.summary import AlertText
from collector.certs import create_ca
from collector.ledger import open_ledger
from tests.collector.alerts.robot_servers import Robot, RobotServers

T0 = 1_795_000_000 * NS
EVENT = AlertEvent(
    "start", AlertKind.VENDOR_OUTAGE, {"vendor": "bolt"}, T0,
    {"attempts": 8, "arrived": 0, "submit_failures": 2},
)  # fmt: skip
TEXT = AlertText(
    "[ALERT] Vendor outage: bolt",
    "bolt is out: 0 of its latest 8 probes arrived (2 refused at submit), below the 20.0%"
    " outage limit over the last 60 min, since 2026-11-18 05:06:40 CST.",
    "https://probe.example/evidence?vendor=bolt&kind=vendor_outage",
)


@pytest.fixture
def ledger(tmp_path: Path) -> Iterator[Any]:
    led = open_ledger(f"sqlite:///{tmp_path}/l.db")
    yield led
    led.close()


def _alert(ledger: Any, targets: tuple[str, ...]) -> int:
    return int(
        ledger.start_alert(
            EVENT.kind.value, EVENT.subject, at_ns=T0, figures=dict(EVENT.figures),
            deliver_to=targets,
        )
    )  # fmt: skip


async def _send(
    ledger: Any, notifiers: list[Notifier], alert_id: int, slept: list[float], **kw: Any
) -> list[Delivery]:
    async def sleep(s: float) -> None:
        slept.append(s)

    async with AlertNotifier(notifiers, ledger=ledger, sleep=sleep, **kw) as n:
        return await n.notify(EVENT, alert_id=alert_id, text=TEXT)


def _robots(srv: RobotServers, *, secret: str = "SECd1ng", limit: int = 0) -> list[Notifier]:
    srv.dingtalk["dtok"] = Robot("dtok", "SECd1ng", rate_limit_first=limit)
    srv.wecom["wkey"] = Robot("wkey", rate_limit_first=limit)
    srv.feishu["ftok"] = Robot("ftok", "fe1shu", rate_limit_first=limit)
    return [
        DingTalkRobot(srv.dingtalk_url("dtok"), "ops", secret),
        WeComRobot(srv.wecom_url("wkey"), "ops"),
        FeishuBot(srv.feishu_url("ftok"), "ops", "fe1shu" if secret == "SECd1ng" else secret),
    ]


def test_each_robot_accepts_the_signed_markdown_once(ledger: Any) -> None:
    async def scenario() -> tuple[RobotServers, list[Delivery], list[Delivery]]:
        async with RobotServers() as srv:
            notifiers = _robots(srv)
            alert_id = _alert(ledger, tuple(n.target for n in notifiers))
            slept: list[float] = []
            first = await _send(ledger, notifiers, alert_id, slept)
            # Another collector (or a restart) with the same event: settled, not sent again.
            again = await _send(ledger, notifiers, alert_id, slept, instance="c2")
            return srv, first, again

    srv, first, again = asyncio.run(scenario())
    assert sorted((d.url, d.delivered, d.attempts) for d in first) == [
        ("dingtalk:ops", True, 1), ("feishu:ops", True, 1), ("wecom:ops", True, 1),
    ]  # fmt: skip
    assert again == []
    for robot in (srv.dingtalk["dtok"], srv.wecom["wkey"], srv.feishu["ftok"]):
        assert (robot.posts, robot.refused, len(robot.accepted)) == (1, [], 1)
    ding = srv.dingtalk["dtok"].accepted[0]["markdown"]
    assert ding["title"] == TEXT.title
    assert ding["text"] == f"#### {TEXT.title}\n\n{TEXT.summary}\n\n[Evidence]({TEXT.evidence_url})"
    assert srv.wecom["wkey"].accepted[0]["markdown"]["content"] == ding["text"]
    post = srv.feishu["ftok"].accepted[0]["content"]["post"]["zh_cn"]
    assert post["title"] == TEXT.title
    assert post["content"] == [
        [{"tag": "text", "text": TEXT.summary}],
        [{"tag": "a", "text": "Evidence", "href": TEXT.evidence_url}],
    ]
    states = {(d.url, d.state, d.attempts) for d in ledger.deliveries()}
    assert states == {(t, "delivered", 1) for t in ("dingtalk:ops", "wecom:ops", "feishu:ops")}
    notes = ledger.alerts()[0].notified.splitlines()
    assert "start dingtalk:ops attempt=1 ok status=200" in notes
    assert "start feishu:ops delivered status=200 attempts=1" in notes
    assert "dtok" not in "".join(notes)  # the robot's token never reaches the ledger


def test_a_wrong_or_stale_signature_is_refused_and_final(ledger: Any) -> None:
    async def scenario() -> tuple[RobotServers, list[Delivery], list[float]]:
        async with RobotServers() as srv:
            robots = _robots(srv, secret="not-the-secret")
            srv.dingtalk["late"] = Robot("late", "SECd1ng")
            # The right secret, signed by a clock two hours behind the robot's.
            stale = DingTalkRobot(srv.dingtalk_url("late"), "late", "SECd1ng",
                                  clock=lambda: srv.clock() - 7200)  # fmt: skip
            notifiers = [robots[0], robots[2], stale]
            slept: list[float] = []
            out = await _send(ledger, notifiers, _alert(ledger, ()), slept)
            return srv, out, slept

    srv, out, slept = asyncio.run(scenario())
    assert sorted((d.url, d.delivered, d.attempts, d.error) for d in out) == [
        ("dingtalk:late", False, 1, "code 310000: sign not match"),
        ("dingtalk:ops", False, 1, "code 310000: sign not match"),
        ("feishu:ops", False, 1, "code 19021: sign match fail or timestamp is not within one"
         " hour from current time"),
    ]  # fmt: skip
    assert slept == []  # a refused signature is not retried
    assert [len(srv.dingtalk[t].refused) for t in ("dtok", "late")] == [1, 1]
    assert {d.state for d in ledger.deliveries()} == {"failed"}


def test_rate_limit_codes_are_retried_after_the_back_off(ledger: Any) -> None:
    async def scenario() -> tuple[RobotServers, list[Delivery], list[float]]:
        async with RobotServers() as srv:
            notifiers = _robots(srv, limit=2)
            slept: list[float] = []
            out = await _send(ledger, notifiers, _alert(ledger, ()), slept, max_attempts=4)
            return srv, out, slept

    srv, out, slept = asyncio.run(scenario())
    assert sorted((d.url, d.delivered, d.attempts) for d in out) == [
        ("dingtalk:ops", True, 3), ("feishu:ops", True, 3), ("wecom:ops", True, 3),
    ]  # fmt: skip
    assert len(slept) == 6 and all(0.5 <= s <= 2.0 for s in slept)  # 2 jittered waits each
    assert [c for c, _ in srv.dingtalk["dtok"].refused] == [130101, 130101]
    assert [c for c, _ in srv.wecom["wkey"].refused] == [45009, 45009]
    assert [c for c, _ in srv.feishu["ftok"].refused] == [11232, 11232]
    notes = ledger.alerts()[0].notified.splitlines()
    assert (
        "start wecom:ops attempt=1 failed code 45009: api freq out of limit (will retry)" in notes
    )
    assert "start wecom:ops attempt=3 ok status=200" in notes
    assert sum(1 for n in notes if n.startswith("start dingtalk:ops attempt=")) == 3


def test_a_robot_per_channel_limit_gives_up_and_says_so(ledger: Any) -> None:
    async def scenario() -> list[Delivery]:
        async with RobotServers() as srv:
            srv.wecom["busy"] = Robot("busy", rate_limit_first=10)
            robot = WeComRobot(srv.wecom_url("busy"), "busy", max_attempts=2)
            return await _send(ledger, [robot], _alert(ledger, ()), [], max_attempts=9)

    [d] = asyncio.run(scenario())
    assert (d.delivered, d.attempts, d.error) == (False, 2, "code 45009: api freq out of limit")
    assert "start wecom:busy failed attempts=2 error=code 45009" in ledger.alerts()[0].notified


# ---------------------------------------------------------------------------- e-mail


class Mailbox:
    """aiosmtpd handler: keeps what it accepted; answers 451 to the first `busy` DATAs."""

    def __init__(self, busy: int = 0) -> None:
        self.busy = busy
        self.messages: list[tuple[Envelope, bytes]] = []
        self.logins: list[tuple[bytes, bool]] = []

    async def handle_DATA(self, server: Any, session: Session, envelope: Envelope) -> str:
        if self.busy:
            self.busy -= 1
            return "451 4.3.0 try again later"
        self.messages.append((envelope, bytes(envelope.content or b"")))  # type: ignore[arg-type]
        return "250 OK"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def smtp_server(tmp_path: Path, box: Mailbox) -> Iterator[tuple[int, Path]]:
    """A real SMTP server on loopback requiring STARTTLS before AUTH (certificate from
    our own `certs init` for localhost); yields the port and the CA file."""
    pki = create_ca(tmp_path / "pki", hostnames=("localhost",))
    tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    tls.load_cert_chain(pki.server_cert, pki.server_key)

    def authenticate(server: Any, session: Session, envelope: Envelope, mechanism: str,
                     data: Any) -> AuthResult:  # fmt: skip
        ok = isinstance(data, LoginPassword) and (data.login, data.password) == (
            b"alerts", b"pa55",
        )  # fmt: skip
        box.logins.append((data.login if isinstance(data, LoginPassword) else b"", ok))
        return AuthResult(success=ok, handled=False)  # aiosmtpd answers 235/535

    controller = Controller(
        box, hostname="127.0.0.1", port=_free_port(), tls_context=tls,
        require_starttls=True, authenticator=authenticate, auth_required=True,
    )  # fmt: skip
    controller.start()
    try:
        yield controller.port, pki.ca_cert
    finally:
        controller.stop()


def _mail(port: int, ca: Path, **kw: Any) -> EmailNotifier:
    args: dict[str, Any] = dict(
        name="oncall", host="localhost", port=port, sender="smsprobe@probe.example",
        to=("ops@probe.example", "noc@probe.example"), security="starttls",
        username="alerts", password="pa55", ca_file=ca,
    )  # fmt: skip
    return EmailNotifier(**{**args, **kw})


def test_email_over_starttls_with_login(ledger: Any, tmp_path: Path) -> None:
    box = Mailbox(busy=1)
    with smtp_server(tmp_path, box) as (port, ca):
        slept: list[float] = []
        [d] = asyncio.run(_send(ledger, [_mail(port, ca)], _alert(ledger, ()), slept))
    assert (d.url, d.delivered, d.attempts, d.status) == ("email:oncall", True, 2, 250)
    assert len(slept) == 1  # the 451 was retried once
    assert box.logins == [(b"alerts", True), (b"alerts", True)]
    [(envelope, raw)] = box.messages
    assert envelope.mail_from == "smsprobe@probe.example"
    assert envelope.rcpt_tos == ["ops@probe.example", "noc@probe.example"]
    mail = message_from_bytes(raw, policy=policy.default)
    assert mail["Subject"] == TEXT.summary
    assert mail["X-Smsprobe-Delivery"] == f"{ledger.alerts()[0].alert_id}:start"
    assert mail["Message-ID"] == f"<smsprobe.{ledger.alerts()[0].alert_id}.start@probe.example>"
    body = mail.get_content()
    assert TEXT.summary in body and f"Evidence: {TEXT.evidence_url}" in body
    assert "  submit_failures: 2" in body
    notes = ledger.alerts()[0].notified.splitlines()
    assert (
        notes[0]
        == "start email:oncall attempt=1 failed SMTP 451: 4.3.0 try again later (will retry)"
    )


def test_email_wrong_password_or_untrusted_server_fails(ledger: Any, tmp_path: Path) -> None:
    box = Mailbox()
    with smtp_server(tmp_path, box) as (port, ca):
        wrong = _mail(port, ca, name="wrong", password="nope")
        untrusted = _mail(port, ca, name="untrusted", ca_file=None)  # system CAs only
        out = asyncio.run(_send(ledger, [wrong, untrusted], _alert(ledger, ()), [], max_attempts=2))
    by = {d.url: d for d in out}
    assert (by["email:wrong"].delivered, by["email:wrong"].attempts) == (False, 1)
    assert by["email:wrong"].status == 535  # authentication failed: final
    assert by["email:untrusted"].delivered is False and by["email:untrusted"].attempts == 1
    assert by["email:untrusted"].error.startswith("server certificate not trusted: ")
    # smtplib offers the credentials once per mechanism (PLAIN, LOGIN): all refused
    assert box.messages == [] and {ok for _, ok in box.logins} == {False}
