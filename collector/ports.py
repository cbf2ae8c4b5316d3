"""Ports for processes started together (the demo, the tests' servers).

A port picked by binding to 0 lies in the kernel's ephemeral range, and it is free again
the moment the probe socket closes: any process that binds to 0 before the intended owner
starts (a vendor simulator, a client connection) may be handed the same port. Ports picked
here lie below the ephemeral range, which the kernel never hands out for port 0, and are
checked free when picked.
"""

from __future__ import annotations

import random
import socket
from pathlib import Path

_RANGE_FILE = Path("/proc/sys/net/ipv4/ip_local_port_range")
_LOWEST = 10_000


def _ephemeral_low() -> int:
    try:
        return int(_RANGE_FILE.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32_768  # Linux's default range starts here; IANA's at 49152


def free_port(host: str = "127.0.0.1") -> int:
    """A port on `host` that is free now and that no bind-to-0 will be given."""
    high = _ephemeral_low() - 1
    rng = random.SystemRandom()
    for _ in range(200):
        port = rng.randint(_LOWEST, high) if high > _LOWEST else 0
        with socket.socket() as s:
            try:
                s.bind((host, port))
            except OSError:
                continue
            return int(s.getsockname()[1])
    raise OSError(f"no free port below {high + 1} on {host}")
