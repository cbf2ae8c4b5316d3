"""`report --compare` on a real ledger (SQLite and PostgreSQL) with three periods whose
arrival is known: the 24th (39 of 40 arrive, 2.0-6.5 s), the 25th (20 of 40, 20.0-24.5 s)
and the 26th (38 of 40, 2.0-6.5 s). The 24th against the 25th differs significantly in
arrival and latency; the 24th against the 26th does not. Probes judged by the real judge
over the agent's records."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from collector.judging import Judge, JudgingConfig
from collector.ledger import open_ledger
from collector.reports.cli import report_command
from tests.collector.reports.world import (
    NS,
    T0,
    Agent,
    arrive,
    health,
    plan,
    registration,
    submit,
    write_config,
)

DAY = 86400 * NS
# day offset -> (probes, arrived, latency base s): 40 probes 90 s apart from 00:00 local
PERIODS = {0: (40, 39, 2.0), 1: (40, 20, 20.0), 2: (40, 38, 2.0)}


def _world(ledger: Any) -> None:
    ledger.register_agent(registration(), at_ns=T0 - 3600 * NS)
    agent = Agent(ledger)
    for day, (n, arrived, base) in PERIODS.items():
        start = T0 + day * DAY
        for k in range(-30, 120):  # the modem healthy, every minute, 23:30-02:00
            agent.add(start + k * 60 * NS, health(start + k * 60 * NS))
        for i in range(n):
            p = plan(f"cmp-{day}-{i}", "acme", start + i * 90 * NS)
            submit(ledger, p)
            if i < arrived:
                arrive(agent, p, base + (i % 10) * 0.5)
    agent.flush(at_ns=T0 + 3 * DAY)
    clock = [T0 + 3 * DAY]  # every probe long past its give-up time
    Judge(ledger, JudgingConfig(full_pass_interval_s=0), lambda: clock[0]).judge_once()


def _compare(config: Path, day: int, other: int) -> dict[str, Any]:
    out = config.parent / f"compare-{day}-{other}.json"
    result = CliRunner().invoke(
        report_command,
        ["--config", str(config), "--since", f"2026-11-{24 + day}T00:00",
         "--until", f"2026-11-{24 + day}T02:00",
         "--compare", f"2026-11-{24 + other}T00:00..2026-11-{24 + other}T02:00",
         "--out", str(out)],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    doc: dict[str, Any] = json.loads(out.read_text())
    (row,) = doc["breakdowns"]["vendor"]
    assert row["key"] == {"vendor": "acme"}
    return row


def test_compare_tells_a_real_difference_from_none(ledger_url: str, tmp_path: Path) -> None:
    ledger = open_ledger(ledger_url)
    try:
        _world(ledger)
    finally:
        ledger.close()
    config = write_config(tmp_path, ledger_url)

    worse = _compare(config, 0, 1)
    assert (worse["a"]["arrived"], worse["a"]["judged"]) == (39, 40)
    assert (worse["b"]["arrived"], worse["b"]["judged"]) == (20, 40)
    arrival = worse["arrival"]
    assert arrival["difference"] == pytest.approx(0.475)
    # Pooled z by hand: 59/80 arrived, se = sqrt(.7375 × .2625 × 2/40) = 0.098385, z = 4.828
    assert arrival["significant"] and arrival["p_value"] == pytest.approx(1.38e-6, rel=0.05)
    assert "z" in arrival["test"]
    assert worse["a"]["latency_p50_s"] < 7.0 < 19.0 < worse["b"]["latency_p50_s"]
    assert worse["latency_p50"]["significant"] and worse["latency_p50"]["difference_s"] < -13

    same = _compare(config, 0, 2)
    assert (same["b"]["arrived"], same["b"]["judged"]) == (38, 40)
    # Fisher's exact test (3 lost in all): every table as likely or less, p = 1
    assert not same["arrival"]["significant"] and same["arrival"]["p_value"] == pytest.approx(1.0)
    assert "fisher" in same["arrival"]["test"].lower()
    assert not same["latency_p50"]["significant"]
    assert abs(same["latency_p50"]["difference_s"]) < 0.6
