"""The grpc.aio server for agents: mTLS (client certificates required), message limits,
health (grpc.health.v1) and reflection. Wiring only; behaviour is in servicer.py."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import grpc.aio
import structlog
from google.protobuf.message import DecodeError, Message
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection
from smsprobe.v1 import agent_pb2

from collector.api.servicer import AgentServicer, Malformed
from collector.api.writer import settle_gc

log = structlog.get_logger("collector.api")

SERVICE_NAME: str = agent_pb2.DESCRIPTOR.services_by_name["AgentService"].full_name


class ServerConfigError(Exception):
    """The server cannot start as configured (missing TLS material, port in use)."""


@dataclass(frozen=True, slots=True)
class TlsMaterial:
    ca_cert: Path
    cert: Path
    key: Path


@dataclass(frozen=True, slots=True)
class ServerSettings:
    listen: str = "127.0.0.1:0"
    max_message_bytes: int = 4 * 1024 * 1024
    tls: TlsMaterial | None = None  # None only with insecure=True
    insecure: bool = False


def _lenient(message: type[Message]) -> Callable[[bytes], Message | Malformed]:
    """Deserializer that turns garbage into a `Malformed` value, so the servicer answers
    INVALID_ARGUMENT with a reason instead of grpc's generic INTERNAL."""
    name = message.DESCRIPTOR.full_name

    def parse(data: bytes) -> Message | Malformed:
        try:
            return message.FromString(data)
        except DecodeError as exc:
            return Malformed(name, f"request is not a valid {name}: {exc}", len(data))

    return parse


def _serialize(msg: Message) -> bytes:
    return msg.SerializeToString()


def agent_service_handler(servicer: AgentServicer) -> grpc.GenericRpcHandler:
    handlers = {
        "Register": grpc.unary_unary_rpc_method_handler(
            servicer.Register,
            request_deserializer=_lenient(agent_pb2.RegisterRequest),
            response_serializer=_serialize,
        ),
        "Upload": grpc.stream_stream_rpc_method_handler(
            servicer.Upload,
            request_deserializer=_lenient(agent_pb2.UploadRequest),
            response_serializer=_serialize,
        ),
        "SyncClock": grpc.unary_unary_rpc_method_handler(
            servicer.SyncClock,
            request_deserializer=_lenient(agent_pb2.ClockRequest),
            response_serializer=_serialize,
        ),
        "WatchConfig": grpc.unary_stream_rpc_method_handler(
            servicer.WatchConfig,
            request_deserializer=_lenient(agent_pb2.ConfigRequest),
            response_serializer=_serialize,
        ),
    }
    return grpc.method_handlers_generic_handler(SERVICE_NAME, handlers)


def server_credentials(tls: TlsMaterial) -> grpc.ServerCredentials:
    try:
        key, cert, ca = tls.key.read_bytes(), tls.cert.read_bytes(), tls.ca_cert.read_bytes()
    except OSError as exc:
        raise ServerConfigError(f"cannot read TLS material: {exc}") from exc
    # require_client_auth: the handshake fails without a certificate from our CA, so an
    # unknown party never reaches the servicer (docs/wire.md: mTLS, one cert per agent).
    return grpc.ssl_server_credentials(
        [(key, cert)], root_certificates=ca, require_client_auth=True
    )


def server_options(max_message_bytes: int) -> list[tuple[str, Any]]:
    return [
        ("grpc.max_receive_message_length", max_message_bytes),
        ("grpc.max_send_message_length", max_message_bytes),
        # Agents ping every 20 s (agent/uplink/client.py); allow it, idle or not.
        ("grpc.keepalive_permit_without_calls", 1),
        ("grpc.http2.min_recv_ping_interval_without_data_ms", 10_000),
        ("grpc.http2.max_ping_strikes", 0),
        ("grpc.so_reuseport", 0),
    ]


@dataclass(slots=True)
class RunningServer:
    server: grpc.aio.Server
    port: int
    health: Any  # grpc_health.v1.health.aio.HealthServicer (untyped)
    servicer: AgentServicer | None = None

    async def stop(self, grace_s: float | None = 2.0) -> None:
        await self.health.enter_graceful_shutdown()
        await self.server.stop(grace_s)
        if self.servicer is not None:
            await self.servicer.close()


async def start_server(servicer: AgentServicer, settings: ServerSettings) -> RunningServer:
    server = grpc.aio.server(options=server_options(settings.max_message_bytes))
    server.add_generic_rpc_handlers((agent_service_handler(servicer),))
    health_servicer = health.aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    reflection.enable_server_reflection(
        (SERVICE_NAME, health.SERVICE_NAME, reflection.SERVICE_NAME), server
    )
    if settings.insecure:
        log.warning(
            "grpc_server_insecure",
            listen=settings.listen,
            warning="PLAINTEXT, NO CLIENT AUTHENTICATION: agent ids are taken on trust; "
            "never use outside a test bench",
        )
        port = server.add_insecure_port(settings.listen)
    else:
        if settings.tls is None:
            raise ServerConfigError("[tls] ca_cert, cert and key are required (or --insecure)")
        port = server.add_secure_port(settings.listen, server_credentials(settings.tls))
    if port == 0:
        raise ServerConfigError(f"cannot listen on {settings.listen}")
    await server.start()
    settle_gc()  # the ingest path's allocations (collector/api/writer.py)
    for name in (SERVICE_NAME, ""):
        await health_servicer.set(name, health_pb2.HealthCheckResponse.SERVING)
    log.info("grpc_server_started", listen=settings.listen, port=port, insecure=settings.insecure)
    return RunningServer(server=server, port=port, health=health_servicer, servicer=servicer)
