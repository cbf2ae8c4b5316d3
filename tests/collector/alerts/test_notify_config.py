"""[[alerts.notify]]: every channel's keys read strictly; errors name file, key, expected."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from agent.common.tomlconfig import ConfigError
from collector.alerts.config import channel_names, parse_alerts
from collector.alerts.notifiers.dingtalk import DingTalkRobot
from collector.alerts.notifiers.feishu import FeishuBot
from collector.alerts.notifiers.mail import EmailNotifier
from collector.alerts.notifiers.webhook import JsonWebhook
from collector.alerts.notifiers.wecom import WeComRobot

K = r"alerts.notify\[0\]."  # the key path of the first entry
DING = "https://oapi.dingtalk.com/robot/send?access_token=abc"


def parse(*entries: dict[str, Any], **top: Any) -> Any:
    return parse_alerts({**top, "notify": list(entries)}, file="/etc/smsprobe/c.toml")


def test_every_kind_parses_to_its_notifier() -> None:
    cfg = parse(
        {"kind": "dingtalk", "name": "ops", "url": DING, "secret": "SEC1", "max_attempts": 3},
        {"kind": "wecom", "url": "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=k"},
        {"kind": "feishu", "name": "noc", "url": "https://open.feishu.cn/open-apis/bot/v2/hook/t",
         "secret": "s"},
        {"kind": "webhook", "url": "https://hooks.example/a", "secret": "h",
         "hmac_header": "X-Sig"},
        {"kind": "email", "host": "smtp.example", "from": "probe@example.cn",
         "to": ["ops@example.cn"], "username": "u", "password": "p", "ca_file": "ca.pem"},
        webhooks=["https://hooks.example/legacy"], hmac_secret="old",
    )  # fmt: skip
    legacy, ding, wecom, feishu, hook, mail = cfg.notifiers
    assert legacy == JsonWebhook("https://hooks.example/legacy", "old")
    assert isinstance(ding, DingTalkRobot) and (ding.target, ding.secret, ding.max_attempts) == (
        "dingtalk:ops", "SEC1", 3,
    )  # fmt: skip
    assert isinstance(wecom, WeComRobot) and wecom.target.startswith("wecom:")
    assert re.fullmatch(r"wecom:[0-9a-f]{8}", wecom.target)  # no key from the URL
    assert isinstance(feishu, FeishuBot) and feishu.target == "feishu:noc"
    assert hook == JsonWebhook("https://hooks.example/a", "h", "X-Sig")
    assert isinstance(mail, EmailNotifier)
    assert (mail.port, mail.security, mail.ca_file) == (
        587,
        "starttls",
        Path("/etc/smsprobe/ca.pem"),
    )
    assert [n.target for n in cfg.notifiers] == [
        "https://hooks.example/legacy", "dingtalk:ops", wecom.target, "feishu:noc",
        "https://hooks.example/a", mail.target,
    ]  # fmt: skip
    # `config check` names the channels without their URLs (a robot's carries its key)
    assert channel_names(cfg) == (
        f"webhook, dingtalk:ops, {wecom.target}, feishu:noc, webhook, {mail.target}"
    )
    # the default name is stable: the same URL keys the same ledger deliveries
    again = parse(
        {"kind": "wecom", "url": "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=k"}
    )
    assert again.notifiers[0].target == wecom.target


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ({"kind": "slack", "url": DING}, K + r"kind: expected one of \"webhook\""),
        ({"kind": "dingtalk"}, K + r"url: expected an http\(s\) URL, got nothing"),
        ({"kind": "dingtalk", "url": "ftp://x"}, K + r"url: expected an http"),
        ({"kind": "wecom", "url": DING, "secret": "x"}, K + r"secret: unknown key"),
        ({"kind": "feishu", "url": DING, "name": "a b"}, K + r"name: expected a name"),
        ({"kind": "dingtalk", "url": DING, "max_attempts": 0},
         K + r"max_attempts: expected an integer >= 1, got 0"),
        ({"kind": "email", "host": "h", "from": "a@b.c", "to": []},
         K + r"to: expected a non-empty array"),
        ({"kind": "email", "host": "h", "from": "a@b.c", "to": ["ops"]},
         K + r"to\[0\]: expected an e-mail address, got \"ops\""),
        ({"kind": "email", "host": "h", "from": "a@b.c", "to": ["o@b.c"], "security": "tls"},
         K + r"security: expected one of \"starttls\", \"ssl\", \"none\""),
        ({"kind": "email", "host": "h", "from": "a@b.c", "to": ["o@b.c"], "password": "p"},
         K + r"username: expected a user name with password"),
        ({"kind": "email", "host": "h", "from": "a@b.c", "to": ["o@b.c"], "smtp_host": "x"},
         K + r"smtp_host: unknown key"),
    ],
)  # fmt: skip
def test_a_bad_entry_names_file_key_and_expectation(entry: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=r"^/etc/smsprobe/c.toml: " + message):
        parse(entry)


def test_the_same_destination_twice_is_refused() -> None:
    with pytest.raises(ConfigError, match=r"alerts.notify\[1\]: dingtalk:ops is configured twice"):
        parse({"kind": "dingtalk", "name": "ops", "url": DING},
              {"kind": "dingtalk", "name": "ops", "url": DING + "x"})  # fmt: skip
    with pytest.raises(ConfigError, match=r"https://h.example/a is configured twice"):
        parse({"kind": "webhook", "url": "https://h.example/a"}, webhooks=["https://h.example/a"])


def test_the_back_off_cap_may_not_undercut_its_first_wait() -> None:
    with pytest.raises(
        ConfigError,
        match=r"^/etc/smsprobe/c.toml: alerts.backoff_max_s: expected a number >= "
        r"backoff_initial_s \(5\)",
    ):
        parse(backoff_initial_s=5, backoff_max_s=2)
    cfg = parse(backoff_initial_s=5, backoff_max_s=5)
    assert (cfg.backoff_initial_s, cfg.backoff_max_s) == (5.0, 5.0)
