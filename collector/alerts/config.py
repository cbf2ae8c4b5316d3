"""The [alerts] section: where notifications go, the rules, how often to evaluate.

[alerts]
evaluate_interval_s = 60
webhooks = ["https://ops.example/hooks/smsprobe"]   # each gets every start/end (JSON)
hmac_secret = "..."          # optional: sign each body (HMAC-SHA256, hex)
hmac_header = "X-Smsprobe-Signature"               # header carrying "sha256=<hex>"
max_attempts = 5             # per webhook and event, then given up (noted in the ledger)
timeout_s = 10
backoff_initial_s = 1        # doubled per retry, capped
backoff_max_s = 60
[[alerts.notify]]            # more channels, each its own entry (docs/alerts.md)
kind = "dingtalk"            # webhook | dingtalk | wecom | feishu | email
name = "ops"                 # keys its deliveries in the ledger (default: from url / to)
url = "https://oapi.dingtalk.com/robot/send?access_token=..."
secret = "SEC..."            # webhook: HMAC; dingtalk, feishu: the robot's signing secret
max_attempts = 5             # optional: this channel's own limit
# email: host, port, security = "starttls"|"ssl"|"none", username, password, from, to,
#        ca_file (a private CA for the server's certificate)
[alerts.rules]               # collector.alerts.engine.AlertRules
window_s = 3600  arrival_rate = 0.97  alpha = 0.05  max_fake_dlr_rate = 0.01
outage_probes = 8  outage_max_rate = 0.2  silent_after_s = 300
raise_after = 2  clear_after = 3
whitelisting_window_s = 86400  # per-SIM test span (default: window_s)
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agent.common.tomlconfig import ConfigError, Table
from collector.alerts.engine import AlertRules
from collector.alerts.notifiers.base import Notifier
from collector.alerts.notifiers.dingtalk import DingTalkRobot
from collector.alerts.notifiers.feishu import FeishuBot
from collector.alerts.notifiers.mail import SECURITY, EmailNotifier
from collector.alerts.notifiers.webhook import JsonWebhook
from collector.alerts.notifiers.wecom import WeComRobot

_URL = re.compile(r"^https?://[^\s/]+(/\S*)?$")
_HEADER = re.compile(r"^[A-Za-z0-9-]+$")
_NAME = re.compile(r"[A-Za-z0-9_.-]{1,64}")
_ADDRESS = re.compile(r"[^@\s<>,]+@[^@\s<>,]+")
KINDS = ("webhook", "dingtalk", "wecom", "feishu", "email")
_DEFAULT_PORTS = {"starttls": 587, "ssl": 465, "none": 25}


@dataclass(frozen=True, slots=True)
class AlertsConfig:
    rules: AlertRules = field(default_factory=AlertRules)
    webhooks: tuple[str, ...] = ()
    hmac_secret: str = ""
    hmac_header: str = "X-Smsprobe-Signature"
    evaluate_interval_s: float = 60.0
    max_attempts: int = 5
    timeout_s: float = 10.0
    backoff_initial_s: float = 1.0
    backoff_max_s: float = 60.0
    notifiers: tuple[Notifier, ...] = ()  # `webhooks` and every [[alerts.notify]]


def _rules(t: Table | None) -> AlertRules:
    d = AlertRules()
    if t is None:
        return d
    rules = AlertRules(
        window_s=t.get_float("window_s", d.window_s, min_value=60.0),
        arrival_rate=t.get_float("arrival_rate", d.arrival_rate, min_value=0.0, max_value=1.0),
        alpha=t.get_float("alpha", d.alpha, min_value=1e-9, max_value=0.5),
        max_fake_dlr_rate=t.get_float(
            "max_fake_dlr_rate", d.max_fake_dlr_rate, min_value=0.0, max_value=1.0
        ),
        outage_probes=t.get_int("outage_probes", d.outage_probes, min_value=1),
        outage_max_rate=t.get_float(
            "outage_max_rate", d.outage_max_rate, min_value=0.0, max_value=1.0
        ),
        silent_after_s=t.get_float("silent_after_s", d.silent_after_s, min_value=1.0),
        raise_after=t.get_int("raise_after", d.raise_after, min_value=1),
        clear_after=t.get_int("clear_after", d.clear_after, min_value=1),
        whitelisting_window_s=t.get_float("whitelisting_window_s", min_value=60.0)
        if t.has("whitelisting_window_s")
        else None,
    )
    t.finish()
    return rules


def channel_names(cfg: AlertsConfig) -> str:
    """`webhook, dingtalk:ops, email:oncall`: the channels without their URLs (a robot's
    URL carries its credential)."""
    names = ["webhook" if n.target.startswith("http") else n.target for n in cfg.notifiers]
    return ", ".join(names) or "none"


def _url(t: Table) -> str:
    url = t.get_str("url", expected="an http(s) URL")
    if not _URL.match(url):
        raise t.error("url", "an http(s) URL", url)
    return url


def _short(text: str) -> str:
    """A stable, secret-free default name: 8 hex digits of the URL or addresses."""
    return hashlib.sha256(text.encode()).hexdigest()[:8]


def _notifier(t: Table, *, base_dir: Path) -> Notifier:
    kind = t.get_choice("kind", KINDS)
    attempts = t.get_optional_int("max_attempts", min_value=1)
    if attempts is not None and attempts > 20:
        raise t.error("max_attempts", "an integer from 1 to 20", attempts)
    n: Notifier
    if kind == "email":
        security = t.get_choice("security", SECURITY, "starttls")
        to = t.get_str_list("to", pattern=_ADDRESS, item_expected="an e-mail address",
                            min_len=1)  # fmt: skip
        username = t.get_str("username", "")
        password = t.get_str("password", "")
        if password and not username:
            raise t.error("username", "a user name with password")
        n = EmailNotifier(
            name=t.get_str("name", _short(",".join(to)), pattern=_NAME, expected="a name"),
            host=t.get_str("host", non_empty=True, expected="the SMTP server's host name"),
            port=t.get_int("port", _DEFAULT_PORTS[security], min_value=1, max_value=65535),
            security=security,
            sender=t.get_str("from", pattern=_ADDRESS, expected="an e-mail address"),
            to=to,
            username=username,
            password=password,
            ca_file=t.get_path("ca_file", None, base_dir=base_dir),
            max_attempts=attempts,
        )
    else:
        url = _url(t)
        name = t.get_str("name", _short(url), pattern=_NAME, expected="a name ([A-Za-z0-9_.-])")
        if kind == "webhook":
            n = JsonWebhook(
                url,
                t.get_str("secret", ""),
                t.get_str(
                    "hmac_header",
                    "X-Smsprobe-Signature",
                    pattern=_HEADER,
                    expected="an HTTP header name",
                ),
                attempts,
            )
        elif kind == "dingtalk":
            n = DingTalkRobot(url, name, t.get_str("secret", ""), attempts)
        elif kind == "feishu":
            n = FeishuBot(url, name, t.get_str("secret", ""), attempts)
        else:  # WeCom group robots have no signing: a `secret` is an unknown key
            n = WeComRobot(url, name, attempts)
    t.finish()
    return n


def parse_alerts(
    raw: Mapping[str, Any] | None, *, file: str, base_dir: Path | None = None
) -> AlertsConfig:
    """Validate [alerts]; raises ConfigError naming file and key path. Relative paths
    (an SMTP `ca_file`) are relative to `base_dir`, by default the file's directory."""
    base = Path(file).parent if base_dir is None else base_dir
    t = Table(raw or {}, file=file, path="alerts")
    d = AlertsConfig()
    webhooks = t.get_str_list("webhooks", ())
    for i, url in enumerate(webhooks):
        if not _URL.match(url):
            raise ConfigError(t.file, f"{t.key_path('webhooks')}[{i}]", "an http(s) URL", url)
    hmac_secret = t.get_str("hmac_secret", "")
    hmac_header = t.get_str(
        "hmac_header", d.hmac_header, pattern=_HEADER, expected="an HTTP header name"
    )
    notifiers: list[Notifier] = [
        JsonWebhook(u, hmac_secret, hmac_header) for u in dict.fromkeys(webhooks)
    ]
    seen = {n.target: "webhooks" for n in notifiers}
    for entry in t.get_tables("notify"):
        n = _notifier(entry, base_dir=base)
        if n.target in seen:
            raise ConfigError(t.file, entry.path, f"a destination not already in {seen[n.target]}",
                              problem=f"{n.target} is configured twice")  # fmt: skip
        seen[n.target] = entry.path
        notifiers.append(n)
    # the cap may not undercut the first wait: the back-off would shrink instead of grow
    initial = t.get_float("backoff_initial_s", d.backoff_initial_s, min_value=0.0)
    cfg = AlertsConfig(
        webhooks=webhooks,
        hmac_secret=hmac_secret,
        hmac_header=hmac_header,
        notifiers=tuple(notifiers),
        evaluate_interval_s=t.get_float(
            "evaluate_interval_s", d.evaluate_interval_s, min_value=1.0
        ),
        max_attempts=t.get_int("max_attempts", d.max_attempts, min_value=1, max_value=20),
        timeout_s=t.get_float("timeout_s", d.timeout_s, min_value=0.1),
        backoff_initial_s=initial,
        backoff_max_s=t.get_float(
            "backoff_max_s",
            d.backoff_max_s,
            min_value=initial,
            expected=f"a number >= backoff_initial_s ({initial:g})",
        ),
        rules=_rules(t.get_table("rules")),
    )
    t.finish()
    return cfg
