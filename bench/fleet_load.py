"""A fleet against the collector: many lightweight agents, live traffic, a backlog storm.

Agents: `--agents` (default 1,000) × `--modems` (16) SIMs, simulated in one asyncio
process speaking the real protocol (smsprobe.v1 Register + Upload over mTLS, each agent
with its own certificate issued by collector/certs.py — what `smsprobe-collector certs`
runs — its own channel, sequence numbers and uuids). Not the full agent app: records
are built in memory and are not signed (no outbox).

Collectors: the real servicer and gRPC server (collector/api) in their own processes
(bench/ingest.py's `--serve ours`), on a durable PostgreSQL 15 started here; 1 collector,
then 3 collectors on the same ledger, agents spread round-robin. Three collectors share
the ledger without any lease here: ingest is idempotent by uuid, which is all the Upload
path needs.

Scenario: the collectors were down for `--backlog-h` hours (default 1): every SIM holds
its backlog (one SMS per `--sms-every-s`, default 300 s: 12 per SIM-hour). All agents
connect at once and upload it, while live SMS keep arriving at the same per-SIM rate.
Measured: drain time and records/s, batch ack latency p50/p99 during the drain, live
records' latency (created -> acked) during the drain (starvation), steady-state ack
latency after it, CPU seconds and peak RSS per collector. Baseline in the same run:
the same backlog from the same agents to bench/ingest.py's raw grpcio + hand-written
SQLite insert (`raw_sqlite`: no authorization, no rules, no sequence tracking).
Prints one JSON line.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid as uuidlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "protos" / "python")]

from smsprobe.v1 import agent_pb2  # noqa: E402

from agent.uplink.client import make_channel  # noqa: E402
from agent.wire.records import (  # noqa: E402
    AgentRegistration,
    ClockEstimate,
    ModemInfo,
    Record,
    SimInfo,
)
from agent.wire.serde import batch_to_proto, record_to_proto, registration_to_proto  # noqa: E402
from collector.certs import create_ca, issue_agent  # noqa: E402
from tests.collector.ledger.builders import sms  # noqa: E402

INGEST = ROOT / "bench" / "ingest.py"
UPLOAD = "/smsprobe.v1.AgentService/Upload"
RAW_UPLOAD = "/smsprobe.bench.RawSqlite/Upload"
BATCH = 500


def pct(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    s = sorted(values)
    return s[min(len(s) - 1, int(q * len(s)))]


@dataclass
class Fleet:
    acks_ms: list[float] = field(default_factory=list)  # batch sent -> acked, in the drain
    live_ms: list[float] = field(default_factory=list)  # live record created -> acked
    steady_ms: list[float] = field(default_factory=list)  # after the drain
    acked: int = 0
    drained_at: float = 0.0


class SimAgent:
    def __init__(self, agent_id: str, modems: int, certs: Path, address: str, raw: bool) -> None:
        self.id = agent_id
        self.modems = [
            ModemInfo(imei=f"86{abs(hash(agent_id)) % 10**9:09d}{m:04d}", model="SIM7600",
                      sim=SimInfo(iccid=f"8986{abs(hash(agent_id)) % 10**9:09d}{m:07d}"))
            for m in range(modems)
        ]  # fmt: skip
        self.seq = 0
        self.clock = ClockEstimate(0.0, 5.0, time.time_ns())
        self.channel = make_channel(
            address, ca_cert=certs / "ca.pem", cert=certs / f"{agent_id}.pem",
            key=certs / f"{agent_id}.key",
        )  # fmt: skip
        self.raw = raw

    def record(self, m: int, at_ns: int) -> agent_pb2.Record:
        self.seq += 1
        mod = self.modems[m]
        iccid = mod.sim.iccid if mod.sim else ""
        body = sms(at_ns, f"Your code is {self.seq % 1000000:06d}")
        rec = Record(uuidlib.uuid4().hex, self.seq, at_ns, self.clock, body, mod.imei, iccid)
        return record_to_proto(rec)

    async def register(self) -> None:
        if self.raw:
            return
        reg = AgentRegistration(agent_id=self.id, modems=tuple(self.modems), last_seq=self.seq)
        call = self.channel.unary_unary(
            "/smsprobe.v1.AgentService/Register",
            request_serializer=agent_pb2.RegisterRequest.SerializeToString,
            response_deserializer=agent_pb2.RegisterResponse.FromString,
        )
        await call(registration_to_proto(reg))

    async def run(
        self, backlog: list[agent_pb2.Record], live_every_s: float, fleet: Fleet,
        drain_until: asyncio.Event, stop: asyncio.Event,
    ) -> None:  # fmt: skip
        method: Any = self.channel.stream_stream(RAW_UPLOAD if self.raw else UPLOAD)
        call = method()
        sent: dict[int, tuple[float, list[float], bool]] = {}
        batch_id = 0
        queue: list[tuple[agent_pb2.Record, float | None]] = [(r, None) for r in backlog]
        outstanding = asyncio.Semaphore(4)

        async def reader() -> None:
            async for raw in call:
                ack = agent_pb2.UploadResponse.FromString(raw).ack
                t, lives, in_drain = sent.pop(ack.batch_id)
                now = time.perf_counter()
                (fleet.acks_ms if in_drain else fleet.steady_ms).append((now - t) * 1e3)
                (fleet.live_ms if in_drain else fleet.steady_ms).extend(
                    (now - c) * 1e3 for c in lives
                )
                fleet.acked += ack.ingested + ack.duplicates
                outstanding.release()

        read = asyncio.create_task(reader())
        next_live = time.perf_counter() + live_every_s * (hash(self.id) % 100) / 100
        while not stop.is_set():
            now = time.perf_counter()
            while now >= next_live:  # a live SMS on one of the SIMs, created now
                queue.append((self.record(self.seq % len(self.modems), time.time_ns()), now))
                next_live += live_every_s
            if queue:
                chunk, queue = queue[:BATCH], queue[BATCH:]
                await outstanding.acquire()
                batch_id += 1
                lives = [c for _, c in chunk if c is not None]
                sent[batch_id] = (time.perf_counter(), lives, not drain_until.is_set())
                req = batch_to_proto(
                    self.id, batch_id, [r for r, _ in chunk], outbox_depth=len(queue),
                    oldest_pending_ns=0,
                )  # fmt: skip
                await call.write(req.SerializeToString())
            else:
                await asyncio.sleep(min(0.5, max(0.0, next_live - time.perf_counter())))
        await call.done_writing()
        await asyncio.wait_for(read, 30)
        await self.channel.close()


def cpu_rss(pid: int) -> tuple[float, int]:
    with open(f"/proc/{pid}/stat") as f:
        parts = f.read().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    cpu = (int(parts[11]) + int(parts[12])) / ticks
    with open(f"/proc/{pid}/status") as f:
        hwm = next(int(x.split()[1]) for x in f if x.startswith("VmHWM"))
    return cpu, hwm * 1024


def spawn(role: str, d: Path, url: str) -> tuple[subprocess.Popen[str], int]:
    argv = [sys.executable, str(INGEST), "--serve", role, "--dir", str(d)]
    proc = subprocess.Popen(
        argv + (["--ledger-url", url] if url else []),
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
        cwd=ROOT,
    )  # fmt: skip
    assert proc.stdout is not None
    return proc, int(proc.stdout.readline())


async def scenario(
    d: Path, ports: list[int], args: argparse.Namespace, raw: bool
) -> tuple[Fleet, float, int]:
    certs = d / "ca" / "agents"
    agents = [
        SimAgent(f"fleet-{i:05d}", args.modems, certs, f"127.0.0.1:{ports[i % len(ports)]}", raw)
        for i in range(args.agents)
    ]
    sem = asyncio.Semaphore(50)

    async def reg(a: SimAgent) -> None:
        async with sem:
            await a.register()

    await asyncio.gather(*(reg(a) for a in agents))
    per_sim = int(args.backlog_h * 3600 / args.sms_every_s)
    now = time.time_ns()
    backlogs = [
        [a.record(m, now - (k + 1) * int(args.sms_every_s * 1e9)) for k in range(per_sim)
         for m in range(args.modems)]
        for a in agents
    ]  # fmt: skip
    total = sum(len(b) for b in backlogs)
    fleet = Fleet()
    drained, stop = asyncio.Event(), asyncio.Event()
    live_every_s = args.sms_every_s / args.modems  # one agent's SIMs together
    started = time.perf_counter()
    tasks = [
        asyncio.create_task(a.run(b, live_every_s, fleet, drained, stop))
        for a, b in zip(agents, backlogs, strict=True)
    ]
    while fleet.acked < total:
        await asyncio.sleep(0.05)
        if all(t.done() for t in tasks):
            break
    drain_s = time.perf_counter() - started
    drained.set()
    await asyncio.sleep(args.steady_s)
    stop.set()
    await asyncio.gather(*tasks)
    return fleet, drain_s, total


def measure(d: Path, args: argparse.Namespace, url_for: Any, n: int, raw: bool) -> dict[str, Any]:
    procs = [spawn("raw_sqlite" if raw else "ours", d, "" if raw else url_for()) for _ in range(n)]
    before = [cpu_rss(p.pid) for p, _ in procs]
    try:
        fleet, drain_s, total = asyncio.run(scenario(d, [port for _, port in procs], args, raw))
        after = [cpu_rss(p.pid) for p, _ in procs]
    finally:
        for p, _ in procs:
            assert p.stdin is not None
            p.stdin.close()
            p.wait(30)
    return {
        "collectors": n,
        "backlog_records": total,
        "drain_s": round(drain_s, 1),
        "drain_records_per_s": round(total / drain_s),
        "ack_p50_ms": round(pct(fleet.acks_ms, 0.5), 1),
        "ack_p99_ms": round(pct(fleet.acks_ms, 0.99), 1),
        "live_during_drain_p50_ms": round(pct(fleet.live_ms, 0.5), 1),
        "live_during_drain_p99_ms": round(pct(fleet.live_ms, 0.99), 1),
        "live_during_drain_n": len(fleet.live_ms),
        "steady_ack_p50_ms": round(pct(fleet.steady_ms, 0.5), 1),
        "steady_ack_p99_ms": round(pct(fleet.steady_ms, 0.99), 1),
        "cpu_s_per_collector": [round(a[0] - b[0], 1) for a, b in zip(after, before, strict=True)],
        "peak_rss_mb_per_collector": [round(a[1] / 2**20) for a in after],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--agents", type=int, default=1000)
    parser.add_argument("--modems", type=int, default=16)
    parser.add_argument("--backlog-h", type=float, default=1.0)
    parser.add_argument("--sms-every-s", type=float, default=300.0, help="per SIM")
    parser.add_argument("--steady-s", type=float, default=20.0)
    args = parser.parse_args()
    from tests.servers.postgres import start_postgres

    with tempfile.TemporaryDirectory(prefix="smsprobe-fleet-") as tmp:
        d = Path(tmp)
        create_ca(d / "ca")
        for i in range(args.agents):
            issue_agent(d / "ca", f"fleet-{i:05d}")
        pg = start_postgres(durable=True)
        try:
            url = pg.url(pg.create_database())  # one ledger for every collector of a run
            one = measure(d, args, lambda: url, 1, raw=False)
            url = pg.url(pg.create_database())
            three = measure(d, args, lambda: url, 3, raw=False)
        finally:
            pg.stop()
        baseline = measure(d, args, lambda: "", 1, raw=True)
    print(
        json.dumps(
            {
                "bench": "fleet_load",
                "agents": args.agents,
                "modems": args.modems,
                "sms_every_s_per_sim": args.sms_every_s,
                "live_records_per_s": round(args.agents * args.modems / args.sms_every_s, 1),
                "backlog_h": args.backlog_h,
                "one_collector_postgresql": one,
                "three_collectors_postgresql": three,
                "baseline_raw_grpc_sqlite": baseline,
                "ratio_drain_vs_baseline": round(baseline["drain_s"] / one["drain_s"], 3),
                "cpus": os.cpu_count(),
            }
        )
    )


if __name__ == "__main__":
    main()
