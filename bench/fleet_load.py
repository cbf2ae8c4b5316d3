"""A fleet against real collectors: many lightweight agents, live traffic, a backlog storm.

Full scale (1,000 agents x 16 modems, a 1-hour backlog: 192,000 records; ~10 min here):
    .venv/bin/python bench/fleet_load.py
A few minutes (100 agents):
    .venv/bin/python bench/fleet_load.py --scale 0.1

Collectors: real `smsprobe-collector serve` processes (collector/cli.py: config check,
mTLS with the certificates `smsprobe-collector certs` makes, the ingest writer) on one
durable PostgreSQL 15 started here (fsync and synchronous_commit on): 1 collector, then 3
collectors on the same ledger with the agents spread round-robin.

Agents: `--agents` x `--modems` SIMs, simulated in one asyncio process speaking the real
protocol — Register, then Upload over mTLS, each agent with its own certificate, channel,
sequence numbers and uuids — and signing every record with its certificate's key when it
is "persisted" (agent/wire/signing.py), as `smsprobe-agent run` does; the upload requests
are assembled from the signed bytes (agent/wire/serde.py upload_request_bytes). Like the
real uploader (agent/uplink/client.py), a batch carries the agent's live records first and
fills up from its backlog, and a batch holding only backlog is marked `Batch.backlog`.
Not the full agent app: no outbox file, no modems.

Scenario: the collectors were down for `--backlog-h` hours: every SIM holds its backlog
(one SMS per `--sms-every-s`, default 300 s: 12 per SIM-hour), built and signed before the
clock starts. All agents connect at once and upload it while live SMS keep arriving at
the same per-SIM rate. Measured: drain time and records/s, batch ack latency p50/p99 in
the drain, live records' latency (created -> acked) in the drain (starvation), steady ack
latency after it, CPU seconds and peak RSS per collector (and of the agents' process),
and a sample of stored records whose agent signature verifies. Baseline in the same run:
the same backlog from the same agents to bench/ingest.py's raw grpcio + hand-written
SQLite insert (`raw_sqlite`: no authorization, no rules, no sequence tracking, no
priorities). Prints one JSON line.
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
from agent.wire.serde import (  # noqa: E402
    record_to_proto,
    registration_to_proto,
    upload_request_bytes,
)
from agent.wire.signing import RecordSigner, verify_record  # noqa: E402
from collector.certs import create_ca, issue_agent  # noqa: E402
from collector.ports import free_port  # noqa: E402
from tests.collector.ledger.builders import sms  # noqa: E402

INGEST = ROOT / "bench" / "ingest.py"
UPLOAD = "/smsprobe.v1.AgentService/Upload"
RAW_UPLOAD = "/smsprobe.bench.RawSqlite/Upload"
BATCH = 500  # the uploader's batch_max_records
WINDOW = 4  # batches in flight per agent


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


class SimAgent:
    def __init__(self, agent_id: str, modems: int, certs: Path, address: str, raw: bool) -> None:
        self.id = agent_id
        tag = int(agent_id.rsplit("-", 1)[1])
        self.modems = [
            ModemInfo(imei=f"86{tag:07d}{m:04d}", model="SIM7600",
                      sim=SimInfo(iccid=f"8986{tag:07d}{m:07d}"))
            for m in range(modems)
        ]  # fmt: skip
        self.seq = 0
        self.clock = ClockEstimate(0.0, 5.0, time.time_ns())
        self.signer = RecordSigner.from_pem_file(certs / f"{agent_id}.key")
        self.channel = make_channel(
            address, ca_cert=certs / "ca.pem", cert=certs / f"{agent_id}.pem",
            key=certs / f"{agent_id}.key",
        )  # fmt: skip
        self.raw = raw

    def record(self, m: int, at_ns: int) -> bytes:
        """A new record, signed as the agent signs it when it persists it."""
        self.seq += 1
        mod = self.modems[m]
        iccid = mod.sim.iccid if mod.sim else ""
        body = sms(at_ns, f"Your code is {self.seq % 1000000:06d}")
        rec = Record(uuidlib.uuid4().hex, self.seq, at_ns, self.clock, body, mod.imei, iccid)
        return self.signer.sign(record_to_proto(rec).SerializeToString(deterministic=True))

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
        self, backlog: list[bytes], live_every_s: float, fleet: Fleet,
        drained: asyncio.Event, stop: asyncio.Event,
    ) -> None:  # fmt: skip
        method: Any = self.channel.stream_stream(RAW_UPLOAD if self.raw else UPLOAD)
        call = method()
        sent: dict[int, tuple[float, list[float], bool]] = {}
        batch_id = 0
        live: list[tuple[bytes, float]] = []
        outstanding = asyncio.Semaphore(WINDOW)

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
            while now >= next_live:  # a live SMS on one of the SIMs, persisted now
                live.append((self.record(self.seq % len(self.modems), time.time_ns()), now))
                next_live += live_every_s
            if live or backlog:
                await outstanding.acquire()
                # The uploader's order: live records first, the rest from the backlog.
                fresh, live = live[:BATCH], live[BATCH:]
                old, backlog = backlog[: BATCH - len(fresh)], backlog[BATCH - len(fresh) :]
                batch_id += 1
                sent[batch_id] = (time.perf_counter(), [c for _, c in fresh], not drained.is_set())
                await call.write(
                    upload_request_bytes(
                        self.id, batch_id, [w for w, _ in fresh] + old,
                        outbox_depth=len(backlog) + len(live), oldest_pending_ns=0,
                        backlog=not fresh,
                    )
                )  # fmt: skip
            else:
                await asyncio.sleep(min(0.5, max(0.0, next_live - time.perf_counter())))
        await call.done_writing()
        await asyncio.wait_for(read, 60)
        await self.channel.close()


def cpu_rss(pid: int) -> tuple[float, int]:
    with open(f"/proc/{pid}/stat") as f:
        parts = f.read().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    cpu = (int(parts[11]) + int(parts[12])) / ticks
    with open(f"/proc/{pid}/status") as f:
        hwm = next(int(x.split()[1]) for x in f if x.startswith("VmHWM"))
    return cpu, hwm * 1024


def own_cpu_s() -> float:
    t = os.times()
    return t.user + t.system


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), str(ROOT / "protos" / "python")])
    return env


def start_collector(d: Path, name: str, url: str) -> tuple[subprocess.Popen[bytes], int]:
    """`smsprobe-collector serve` with a config as an operator writes it."""
    ca = d / "ca"
    port = free_port()
    home = d / name
    home.mkdir()
    config = home / "collector.toml"
    config.write_text(
        f"""
