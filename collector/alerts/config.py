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
[alerts.rules]               # collector.alerts.engine.AlertRules
window_s = 3600  arrival_rate = 0.97  alpha = 0.05  max_fake_dlr_rate = 0.01
outage_probes = 8  outage_max_rate = 0.2  silent_after_s = 300
raise_after = 2  clear_after = 3
whitelisting_window_s = 86400  # per-SIM test span (default: window_s)
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from agent.common.tomlconfig import ConfigError, Table
from collector.alerts.engine import AlertRules

_URL = re.compile(r"^https?://[^\s/]+(/\S*)?$")
_HEADER = re.compile(r"^[A-Za-z0-9-]+$")


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


def parse_alerts(raw: Mapping[str, Any] | None, *, file: str) -> AlertsConfig:
    """Validate [alerts]; raises ConfigError naming file and key path."""
    t = Table(raw or {}, file=file, path="alerts")
    d = AlertsConfig()
    webhooks = t.get_str_list("webhooks", ())
    for i, url in enumerate(webhooks):
        if not _URL.match(url):
            raise ConfigError(t.file, f"{t.key_path('webhooks')}[{i}]", "an http(s) URL", url)
    cfg = AlertsConfig(
        webhooks=webhooks,
        hmac_secret=t.get_str("hmac_secret", ""),
        hmac_header=t.get_str(
            "hmac_header", d.hmac_header, pattern=_HEADER, expected="an HTTP header name"
        ),
        evaluate_interval_s=t.get_float(
            "evaluate_interval_s", d.evaluate_interval_s, min_value=1.0
        ),
        max_attempts=t.get_int("max_attempts", d.max_attempts, min_value=1, max_value=20),
        timeout_s=t.get_float("timeout_s", d.timeout_s, min_value=0.1),
        backoff_initial_s=t.get_float("backoff_initial_s", d.backoff_initial_s, min_value=0.0),
        backoff_max_s=t.get_float("backoff_max_s", d.backoff_max_s, min_value=0.0),
        rules=_rules(t.get_table("rules")),
    )
    t.finish()
    return cfg
