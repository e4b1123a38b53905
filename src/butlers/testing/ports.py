"""Free ports on the loopback for test servers."""

from __future__ import annotations

import random
import socket

# Below Linux's ephemeral range (32768-60999 by default): a port handed out here is never
# taken meanwhile as the local end of some outgoing connection, which port 0 could be.
_LOW, _HIGH = 20000, 32767


def _ephemeral_range() -> tuple[int, int]:
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range", encoding="ascii") as f:
            low, high = (int(p) for p in f.read().split())
        return low, high
    except (OSError, ValueError):
        return 32768, 60999


def free_port() -> int:
    """A TCP port on 127.0.0.1 nobody listens on right now, outside the ephemeral range."""
    ephemeral_low, ephemeral_high = _ephemeral_range()
    for _ in range(200):
        port = random.randint(_LOW, _HIGH)
        if ephemeral_low <= port <= ephemeral_high:
            continue
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:  # the system's choice, as a last resort
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
