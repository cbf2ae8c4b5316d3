"""`smsprobe-collector report`: figures from a real ledger, in every format, checked by hand."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from collector.ledger import open_ledger
from collector.reports.cli import report_command
from collector.reports.config import parse_reports, parse_time
from collector.reports.options import Progress
from tests.collector.reports.world import NS, SINCE, T0, TZ, UNTIL, build_world, write_config

ROOT = Path(__file__).resolve().parents[3]


def run(config: Path, *args: str) -> Any:
    return CliRunner().invoke(
        report_command, ["--config", str(config), "--since", SINCE, "--until", UNTIL, *args]
    )


def by_vendor(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["key"]["vendor"]: c for c in doc["tables"]["vendor"]}


def check_acme(acme: dict[str, Any]) -> None:
    # 11 sent, 1 rejected at submit; 8 delivered + 1 lost judged, 1 inconclusive apart.
    assert (acme["sent"], acme["accepted"], acme["rejected"]) == (11, 10, 1)
    assert (acme["delivered"], acme["lost"], acme["inconclusive"], acme["judged"]) == (8, 1, 1, 9)
    assert acme["accept_rate"] == pytest.approx(10 / 11, abs=1e-6)
    assert acme["arrival_rate"] == pytest.approx(8 / 9, abs=1e-6)
    # Wilson 95 % for 8/9 by hand: centre 0.77255, half-width 0.20755.
    assert acme["ci_low"] == pytest.approx(0.5650, abs=1e-4)
    assert acme["ci_high"] == pytest.approx(0.9801, abs=1e-4)
    # Latencies 2..9 s: p50 = 5.5, p90 = 2 + 7 × 0.9 = 8.3 (linear interpolation).
    assert (acme["latency_p50_s"], acme["latency_p90_s"]) == (5.5, 8.3)
    assert acme["vendor_delay_p50_s"] == 1.0 and acme["carrier_delay_p50_s"] == 4.5
    assert acme["dlr"]["fake_success"] == 1 and acme["dlr"]["consistent"] == 8
    assert acme["dlr"]["unverifiable"] == 1
    # One-sided exact test at 0.97: P(X <= 8 | 9, 0.97) = 1 - 0.97^9 - 9·0.03·0.97^8 = 0.2398.
    assert acme["sla"] == "undecided"
    assert acme["sla_p_value"] == pytest.approx(0.239769, abs=1e-6)
    # Confirming 97 % needs 148 more probes with no loss: with one loss in n the upper tail
    # 0.97^n + n·0.03·0.97^(n-1) first drops below 0.05 at n = 157 = 9 + 148. One more loss
    # (8 of 10: P(X <= 8) = 0.0345) would confirm a breach.
    assert (acme["probes_to_decide"], acme["losses_to_breach"]) == (148, 1)
    # Billing: 10 DELIVRD claims billed × 0.05, 8 verified; 0.10 billed for nothing.
    assert (acme["billed_parts"], acme["verified_parts"]) == (10, 8)
    assert (acme["billed_money"], acme["verified_money"], acme["overbilled_money"]) == (
        0.5,
        0.4,
        0.1,
    )


def test_json_report_figures_match_hand_computed(world: Path, tmp_path: Path) -> None:
    out = tmp_path / "r.json"
    result = run(world, "--out", str(out))
    assert result.exit_code == 0, result.output
    doc = json.loads(out.read_text())
    cells = by_vendor(doc)
    assert set(cells) == {"acme", "bolt"}  # the never-submitted probe is not "sent"
    check_acme(cells["acme"])
    bolt = cells["bolt"]
    assert (bolt["sent"], bolt["delivered"], bolt["arrival_rate"]) == (5, 5, 1.0)
    assert bolt["dlr"]["missing"] == 5 and bolt["billed_parts"] == 0
    assert (bolt["verified_parts"], bolt["verified_money"]) == (10, 0.4)  # 2 parts × 5 × 0.04
    assert doc["since"] == "2026-11-24T00:00:00+08:00" and doc["prices"] == {
        "acme": 0.05,
        "bolt": 0.04,
    }
    assert doc["thresholds"]["arrival_rate"] == 0.97


def test_csv_md_html_carry_the_same_figures(world: Path, tmp_path: Path) -> None:
    for fmt in ("csv", "md", "html"):
        assert run(world, "--out", str(tmp_path / f"r.{fmt}")).exit_code == 0
    rows = list(csv.DictReader(io.StringIO((tmp_path / "r.csv").read_text())))
    # CSV is the full breakdown; the world has one carrier/region/profile/band per vendor.
    acme = [r for r in rows if r["vendor"] == "acme"]
    assert len(acme) == 1 and acme[0]["band"] == "00-06", rows
    row = acme[0]
    assert (row["sent"], row["delivered"], row["lost"], row["inconclusive"]) == (
        "11",
        "8",
        "1",
        "1",
    )
    assert float(row["arrival_rate"]) == pytest.approx(8 / 9, abs=1e-6)
    md = (tmp_path / "r.md").read_text()
    assert "88.89 %" in md and "acme" in md and "bolt" in md
    page = (tmp_path / "r.html").read_text()
    assert page.startswith("<!DOCTYPE html") or page.lower().startswith("<!doctype html")
    assert "<svg" in page and "88.89 %" in page
    assert "<script src" not in page and "<link " not in page  # self-contained


def test_format_flag_overrides_suffix_and_stdout(world: Path) -> None:
    result = run(world, "--vendor", "bolt", "--format", "json", "--out", "-")
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert set(by_vendor(doc)) == {"bolt"} and doc["filters"] == {"vendor": "bolt"}


def test_progress_lines_when_stderr_is_not_a_terminal(world: Path, tmp_path: Path) -> None:
    result = run(world, "--out", str(tmp_path / "r.md"))
    lines = result.stderr.splitlines()
    assert "report: loading probes (1/9)" in lines
    assert "report: figures by vendor × carrier (3/9)" in lines
    assert lines[-1].startswith("wrote md report of 16 probes")


def test_progress_bar_on_a_terminal_stream() -> None:
    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    stream = Tty()
    bar = Progress("report", 4, stream=stream)
    for step in ("a", "b", "c", "d"):
        bar.advance(what=step)
    bar.close()
    assert "report" in stream.getvalue() and "4/4" in stream.getvalue()


def test_bad_config_and_bad_times_exit_2(world: Path, tmp_path: Path) -> None:
    bad = write_config(tmp_path, "sqlite:///x.db", extra="[reports.colour]\nx = 1\n")
    result = run(bad, "--out", str(tmp_path / "x.json"))
    assert result.exit_code == 2 and "collector.toml: reports.colour: unknown key" in result.stderr
    text = world.read_text().replace('"Asia/Shanghai"', '"Mars/Olympus"')
    world.write_text(text)
    result = run(world, "--out", str(tmp_path / "x.json"))
    assert result.exit_code == 2 and "reports.timezone: expected an IANA time zone" in result.stderr
    ok = write_config(tmp_path, "sqlite:///x.db")
    result = CliRunner().invoke(
        report_command, ["--config", str(ok), "--since", "yesterday", "--out", "-"]
    )
    assert result.exit_code == 2 and "--since" in result.stderr
    result = CliRunner().invoke(
        report_command, ["--config", str(ok), "--since", UNTIL, "--until", SINCE, "--out", "-"]
    )
    assert result.exit_code == 2 and "must be after --since" in result.stderr
    assert not (tmp_path / "x.json").exists()


def test_time_arguments() -> None:
    now = T0 + 5 * 3600 * NS
    clock = lambda: now  # noqa: E731
    assert parse_time("now", TZ, now_ns=clock) == now
    assert parse_time("-24h", TZ, now_ns=clock) == now - 86400 * NS
    assert parse_time("-30m", TZ, now_ns=clock) == now - 1800 * NS
    assert parse_time("-2w", TZ, now_ns=clock) == now - 14 * 86400 * NS
    assert parse_time("2026-11-24T00:00", TZ) == T0  # zone-less: the configured zone
    assert parse_time("2026-11-24", TZ) == T0
    assert parse_time("2026-11-23T16:00:00Z", TZ) == T0
    assert parse_time("2026-11-23T16:00:00.000000123+00:00".replace(".000000123", ".5"), TZ) == (
        T0 + NS // 2
    )
    with pytest.raises(ValueError, match="ISO-8601"):
        parse_time("-24x", TZ)
    cfg = parse_reports({"timezone": "UTC"}, file="c.toml")
    assert parse_time("2026-11-23T16:00", cfg.tz) == T0


def test_report_on_postgresql(postgres_url: str, tmp_path: Path) -> None:
    ledger = open_ledger(postgres_url)
    try:
        build_world(ledger)
    finally:
        ledger.close()
    config = write_config(tmp_path, postgres_url)
    result = run(config, "--out", str(tmp_path / "r.json"))
    assert result.exit_code == 0, result.output
    check_acme(by_vendor(json.loads((tmp_path / "r.json").read_text()))["acme"])


def test_report_as_a_subprocess(world: Path, tmp_path: Path) -> None:
    out = tmp_path / "r.md"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-c", "from collector.reports.cli import report_command; report_command()",
         "--config", str(world), "--since", SINCE, "--until", UNTIL, "--out", str(out)],
        capture_output=True, text=True, timeout=60, env=env, cwd=ROOT, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "88.89 %" in out.read_text()
    bad = subprocess.run(
        [sys.executable, "-c", "from collector.reports.cli import report_command; report_command()",
         "--config", str(world), "--since", SINCE, "--format", "pdf", "--out", str(out)],
        capture_output=True, text=True, timeout=60, env=env, cwd=ROOT, check=False,
    )  # fmt: skip
    assert bad.returncode == 2 and "pdf" in bad.stderr
