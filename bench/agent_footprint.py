"""Agent footprint: RSS and CPU of `smsprobe-agent run` serving 16 simulated modems,
idle and while receiving 10 SMS/s. Prints ONE JSON line.

The simulator fleet runs in its own process (`smsprobe-agent sim-modem --fleet`), the agent
in another (`--no-upload`); deliveries go through the simulator's control API. RSS comes
from /proc/PID/status (VmRSS, peak VmHWM), CPU from /proc/PID/stat (utime+stime). The
baseline is a plain `python -c "import serial, time"` process measured in the same run.

    python bench/agent_footprint.py [--modems 16] [--idle-s 20] [--load-s 20] [--rate 10]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

CLK_TCK = os.sysconf("SC_CLK_TCK")
PROFILES = ("quectel_ec25", "simcom_sim7600", "huawei_e3372", "quectel_eg25")


def rss_mb(pid: int) -> tuple[float, float]:
    """(VmRSS, VmHWM) in MiB."""
    values = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, rest = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            values[key] = int(rest.split()[0]) / 1024
    return values["VmRSS"], values["VmHWM"]


def cpu_s(pid: int) -> float:
    """utime + stime of the process (all threads), seconds."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat[stat.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def cpu_pct_over(pid: int, seconds: float) -> float:
    c0, t0 = cpu_s(pid), time.monotonic()
    time.sleep(seconds)
    return 100.0 * (cpu_s(pid) - c0) / (time.monotonic() - t0)


def count(db: Path, kind: str, where: str = "") -> int:
    if not db.exists():
        return 0
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10)
    try:
        (n,) = con.execute(
            f"SELECT COUNT(*) FROM records WHERE kind = ? {where}", (kind,)
        ).fetchone()
    except sqlite3.OperationalError:
        n = 0
    finally:
        con.close()
    return int(n)


def wait_for(check: Callable[[], bool], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        if time.monotonic() > deadline:
            raise SystemExit(f"agent_footprint: timed out waiting for {what}")
        time.sleep(0.2)


def baseline_rss_mb() -> float:
    proc = subprocess.Popen(
        [sys.executable, "-c", "import serial, time; time.sleep(30)"],
        stdout=subprocess.DEVNULL,
    )
    try:
        time.sleep(1.5)
        return rss_mb(proc.pid)[0]
    finally:
        proc.kill()
        proc.wait()


async def _deliver(control: str, names: list[str], rate: float, seconds: float) -> int:
    from agent.modem.simulator.control import ModemSimulatorControl

    host, _, port = control.rpartition(":")
    sent = 0
    start = time.monotonic()
    async with ModemSimulatorControl(host, int(port)) as ctl:
        total = int(rate * seconds)
        for i in range(total):
            due = start + i / rate
            delay = due - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            await ctl.deliver(names[i % len(names)], "10690000", f"bench {i} 验证码 {i:06d}")
            sent += 1
    return sent


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--modems", type=int, default=16)
    ap.add_argument("--idle-s", type=float, default=20.0)
    ap.add_argument("--load-s", type=float, default=20.0)
    ap.add_argument("--rate", type=float, default=10.0)
    args = ap.parse_args()

    work = Path(tempfile.mkdtemp(prefix="agent-footprint-"))
    names = [f"m{i:02d}" for i in range(args.modems)]
    fleet = ['control = "127.0.0.1:0"', "seed = 7", "", "[defaults]", "timing_scale = 0.05"]
    fleet.append("noise_interval_s = 10.0")
    for i, name in enumerate(names):
        fleet += [
            "",
            "[[modem]]",
            f'name = "{name}"',
            f'profile = "{PROFILES[i % len(PROFILES)]}"',
            f'link = "{work / name}"',
        ]
    (work / "fleet.toml").write_text("\n".join(fleet) + "\n")
    db = work / "outbox.sqlite"
    agent_toml = [
        "[agent]",
        'id = "bench"',
        "[outbox]",
        f'path = "{db}"',
        "[receive]",
        "sweep_interval_s = 60",
        "health_interval_s = 60",
        "[log]",
        'level = "warning"',
        'format = "json"',
    ]
    for i, name in enumerate(names):
        agent_toml += [
            "[[modems]]",
            f'port = "{work / name}"',
            f'profile = "{PROFILES[i % len(PROFILES)]}"',
        ]
    (work / "agent.toml").write_text("\n".join(agent_toml) + "\n")

    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    sim_log = (work / "sim.log").open("wb")
    agent_log = (work / "agent.log").open("wb")
    sim = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "agent.cli",
            "sim-modem",
            "--fleet",
            str(work / "fleet.toml"),
            "--log-level",
            "warning",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=sim_log,
        text=True,
    )
    agent = None
    try:
        assert sim.stdout is not None
        control = ""
        for line in sim.stdout:
            if '"sim_modem_ready"' in line:
                control = json.loads(line)["control"]
                break
        if not control:
            raise SystemExit("agent_footprint: simulator did not start")
        agent = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "agent.cli",
                "run",
                "--config",
                str(work / "agent.toml"),
                "--no-upload",
            ],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=agent_log,
        )
        connected = 'AND body LIKE \'%"kind":"modem_connected"%\''
        wait_for(lambda: count(db, "agent_event", connected) >= args.modems, 120, "modems")
        time.sleep(3.0)  # initial sweeps and health rounds settle
        cpu_idle = cpu_pct_over(agent.pid, args.idle_s)
        rss_idle, _ = rss_mb(agent.pid)

        before = count(db, "received_sms")
        c0, t0 = cpu_s(agent.pid), time.monotonic()
        sent = asyncio.run(_deliver(control, names, args.rate, args.load_s))
        cpu_load = 100.0 * (cpu_s(agent.pid) - c0) / (time.monotonic() - t0)
        wait_for(lambda: count(db, "received_sms") - before >= sent, 60, "deliveries")
        received = count(db, "received_sms") - before
        rss_now, rss_peak = rss_mb(agent.pid)
        baseline = baseline_rss_mb()
    finally:
        if agent is not None:
            agent.send_signal(signal.SIGTERM)
            try:
                agent.wait(30)
            except subprocess.TimeoutExpired:
                agent.kill()
        sim.send_signal(signal.SIGTERM)
        try:
            sim.wait(10)
        except subprocess.TimeoutExpired:
            sim.kill()
        sim_log.close()
        agent_log.close()
    print(
        json.dumps(
            {
                "bench": "agent_footprint",
                "modems": args.modems,
                "rss_mb": round(max(rss_idle, rss_now), 1),
                "rss_peak_mb": round(rss_peak, 1),
                "cpu_idle_pct": round(cpu_idle, 2),
                "cpu_10sms_pct": round(cpu_load, 2),
                "received": received,
                "sent": sent,
                "baseline": {
                    "what": "python -c 'import serial, time'",
                    "rss_mb": round(baseline, 1),
                },
                "idle_s": args.idle_s,
                "load_s": args.load_s,
                "rate_sms_s": args.rate,
            }
        )
    )


if __name__ == "__main__":
    main()
