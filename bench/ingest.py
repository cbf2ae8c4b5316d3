"""Ingest benchmark: end-to-end records/s through the real agent link, against raw grpcio.

ours: a real Outbox file with N pre-persisted records -> Uploader -> gRPC over mTLS ->
servicer -> SqliteLedger (committed) -> acks -> Outbox.mark_acked; timed from the
uploader's start until the outbox is empty, collector in its own process. The outbox
keeps each record's serialised proto from persist time (agent/outbox/store.py, format 1), signed
with the agent's key as in production (agent/wire/signing.py), so the uploader copies bytes;
the servicer commits batches queued behind a commit together.
raw: the same records, serialized into the same UploadRequests (same batch size, same
window, same TLS) streamed to a server in its own process that parses each request and
acks it, nothing else.
raw_grpc_sqlite: the same stream to a raw grpcio server that also stores each batch the
way the ledger does, written minimally by hand: the same migrated schema, one
transaction per batch (WAL, synchronous=FULL, acked after COMMIT), idempotent by uuid,
rows for records, sms and sms_parts straight from the proto fields, no validation, no
sequence/gap tracking, no domain objects. It is the floor for any Python collector that
stores records durably, so `ratio_vs_raw_grpc_sqlite` says what our layering costs;
`ratio` (against the do-nothing server) says what storing in Python costs at all.

Rounds: ours and the floor run in turn, `--rounds` times after `--warmup` uncounted ones,
the order flipped every round; every server is a fresh process on a fresh ledger, both
tune the garbage collector alike (collector.api.writer.settle_gc), both get the same
records. Figures are medians over the rounds, ratios the median of each round's own
ratio (its two sides ran seconds apart, under much the same load). The floor's client
writes prepared requests while ours is the real uploader reading the outbox, on the same
two cores: `ours_floor_client_per_s` is our collector fed by the floor's client, so
`ratio_floor_client_vs_raw_grpc_sqlite` compares the two servers alone.

Also: outbox_read_per_s (Outbox.pending_wire, what the uploader reads),
outbox_decode_per_s (Outbox.pending, decoded records), link_only_per_s (ours with the
records served from memory: the link and collector without the outbox).
The machine's other load moves every figure; compare within a line.

Prints one JSON line:
{"bench":"ingest","records":N,"ours_per_s":..,"raw_grpc_per_s":..,"ratio":..,"ledger":"sqlite",
 "raw_grpc_sqlite_per_s":..,"ratio_vs_raw_grpc_sqlite":.., ...}
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "protos" / "python")]

import grpc  # noqa: E402
import grpc.aio  # noqa: E402
from smsprobe.v1 import agent_pb2  # noqa: E402

from agent.common.backoff import FixedBackoff  # noqa: E402
from agent.outbox.store import ModemRef, Outbox  # noqa: E402
from agent.uplink.client import Uploader, UploadSettings, make_channel  # noqa: E402
from agent.uplink.model import AgentIdentity  # noqa: E402
from agent.wire.records import (  # noqa: E402
    AgentRegistration,
    ModemInfo,
    ReceivedSms,
    Record,
    SimInfo,
    SmsPart,
)
from agent.wire.serde import WireRecord, batch_to_proto, registration_to_proto  # noqa: E402
from agent.wire.signing import RecordSigner  # noqa: E402
from collector.certs import create_ca, issue_agent  # noqa: E402

AGENT = "bench-agent"
RAW_METHOD = "/smsprobe.bench.Raw/Upload"
RAW_SQLITE_METHOD = "/smsprobe.bench.RawSqlite/Upload"
OUR_UPLOAD = "/smsprobe.v1.AgentService/Upload"
OUR_REGISTER = "/smsprobe.v1.AgentService/Register"
# A real SMS-DELIVER PDU with SMSC prefix (GSM 7-bit "hellohello").
PDU = bytes.fromhex("07911326040000F0040B911346610089F60000208062917314480CC8F71D14969741F977FD07")


def modems(n: int = 8) -> list[ModemInfo]:
    return [
        ModemInfo(
            imei=f"8600000000{i:05d}",
            model="SIM7600",
            sim=SimInfo(iccid=f"8986{i:016d}", carrier="china_mobile"),
        )
        for i in range(n)
    ]


def prefill(outbox: Outbox, n: int) -> None:
    ms = modems()
    for i in range(n):
        m = ms[i % len(ms)]
        now = time.time_ns()
        body = ReceivedSms(
            parts=(
                SmsPart(
                    uuid=f"p{i}-{now}",
                    raw_pdu=PDU,
                    storage="SM",
                    index=i % 50,
                    received_at_ns=now,
                    scts_ns=now - 2 * 10**9,
                ),
            ),
            smsc="+31624000000",
            sender="+31641600986",
            text=f"Your verification code is {i:06d}",
            encoding="gsm7",
        )
        sim = m.sim
        outbox.append(body, ModemRef(key=m.imei, imei=m.imei, iccid=sim.iccid if sim else ""))


# ---------------------------------------------------------------- servers (child process)


def _cpu_s() -> float:
    t = os.times()
    return t.user + t.system


async def serve_ours(directory: Path, ledger_url: str) -> None:
    from collector.api.auth import Authenticator
    from collector.api.server import ServerSettings, TlsMaterial, start_server
    from collector.api.servicer import AgentServicer, ConfigStore
    from collector.ledger import open_ledger

    ca = directory / "ca"
    ledger = open_ledger(ledger_url or str(directory / "ledger.db"))
    servicer = AgentServicer(
        ledger, Authenticator(), ConfigStore(lambda _a: agent_pb2.AgentConfig())
    )
    running = await start_server(
        servicer,
        ServerSettings(
            listen="127.0.0.1:0",
            tls=TlsMaterial(ca / "ca.pem", ca / "collector.pem", ca / "collector.key"),
        ),
    )
    print(running.port, flush=True)
    cpu = _cpu_s()
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
    cpu = _cpu_s() - cpu
    await running.stop(0.5)
    ledger.close()
    print(cpu, flush=True)


async def serve_raw(directory: Path, _ledger_url: str) -> None:
    from collector.api.server import TlsMaterial, server_credentials, server_options

    ca = directory / "ca"

    async def upload(requests: Any, _context: Any) -> Any:
        async for raw in requests:
            req = agent_pb2.UploadRequest.FromString(raw)
            yield agent_pb2.UploadResponse(
                ack=agent_pb2.BatchAck(batch_id=req.batch.batch_id, ingested=len(req.batch.records))
            ).SerializeToString()

    server = grpc.aio.server(options=server_options(4 * 1024 * 1024))
    handler = grpc.method_handlers_generic_handler(
        "smsprobe.bench.Raw", {"Upload": grpc.stream_stream_rpc_method_handler(upload)}
    )
    server.add_generic_rpc_handlers((handler,))
    port = server.add_secure_port(
        "127.0.0.1:0",
        server_credentials(TlsMaterial(ca / "ca.pem", ca / "collector.pem", ca / "collector.key")),
    )
    await server.start()
    print(port, flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
    await server.stop(0.5)


async def serve_raw_sqlite(directory: Path, _ledger_url: str) -> None:
    """Raw grpcio + the ledger's insert, by hand (see the module docstring)."""
    import sqlite3

    from collector.api.server import TlsMaterial, server_credentials, server_options
    from collector.api.writer import settle_gc
    from collector.ledger import open_ledger

    settle_gc()  # the garbage collector tuned as in our serving process (start_server)
    ca = directory / "ca"
    path = directory / "raw-ledger.db"
    open_ledger(str(path)).close()  # the real, migrated schema
    db = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=FULL")
    (top,) = db.execute("SELECT COALESCE(MAX(id), 0) FROM records").fetchone()
    next_id = [int(top) + 1]
    one_writer = threading.Lock()  # one connection; bench/fleet_load.py opens many streams

    def store(batch: Any) -> int:
        with one_writer:
            return store_locked(batch)

    def store_locked(batch: Any) -> int:
        agent_id = batch.agent_id
        now = time.time_ns()
        rows, sms_rows, part_rows = [], [], []
        rid = next_id[0]
        for r in batch.records:
            c, b = r.clock, r.sms
            rows.append(
                (rid, r.uuid, agent_id, 1, r.seq, "sms", r.persisted_at_ns, c.offset_ms,
                 None, c.measured_at_ns, r.modem_imei, r.iccid, now)
            )  # fmt: skip
            parts = b.parts
            sms_rows.append(
                (rid, agent_id, parts[0].received_at_ns, "", b.smsc, b.sender, b.sender_ton,
                 b.text, b.encoding, b.message_class, b.pid, b.dcs, b.concat_ref,
                 b.concat_total, int(b.partial), "", int(b.undecodable), b.user_data)
            )  # fmt: skip
            for i, p in enumerate(parts):
                part_rows.append(
                    (rid, i, p.uuid, p.raw_pdu, p.storage, p.index, p.received_at_ns,
                     p.scts_ns, p.scts_tz_minutes, p.part_seq, p.decode_error)
                )  # fmt: skip
            rid += 1
        db.execute("BEGIN IMMEDIATE")
        n = db.executemany(
            "INSERT INTO records (id, uuid, agent_id, seq_epoch, seq, kind, persisted_at_ns,"
            " clock_offset_ms, clock_uncertainty_ms, clock_measured_at_ns, modem_imei, iccid,"
            " ingested_at_ns) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
            " ON CONFLICT DO NOTHING",
            rows,
        ).rowcount
        db.executemany(
            "INSERT INTO sms (record_id, agent_id, received_at_ns, msisdn, smsc, sender,"
            " sender_ton, text, encoding, message_class, pid, dcs, concat_ref, concat_total,"
            " partial, missing_parts, undecodable, user_data)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            sms_rows,
        )
        db.executemany(
            "INSERT INTO sms_parts (record_id, position, uuid, raw_pdu, storage,"
            " storage_index, received_at_ns, scts_ns, scts_tz_minutes, part_seq, decode_error)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            part_rows,
        )
        db.execute("COMMIT")
        next_id[0] = rid
        return int(n)

    async def upload(requests: Any, _context: Any) -> Any:
        async for raw in requests:
            batch = agent_pb2.UploadRequest.FromString(raw).batch
            # Off the loop like the servicer's ledger calls: commits overlap with receiving.
            ingested = await asyncio.to_thread(store, batch)
            yield agent_pb2.UploadResponse(
                ack=agent_pb2.BatchAck(batch_id=batch.batch_id, ingested=ingested)
            ).SerializeToString()

    server = grpc.aio.server(options=server_options(4 * 1024 * 1024))
    handler = grpc.method_handlers_generic_handler(
        "smsprobe.bench.RawSqlite", {"Upload": grpc.stream_stream_rpc_method_handler(upload)}
    )
    server.add_generic_rpc_handlers((handler,))
    port = server.add_secure_port(
        "127.0.0.1:0",
        server_credentials(TlsMaterial(ca / "ca.pem", ca / "collector.pem", ca / "collector.key")),
    )
    await server.start()
    print(port, flush=True)
    cpu = _cpu_s()
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
    cpu = _cpu_s() - cpu
    await server.stop(0.5)
    (stored,) = db.execute("SELECT COUNT(*) FROM records").fetchone()
    db.close()
    print(stored, flush=True)
    print(cpu, flush=True)