[server]
listen = "127.0.0.1:{port}"
instance = "{name}"

[tls]
ca_cert = "{ca / "ca.pem"}"
cert = "{ca / "collector.pem"}"
key = "{ca / "collector.key"}"

[ledger]
url = "{url}"

[log]
level = "warning"
format = "json"
"""
    )
    port_file = home / "port"
    with open(home / "collector.log", "ab") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "collector.cli", "serve", "--config", str(config),
             "--port-file", str(port_file)],
            cwd=ROOT, env=_env(), stdout=log, stderr=log,
        )  # fmt: skip
    deadline = time.monotonic() + 60
    while not port_file.exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise RuntimeError(f"collector {name} did not start: see {home / 'collector.log'}")
        time.sleep(0.05)
    return proc, port


def start_raw(d: Path) -> tuple[subprocess.Popen[str], int]:
    proc = subprocess.Popen(
        [sys.executable, str(INGEST), "--serve", "raw_sqlite", "--dir", str(d)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
        cwd=ROOT,
    )  # fmt: skip
    assert proc.stdout is not None
    return proc, int(proc.stdout.readline())


async def scenario(
    d: Path, ports: list[int], args: argparse.Namespace, raw: bool
) -> tuple[Fleet, float, int, list[tuple[str, bytes]]]:
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
        [a.record(m, now - (per_sim - k) * int(args.sms_every_s * 1e9)) for k in range(per_sim)
         for m in range(args.modems)]
        for a in agents
    ]  # fmt: skip
    sample = [(a.id, b[0]) for a, b in zip(agents, backlogs, strict=True) if b][:100]
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
        if any(t.done() for t in tasks):
            for t in tasks:
                if t.done():
                    t.result()  # an agent failed: say why
    drain_s = time.perf_counter() - started
    drained.set()
    await asyncio.sleep(args.steady_s)
    stop.set()
    await asyncio.gather(*tasks)
    return fleet, drain_s, total, sample


def verified(url: str, sample: list[tuple[str, bytes]], certs: Path) -> int:
    """How many sampled records are stored exactly as signed, verifying with the agent's
    certificate (what an evidence export checks)."""
    import psycopg
    from cryptography import x509

    ok = 0
    with psycopg.connect(url) as conn:
        for agent_id, wire in sample:
            uuid = agent_pb2.Record.FromString(wire).uuid
            row = conn.execute("SELECT raw FROM records WHERE uuid = %s", (uuid,)).fetchone()
            cert = x509.load_pem_x509_certificate((certs / f"{agent_id}.pem").read_bytes())
            if row and bytes(row[0]) == wire and verify_record(wire, cert.public_key()) is None:  # type: ignore[arg-type]
                ok += 1
    return ok


def measure(d: Path, args: argparse.Namespace, url: str, n: int, raw: bool) -> dict[str, Any]:
    procs: list[Any] = []
    try:
        for i in range(n):
            procs.append(start_raw(d) if raw else start_collector(d, f"c{n}-{i}", url))
        before = [cpu_rss(p.pid) for p, _ in procs]
        own = own_cpu_s()
        fleet, drain_s, total, sample = asyncio.run(
            scenario(d, [port for _, port in procs], args, raw)
        )
        own = own_cpu_s() - own
        after = [cpu_rss(p.pid) for p, _ in procs]
    finally:
        for p, _ in procs:
            if raw:
                p.stdin.close()
            else:
                p.terminate()
            p.wait(60)
    out = {
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
        "agents_process_cpu_s": round(own, 1),
    }
    if not raw:
        out["signed_sample_verified"] = (
            f"{verified(url, sample, d / 'ca' / 'agents')}/{len(sample)}"
        )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--agents", type=int, default=1000)
    parser.add_argument("--scale", type=float, default=1.0, help="multiplies --agents")
    parser.add_argument("--modems", type=int, default=16)
    parser.add_argument("--backlog-h", type=float, default=1.0)
    parser.add_argument("--sms-every-s", type=float, default=300.0, help="per SIM")
    parser.add_argument("--steady-s", type=float, default=20.0)
    args = parser.parse_args()
    args.agents = max(1, round(args.agents * args.scale))
    from tests.servers.postgres import start_postgres

    with tempfile.TemporaryDirectory(prefix="smsprobe-fleet-") as tmp:
        d = Path(tmp)
        create_ca(d / "ca")
        for i in range(args.agents):
            issue_agent(d / "ca", f"fleet-{i:05d}")
        pg = start_postgres(durable=True)
        try:
            one = measure(d, args, pg.url(pg.create_database()), 1, raw=False)
            three = measure(d, args, pg.url(pg.create_database()), 3, raw=False)
        finally:
            pg.stop()
        baseline = measure(d, args, "", 1, raw=True)
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
