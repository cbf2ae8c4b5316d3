"""`smsprobe-collector demo`: start the demo's processes, show progress, export the
verdicts and check them against the vendor simulator's ground truth (see __init__.py)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
import tomllib
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import click

from collector.certs import create_ca, issue_agent
from collector.channels.cli import channel_lines
from collector.demo.buyer import plan_lines
from collector.demo.configs import (
    agent_toml,
    collector_toml,
    evening_zone,
    fleet_toml,
    scenario_toml,
    timeseries_toml,
)
from collector.demo.export import export
from collector.demo.progress import progress_line
from collector.demo.supervisor import ChildProcess, stop_on_sigterm
from collector.demo.world import AGENTS, DEMO_PROTOCOLS, demo_modems
from collector.ports import free_port
from collector.reports.config import at_second
from collector.vendors.simulator.truth import read_channel_truth
from collector.vendors.simulator.truthcheck import check_channels, compare, load_jsonl

PY = sys.executable
# A previous run's DLR push URLs in a --scenario file, or the `{webhook}` placeholder.
_PUSH_URL = re.compile(r"(?:\{webhook\}|http://127\.0\.0\.1:\d+/dlr)/")
# What a new run replaces in an existing --out directory.
_RUN_FILES = (
    "ledger.db", "ledger.db-wal", "ledger.db-shm", "verdicts.jsonl", "summary.json", "truth.jsonl",
    "report.json", "report.html",
)  # fmt: skip
# The demo's stress burst, queued as an operator would (`smsprobe-collector burst`) for the
# running collector to send: bolt's route carries 3 SMS/s, so 24 within 3 s queue up. It
# starts BURST_AFTER_S after the collector did (after the window in which the e2e test
# knocks a receiver off the network, so the queue it builds makes no late arrival look
# like the receiver's fault), and the demo waits BURST_SETTLE_S after it so its slowest
# messages (queued, at peak latency) arrive or are given up before the end.
BURST_AFTER_S = 28.0
BURST_WITHIN_S = 3.0
BURST = ("--vendor", "bolt", "--count", "24", "--within", f"{BURST_WITHIN_S:g}",
         "--budget", "1.0", "--name", "bolt_peak")  # fmt: skip
BURST_SETTLE_S = 50.0  # give-up 30 s, a message queued 8 s, margin


def custom_scenario(path: Path, webhook_port: int, trouble: bool) -> str:
    """`--scenario FILE`: the demo's four vendors with the user's knobs (start from a copy
    of a run's scenario.toml). DLR push URLs — `{webhook}/NAME` or a previous run's
    `http://127.0.0.1:PORT/dlr/NAME` — are pointed at this run's webhook server."""
    if trouble:
        raise click.UsageError("--trouble changes the embedded scenario; not with --scenario")
    try:
        text = path.read_text(encoding="utf-8")
        vendors = tomllib.loads(text).get("vendors", {})
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise click.BadParameter(f"{path}: {exc}", param_hint="--scenario") from None
    for name, protocol in DEMO_PROTOCOLS.items():
        got = vendors.get(name, {}).get("protocol", "http") if name in vendors else None
        if got != protocol:
            raise click.BadParameter(
                f'{path}: vendors.{name}: expected a vendor with protocol = "{protocol}" '
                f"(the demo's collector talks to {', '.join(DEMO_PROTOCOLS)} as configured)",
                param_hint="--scenario",
            )
    return _PUSH_URL.sub(f"http://127.0.0.1:{webhook_port}/dlr/", text)


@dataclass(frozen=True)
class Influx:
    """`--influx-*`: where the collector also writes its time series."""

    url: str
    api: str
    bucket: str
    org: str
    token: str

    def toml(self) -> str:
        return timeseries_toml(self.url, self.api, self.bucket, self.org, self.token)


@dataclass
class Run:
    """One demo run: its directory, ports and the processes started, in start order."""

    out: Path
    seed: int
    duration_s: float
    influx: Influx | None
    control_port: int
    grpc_port: int
    webhook_port: int
    vendor_ports: dict[str, int]
    procs: list[ChildProcess]
    timezone: str = "Asia/Shanghai"  # of bands, quiet hours and the simulated peak
    collector_started: float = 0.0  # time.time() when the (first) collector listened
    settle_until: float = 0.0  # time.time() before which the demo does not end (the burst)

    @property
    def logs(self) -> Path:
        return self.out / "logs"

    def write_collector_config(self, send_for_s: float) -> None:
        text = collector_toml(
            self.out, self.grpc_port, self.webhook_port, self.vendor_ports, send_for_s, self.seed,
            timezone=self.timezone,
        )  # fmt: skip
        if self.influx is not None:
            text += self.influx.toml()
        (self.out / "collector.toml").write_text(text)

    def start_collector(self, name: str) -> ChildProcess:
        port_file = self.out / "collector.port"
        port_file.unlink(missing_ok=True)
        proc = ChildProcess(
            name,
            [PY, "-m", "collector.cli", "serve", "--config", str(self.out / "collector.toml"),
             "--port-file", str(port_file)],
            self.logs,
            env={"SMSPROBE_LOG_FORMAT": "json"},
        )  # fmt: skip
        deadline = time.monotonic() + 60
        while not port_file.exists():
            if proc.proc.poll() is not None or time.monotonic() > deadline:
                raise click.ClickException(f"collector did not start; see {proc.log_path}")
            time.sleep(0.1)
        self.collector_started = self.collector_started or time.time()
        return proc


def prepare(out: Path) -> None:
    """OUT ready for a new run: the previous run's ledger, verdicts and outboxes gone, the
    certificates made afresh."""
    if out.exists():
        for name in _RUN_FILES:
            (out / name).unlink(missing_ok=True)
    for sub in ("logs", "sims", "pki", *AGENTS):
        (out / sub).mkdir(parents=True, exist_ok=True)
    for agent in AGENTS:
        (out / agent / "outbox.sqlite").unlink(missing_ok=True)
    create_ca(out / "pki", force=True)
    for agent in AGENTS:
        issue_agent(out / "pki", agent, out=out / "pki")


def start_all(run: Run, scenario: Path) -> ChildProcess:
    """Modem simulator, vendor simulator, collector, agents; returns the collector."""
    out, echo = run.out, click.echo
    sims = ChildProcess(
        "sim-modem",
        [PY, "-m", "agent.cli", "sim-modem", "--fleet", str(out / "fleet.toml")],
        run.logs,
    )
    run.procs.append(sims)
    sims.wait_json(lambda o: o.get("event") == "sim_modem_ready", 60)
    echo(f"  modem simulator: {len(demo_modems())} modems on ptys under {out / 'sims'}")

    vendors = ChildProcess(
        "sim-vendor",
        [PY, "-m", "collector.cli", "sim-vendor", "--scenario", str(scenario),
         "--modem-control", f"127.0.0.1:{run.control_port}", "--truth", str(out / "truth.jsonl"),
         "--seed", str(run.seed)],
        run.logs,
    )  # fmt: skip
    run.procs.append(vendors)
    vendors.wait_json(lambda o: o.get("ready") is True, 60)
    for o in vendors.json_lines():
        if "vendor" in o and "port" in o:
            run.vendor_ports[str(o["vendor"])] = int(o["port"])
    listening = ", ".join(f"{k} :{v}" for k, v in sorted(run.vendor_ports.items()))
    echo(f"  vendor simulator: {listening}")

    run.write_collector_config(run.duration_s)
    collector = run.start_collector("collector")
    run.procs.append(collector)
    echo(
        f"  collector: gRPC+mTLS :{run.grpc_port}, DLR webhooks :{run.webhook_port}, ledger {out / 'ledger.db'}"
    )

    for agent in AGENTS:
        (out / f"{agent}.toml").write_text(agent_toml(out, agent, demo_modems(), run.grpc_port))
        run.procs.append(
            ChildProcess(
                f"agent-{agent}",
                [PY, "-m", "agent.cli", "run", "--config", str(out / f"{agent}.toml")],
                run.logs,
            )
        )
    counts = Counter(m.agent for m in demo_modems())
    echo(f"  agents: {', '.join(f'{a} ({counts[a]} modems)' for a in AGENTS)}\n")
    return collector


def watch(run: Run, collector: ChildProcess, restart_after_s: float | None) -> None:
    """Progress until probing is over and every probe judged (or the time is up); the
    restart drill when asked. Raises when a process died."""
    echo = click.echo
    started = time.monotonic()
    tty = sys.stdout.isatty()
    last = ""
    judged_by = started + run.duration_s + 75  # give-up 30 s, DLRs due 30 s, margin
    judged_by = max(judged_by, started + run.settle_until - time.time() + 20)
    while True:
        time.sleep(1.0)
        for p in run.procs:
            if p.proc.poll() is not None:
                raise click.ClickException(
                    f"{p.name} exited ({p.proc.returncode}); see {p.log_path}"
                )
        elapsed = time.monotonic() - started
        if restart_after_s is not None and elapsed >= restart_after_s:
            # The drill: SIGKILL mid-run, start again on the same ledger. Agents
            # reconnect and upload their backlog; vendors retry DLR pushes; SMPP
            # receipts wait for the next bind.
            restart_after_s = None
            collector.kill()
            slot = run.procs.index(collector)  # keep the stop order: agents before collector
            run.procs.remove(collector)
            run.write_collector_config(max(run.duration_s - elapsed, 1.0))
            echo(f"[{elapsed:5.0f}s] collector killed (SIGKILL) and restarted")
            collector = run.start_collector("collector-restarted")
            run.procs.insert(slot, collector)
        line, pending = progress_line(run.out)
        phase = "probing" if elapsed < run.duration_s else "judging"
        text = f"[{elapsed:5.0f}s {phase}] {line}"
        if tty:
            echo("\r\x1b[2K" + text[: os.get_terminal_size().columns - 1], nl=False)
        elif text != last and int(elapsed) % 5 == 0:
            echo(text)
        last = text
        settled = time.time() >= run.settle_until  # the burst's slowest messages are in
        if elapsed > run.duration_s + 35 and pending == 0 and settled:
            break
        if time.monotonic() > judged_by:
            break
    if tty:
        echo("")


def report(out: Path, summary: dict[str, Any]) -> None:
    """Per-vendor figures and the ground-truth check; exit 1 on any disagreement."""
    echo = click.echo
    echo("\nper vendor:")
    for vendor, s in sorted(summary["vendors"].items()):
        rate = "—" if s["arrival_rate"] is None else f"{s['arrival_rate'] * 100:.1f} %"
        echo(
            f"  {vendor:6} sent {s['sent']:4}  arrival {rate:>7} [{s['ci_low'] * 100:.1f}–{s['ci_high'] * 100:.1f}]"
            f"  delivered {s['delivered']}  late {s['late']}  lost {s['lost']}  partial {s['partial']}  inconclusive {s['inconclusive']}"
            f"  rejected {s['rejected']}  fake DLR {s['fake_dlr']}  p95 {s['p95_latency_s']} s"
        )
    check = compare(load_jsonl(out / "verdicts.jsonl"), load_jsonl(out / "truth.jsonl"))
    echo(
        f"\nground truth check: {check.matched} probes compared with what the simulated network "
        f"did, {len(check.problems)} disagreements; provable fake DLRs caught "
        f"{check.fake_dlrs_caught}/{check.fake_dlrs_in_truth}"
    )
    for problem in check.problems:
        echo(f"  DISAGREES: {problem}")
    config = tomllib.loads((out / "collector.toml").read_text())
    report_json = json.loads((out / "report.json").read_text())
    for line in plan_lines(report_json, config, demo_modems()):
        echo(line)
    channels = json.loads((out / "channels.json").read_text())
    echo("")
    zone = ZoneInfo(config.get("reports", {}).get("timezone", "UTC"))
    for line in channel_lines(channels, lambda ns: at_second(ns, zone)):
        echo(line)
    channel_problems = check_channels(channels, read_channel_truth(out / "truth.jsonl"))
    echo(f"channel truth check: {len(channel_problems)} disagreements")
    for problem in channel_problems:
        echo(f"  DISAGREES: {problem}")
    echo("\nfiles:")
    for name in ("verdicts.jsonl", "summary.json", "report.json", "truth.jsonl", "ledger.db",
                 "logs"):  # fmt: skip
        echo(f"  {out / name}")
    echo(f"\nthe report (open it in a browser; prints on A4 landscape):\n  {out / 'report.html'}")
    if check.problems or check.matched == 0 or channel_problems:
        raise SystemExit(1)


@click.command("demo")
@click.option("--duration", "duration_s", type=click.FloatRange(5, 3600), default=60.0,
              show_default=True, help="Seconds of probing (judging continues after).")  # fmt: skip
@click.option("--seed", type=int, default=7, show_default=True)
@click.option("--scenario", "scenario_path", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Vendor-simulator scenario for the demo's four vendors (edit a copy of a "
              "run's scenario.toml; DLR push URLs are pointed at this run).")  # fmt: skip
@click.option(
    "--influx-url", help="Also write the time series to this InfluxDB (http://host:port)."
)
@click.option("--influx-api", type=click.Choice(["v1", "v2"]), default="v1", show_default=True)
@click.option(
    "--influx-bucket", default="smsprobe", show_default=True, help="Bucket (v2) or database (v1)."
)
@click.option("--influx-org", default="", help="Organisation (v2).")
@click.option("--influx-token", default="", help="API token (v2).")
@click.option("--trouble", is_flag=True,
              help="Vendors misbehave: a withdrawn template, an outage, a black hole, hard "
              "throttling; every probe must still be classified as the simulator's truth says.")  # fmt: skip
@click.option("--restart-collector-after", "restart_after_s", type=float, default=None,
              help="Drill: SIGKILL the collector after this many seconds and start it again.")  # fmt: skip
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), default=Path("demo-out"),
              show_default=True)  # fmt: skip