def spawn(role: str, directory: Path, ledger_url: str = "") -> tuple[subprocess.Popen[str], int]:
    proc = subprocess.Popen(
        [sys.executable, __file__, "--serve", role, "--dir", str(directory)]
        + (["--ledger-url", ledger_url] if ledger_url else []),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        cwd=ROOT,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line.strip():
        proc.kill()
        raise RuntimeError(f"{role} server did not start")
    return proc, int(line)


def stop(proc: subprocess.Popen[str]) -> list[str]:
    """End a server; returns what it printed after its port (counts, its CPU seconds)."""
    assert proc.stdin is not None and proc.stdout is not None
    proc.stdin.close()
    try:
        out = proc.stdout.read()
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        return []
    return out.split()


# ---------------------------------------------------------------- clients


def channel(directory: Path, port: int) -> grpc.aio.Channel:
    agent = directory / "ca" / "agents"
    return make_channel(
        f"127.0.0.1:{port}",
        ca_cert=agent / "ca.pem",
        cert=agent / f"{AGENT}.pem",
        key=agent / f"{AGENT}.key",
    )


class CountingOutbox:
    """RecordSource over the real Outbox that notes when every record was acked, so the
    benchmark does not poll COUNT(*) against the uploader."""

    def __init__(self, outbox: Outbox, expect: int) -> None:
        self.outbox = outbox
        self.expect = expect
        self.acked = 0
        self.done = asyncio.Event()

    def pending(self, after_seq: int, limit: int) -> list[Record]:
        return self.outbox.pending(after_seq, limit)

    def pending_wire(self, after_seq: int, limit: int) -> list[WireRecord]:
        return self.outbox.pending_wire(after_seq, limit)

    def mark_acked(self, seqs: Iterable[int]) -> None:
        seqs = list(seqs)
        self.outbox.mark_acked(seqs)
        self.acked += len(seqs)
        if self.acked >= self.expect:
            self.done.set()

    def depth(self) -> int:
        return self.outbox.depth()

    def oldest_pending_ns(self) -> int:
        return self.outbox.oldest_pending_ns()

    def last_seq(self) -> int:
        return self.outbox.last_seq()


class MemorySource:
    """The same records held in memory (a stand-in, named as such): measures the link
    itself — uploader, gRPC/TLS, servicer, ledger — without the outbox's decoding."""

    def __init__(self, records: list[Record], wires: list[WireRecord]) -> None:
        self.records = records
        # The outbox's own (signed) bytes, as it stores them (agent/outbox/store.py, format 1).
        self.wires = {w.seq: w for w in wires}
        self.seqs = [r.seq for r in records]
        self.acked: set[int] = set()
        self.expect = len(records)
        self.done = asyncio.Event()

    def pending(self, after_seq: int, limit: int) -> list[Record]:
        out: list[Record] = []
        for r in self.records[bisect.bisect_right(self.seqs, after_seq) :]:
            if r.seq not in self.acked:
                out.append(r)
                if len(out) == limit:
                    break
        return out

    def pending_wire(self, after_seq: int, limit: int) -> list[WireRecord]:
        return [self.wires[r.seq] for r in self.pending(after_seq, limit)]

    def mark_acked(self, seqs: Iterable[int]) -> None:
        self.acked.update(seqs)
        if len(self.acked) >= self.expect:
            self.done.set()

    def depth(self) -> int:
        return self.expect - len(self.acked)

    def oldest_pending_ns(self) -> int:
        first = self.pending(0, 1)
        return first[0].persisted_at_ns if first else 0

    def last_seq(self) -> int:
        return self.seqs[-1] if self.seqs else 0


async def run_ours(
    directory: Path,
    source: CountingOutbox | MemorySource,
    port: int,
    settings: UploadSettings,
) -> float:
    up = Uploader(
        source,
        lambda: channel(directory, port),
        AgentIdentity(AGENT),
        modems_provider=modems,
        backoff=FixedBackoff(0.05),
        settings=settings,
    )
    stop_event = asyncio.Event()
    started = time.perf_counter()
    task = asyncio.create_task(up.run(stop_event))
    finished = asyncio.create_task(source.done.wait())
    await asyncio.wait([task, finished], return_when=asyncio.FIRST_COMPLETED)
    if task.done():
        task.result()
        raise RuntimeError("uploader ended early")
    elapsed = time.perf_counter() - started
    stop_event.set()
    await task
    if source.depth() != 0:
        raise RuntimeError("records left unacked")
    return elapsed


async def run_raw(
    directory: Path, port: int, requests: list[bytes], window: int, method_name: str = RAW_METHOD
) -> float:
    async with channel(directory, port) as ch:
        await ch.channel_ready()
        method: grpc.aio.StreamStreamMultiCallable[bytes, bytes] = ch.stream_stream(method_name)
        started = time.perf_counter()
        call = method()
        slots = asyncio.Semaphore(window)

        async def reader() -> None:
            n = 0
            async for _ in call:
                slots.release()
                n += 1
                if n == len(requests):
                    return

        read = asyncio.create_task(reader())
        for raw in requests:
            await slots.acquire()
            await call.write(raw)
        await read
        elapsed = time.perf_counter() - started
        await call.done_writing()
        return elapsed


def _count(ledger_url: str) -> int:
    from collector.ledger import open_ledger

    ledger = open_ledger(ledger_url)
    try:
        return ledger.record_count()
    finally:
        ledger.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--records", type=int, default=20_000)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--window", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=5, help="counted rounds (median)")
    parser.add_argument("--warmup", type=int, default=1, help="rounds run first, not counted")
    parser.add_argument(
        "--ledger",
        choices=("sqlite", "postgresql"),
        default="sqlite",
        help="our collector's ledger (postgresql: a durable PostgreSQL 15 started here;"
        " the floor stays raw grpcio + SQLite)",
    )
    parser.add_argument("--ledger-url", default="", help=argparse.SUPPRESS)
    parser.add_argument("--serve", choices=("ours", "raw", "raw_sqlite"), help=argparse.SUPPRESS)
    parser.add_argument("--dir", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    import structlog

    # Errors only, on stderr: stdout carries the port (servers) or the one JSON line.
    structlog.configure(
        wrapper_class=structlog.make_filtering_bound_logger(40),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
    )
    if args.serve:
        serve = {"ours": serve_ours, "raw": serve_raw, "raw_sqlite": serve_raw_sqlite}
        asyncio.run(serve[args.serve](args.dir, args.ledger_url))
        return
    pg = None
    if args.ledger == "postgresql":
        from tests.servers.postgres import start_postgres

        pg = start_postgres(durable=True)  # fsync + synchronous_commit on, like the SQLite
    try:
        run(args, pg)
    finally:
        if pg is not None:
            pg.stop()


def register(directory: Path, port: int) -> None:
    """Register the bench agent with our collector, as the uploader does first: for the
    rounds that drive our collector with the floor's client."""
    request = registration_to_proto(AgentRegistration(AGENT, modems=tuple(modems())))

    async def call() -> None:
        async with channel(directory, port) as ch:
            method: grpc.aio.UnaryUnaryMultiCallable[bytes, bytes] = ch.unary_unary(OUR_REGISTER)
            await method(request.SerializeToString())

    asyncio.run(call())


def median(values: list[float]) -> float:
    return statistics.median(values)


def run(args: argparse.Namespace, pg: Any) -> None:
    with tempfile.TemporaryDirectory(prefix="smsprobe-bench-") as tmp:
        d = Path(tmp)
        create_ca(d / "ca")
        issued = issue_agent(d / "ca", AGENT)
        # Prefill on tmpfs (fsync per append would dominate the run time), then move the
        # closed, checkpointed file to disk: the timed run uses a disk-backed Outbox.
        with tempfile.TemporaryDirectory(
            dir="/dev/shm" if Path("/dev/shm").is_dir() else None
        ) as shm:
            # Signed at persist with the agent's key, as `smsprobe-agent run` does.
            filling = Outbox(Path(shm) / "outbox.db", signer=RecordSigner.from_pem_file(issued.key))
            prefill(filling, args.records)
            filling.close()
            shutil.copyfile(Path(shm) / "outbox.db", d / "outbox-filled.db")
        shutil.copyfile(d / "outbox-filled.db", d / "outbox.db")
        outbox = Outbox(d / "outbox.db")
        settings = UploadSettings(batch_max_records=args.batch, window=args.window)
        # Same records, same batching, serialized up front for the raw runs.
        records = outbox.pending(0, args.records)
        stored_wires = outbox.pending_wire(0, args.records)
        signed = [agent_pb2.Record.FromString(w.wire) for w in stored_wires]
        requests = [
            batch_to_proto(
                AGENT,
                i // args.batch + 1,
                signed[i : i + args.batch],
                outbox_depth=0,
                oldest_pending_ns=0,
            ).SerializeToString()
            for i in range(0, len(records), args.batch)
        ]

        # The ceiling the outbox itself sets: reading its records in batches as the
        # uploader does (serialised, pending_wire), and decoded (pending) for reference.
        started = time.perf_counter()
        after = 0
        while wires := outbox.pending_wire(after, args.batch):
            after = wires[-1].seq
        outbox_read_s = time.perf_counter() - started
        started = time.perf_counter()
        after = 0
        while chunk := outbox.pending(after, args.batch):
            after = chunk[-1].seq
        outbox_decode_s = time.perf_counter() - started
        outbox.close()

        proc, port = spawn("raw", d)
        try:
            raw_s = asyncio.run(run_raw(d, port, requests, args.window))
        finally:
            stop(proc)

        def ledger_url(name: str) -> str:
            if pg is None:
                return str(d / f"{name}.db")
            return str(pg.url(pg.create_database()))

        def drop(url: str) -> None:
            if pg is None:
                for f in d.glob(Path(url).name + "*"):
                    f.unlink()

        def floor(_n: int) -> tuple[float, float]:
            for f in d.glob("raw-ledger.db*"):
                f.unlink()  # a fresh floor ledger every round, like ours
            proc, port = spawn("raw_sqlite", d)
            try:
                elapsed = asyncio.run(run_raw(d, port, requests, args.window, RAW_SQLITE_METHOD))
            finally:
                raw_stored, cpu = (float(x) for x in stop(proc))
            if raw_stored != args.records:
                raise SystemExit(f"the floor stored {raw_stored}, expected {args.records}")
            return elapsed, cpu

        def ours(n: int) -> tuple[float, float]:
            """The real uploader over a fresh copy of the filled outbox."""
            shutil.copyfile(d / "outbox-filled.db", d / "outbox.db")
            box = Outbox(d / "outbox.db")
            url = ledger_url(f"ledger-{n}")
            proc, port = spawn("ours", d, url)
            try:
                elapsed = asyncio.run(
                    run_ours(d, CountingOutbox(box, len(records)), port, settings)
                )
            finally:
                (cpu,) = (float(x) for x in stop(proc))
                box.close()
            stored = _count(url)
            drop(url)
            if stored != args.records:
                raise SystemExit(f"our ledger holds {stored}, expected {args.records}")
            return elapsed, cpu

        def ours_floor_client(n: int) -> tuple[float, float]:
            """Our collector fed by the floor's client (the same prepared requests)."""
            url = ledger_url(f"ledger-client-{n}")
            proc, port = spawn("ours", d, url)
            try:
                register(d, port)
                elapsed = asyncio.run(run_raw(d, port, requests, args.window, OUR_UPLOAD))
            finally:
                (cpu,) = (float(x) for x in stop(proc))
            stored = _count(url)
            drop(url)
            if stored != args.records:
                raise SystemExit(f"our ledger holds {stored}, expected {args.records}")
            return elapsed, cpu

        # Rounds: the floor and ours in turn, the order flipped every round so neither
        # side always runs first (a page cache warmed, a neighbour's burst); the first
        # `--warmup` rounds are not counted. Each figure is the median over the rounds,
        # each ratio the median of the rounds' own ratios (a round's sides run seconds
        # apart, under much the same load).
        sides = {"floor": floor, "ours": ours, "ours_floor_client": ours_floor_client}
        got: dict[str, list[tuple[float, float]]] = {name: [] for name in sides}
        for n in range(args.warmup + args.rounds):
            order = ["floor", "ours", "ours_floor_client"]
            for name in order if n % 2 == 0 else order[::-1]:
                result = sides[name](n)
                if n >= args.warmup:
                    got[name].append(result)

        # Same link, same records, a fresh ledger, records served from memory.
        link_url = ledger_url("ledger-link")
        proc, port = spawn("ours", d, link_url)
        try:
            link_s = asyncio.run(run_ours(d, MemorySource(records, stored_wires), port, settings))
        finally:
            stop(proc)
        if _count(link_url) != args.records:
            raise SystemExit("the link-only ledger lost records")

    n = args.records

    def rates(name: str) -> list[float]:
        return [n / elapsed for elapsed, _ in got[name]]

    def cpu_us(name: str) -> list[float]:
        return [cpu / n * 1e6 for _, cpu in got[name]]

    ratios = [a / b for a, b in zip(rates("ours"), rates("floor"), strict=True)]
    cpu_ratios = [b / a for a, b in zip(cpu_us("ours"), cpu_us("floor"), strict=True)]
    client_ratios = [a / b for a, b in zip(rates("ours_floor_client"), rates("floor"), strict=True)]
    ours_rate = median(rates("ours"))
    raw = n / raw_s
    print(
        json.dumps(
            {
                "bench": "ingest",
                "records": n,
                "rounds": args.rounds,
                "ours_per_s": round(ours_rate),
                "raw_grpc_per_s": round(raw),
                "ratio": round(ours_rate / raw, 3),
                "ledger": args.ledger,
                "raw_grpc_sqlite_per_s": round(median(rates("floor"))),
                "ratio_vs_raw_grpc_sqlite": round(median(ratios), 3),
                "ratios_vs_raw_grpc_sqlite": [round(r, 3) for r in ratios],
                "ours_server_cpu_us_per_record": round(median(cpu_us("ours")), 1),
                "raw_grpc_sqlite_server_cpu_us_per_record": round(median(cpu_us("floor")), 1),
                "cpu_ratio_vs_raw_grpc_sqlite": round(median(cpu_ratios), 3),
                "cpu_ratios_vs_raw_grpc_sqlite": [round(r, 3) for r in cpu_ratios],
                "ours_floor_client_per_s": round(median(rates("ours_floor_client"))),
                "ratio_floor_client_vs_raw_grpc_sqlite": round(median(client_ratios), 3),
                "ours_floor_client_cpu_us_per_record": round(
                    median(cpu_us("ours_floor_client")), 1
                ),
                "outbox_read_per_s": round(n / outbox_read_s),
                "outbox_decode_per_s": round(n / outbox_decode_s),
                "link_only_per_s": round(n / link_s),
                "batch": args.batch,
                "window": args.window,
                "cpus": os.cpu_count(),
            }
        )
    )


if __name__ == "__main__":
    main()
