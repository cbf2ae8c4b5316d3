"""The agent's uploader: outbox → acked gRPC batches → mark_acked.

One session = one channel: Register (learn `committed_seq`), SyncClock, then the Upload
stream plus WatchConfig and periodic SyncClock alongside. A record is marked acked only
when the collector acked the batch that carried it (the collector acks after its ledger
committed, agent.proto), so a crash anywhere means a replay, never a loss; the collector
ingests idempotently by UUID.

Several collectors (docs/scale-out.md): the uploader is given their addresses in order and
uses the first that answers. When a session fails to connect or its stream breaks, it
moves on to the next address at once (round-robin); the jittered back-off comes only
after a full round of addresses without an acked batch. A session on another collector
Registers like any other: the shared ledger's `committed_seq` says what is already
committed, everything else still unacked in the outbox is sent again, and the collectors
ingest idempotently by UUID, so moving loses nothing and stores nothing twice.

Backlog vs live: at session start everything at or below the outbox's `last_seq` is
backlog. Each batch carries the newest live records first, up to `live_share` of the
batch, and fills the rest from the backlog in seq order — an hour-long outage drains
without delaying fresh SMS by an hour. Seqs therefore arrive out of order at the
collector, which tracks gaps per seq (collector/ledger). A batch holding backlog only is
marked `Batch.backlog`, so the collector commits other agents' live batches ahead of it.
While the backlog drains, a live record may take one slot beyond `window` when backlog
batches fill it: it goes out at once even while the collector holds all of this agent's
backlog batches (queued behind other agents' backlog, or a busy ledger) and is committed
ahead of them, instead of waiting for one of them to be acked.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Executor, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

import grpc
import grpc.aio
import structlog
from smsprobe.v1 import agent_pb2, agent_pb2_grpc

from agent.common.backoff import Backoff, ExponentialBackoff
from agent.metrics import AgentMetrics
from agent.uplink.clock import ClockFilter, ClockSample
from agent.uplink.model import AgentIdentity
from agent.wire.records import (
    AgentRegistration,
    ClockEstimate,
    ModemHealth,
    ModemInfo,
    Record,
    RemoteConfig,
)
from agent.wire.serde import (
    SerdeError,
    WireRecord,
    config_from_proto,
    health_from_proto,
    record_frame_head,
    record_to_wire,
    registration_to_proto,
    upload_request_from_frames,
)

if TYPE_CHECKING:
    from agent.config import AgentConfig, CollectorConfig

log = structlog.get_logger("agent.uplink")

T = TypeVar("T")
MIN_BATCH_BYTES = 16 * 1024
ChannelFactory = Callable[[], grpc.aio.Channel]
ModemsProvider = Callable[[], Sequence[ModemInfo]]


UPLOAD_METHOD = "/smsprobe.v1.AgentService/Upload"


class RecordSource(Protocol):
    """The outbox as the uplink sees it."""

    def pending(self, after_seq: int, limit: int) -> list[Record]:
        """Records not yet acked with seq > after_seq, in seq order, at most `limit`."""
        ...

    def mark_acked(self, seqs: Iterable[int]) -> None:
        """The collector committed these; they may now be pruned."""
        ...

    def depth(self) -> int:
        """Records not yet acked."""
        ...

    def oldest_pending_ns(self) -> int:
        """persisted_at of the oldest record not yet acked; 0 when none."""
        ...

    def last_seq(self) -> int:
        """Highest sequence number ever given (0 = none)."""
        ...


class WireRecordSource(RecordSource, Protocol):
    """A RecordSource that also hands out records already serialised (agent.outbox.store)."""

    def pending_wire(self, after_seq: int, limit: int) -> list[WireRecord]:
        """As `pending`, each record as its serialised smsprobe.v1.Record."""
        ...


class _EncodingSource:
    """Adapter for a plain RecordSource: encodes its records when they are fetched."""

    def __init__(self, source: RecordSource) -> None:
        self._source = source

    def pending(self, after_seq: int, limit: int) -> list[Record]:
        return self._source.pending(after_seq, limit)

    def pending_wire(self, after_seq: int, limit: int) -> list[WireRecord]:
        return [record_to_wire(r) for r in self._source.pending(after_seq, limit)]

    def mark_acked(self, seqs: Iterable[int]) -> None:
        self._source.mark_acked(seqs)

    def depth(self) -> int:
        return self._source.depth()

    def oldest_pending_ns(self) -> int:
        return self._source.oldest_pending_ns()

    def last_seq(self) -> int:
        return self._source.last_seq()


def wire_source(source: RecordSource) -> WireRecordSource:
    """`source` itself when it serves serialised records, else an encoding adapter."""
    if callable(getattr(source, "pending_wire", None)):
        return source  # type: ignore[return-value]
    return _EncodingSource(source)


class UplinkError(Exception):
    """Root of the uplink's own errors."""