def demo_command(
    duration_s: float,
    seed: int,
    scenario_path: Path | None,
    out_dir: Path,
    influx_url: str | None = None,
    influx_api: str = "v1",
    influx_bucket: str = "smsprobe",
    influx_org: str = "",
    influx_token: str = "",
    restart_after_s: float | None = None,
    trouble: bool = False,
) -> None:
    """Run the whole system on simulated vendors and modems, as separate processes."""
    out = out_dir.resolve()
    echo = click.echo
    echo(f"smsprobe demo → {out}")
    prepare(out)
    echo("  certificates: CA, collector, 2 agents (mTLS), evidence signing key")

    run = Run(
        out=out,
        seed=seed,
        duration_s=duration_s,
        influx=(
            Influx(influx_url, influx_api, influx_bucket, influx_org, influx_token)
            if influx_url
            else None
        ),
        control_port=free_port(),
        grpc_port=free_port(),
        webhook_port=free_port(),
        vendor_ports={},
        procs=[],
        timezone=evening_zone(datetime.now(UTC)),
    )
    echo(f"  periods: bands in {run.timezone}, where it is now evening (the demo's peak band)")
    (out / "fleet.toml").write_text(fleet_toml(demo_modems(), out / "sims", run.control_port, seed))
    scenario = out / "scenario.toml"
    if scenario_path is None:
        scenario.write_text(
            scenario_toml(demo_modems(), run.webhook_port, seed, 18, trouble=trouble,
                          timezone=run.timezone)
        )  # fmt: skip
    else:
        scenario.write_text(custom_scenario(scenario_path, run.webhook_port, trouble))

    stop_on_sigterm()
    try:
        collector = start_all(run, scenario)
        burst_at = max(run.collector_started + BURST_AFTER_S, time.time() + 2.0)
        run.settle_until = burst_at + BURST_WITHIN_S + BURST_SETTLE_S
        at = datetime.fromtimestamp(burst_at, UTC)
        cli(out, "burst", *BURST, "--at", at.isoformat(timespec="seconds"), show=True)
        watch(run, collector, restart_after_s)
    finally:
        for p in reversed(run.procs):
            p.stop()
    summary = export(out)
    cli(out, "report", "--since", "-1h", "--out", str(out / "report.json"))
    cli(out, "report", "--since", "-1h", "--out", str(out / "report.html"))
    report(out, summary)


def cli(out: Path, command: str, *args: str, show: bool = False) -> None:
    """One `smsprobe-collector` command on the demo's config, as an operator runs it."""
    done = subprocess.run(
        [PY, "-m", "collector.cli", command, "--config", str(out / "collector.toml"), *args],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    if done.returncode != 0:
        raise click.ClickException(f"{command} failed ({done.returncode}): {done.stderr.strip()}")
    if show:
        for line in (done.stdout + done.stderr).splitlines():
            click.echo(f"  {command}: {line}")
