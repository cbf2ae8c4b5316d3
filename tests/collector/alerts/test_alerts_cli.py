"""`smsprobe-collector alerts list|show` over a ledger the running alert service wrote
(acme goes dark: outage, SLA breach, fake DLRs; pages to a WeCom robot that is rate
limited once): filters, text and JSON, every delivery attempt, exit codes."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from collector.alerts.engine import AlertRules
from collector.alerts.notifiers.wecom import WeComRobot
from collector.alerts.notify import AlertNotifier
from collector.alerts.service import AlertService
from collector.cli import main
from collector.correlation.model import ContentVerdict, DlrClaim, DlrTruth, Outcome, Verdict
from collector.ledger import open_ledger
from tests.collector.alerts.robot_servers import Robot, RobotServers
from tests.collector.reports.world import NS, T0, delivered, plan, submit, write_config

MIN = 60 * NS


async def _no_wait(_s: float) -> None:
    return None


def _probes(ledger: Any, first: int, outcomes: str, start: int) -> None:
    verdicts = []
    for k, o in enumerate(outcomes):
        pid = f"p{first + k}"
        submit(ledger, plan(pid, "acme", start + k * MIN))
        verdicts.append(
            delivered(pid, 3.0, f"u{pid}") if o == "d" else Verdict(
                pid, Outcome.LOST, DlrTruth.FAKE_SUCCESS, DlrClaim.SUCCESS, ContentVerdict.NONE)
        )  # fmt: skip
    ledger.save_verdicts(verdicts, at_ns=start + len(outcomes) * MIN)


@pytest.fixture
def config(tmp_path: Path) -> Path:
    url = f"sqlite:///{tmp_path}/l.db"
    ledger = open_ledger(url)
    clock = [T0]

    async def run() -> None:
        async with RobotServers() as srv:
            srv.wecom["k"] = Robot("k", rate_limit_first=1)
            robot = WeComRobot(srv.wecom_url("k"), "ops")
            async with AlertNotifier([robot], ledger=ledger, sleep=_no_wait) as notifier:
                svc = AlertService(ledger, rules=AlertRules(silent_after_s=1e9),
                                   notifier=notifier, clock=lambda: clock[0],
                                   evidence_base_url="https://probe.example/evidence")  # fmt: skip
                _probes(ledger, 0, "l" * 8, T0)  # acme goes dark
                for minute in (10, 11):
                    clock[0] = T0 + minute * MIN
                    await svc.evaluate_once()
                    await svc.drain()
                _probes(ledger, 8, "d" * 40, T0 + 12 * MIN)  # back, for long enough
                for minute in range(70, 74):  # the window holds only good probes
                    clock[0] = T0 + minute * MIN
                    await svc.evaluate_once()
                    await svc.drain()

    try:
        asyncio.run(run())
    finally:
        ledger.close()
    path: Path = write_config(tmp_path, url)
    return path


def cli(*args: str) -> Any:
    return CliRunner().invoke(main, ["alerts", *args], catch_exceptions=False)


def test_list_text_and_filters(config: Path) -> None:
    out = cli("list", "--config", str(config))
    assert out.exit_code == 0, out.output
    heads = [line for line in out.output.splitlines() if line.startswith("#")]
    assert len(heads) == 3
    assert all("2026-11-24 00:11:00 CST" in h and "delivered 2/2" in h for h in heads)
    assert any(h.startswith("#") and " vendor_outage  vendor=acme " in h for h in heads)
    assert (
        "    Resolved at 2026-11-24 01:12:00 CST after 61 min" in out.output
    )  # each with its latest sentence

    one = json.loads(cli("list", "--config", str(config), "--kind", "vendor_outage",
                         "--format", "json").output)["alerts"]  # fmt: skip
    [outage] = one
    assert outage["summary"] == (
        "acme is out: 0 of its latest 8 probes arrived, below the 20.0% outage limit over"
        " the last 60 min, since 2026-11-24 00:11:00 CST."
    )
    assert outage["started_at"] == "2026-11-24T00:11:00+08:00" and outage["open"] is False
    assert outage["evidence_url"].startswith("https://probe.example/evidence?vendor=acme")
    assert [(d["phase"], d["target"], d["state"]) for d in outage["deliveries"]] == [
        ("end", "wecom:ops", "delivered"), ("start", "wecom:ops", "delivered"),
    ]  # fmt: skip

    assert cli("list", "--config", str(config), "--vendor", "bolt").output == "no alerts\n"
    assert cli("list", "--config", str(config), "--open").output == "no alerts\n"
    before = cli("list", "--config", str(config), "--until", "2026-11-24T00:05")
    assert before.output == "no alerts\n"  # none had started
    after = cli("list", "--config", str(config), "--since", "2026-11-24T02:00")
    assert after.output == "no alerts\n"  # all had ended
    during = cli("list", "--config", str(config), "--since", "2026-11-24T00:30",
                 "--until", "2026-11-24T00:31", "--kind", "sla_breach",
                 "--kind", "fake_dlr_surge", "--format", "json")  # fmt: skip
    assert sorted(a["kind"] for a in json.loads(during.output)["alerts"]) == [
        "fake_dlr_surge", "sla_breach",
    ]  # fmt: skip


def test_show_has_figures_sentences_and_every_attempt(config: Path) -> None:
    doc = json.loads(cli("list", "--config", str(config), "--format", "json").output)
    # The robot refused its first post (45009): whichever of the three starts came first.
    [limited] = [a for a in doc["alerts"] if any("45009" in x for x in a["attempts"])]
    alert_id = limited["alert_id"]
    out = cli("show", str(alert_id), "--config", str(config))
    assert out.exit_code == 0, out.output
    text = out.output
    assert f"alert #{alert_id}: [ALERT] " in text
    assert "  state:    2026-11-24 00:11:00 CST .. 2026-11-24 01:12:00 CST (61 min)" in text
    assert "  ended:    Resolved at 2026-11-24 01:12:00 CST" in text
    assert "  figures:\n" in text and "  figures at the end:\n" in text
    for key, value in limited["figures"].items():
        assert f"    {key}: {value}" in text
    lines = text.splitlines()
    at = lines.index("  attempts:")
    assert lines[at + 1 :] == [
        "    start wecom:ops attempt=1 failed code 45009: api freq out of limit (will retry)",
        "    start wecom:ops attempt=2 ok status=200",
        "    start wecom:ops delivered status=200 attempts=2",
        "    end wecom:ops attempt=1 ok status=200",
        "    end wecom:ops delivered status=200 attempts=1",
    ]
    assert "    end   wecom:ops  delivered  (claimed 1x)" in text
    shown = json.loads(cli("show", str(alert_id), "--config", str(config), "--format",
                           "json").output)  # fmt: skip
    assert shown == limited  # show and list say the same


def test_exit_codes(config: Path, tmp_path: Path) -> None:
    missing = cli("show", "999", "--config", str(config))
    assert missing.exit_code == 1 and "no alert 999 in the ledger" in missing.output
    assert cli("list", "--config", str(config), "--kind", "nonsense").exit_code == 2
    assert cli("list", "--config", str(config), "--since", "yesterday").exit_code == 2
    bad = tmp_path / "bad.toml"
    bad.write_text(config.read_text() + '\n[alerts]\n[[alerts.notify]]\nkind = "slack"\n')
    out = cli("list", "--config", str(bad))
    assert out.exit_code == 2
    assert "error: bad.toml: alerts.notify[0].kind: expected one of" in out.output
