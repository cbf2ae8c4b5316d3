"""collector.ports: picked ports are bindable and never ones a bind-to-0 could be handed."""

from __future__ import annotations

import socket

from collector.ports import _ephemeral_low, free_port


def test_free_ports_lie_below_the_ephemeral_range_and_bind() -> None:
    low = _ephemeral_low()
    ports = {free_port() for _ in range(20)}
    assert all(10_000 <= p < low for p in ports)
    assert len(ports) > 1  # picked at random, so parallel runs rarely meet
    with socket.socket() as s:
        s.bind(("127.0.0.1", ports.pop()))
        with socket.socket() as ephemeral:
            ephemeral.bind(("127.0.0.1", 0))
            assert ephemeral.getsockname()[1] >= low
