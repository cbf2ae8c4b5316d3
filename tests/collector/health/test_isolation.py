"""One broken vendor never blinds the rest, against real processes: the collector
(`smsprobe-collector serve`), the vendor simulator speaking SMPP (started late, SIGKILLed
mid-run, started again) and two stand-in HTTP vendors (tests/collector/health/flaky_vendor.py), one
of which is switched to HTTP 500 and then to never answering. Counted from the ledger and
from what each vendor process logged it received (ground truth)."""

from __future__ import annotations

import itertools
import json
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest

from collector.demo.configs import http_vendor_toml
from collector.ledger import open_ledger
from collector.ledger.sql import SqlLedger
from collector.ports import free_port
from tests.collector.ledger.builders import registration
from tests.grpc.procs import ROOT, _env

NS = 1_000_000_000


def _iso(ns: int) -> str:
    return datetime.fromtimestamp(ns // NS, UTC).isoformat()


def _start(args: list[str], log: Path) -> subprocess.Popen[bytes]:
    out = open(log, "ab")  # noqa: SIM115 - the child owns it
    try:
        return subprocess.Popen(args, cwd=ROOT, env=_env(), stdout=out, stderr=out)
    finally:
        out.close()


def _stop(proc: subprocess.Popen[bytes] | None, sig: int = signal.SIGTERM) -> int | None:
    if proc is None or proc.poll() is not None:
        return None if proc is None else proc.returncode
    proc.send_signal(sig)
    return proc.wait(20)


def _wait(
    what: str, check: Callable[[], bool], logs: Callable[[], str], timeout_s: float = 60.0
) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}\n{logs()[-4000:]}")
        time.sleep(0.1)


@dataclass
class World:
    tmp: Path
    ledger: SqlLedger
    smpp_port: int
    flaky_mode: Path
    collector: subprocess.Popen[bytes] | None = None
    smsc: subprocess.Popen[bytes] | None = None

    def logs(self) -> str:
        return "".join(p.read_text(errors="replace") for p in sorted(self.tmp.glob("*.log")))

    def start_smsc(self) -> None:
        self.smsc = _start(
            [sys.executable, "-m", "collector.cli", "sim-vendor", "--scenario",
             str(self.tmp / "scenario.toml")],
            self.tmp / "smsc.log",
        )  # fmt: skip

    def accepted(self, vendor: str) -> list[int]:
        return sorted(
            p.submitted_at_ns
            for p in self.ledger.probes(vendor=vendor)
            if p.submit_status == "accepted"
        )

    def unit(self, name: str) -> str:
        rows = {u.unit: u for u in self.ledger.collector_units()}
        return rows[name].state if name in rows else ""

    def open_spans(self, vendor: str) -> list[str]:
        return [
            s.cause
            for s in self.ledger.unmeasured_spans(since_ns=time.time_ns(), vendor=vendor)
            if s.end_ns == 0
        ]

    def alerts(self, kind: str, vendor: str) -> list[tuple[int, int]]:
        return [
            (a.started_at_ns, a.ended_at_ns)
            for a in self.ledger.alerts()
            if a.kind == kind and a.subject.get("vendor") == vendor
        ]


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    smpp_port, good_port, flaky_port = free_port(), free_port(), free_port()
    ledger_path = tmp_path / "ledger.db"
    ledger = open_ledger(str(ledger_path))
    # One SIM to probe, as an agent registered it (the collector probes what agents report).
    ledger.register_agent(registration(), at_ns=time.time_ns())
    (tmp_path / "scenario.toml").write_text(
        f"""seed = 1
speedup = 1.0
[vendors.bolt]
protocol = "smpp"
port = {smpp_port}
account = "bolt"
password = "boltpw"
signature_required = false
[vendors.bolt.knobs]
p_arrive = 1.0
[[subscribers]]
msisdn = "13800000001"
modem = "m1"
"""
    )
    flaky_mode = tmp_path / "flaky.mode"
    flaky_mode.write_text("ok")
    lanes = "\n".join(
        f"""[probes.vendors.{v}]
profiles = ["notification"]
interval_s = 0.4
rate_per_s = 50
burst = 50
daily_cap_per_number = 100000
"""
        for v in ("good", "flaky", "bolt")
    )
    flaky_toml = http_vendor_toml("flaky", flaky_port).replace(
        'kind = "http"', 'kind = "http"\ntimeout_s = 1.0', 1
    )
    (tmp_path / "collector.toml").write_text(
        f"""[server]
listen = "127.0.0.1:{free_port()}"
instance = "isolation-test"
[tls]
insecure = true
[ledger]
url = "{ledger_path}"
[metrics]
listen = ""
[log]
level = "info"
format = "json"

{http_vendor_toml("good", good_port)}
{flaky_toml}
[vendors.bolt]
kind = "smpp"
host = "127.0.0.1"
port = {smpp_port}
system_id = "bolt"
password = "boltpw"
bind_timeout_s = 1.0
connect_timeout_s = 0.5
response_timeout_s = 1.0

[probes]
secret = "isolation"
webhook_listen = "127.0.0.1:0"
deadline_s = 5
give_up_s = 10
judge_interval_s = 0.5
poll_interval_s = 5
[probes.supervision]
backoff_base_s = 0.2
backoff_max_s = 1.0
vendor_down_after = 2
{lanes}
[alerts]
evaluate_interval_s = 1
[alerts.rules]
window_s = 60
raise_after = 1
clear_after = 1
"""
    )
    vendors = [
        _start(
            [sys.executable, "-m", "tests.collector.health.flaky_vendor", "--port", str(port),
             "--mode-file", str(mode)],
            tmp_path / f"{name}.log",
        )
        for name, port, mode in (
            ("good", good_port, tmp_path / "good.mode"),
            ("flaky", flaky_port, flaky_mode),
        )
    ]  # fmt: skip
    w = World(tmp_path, ledger, smpp_port, flaky_mode)
    try:
        yield w
    finally:
        _stop(w.collector, signal.SIGKILL)
        _stop(w.smsc, signal.SIGKILL)
        for p in vendors:
            _stop(p, signal.SIGKILL)
        ledger.close()


