"""The one Prometheus /metrics HTTP server of both programs."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, start_http_server


def serve_metrics(registry: CollectorRegistry, listen: str) -> int:
    """Serve /metrics on `host:port` in a daemon thread (port 0 = pick one); the host may
    be an IPv6 literal in brackets (`[::1]:9100`, RFC 3986 §3.2.2) and defaults to all
    IPv4 addresses when empty (`:9100`). Returns the bound port."""
    host, _, port = listen.rpartition(":")
    server, _thread = start_http_server(
        int(port), addr=host.strip("[]") or "0.0.0.0", registry=registry
    )
    return int(server.server_port)
