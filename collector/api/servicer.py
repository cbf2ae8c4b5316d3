"""Thin gRPC servicer for `smsprobe.v1.AgentService`: authorize, convert, call the ledger,
convert back. Rules live in collector/ledger/ingest_rules.py; proto types stop at
agent/wire/serde.py and collector/quarantine.py.

Every request is authorized against the client certificate (collector/api/auth.py). An
Upload batch is acked only after the ledger committed it (agent.proto). A stream's live
and backlog batches (`Batch.backlog`) are committed in two lanes, so its live records never
wait for its own backlog; in each lane the batches that queued up behind a commit are
committed together (one transaction, one fsync) and acked in order after it. Commits of
every stream go through one writer (collector/api/writer.py) that takes live commits
before backlog ones; the ledger is synchronous and runs off the event loop. Liveness
(connect, disconnect, the throttled touch) is queued to its own lane
(collector/api/liveness.py): no batch waits for it.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any, NoReturn, TypeAlias, TypeVar

import grpc
import grpc.aio
import structlog
from smsprobe.v1 import agent_pb2

from agent.wire.serde import registration_from_proto
from collector.api.auth import Authenticator, AuthError, peer_certificate
from collector.api.liveness import LivenessLane, Touch
from collector.api.writer import IngestWriter
from collector.ledger.base import (
    Ledger,
    LedgerError,
    LedgerUnavailableError,
    UnknownAgentError,
)
from collector.ledger.model import BatchOutcome, RegistrationOutcome
from collector.metrics import CollectorMetrics

log = structlog.get_logger("collector.api")

_UINT32_MAX = 2**32 - 1

T = TypeVar("T")
Context: TypeAlias = Any  # grpc.aio.ServicerContext; grpcio ships no type hints
AgentConfigSource = Callable[[str], agent_pb2.AgentConfig]


@dataclass(frozen=True, slots=True)
class Malformed:
    """A request whose bytes did not parse as the expected message (see server.py)."""

    message_type: str
    error: str
    size: int


# ---------------------------------------------------------------- config push


def config_version(config: agent_pb2.AgentConfig) -> int:
    """Content-derived, so it survives collector restarts and agrees across replicas
    behind one load balancer: the same config always has the same version."""
    unversioned = agent_pb2.AgentConfig()
    unversioned.CopyFrom(config)
    unversioned.version = 0
    digest = hashlib.sha256(unversioned.SerializeToString(deterministic=True)).digest()
    return int.from_bytes(digest[:8], "big") & (2**63 - 1) or 1


class ConfigStore:
    """Per-agent AgentConfig with change notification for WatchConfig streams."""

    def __init__(self, source: AgentConfigSource) -> None:
        self._source = source
        self._generation = 0
        self._changed = asyncio.Condition()

    @property
    def generation(self) -> int:
        return self._generation

    def config_for(self, agent_id: str) -> agent_pb2.AgentConfig:
        config = agent_pb2.AgentConfig()
        config.CopyFrom(self._source(agent_id))
        config.version = config_version(config)
        return config

    async def replace(self, source: AgentConfigSource) -> None:
        """New config (e.g. SIGHUP reload): every watcher re-checks its version."""
        async with self._changed:
            self._source = source
            self._generation += 1
            self._changed.notify_all()

    async def wait_change(self, seen_generation: int) -> int:
        async with self._changed:
            await self._changed.wait_for(lambda: self._generation != seen_generation)
            return self._generation


# ---------------------------------------------------------------- servicer


@dataclass(slots=True)
class _Stream:
    peer: str
    agent_id: str = ""  # fixed by the first authorized batch
    last_touch_ns: int = 0
    untouched: agent_pb2.Batch | None = None  # latest batch not yet reported to touch_agent


@dataclass(frozen=True, slots=True)
class _Admitted:
    batch: agent_pb2.Batch  # decoded by the writer, right before its commit


class AgentServicer:
    def __init__(
        self,
        ledger: Ledger,
        auth: Authenticator,
        configs: ConfigStore,
        *,
        metrics: CollectorMetrics | None = None,
        clock_ns: Callable[[], int] = time.time_ns,
        touch_interval_s: float = 1.0,
        pipeline_depth: int = 4,
        instance: str = "",
        live_burst: int = 8,
        merge_commits: int = 64,
    ) -> None:
        self._instance = instance  # recorded with each stream it holds (connected_via)
        self._ledger = ledger
        self._auth = auth
        self._configs = configs
        self._metrics = metrics or CollectorMetrics()
        self._clock_ns = clock_ns
        self._touch_interval_ns = int(touch_interval_s * 1e9)
        self._pipeline_depth = pipeline_depth
        self._streams: dict[str, int] = {}  # agent id -> open upload streams
        self.writer = IngestWriter(ledger, live_burst=live_burst, merge_commits=merge_commits)
        self.liveness = LivenessLane(ledger)

    async def close(self) -> None:
        """Stop the ingest writer and write the liveness still queued (after the server
        stopped taking calls)."""
        await self.writer.close()
        await self.liveness.close()

    # ------------------------------------------------------------ helpers

    async def _abort(
        self, context: Context, method: str, code: grpc.StatusCode, message: str, **kw: Any
    ) -> NoReturn:
        self._metrics.rpc_errors.labels(method, code.name).inc()
        log.warning("rpc_rejected", method=method, code=code.name, reason=message, **kw)
        await context.abort(code, message)
        raise AssertionError("unreachable: context.abort raises")  # pragma: no cover

    async def _authorize(self, context: Context, method: str, claimed: str) -> str:
        try:
            return self._auth.authorize(context.auth_context(), claimed)
        except AuthError as exc:
            code = (
                grpc.StatusCode.UNAUTHENTICATED
                if exc.unauthenticated
                else grpc.StatusCode.PERMISSION_DENIED
            )
            await self._abort(
                context, method, code, exc.message, peer=context.peer(), deny_reason=exc.reason
            )

    async def _ledger_awaited(
        self, context: Context, method: str, agent_id: str, call: Awaitable[T]
    ) -> T:
        """Await a ledger call (made off the loop); ledger errors become status codes."""
        try:
            return await call
        except UnknownAgentError as exc:
            await self._abort(
                context, method, grpc.StatusCode.FAILED_PRECONDITION, f"{exc}: call Register first"
            )
        except LedgerUnavailableError as exc:
            await self._abort(
                context, method, grpc.StatusCode.UNAVAILABLE, f"ledger unavailable: {exc}"
            )
        except LedgerError as exc:
            # Not the agent's fault and not known to be transient: the agent retries
            # with backoff (INTERNAL is transient on its side), we keep the traceback.
            log.exception("ledger_call_failed", method=method, agent_id=agent_id)
            await self._abort(context, method, grpc.StatusCode.INTERNAL, f"ledger error: {exc}")

    # ------------------------------------------------------------ Register

    async def Register(
        self, request: agent_pb2.RegisterRequest | Malformed, context: Context
    ) -> agent_pb2.RegisterResponse:
        if isinstance(request, Malformed):
            await self._abort(context, "Register", grpc.StatusCode.INVALID_ARGUMENT, request.error)
        agent_id = await self._authorize(context, "Register", request.agent_id)
        try:
            registration = registration_from_proto(request)
        except ValueError as exc:
            await self._abort(
                context, "Register", grpc.StatusCode.INVALID_ARGUMENT, f"bad registration: {exc}"
            )
        now = self._clock_ns()
        pem = peer_certificate(context.auth_context())

        def register() -> RegistrationOutcome:
            outcome = self._ledger.register_agent(registration, at_ns=now)
            if pem:  # kept so the records it signs can be verified, in evidence, for good
                self._ledger.remember_agent_key(agent_id, pem, at_ns=now)
            return outcome

        # Through the ingest writer at live priority, not the default thread pool: after a
        # collector restart every agent registers while the writer drains backlog, and an
        # agent's live records wait for its registration (docs/ingest.md).
        outcome = await self._ledger_awaited(
            context, "Register", agent_id, self.writer.call(agent_id, register)
        )
        config = self._configs.config_for(agent_id)
        session_id = uuid.uuid4().hex
        log.info(
            "agent_registered",
            agent_id=agent_id,
            session_id=session_id,
            committed_seq=outcome.committed_seq,
            last_seq=request.last_seq,
            modems=len(request.modems),
            events=[str(e.kind) for e in outcome.events],
        )
        return agent_pb2.RegisterResponse(
            session_id=session_id,
            collector_time_ns=self._clock_ns(),
            committed_seq=outcome.committed_seq,
            config_version=config.version,
        )

    # ------------------------------------------------------------ SyncClock

    async def SyncClock(
        self, request: agent_pb2.ClockRequest | Malformed, context: Context
    ) -> agent_pb2.ClockResponse:
        t2 = self._clock_ns()  # as early as possible: RFC 5905 receive timestamp
        if isinstance(request, Malformed):
            await self._abort(context, "SyncClock", grpc.StatusCode.INVALID_ARGUMENT, request.error)
        await self._authorize(context, "SyncClock", request.agent_id)
        return agent_pb2.ClockResponse(t1_ns=request.t1_ns, t2_ns=t2, t3_ns=self._clock_ns())

    # ------------------------------------------------------------ WatchConfig

    async def WatchConfig(
        self, request: agent_pb2.ConfigRequest | Malformed, context: Context
    ) -> AsyncIterator[agent_pb2.AgentConfig]:
        if isinstance(request, Malformed):
            await self._abort(
                context, "WatchConfig", grpc.StatusCode.INVALID_ARGUMENT, request.error
            )
        agent_id = await self._authorize(context, "WatchConfig", request.agent_id)
        have = request.have_version
        generation = self._configs.generation
        while True:
            config = self._configs.config_for(agent_id)
            if config.version != have:
                have = config.version
                self._metrics.config_pushes.labels(agent_id).inc()
                log.info("agent_config_pushed", agent_id=agent_id, version=have)
                yield config
            generation = await self._configs.wait_change(generation)
            # A revocation reloaded with the config ends the watch, too.
            await self._authorize(context, "WatchConfig", request.agent_id)

    # ------------------------------------------------------------ Upload

    def _connected(self, agent_id: str, peer: str, opened: bool) -> None:
        count = self._streams.get(agent_id, 0) + (1 if opened else -1)
        if count > 0:
            self._streams[agent_id] = count
        else:
            self._streams.pop(agent_id, None)
        self._metrics.agents_connected.set(len(self._streams))
        # Only the first open and the last close change liveness: an agent reconnecting
        # while its old stream is still being torn down stays connected.
        # Queued, not awaited: the stream's batches never wait for this ledger write.
        if (opened and count == 1) or (not opened and count == 0):
            self.liveness.connected(
                agent_id, opened, at_ns=self._clock_ns(), peer=peer, via=self._instance
            )

    async def _admit(
        self, request: agent_pb2.UploadRequest | Malformed, context: Context, stream: _Stream
    ) -> _Admitted:
        """Validate the envelope, authorize, convert: everything before the ledger."""
        if isinstance(request, Malformed):
            await self._abort(
                context,
                "Upload",
                grpc.StatusCode.INVALID_ARGUMENT,
                request.error,
                agent_id=stream.agent_id,
            )
        if request.WhichOneof("kind") != "batch":
            await self._abort(
                context,
                "Upload",
                grpc.StatusCode.INVALID_ARGUMENT,
                "UploadRequest without a batch",
                agent_id=stream.agent_id,
            )
        batch = request.batch
        claimed = await self._authorize(context, "Upload", batch.agent_id)
        if not stream.agent_id:
            await self._admit_identity(context, stream, claimed)
        elif claimed != stream.agent_id:  # only reachable with --insecure
            await self._abort(
                context,
                "Upload",
                grpc.StatusCode.PERMISSION_DENIED,
                f"stream of agent {stream.agent_id!r} sent a batch for {claimed!r}",
            )
        return _Admitted(batch)

    async def _admit_identity(self, context: Context, stream: _Stream, agent_id: str) -> None:
        stream.agent_id = await self._authorize(context, "Upload", agent_id)
        self._connected(agent_id, stream.peer, opened=True)
        log.info("upload_stream_opened", agent_id=agent_id, peer=stream.peer)

    async def Upload(
        self,
        request_iterator: AsyncIterator[agent_pb2.UploadRequest | Malformed],
        context: Context,
    ) -> AsyncIterator[agent_pb2.UploadResponse]:
        stream = _Stream(peer=context.peer())
        # The pump admits (parses, authorizes) batches into two lanes by Batch.backlog;
        # each lane commits its batches in order, those queued behind a commit together
        # (one transaction). So a live batch never waits for this stream's backlog commit:
        # the lanes' acks interleave (agent.proto allows acks out of order), each sent only
        # after its commit. At most `room` batches are admitted and not yet acked.
        lanes: dict[bool, asyncio.Queue[_Admitted | None]] = {
            True: asyncio.Queue(),
            False: asyncio.Queue(),
        }
        acks: asyncio.Queue[agent_pb2.UploadResponse | BaseException | None] = asyncio.Queue()
        room = asyncio.Semaphore(4 * self._pipeline_depth)
        failure: list[BaseException] = []  # what ended the request stream, raised last

        async def pump() -> None:
            try:
                async for request in request_iterator:
                    await room.acquire()
                    item = await self._admit(request, context, stream)
                    lanes[not item.batch.backlog].put_nowait(item)
            except asyncio.CancelledError:
                raise
            except BaseException as exc:  # incl. the abort: re-raised by the handler
                failure.append(exc)
            for lane in lanes.values():  # what was admitted is still committed and acked
                lane.put_nowait(None)

        async def commit(lane: asyncio.Queue[_Admitted | None]) -> None:
            try:
                while (item := await lane.get()) is not None:
                    group = [item]
                    ended = False
                    while not lane.empty():
                        nxt = lane.get_nowait()
                        if nxt is None:
                            ended = True
                            break
                        group.append(nxt)
                    for response in await self._commit(group, context, stream):
                        acks.put_nowait(response)
                    if ended:
                        break
            except asyncio.CancelledError:
                raise
            except BaseException as exc:
                acks.put_nowait(exc)
                return
            acks.put_nowait(None)

        if not self._auth.insecure:
            # The certificate names the agent before its first batch: it is connected now,
            # even if it has nothing to send yet.
            try:
                peer_id = self._auth.peer_identity(context.auth_context())
            except AuthError:
                peer_id = None  # the first batch's authorization reports it properly
            if peer_id is not None:
                await self._admit_identity(context, stream, peer_id.agent_id)
        self._metrics.upload_streams.inc()
        tasks = [asyncio.create_task(pump())]
        tasks += [asyncio.create_task(commit(lane)) for lane in lanes.values()]
        try:
            open_lanes = len(lanes)
            while open_lanes:
                response = await acks.get()
                if response is None:
                    open_lanes -= 1
                    continue
                if isinstance(response, BaseException):
                    raise response
                room.release()
                yield response
            if failure:
                raise failure[0]
        finally:
            for task in tasks:
                task.cancel()
            self._metrics.upload_streams.dec()
            if stream.agent_id:
                log.info("upload_stream_closed", agent_id=stream.agent_id, peer=stream.peer)
                if stream.untouched is not None:
                    # The throttle skipped the latest state: record it before leaving.
                    self._touch(stream.agent_id, stream.untouched, self._clock_ns())
                self._connected(stream.agent_id, stream.peer, opened=False)

    async def _commit(
        self, items: list[_Admitted], context: Context, stream: _Stream
    ) -> list[agent_pb2.UploadResponse]:
        agent_id = stream.agent_id
        now = self._clock_ns()
        started = time.perf_counter()
        batches = [item.batch for item in items]
        # Live when any batch of the group carries a record the agent sent live.
        live = not all(batch.backlog for batch in batches)
        outcomes = await self._ledger_awaited(
            context,
            "Upload",
            agent_id,
            self.writer.commit(agent_id, batches, at_ns=now, live=live),
        )
        self._metrics.ingest_seconds.observe(time.perf_counter() - started)
        return [
            await self._acked(item.batch, outcome, now, stream)
            for item, outcome in zip(items, outcomes, strict=True)
        ]

    async def _acked(
        self, batch: agent_pb2.Batch, outcome: BatchOutcome, now: int, stream: _Stream
    ) -> agent_pb2.UploadResponse:
        agent_id = stream.agent_id
        if now - stream.last_touch_ns >= self._touch_interval_ns:
            stream.last_touch_ns = now
            stream.untouched = None
            self._touch(agent_id, batch, now)  # queued to the liveness lane, not awaited
        else:
            stream.untouched = batch
        m = self._metrics
        m.batches.labels(agent_id).inc()
        m.records_ingested.labels(agent_id).inc(outcome.ingested)
        m.records_duplicate.labels(agent_id).inc(outcome.duplicates)
        m.records_quarantined.labels(agent_id).inc(outcome.quarantined)
        if outcome.quarantined:
            log.warning(
                "records_quarantined",
                agent_id=agent_id,
                batch_id=batch.batch_id,
                count=outcome.quarantined,
            )
        return agent_pb2.UploadResponse(ack=batch_ack_to_proto(outcome, batch.batch_id))

    def _touch(self, agent_id: str, batch: agent_pb2.Batch, now: int) -> None:
        """Liveness and the agent's own view (outbox, clock), throttled per stream."""
        offset = uncertainty = 0.0
        if batch.records:
            clock = batch.records[-1].clock
            offset, uncertainty = clock.offset_ms, clock.uncertainty_ms
        view = Touch(batch.outbox_depth, batch.oldest_pending_ns, offset, uncertainty)
        self.liveness.touch(agent_id, view, at_ns=now)
        m = self._metrics
        m.agent_outbox_depth.labels(agent_id).set(batch.outbox_depth)
        m.agent_upload_lag_seconds.labels(agent_id).set(
            max(0, now - batch.oldest_pending_ns) / 1e9 if batch.oldest_pending_ns else 0
        )
        m.agent_clock_offset_ms.labels(agent_id).set(offset)


def batch_ack_to_proto(outcome: BatchOutcome, batch_id: int) -> agent_pb2.BatchAck:
    """The ack the agent reads field by field (new_gaps are the collector's business)."""
    return agent_pb2.BatchAck(
        batch_id=batch_id,
        ingested=min(outcome.ingested, _UINT32_MAX),
        duplicates=min(outcome.duplicates, _UINT32_MAX),
        quarantined=min(outcome.quarantined, _UINT32_MAX),
        rejections=[
            agent_pb2.RecordRejection(uuid=r.uuid, seq=r.seq, reason=r.reason)
            for r in outcome.rejections
        ],
        committed_seq=outcome.committed_seq,
    )
