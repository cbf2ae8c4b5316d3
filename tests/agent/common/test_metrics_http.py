"""agent/common/metrics_http.py: /metrics served over real sockets, IPv4 and IPv6 literals."""

from __future__ import annotations

import socket
import urllib.request

import pytest
from prometheus_client import CollectorRegistry, Counter

from agent.common.metrics_http import serve_metrics


@pytest.mark.parametrize(
    ("listen", "url_host"), [("127.0.0.1:0", "127.0.0.1"), ("[::1]:0", "[::1]")]
)
def test_metrics_are_served_on_the_requested_address(listen: str, url_host: str) -> None:
    registry = CollectorRegistry()
    Counter("probe_things", "Things.", registry=registry).inc(3)
    port = serve_metrics(registry, listen)
    assert port > 0
    with urllib.request.urlopen(f"http://{url_host}:{port}/metrics", timeout=10) as resp:
        body = resp.read().decode()
    assert "probe_things_total 3.0" in body


def test_an_ipv6_listener_is_not_reachable_over_ipv4() -> None:
    port = serve_metrics(CollectorRegistry(), "[::1]:0")
    with socket.socket(socket.AF_INET6) as s:
        s.settimeout(10)
        s.connect(("::1", port))
    with socket.socket(socket.AF_INET) as s, pytest.raises(ConnectionRefusedError):
        s.settimeout(10)
        s.connect(("127.0.0.1", port))