class StreamBrokenError(UplinkError):
    """The collector closed the upload stream while batches were still unacked."""


class Transience(enum.Enum):
    TRANSIENT = "transient"  # network, restart, overload: retry with backoff
    FATAL = "fatal"  # identity or protocol problem: an operator must act; retry slowly


_FATAL_CODES = frozenset(
    {
        grpc.StatusCode.PERMISSION_DENIED,
        grpc.StatusCode.UNAUTHENTICATED,
        grpc.StatusCode.INVALID_ARGUMENT,
        grpc.StatusCode.UNIMPLEMENTED,
    }
)


def classify(code: grpc.StatusCode | None) -> Transience:
    """The one place that decides whether a failed call is worth a quick retry.

    FAILED_PRECONDITION ("call Register first", e.g. a collector whose ledger was
    replaced) is transient: the next session registers again."""
    return Transience.FATAL if code in _FATAL_CODES else Transience.TRANSIENT


@dataclass(frozen=True, slots=True)
class UploadSettings:
    batch_max_records: int = 500
    batch_max_bytes: int = 2 * 1024 * 1024  # well under the collector's message limit
    poll_interval_s: float = 0.05  # how long a new record may wait when nothing wakes us
    window: int = 8  # batches in flight, unacked
    live_share: float = 0.5  # share of a batch reserved for live records during a backlog
    rpc_timeout_s: float = 10.0
    clock_samples_on_connect: int = 4
    clock_sync_interval_s: float = 60.0  # unless the collector's config sets its own
    fatal_retry_s: float = 60.0  # delay after PERMISSION_DENIED & co.
    drain_timeout_s: float = 5.0  # on stop, wait this long for outstanding acks
    skip_chunk: int = 5000
    gauge_interval_s: float = 1.0  # outbox depth/age refresh
    io_thread: bool = True  # outbox calls on a worker thread (False: inline on the loop)


@dataclass(slots=True)
class _InFlight:
    batch_id: int
    seqs: list[int]
    oldest_persisted_ns: int
    backlog: bool  # Batch.backlog: holds one of the backlog's slots too


@dataclass(slots=True)
class _Gauges:
    at_ns: int = 0
    depth: int = 0
    oldest_ns: int = 0


@dataclass(slots=True)
class _Cursors:
    live: int  # highest live seq taken
    backlog: int  # highest backlog seq taken
    backlog_end: int  # last_seq at session start; 0 once the backlog is drained
    backlog_done: bool


@dataclass(frozen=True, slots=True)
class Endpoint:
    """One collector the uploader may connect to: its address (for logs and the
    smsprobe_agent_collector_connected gauge) and how to open a channel to it."""

    address: str
    connect: ChannelFactory


def collector_endpoints(collector: CollectorConfig) -> tuple[Endpoint, ...]:
    """The configured collectors, in the order they are tried."""

    def factory(address: str) -> ChannelFactory:
        return lambda: make_channel(
            address,
            ca_cert=collector.ca_cert,
            cert=collector.cert,
            key=collector.key,
            insecure=collector.insecure,
        )

    return tuple(Endpoint(address, factory(address)) for address in collector.addresses)


def make_channel(
    address: str,
    *,
    ca_cert: Path | None,
    cert: Path | None,
    key: Path | None,
    insecure: bool = False,
    max_message_bytes: int = 8 * 1024 * 1024,
) -> grpc.aio.Channel:
    """A channel to the collector: mTLS unless `insecure` is explicitly set."""
    options: list[tuple[str, Any]] = [
        ("grpc.max_send_message_length", max_message_bytes),
        ("grpc.max_receive_message_length", max_message_bytes),
        # Detect a dead collector behind NAT/firewalls within ~30 s.
        ("grpc.keepalive_time_ms", 20_000),
        ("grpc.keepalive_timeout_ms", 10_000),
        ("grpc.keepalive_permit_without_calls", 1),
        ("grpc.http2.max_pings_without_data", 0),
        # We reconnect with our own backoff on a fresh channel.
        ("grpc.initial_reconnect_backoff_ms", 100),
        ("grpc.enable_retries", 0),
    ]
    if insecure:
        log.warning("uplink_insecure_channel", address=address, note="no TLS: test use only")
        return grpc.aio.insecure_channel(address, options=options)
    if ca_cert is None or cert is None or key is None:
        raise UplinkError("mTLS needs [collector] ca_cert, cert and key (or insecure = true)")
    creds = grpc.ssl_channel_credentials(
        root_certificates=ca_cert.read_bytes(),
        private_key=key.read_bytes(),
        certificate_chain=cert.read_bytes(),
    )
    return grpc.aio.secure_channel(address, creds, options=options)


