"""Agent soak under storage and scheduling faults: the real `smsprobe-agent run` serving
simulated modems on ptys while SMS (short and 3-part) keep arriving. Prints ONE JSON line.

Two phases in one run, each with a fresh outbox: a baseline on a healthy disk, then the
same traffic with fsync made slow (LD_PRELOAD shim, tests/faults), the process stopped
(SIGSTOP) for 0.7 s and 2 s at random moments, the disk turned full for a while, and
SIGKILL + restart at random moments. Each phase counts what the SIMs received against
what the outbox holds: lost, duplicated, and the throughput of persisted SMS.

    python bench/agent_soak.py [--modems 8] [--seconds 120] [--rate 2] [--fsync-ms 250]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import errno
import json
import random
import signal
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from agent.modem.simulator.pty import ModemServer  # noqa: E402
from tests.agent.agent_proc import all_deleted, outbox_list, start_agent, write_config  # noqa: E402
from tests.agent.harness import make_sim  # noqa: E402
from tests.faults import FsFault  # noqa: E402


async def phase(
    workdir: Path, modems: int, seconds: float, rate: float, fsync_ms: int, faults: bool, seed: int
) -> dict[str, float | int]:
    rng = random.Random(seed)
    sims = [make_sim(100 + i, seed=seed + i) for i in range(modems)]
    disk = workdir / "disk"
    disk.mkdir(parents=True)
    fault = FsFault(disk, workdir / "fsfault.ctl")
    expected: list[tuple[str, str]] = []
    counts = {"stalls": 0, "kills": 0, "disk_full_s": 0.0}
    links = [workdir / f"by-id-modem{i}" for i in range(modems)]
    async with contextlib.AsyncExitStack() as stack:
        for sim, link in zip(sims, links, strict=True):
            await stack.enter_async_context(ModemServer(sim, link))
        config = write_config(disk, links, agent_id="soak", health_s=30, command_timeout_s=10)
        log = (workdir / "agent.log").open("ab")
        if faults:
            fault.set(fsync_delay_ms=fsync_ms)
        proc = await start_agent(config, log, fault.env())
        started = time.monotonic()
        next_fault = started + rng.uniform(5, 15)
        while time.monotonic() - started < seconds:
            i = len(expected)
            sim = sims[rng.randrange(modems)]
            text = f"soak {i} " + "s" * 320 if rng.random() < 0.25 else f"soak {i}"
            sim.deliver_text(f"1069{i % 10000:04d}", text)
            expected.append((sim.identity.imei, text))
            await asyncio.sleep(rng.expovariate(rate))
            if not faults or time.monotonic() < next_fault:
                continue
            what = rng.choice(("stall", "stall", "kill", "full"))
            if what == "stall":
                proc.send_signal(signal.SIGSTOP)
                await asyncio.sleep(rng.choice((0.7, 2.0)))
                proc.send_signal(signal.SIGCONT)
                counts["stalls"] += 1
            elif what == "kill":
                proc.send_signal(signal.SIGKILL)
                await proc.wait()
                proc = await start_agent(config, log, fault.env())
                counts["kills"] += 1
            else:
                full_s = rng.uniform(2, 6)
                fault.set(fsync_delay_ms=fsync_ms, write_errno=errno.ENOSPC)
                await asyncio.sleep(full_s)
                fault.set(fsync_delay_ms=fsync_ms)
                counts["disk_full_s"] += full_s
            next_fault = time.monotonic() + rng.uniform(5, 15)
        deadline = time.monotonic() + 600
        while not all_deleted(sims) and time.monotonic() < deadline:
            await asyncio.sleep(0.5)
        drained_s = time.monotonic() - started
        proc.send_signal(signal.SIGTERM)
        await asyncio.wait_for(proc.wait(), 60)
        log.close()
    got = Counter((str(m["modem_imei"]), str(m["text"])) for m in outbox_list(config))
    want = Counter(expected)
    return {
        "delivered": len(expected),
        "lost": sum((want - got).values()),
        "duplicated": sum((got - want).values()),
        "persisted_per_s": round(sum(got.values()) / drained_s, 2),
        "drained_s": round(drained_s, 1),
        **{k: round(v, 1) if isinstance(v, float) else v for k, v in counts.items()},
    }


def main() -> None:
    import structlog

    # The simulators log in this process: keep stdout for the one JSON line.
    structlog.configure(logger_factory=structlog.PrintLoggerFactory(sys.stderr))
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--modems", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=120.0)
    parser.add_argument("--rate", type=float, default=2.0, help="SMS/s over all modems")
    parser.add_argument("--fsync-ms", type=int, default=250)
    parser.add_argument("--seed", type=int, default=20261206)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="smsprobe-soak-") as tmp:
        base = asyncio.run(
            phase(Path(tmp, "base"), args.modems, args.seconds, args.rate, 0, False, args.seed)
        )
        faulty = asyncio.run(
            phase(
                Path(tmp, "faults"),
                args.modems,
                args.seconds,
                args.rate,
                args.fsync_ms,
                True,
                args.seed,
            )
        )
    print(
        json.dumps(
            {
                "bench": "agent_soak",
                "modems": args.modems,
                "seconds": args.seconds,
                "rate_sms_s": args.rate,
                "fsync_ms": args.fsync_ms,
                "faults": faulty,
                "baseline": base,
                "lost": faulty["lost"] + base["lost"],
                "duplicated": faulty["duplicated"] + base["duplicated"],
            }
        )
    )


if __name__ == "__main__":
    main()