def test_broken_vendors_are_isolated_measured_as_gaps_and_alerted(world: World) -> None:
    w = world
    w.collector = _start(
        [sys.executable, "-m", "collector.cli", "serve", "--insecure", "--config",
         str(w.tmp / "collector.toml")],
        w.tmp / "collector.log",
    )  # fmt: skip
    t_start = time.time_ns()

    # 1. The SMPP vendor is unreachable from the start: the others probe; bolt is backed off.
    _wait("good to send 10 probes", lambda: len(w.accepted("good")) >= 10, w.logs)
    assert w.accepted("bolt") == []
    assert len(w.accepted("flaky")) >= 3
    assert w.unit("vendor:bolt") in ("starting", "backoff")
    assert w.open_spans("bolt") == ["vendor:bolt"] and w.open_spans("good") == []
    _wait("monitoring_degraded", lambda: bool(w.alerts("monitoring_degraded", "bolt")), w.logs)

    # 2. The SMSC comes up: bolt resumes by itself, its gap closes, the alert ends.
    w.start_smsc()
    _wait("bolt to resume", lambda: len(w.accepted("bolt")) >= 5, w.logs)
    _wait("bolt measured", lambda: w.open_spans("bolt") == [], w.logs)
    _wait(
        "monitoring_degraded for bolt to end",
        lambda: all(end for _, end in w.alerts("monitoring_degraded", "bolt")),
        w.logs,
    )
    # 3. The SMSC dies mid-run (SIGKILL): bolt goes dark again, the others go on.
    _stop(w.smsc, signal.SIGKILL)
    killed_at = time.time_ns()
    _wait("bolt to be backed off", lambda: "vendor:bolt" in w.open_spans("bolt"), w.logs)
    good_before = len(w.accepted("good"))
    _wait("good to go on probing", lambda: len(w.accepted("good")) >= good_before + 5, w.logs)
    w.start_smsc()
    _wait("bolt to resume after the kill", lambda: w.accepted("bolt")[-1] > killed_at, w.logs)

    # 4. The HTTP vendor answers 500, then never answers: backed off, then back.
    flaky_ok_before = time.time_ns()
    w.flaky_mode.write_text("500")
    _wait("flaky backed off on 500s", lambda: "vendor:flaky" in w.open_spans("flaky"), w.logs)
    w.flaky_mode.write_text("hang")
    good_before = len(w.accepted("good"))
    _wait("good to go on probing", lambda: len(w.accepted("good")) >= good_before + 5, w.logs)
    # ... and flaky to be tried while it hangs: its back-off (up to 1 s) may outlast the
    # five probes of good on a fast run, and the hang would then never be exercised
    _wait("flaky to be tried while it hangs", lambda: any(
        line.startswith("hang ") for line in (w.tmp / "flaky.mode.log").read_text().splitlines()
    ), w.logs)  # fmt: skip
    w.flaky_mode.write_text("ok")
    resumed_from = time.time_ns()
    _wait(
        "flaky to resume",
        lambda: any(t > resumed_from for t in w.accepted("flaky")) and not w.open_spans("flaky"),
        w.logs,
        timeout_s=90,
    )
    stop_at = time.time_ns()
    assert _stop(w.collector) == 0
    t_end = time.time_ns()

    # Ground truth: what each HTTP vendor process received, by the mode it was in.
    received = (w.tmp / "flaky.mode.log").read_text().splitlines()
    modes = [line.split()[0] for line in received]
    assert modes.count("500") >= 2 and modes.count("hang") >= 1
    # The good vendor was never dark after start-up and was probed all along.
    good = w.accepted("good")
    spans = w.ledger.unmeasured_spans(since_ns=t_start)
    good_spans = [s for s in spans if s.vendor == "good" and s.cause != "collector"]
    assert all(s.end_ns - s.start_ns < 5 * NS for s in good_spans if s.start_ns < t_start + 5 * NS)
    assert not [s for s in good_spans if t_start + 5 * NS < s.start_ns < stop_at], good_spans
    gaps = [(b - a) / NS for a, b in itertools.pairwise(good)]
    print(json.dumps({"good_probes": len(good), "good_max_gap_s": round(max(gaps), 2),
                      "bolt_probes": len(w.accepted("bolt")),
                      "flaky_probes": len(w.accepted("flaky")),
                      "flaky_received": {m: modes.count(m) for m in set(modes)}}))  # fmt: skip
    # Each broken vendor's gaps are in the ledger with their cause...
    mid_run = [s for s in spans if s.start_ns < stop_at]  # not the shutdown's own span
    bolt_gaps = [s for s in mid_run if s.vendor == "bolt" and s.cause == "vendor:bolt"]
    flaky_gaps = [s for s in mid_run if s.vendor == "flaky" and s.cause == "vendor:flaky"]
    # Down at start, killed mid-run: both gaps closed when bolt came back. (A loaded
    # machine may see its SMPP bind fail again later: a third gap may still be open.)
    assert len([s for s in bolt_gaps if s.end_ns]) >= 2, bolt_gaps
    assert any(s.start_ns >= flaky_ok_before for s in flaky_gaps)
    # ...no probe was sent to a vendor inside one of its gaps...
    for vendor, vendor_gaps in (("bolt", bolt_gaps), ("flaky", flaky_gaps)):
        for p in w.ledger.probes(vendor=vendor):
            assert not any(s.start_ns < p.plan.planned_at_ns < s.end_ns for s in vendor_gaps)

    # ...and in the report: the gap is a not-measured span, its probes out of the rates.
    report = subprocess.run(
        [sys.executable, "-m", "collector.cli", "report", "--config", str(w.tmp / "collector.toml"),
         "--since", _iso(t_start - NS), "--until", _iso(t_end + NS), "--format", "json",
         "--out", "-"],
        cwd=ROOT, env=_env(), capture_output=True, check=True,
    )  # fmt: skip
    doc = json.loads(report.stdout)
    assert {"bolt", "flaky"} <= set(doc["not_measured"])
    assert doc["not_measured"]["bolt"]["measured_fraction"] < 1.0
    assert any("vendor:bolt" in s["causes"] for s in doc["not_measured"]["bolt"]["spans"])

    # monitoring_degraded started and ended for each broken vendor; no alert ended while its
    # vendor was not measured.
    for vendor in ("bolt", "flaky"):
        degraded = w.alerts("monitoring_degraded", vendor)
        assert degraded and all(end for _, end in degraded[:-1])
    for a in w.ledger.alerts():
        subject_vendor = a.subject.get("vendor")
        if not a.ended_at_ns or subject_vendor is None:
            continue
        for s in spans:
            if s.vendor == subject_vendor and s.start_ns < a.ended_at_ns < (s.end_ns or t_end):
                raise AssertionError(f"{a.kind} {a.subject} ended while it was blind")

    # The status command reads the stopped collector's health from the ledger.
    status = subprocess.run(
        [sys.executable, "-m", "collector.cli", "status", "--config", str(w.tmp / "collector.toml"),
         "--json"],
        cwd=ROOT, env=_env(), capture_output=True,
    )  # fmt: skip
    state = json.loads(status.stdout)
    assert status.returncode == 1 and not state["healthy"]  # stopped: nothing runs
    units = {u["unit"]: u for u in state["instances"][0]["units"]}
    assert units["vendor:bolt"]["restarts"] >= 2 and units["vendor:flaky"]["restarts"] >= 1
    assert {"service:judge", "service:scheduler", "service:alerts"} <= set(units)