class Uploader:
    """Streams an outbox (`RecordSource`) to the collector until `stop` is set.

    `collectors` is one channel factory (a single collector) or the `Endpoint`s of
    several, failed over between in order (see the module docstring)."""

    def __init__(
        self,
        source: RecordSource,
        collectors: ChannelFactory | Sequence[Endpoint],
        identity: AgentIdentity,
        *,
        modems_provider: ModemsProvider = lambda: (),
        backoff: Backoff | None = None,
        clock_ns: Callable[[], int] = time.time_ns,
        settings: UploadSettings | None = None,
        metrics: AgentMetrics | None = None,
        on_config: Callable[[RemoteConfig], None] | None = None,
        io_executor: Executor | None = None,
        clock_filter: ClockFilter | None = None,
    ) -> None:
        self._source = wire_source(source)
        if callable(collectors):
            collectors = (Endpoint("collector", collectors),)
        if not collectors:
            raise UplinkError("no collector to connect to")
        self._endpoints = tuple(collectors)
        self._progress = False  # a batch was acked in the current session
        self._identity = identity
        self._modems_provider = modems_provider
        self._backoff = backoff or ExponentialBackoff()
        self._clock_ns = clock_ns
        self._settings = settings or UploadSettings()
        self._metrics = metrics or AgentMetrics()
        self._on_config = on_config
        # Where outbox calls run; None: a worker thread of our own while running
        # (settings.io_thread), or inline on the loop.
        self._io_executor = io_executor
        self._clock = clock_filter or ClockFilter()
        self._clock_source = ""  # the collector address whose clock `_clock` measured
        self._config = RemoteConfig()
        self._config_changed = asyncio.Event()  # a new RemoteConfig: the clock loop re-plans
        self._wake = asyncio.Event()
        self._health: dict[str, ModemHealth] = {}
        self._batch_id = 0
        self._max_bytes = self._settings.batch_max_bytes
        self._registered_modems: tuple[tuple[str, str], ...] = ()
        self.sessions = 0  # registered sessions so far (for tests and logs)
        self.connected_to = ""  # the address of the collector registered with, "" if none

    # ------------------------------------------------------------ public

    def clock_estimate(self) -> ClockEstimate:
        """The estimate in force now; the outbox stamps it on every record it persists."""
        return self._clock.estimate(self._clock_ns())

    @property
    def remote_config(self) -> RemoteConfig:
        return self._config

    def notify(self) -> None:
        """New records were persisted: send without waiting for the next poll."""
        self._wake.set()

    async def run(self, stop: asyncio.Event) -> None:
        own_executor = None
        if self._io_executor is None and self._settings.io_thread:
            # One worker thread: outbox calls stay serialized (SQLite), and their fsyncs
            # and decoding overlap with encoding and the network instead of stalling it.
            own_executor = ThreadPoolExecutor(1, thread_name_prefix="uplink-outbox")
            self._io_executor = own_executor
        try:
            await self._run(stop)
        finally:
            if own_executor is not None:
                self._io_executor = None
                own_executor.shutdown(wait=True)

    async def _run(self, stop: asyncio.Event) -> None:
        endpoints = self._endpoints
        for endpoint in endpoints:
            self._metrics.collector_connected.labels(endpoint.address).set(0)
        index = 0
        failed = 0  # sessions ended since the last one that got a batch acked
        all_fatal = True  # every one of them failed with an identity/protocol error
        while not stop.is_set():
            endpoint = endpoints[index]
            fatal = False
            self._progress = False
            try:
                await self._session(stop, endpoint)
            except grpc.aio.AioRpcError as exc:
                code = exc.code()
                self._metrics.grpc_errors.labels("session", code.name).inc()
                fatal = classify(code) is Transience.FATAL
                log.warning(
                    "uplink_session_failed",
                    collector=endpoint.address,
                    code=code.name,
                    detail=exc.details(),
                    transience="fatal" if fatal else "transient",
                )
                if code == grpc.StatusCode.RESOURCE_EXHAUSTED:
                    # The collector's message limit is below our batch budget: halve it
                    # rather than resend the same oversized batch forever.
                    self._max_bytes = max(MIN_BATCH_BYTES, self._max_bytes // 2)
                    log.warning("uplink_batch_bytes_reduced", batch_max_bytes=self._max_bytes)
            except (StreamBrokenError, OSError) as exc:
                log.warning(
                    "uplink_session_failed",
                    collector=endpoint.address,
                    error=str(exc),
                    transience="transient",
                )
            except UplinkError:
                raise  # misconfiguration (e.g. no certificate): retrying cannot help
            except Exception:
                # Anything else (an outbox read failing, a grpc internal error) must not
                # end uploading for good: log it loudly and retry like a network error.
                log.exception("uplink_session_crashed", collector=endpoint.address)
            finally:
                self._metrics.connected.set(0)
                self._metrics.collector_connected.labels(endpoint.address).set(0)
                self._metrics.batches_in_flight.set(0)
                self.connected_to = ""
            if stop.is_set():
                break
            self._metrics.reconnects.inc()
            if self._progress:
                failed, all_fatal = 0, True
            failed += 1
            all_fatal = all_fatal and fatal
            index = (index + 1) % len(endpoints)
            delay = 0.0
            if failed >= len(endpoints):
                # A full round without progress: back off (jittered) before the next
                # round, not between addresses, so a dead collector costs no delay.
                delay = self._backoff.next_delay()
                if all_fatal:
                    delay = max(delay, self._settings.fatal_retry_s)
                failed, all_fatal = 0, True
            if len(endpoints) > 1:
                log.info(
                    "uplink_failover",
                    collector=endpoint.address,
                    next=endpoints[index].address,
                    delay_s=round(delay, 3),
                )
            if delay:
                await wait_set(stop, delay)

    # ------------------------------------------------------------ session

    async def _io(self, fn: Callable[..., T], *args: Any) -> T:
        if self._io_executor is None:
            return fn(*args)
        return await asyncio.get_running_loop().run_in_executor(self._io_executor, fn, *args)

    async def _session(self, stop: asyncio.Event, endpoint: Endpoint) -> None:
        channel = endpoint.connect()
        try:
            stub = agent_pb2_grpc.AgentServiceStub(channel)  # type: ignore[no-untyped-call]
            last_seq = await self._io(self._source.last_seq)
            reply = await self._register(stub, last_seq)
            self.sessions += 1
            self.connected_to = endpoint.address
            self._metrics.connected.set(1)
            self._metrics.collector_connected.labels(endpoint.address).set(1)
            log.info(
                "uplink_connected",
                collector=endpoint.address,
                session_id=reply.session_id,
                committed_seq=reply.committed_seq,
            )
            await self._skip_committed(reply.committed_seq, last_seq)
            clock = self._clock
            if self._clock_source and self._clock_source != endpoint.address:
                # Another collector, another clock: the previous one's samples say
                # nothing about it. Its own samples replace them once they are taken.
                clock = self._clock.fresh()
            await self._sync_clock(stub, self._settings.clock_samples_on_connect, clock)
            self._clock, self._clock_source = clock, endpoint.address
            try:
                async with asyncio.TaskGroup() as tg:
                    upload = tg.create_task(self._upload(channel, stub, stop, last_seq))
                    side = [
                        tg.create_task(self._watch_config(stub)),
                        tg.create_task(self._clock_loop(stub)),
                    ]
                    await upload
                    for task in side:
                        task.cancel()
            except BaseExceptionGroup as group:
                raise _first_error(group) from None
        finally:
            await channel.close(grace=None)

    def _modems(self) -> tuple[list[ModemInfo], tuple[tuple[str, str], ...]]:
        modems = list(self._modems_provider())
        key = tuple(sorted((m.imei, m.sim.iccid if m.sim else "") for m in modems))
        return modems, key

    async def _register(
        self, stub: agent_pb2_grpc.AgentServiceStub, last_seq: int
    ) -> agent_pb2.RegisterResponse:
        modems, key = self._modems()
        me = self._identity
        request = registration_to_proto(
            AgentRegistration(
                agent_id=me.agent_id,
                software_version=me.software_version,
                capabilities=me.capabilities,
                site=me.site,
                region=me.region,
                modems=tuple(modems),
                agent_time_ns=self._clock_ns(),
                last_seq=last_seq,
            )
        )
        reply = await stub.Register(request, timeout=self._settings.rpc_timeout_s)
        self._registered_modems = key
        log.info(
            "uplink_registered",
            session_id=reply.session_id,
            committed_seq=reply.committed_seq,
            last_seq=last_seq,
            modems=len(modems),
            config_version=reply.config_version,
        )
        return reply  # type: ignore[no-any-return]

    async def _skip_committed(self, committed_seq: int, last_seq: int) -> None:
        """Mark acked what the collector already committed (it acked, we crashed)."""
        if committed_seq == 0:
            return
        if committed_seq > last_seq:
            # The outbox restarted its sequence (lost or replaced): the collector's
            # committed_seq belongs to the old one and must not hide new records.
            log.warning(
                "uplink_committed_seq_ahead", committed_seq=committed_seq, last_seq=last_seq
            )
            return
        skipped = 0
        while True:
            chunk = await self._io(self._source.pending_wire, 0, self._settings.skip_chunk)
            seqs = [r.seq for r in chunk if r.seq <= committed_seq]
            if not seqs:
                break
            await self._io(self._source.mark_acked, seqs)
            skipped += len(seqs)
            if len(seqs) < len(chunk):
                break
        if skipped:
            log.info("uplink_committed_skipped", records=skipped, committed_seq=committed_seq)

    # ------------------------------------------------------------ clock

    async def _sync_clock(
        self,
        stub: agent_pb2_grpc.AgentServiceStub,
        samples: int,
        clock: ClockFilter | None = None,
    ) -> None:
        """Take `samples` exchanges into `clock` (default: the filter in force)."""
        if clock is None:  # not `or`: an empty filter is falsy (it has a length)
            clock = self._clock
        for _ in range(samples):
            t1 = self._clock_ns()
            try:
                reply = await stub.SyncClock(
                    agent_pb2.ClockRequest(agent_id=self._identity.agent_id, t1_ns=t1),
                    timeout=self._settings.rpc_timeout_s,
                )
            except grpc.aio.AioRpcError as exc:
                self._metrics.grpc_errors.labels("SyncClock", exc.code().name).inc()
                raise
            t4 = self._clock_ns()
            try:
                clock.add(ClockSample(t1, reply.t2_ns, reply.t3_ns, t4))
            except ValueError as exc:
                log.warning("clock_sample_discarded", reason=str(exc))
                continue
        est = clock.estimate(self._clock_ns())
        self._metrics.clock_offset_ms.set(est.offset_ms)
        self._metrics.clock_uncertainty_ms.set(est.uncertainty_ms)
        log.debug(
            "clock_synced",
            offset_ms=round(est.offset_ms, 3),
            uncertainty_ms=round(est.uncertainty_ms, 3),
        )

    def clock_sync_interval_s(self) -> float:
        """The collector's `[agents] clock_sync_interval_s` once it sent one, else ours."""
        return self._config.clock_sync_interval_s or self._settings.clock_sync_interval_s

    async def _clock_loop(self, stub: agent_pb2_grpc.AgentServiceStub) -> None:
        """One clock sample every interval after the connect's; a config that changes the
        interval takes effect at once (the wait re-planned from the last sample), not after
        the interval in force when the session started."""
        loop = asyncio.get_running_loop()
        last = loop.time()  # the connect's samples were just taken
        while True:
            self._config_changed.clear()
            due = last + self.clock_sync_interval_s() - loop.time()
            if due > 0:
                # asyncio.timeout, not wait_for: on 3.11 wait_for swallows a cancel that
                # lands as the config arrives, and this loop would outlive its session.
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(due):
                        await self._config_changed.wait()
                continue
            await self._sync_clock(stub, 1)
            last = loop.time()

    # ------------------------------------------------------------ config

    async def _watch_config(self, stub: agent_pb2_grpc.AgentServiceStub) -> None:
        request = agent_pb2.ConfigRequest(
            agent_id=self._identity.agent_id, have_version=self._config.version
        )
        try:
            async for pb in stub.WatchConfig(request):
                config = config_from_proto(pb)
                self._config = config
                self._config_changed.set()
                self._metrics.config_version.set(config.version)
                log.info("remote_config_received", version=config.version)
                if self._on_config is not None:
                    self._on_config(config)
        except grpc.aio.AioRpcError as exc:
            # Config is an addition: uploads go on without it; the next session retries.
            self._metrics.grpc_errors.labels("WatchConfig", exc.code().name).inc()
            log.warning("remote_config_watch_failed", code=exc.code().name, detail=exc.details())

    # ------------------------------------------------------------ upload

    async def _fetch(self, cur: _Cursors, live_only: bool = False) -> list[WireRecord]:
        """Up to one batch: live records first (up to live_share), then the backlog;
        `live_only`: live records alone (the slot kept for them)."""
        return await self._io(self._fetch_sync, cur, live_only)

    def _fetch_sync(self, cur: _Cursors, live_only: bool = False) -> list[WireRecord]:
        s = self._settings
        n = s.batch_max_records
        if cur.backlog_done or live_only:
            batch = self._source.pending_wire(cur.live, n)
            if batch:
                cur.live = batch[-1].seq
            return batch
        live_n = max(1, int(n * s.live_share))
        live = self._source.pending_wire(cur.live, live_n)
        if live:
            cur.live = live[-1].seq
        want = n - len(live)
        backlog = self._source.pending_wire(cur.backlog, want)
        taken = [r for r in backlog if r.seq <= cur.backlog_end]
        if len(taken) < want or len(taken) < len(backlog):
            cur.backlog_done = True
            log.info("uplink_backlog_drained", backlog_end=cur.backlog_end)
        if taken:
            cur.backlog = taken[-1].seq
        batch = taken + live
        if len(batch) < n and len(live) == live_n:
            more = self._source.pending_wire(cur.live, n - len(batch))
            if more:
                cur.live = more[-1].seq
                batch += more
        return batch

    def _batch_requests(
        self, records: list[WireRecord], depth: int, oldest_ns: int, backlog: bool = False
    ) -> list[tuple[bytes, _InFlight]]:
        """One serialised UploadRequest, or several when the records exceed the byte
        budget; each with the seqs it carries. `backlog`: Batch.backlog of each."""
        # Each record's frame head (tag + length) is made once: it sizes the chunk and
        # goes into the request as it is.
        chunks: list[tuple[list[WireRecord], list[bytes]]] = []
        current: list[WireRecord] = []
        frames: list[bytes] = []
        size = 0
        max_bytes = self._max_bytes
        for r in records:
            wire = r.wire
            head = record_frame_head(wire)
            n = len(head) + len(wire)
            if current and size + n > max_bytes:
                chunks.append((current, frames))
                current, frames, size = [], [], 0
            current.append(r)
            frames.append(head)
            frames.append(wire)
            size += n
        if current:
            chunks.append((current, frames))
        requests = []
        for chunk, chunk_frames in chunks:
            self._batch_id += 1
            data = upload_request_from_frames(
                self._identity.agent_id,
                self._batch_id,
                chunk_frames,
                outbox_depth=depth,
                oldest_pending_ns=oldest_ns,
                backlog=backlog,
            )
            entry = _InFlight(
                self._batch_id,
                [r.seq for r in chunk],
                min(r.persisted_at_ns for r in chunk),
                backlog,
            )
            requests.append((data, entry))
        return requests

    def _observe_health(self, records: Iterable[WireRecord]) -> None:
        changed = False
        for r in records:
            if r.kind != "health":
                continue
            pb = agent_pb2.Record.FromString(r.wire)
            if pb.modem_imei:
                try:
                    self._health[pb.modem_imei] = health_from_proto(pb.health)
                except SerdeError:  # written by a newer build (downgrade): not ours to guess
                    continue
                changed = True
        if changed:
            self._metrics.modems_up.set(sum(h.responding for h in self._health.values()))
            self._metrics.modems_healthy.set(sum(h.healthy for h in self._health.values()))

    def _outbox_gauges(self) -> tuple[int, int]:
        depth = self._source.depth()
        oldest = self._source.oldest_pending_ns()
        return depth, oldest

    async def _upload(
        self,
        channel: grpc.aio.Channel,
        stub: agent_pb2_grpc.AgentServiceStub,
        stop: asyncio.Event,
        backlog_end: int,
    ) -> None:
        """Send the outbox's records; those up to `backlog_end` (the last_seq this session
        registered with: what the collector expects from the backlog) as backlog."""
        s = self._settings
        # Requests go out as bytes assembled from the stored records (no serializer: grpc
        # sends them as they are); the collector sees the same UploadRequest messages.
        upload: grpc.aio.StreamStreamMultiCallable[bytes, agent_pb2.UploadResponse]
        upload = channel.stream_stream(
            UPLOAD_METHOD,
            request_serializer=None,
            response_deserializer=agent_pb2.UploadResponse.FromString,
        )
        call = upload()
        in_flight: dict[int, _InFlight] = {}
        # While the backlog drains, one slot more than `window`, for live records only:
        # backlog-only requests take `window` at most (backlog_slots), as before.
        window = asyncio.Semaphore(s.window + 1)
        live_slot_kept = True  # given up (held for good) once the backlog is drained
        backlog_slots = asyncio.Semaphore(s.window)
        backlog_freed = asyncio.Event()  # an acked backlog request gave its slot back
        cur = _Cursors(live=backlog_end, backlog=0, backlog_end=backlog_end, backlog_done=False)
        first_ack = asyncio.Event()
        all_acked = asyncio.Event()
        m = self._metrics

        async def reader() -> None:
            async for response in call:
                ack = response.ack
                entry = in_flight.pop(ack.batch_id, None)
                if entry is None:
                    log.warning("uplink_unexpected_ack", batch_id=ack.batch_id)
                    continue
                if entry.backlog:
                    backlog_slots.release()
                    backlog_freed.set()
                # The collector committed the batch: its window slot is free now, while
                # the outbox notes the ack.
                window.release()
                await self._io(self._source.mark_acked, entry.seqs)
                m.batches_in_flight.set(len(in_flight))
                if not in_flight:
                    all_acked.set()
                m.records_acked.inc(len(entry.seqs))
                m.records_ingested.inc(ack.ingested)
                m.records_duplicate.inc(ack.duplicates)
                m.records_quarantined.inc(ack.quarantined)
                if ack.quarantined:
                    log.warning(
                        "uplink_records_quarantined",
                        batch_id=ack.batch_id,
                        count=ack.quarantined,
                        reasons=sorted({r.reason for r in ack.rejections})[:5],
                    )
                m.upload_lag_seconds.set(max(0, self._clock_ns() - entry.oldest_persisted_ns) / 1e9)
                if not first_ack.is_set():
                    first_ack.set()
                    self._progress = True
                    self._backoff.reset()
            if in_flight or not stop.is_set():
                raise StreamBrokenError(
                    f"collector ended the upload stream ({len(in_flight)} batches unacked)"
                )

        gauges = _Gauges()

        async def writer() -> None:
            nonlocal live_slot_kept
            while await _acquire_or_stop(window, stop):
                if cur.backlog_done and live_slot_kept:
                    live_slot_kept = False  # this slot stays taken: `window` from now on
                    continue
                live_only = not cur.backlog_done and backlog_slots.locked()
                if live_only:
                    backlog_freed.clear()  # set by an ack from here on: not missed
                records = await self._fetch(cur, live_only)
                if not records:
                    window.release()
                    self._wake.clear()
                    await _wait_any(
                        stop,
                        self._wake,
                        *([backlog_freed] if live_only else []),
                        timeout=s.poll_interval_s,
                    )
                    continue
                if self._modems()[1] != self._registered_modems:
                    # A modem appeared, left or changed SIM since Register: tell the
                    # collector before sending its records (checked after the fetch, so
                    # every modem in this batch is already known), or they would be
                    # quarantined as unknown.
                    await self._register(stub, await self._io(self._source.last_seq))
                now = self._clock_ns()
                batch_oldest = min(r.persisted_at_ns for r in records)
                if cur.backlog_done and len(records) < s.batch_max_records:
                    # Caught up: nothing unsent is left, so what still waits after this
                    # batch is exactly what is in flight — no outbox query needed.
                    after = sum(len(e.seqs) for e in in_flight.values())
                    after_oldest = min(
                        (e.oldest_persisted_ns for e in in_flight.values()), default=0
                    )
                    depth = after + len(records)
                    oldest = min(after_oldest or batch_oldest, batch_oldest)
                else:
                    if now - gauges.at_ns >= s.gauge_interval_s * 1e9:
                        # COUNT/MIN over a deep outbox cost more than a batch: refresh
                        # them at most once per interval.
                        gauges.depth, gauges.oldest_ns = await self._io(self._outbox_gauges)
                        gauges.at_ns = now
                    depth, oldest = gauges.depth, gauges.oldest_ns
                    after, after_oldest = max(0, depth - len(records)), oldest
                m.outbox_depth.set(depth)
                m.outbox_oldest_age_seconds.set(max(0, now - oldest) / 1e9 if oldest else 0)
                self._observe_health(records)
                # Only backlog (nothing persisted in this session): the collector may
                # let live batches of other agents go first (Batch.backlog).
                backlog = max(r.seq for r in records) <= cur.backlog_end
                requests = self._batch_requests(records, after, after_oldest, backlog)
                for i, (data, entry) in enumerate(requests):
                    if i:  # extra requests from a byte-size split need their own slot
                        await window.acquire()
                    if entry.backlog:
                        # Free at once but for a byte-size split's extra requests.
                        await backlog_slots.acquire()
                    in_flight[entry.batch_id] = entry
                    try:
                        await call.write(data)
                    except asyncio.InvalidStateError:
                        # grpc.aio raises this, not AioRpcError, when the call already
                        # ended (collector gone); report the call's own status instead.
                        code = await call.code()
                        m.grpc_errors.labels("Upload", code.name).inc()
                        raise StreamBrokenError(
                            f"upload stream ended: {code.name} {await call.details()}"
                        ) from None
                    m.records_sent.inc(len(entry.seqs))
                m.batches_in_flight.set(len(in_flight))
            # Stopping: give outstanding acks a moment so a restart replays less.
            if in_flight:
                all_acked.clear()
                await wait_set(all_acked, s.drain_timeout_s)
            with contextlib.suppress(asyncio.InvalidStateError):  # already ended: fine
                await call.done_writing()

        try:
            async with asyncio.TaskGroup() as tg:
                read_task = tg.create_task(reader())
                await writer()
                if in_flight:
                    read_task.cancel()
        except* grpc.aio.AioRpcError as group:
            for exc in group.exceptions:
                if isinstance(exc, grpc.aio.AioRpcError):
                    m.grpc_errors.labels("Upload", exc.code().name).inc()
            raise group.exceptions[0] from None
        except* StreamBrokenError as group:
            raise group.exceptions[0] from None
        finally:
            call.cancel()


async def wait_set(event: asyncio.Event, timeout: float) -> bool:
    """Wait until `event` is set or `timeout` seconds passed; True when it was set.

    asyncio.timeout, not wait_for: on Python 3.11 wait_for returns the result when a
    cancel lands in the same loop step as the event is set (bpo-42130), so a task
    cancelled just then runs on as if nothing had happened."""
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(timeout):
            await event.wait()
    return event.is_set()


async def _wait_any(*events: asyncio.Event, timeout: float) -> None:
    waiters = [asyncio.ensure_future(e.wait()) for e in events]
    try:
        await asyncio.wait(waiters, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for w in waiters:
            w.cancel()


async def _acquire_or_stop(sem: asyncio.Semaphore, stop: asyncio.Event) -> bool:
    """Take a window slot; False when `stop` was set first (the slot is not held)."""
    if stop.is_set():
        return False
    acquire = asyncio.ensure_future(sem.acquire())
    stopped = asyncio.ensure_future(stop.wait())
    try:
        await asyncio.wait([acquire, stopped], return_when=asyncio.FIRST_COMPLETED)
    finally:
        stopped.cancel()
        if not acquire.done():
            acquire.cancel()
    if acquire.done() and not acquire.cancelled():
        if stop.is_set():
            sem.release()
            return False
        return True
    return False


def _first_error(group: BaseExceptionGroup[BaseException]) -> BaseException:
    """TaskGroup wraps failures; callers classify the first real one."""
    for exc in group.exceptions:
        if isinstance(exc, BaseExceptionGroup):
            return _first_error(exc)
        return exc
    return group


async def run_uplink(
    config: AgentConfig,
    outbox: RecordSource,
    stop: asyncio.Event,
    *,
    modems_provider: ModemsProvider = lambda: (),
    metrics: AgentMetrics | None = None,
    on_uploader: Callable[[Uploader], None] | None = None,
    software_version: str = "",
) -> None:
    """Upload `outbox` to the collectors named in `config.collector` until `stop` is set.

    `on_uploader` receives the Uploader before it starts, so the caller can plug
    `uploader.clock_estimate` into the outbox and `uploader.notify` into the receive path.
    """
    collector = config.collector
    if collector is None or not collector.upload:
        log.info("uplink_disabled")
        return
    uploader = Uploader(
        outbox,
        collector_endpoints(collector),
        AgentIdentity(
            agent_id=config.agent_id,
            software_version=software_version,
            site=config.site,
            region=config.region,
        ),
        modems_provider=modems_provider,
        metrics=metrics,
    )
    if on_uploader is not None:
        on_uploader(uploader)
    await uploader.run(stop)
