"""Free ports on the loopback for test servers.

Under pytest-xdist several test processes pick ports at once: each worker (and every process it
starts, which inherits its environment) draws from its own slice of the range, so two workers can
never hand out the same port. Within one process a port is not handed out twice until the slice
is used up, so two servers set up before either binds cannot get the same one.
"""

from __future__ import annotations

import os
import random
import socket

# Below Linux's ephemeral range (32768-60999 by default): a port handed out here is never
# taken meanwhile as the local end of some outgoing connection, which port 0 could be.
_LOW, _HIGH = 20000, 32767

_handed_out: set[int] = set()


def _ephemeral_range() -> tuple[int, int]:
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range", encoding="ascii") as f:
            low, high = (int(p) for p in f.read().split())
        return low, high
    except (OSError, ValueError):
        return 32768, 60999


def _slice() -> tuple[int, int]:
    """This process's part of the range: all of it, or one xdist worker's share."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    try:
        count = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
        index = int(worker.removeprefix("gw")) if worker.startswith("gw") else 0
    except ValueError:
        return _LOW, _HIGH
    if count <= 1 or not 0 <= index < count:
        return _LOW, _HIGH
    span = (_HIGH - _LOW + 1) // count
    low = _LOW + index * span
    return low, low + span - 1


def free_port() -> int:
    """A TCP port on 127.0.0.1 nobody listens on right now, outside the ephemeral range."""
    ephemeral_low, ephemeral_high = _ephemeral_range()
    low, high = _slice()
    if len(_handed_out) > (high - low) // 2:
        _handed_out.clear()  # a long session: ports handed out long ago are free again or in use (bind says)
    for _ in range(200):
        port = random.randint(low, high)
        if port in _handed_out or ephemeral_low <= port <= ephemeral_high:
            continue
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
        _handed_out.add(port)
        return port
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:  # the system's choice, as a last resort
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
