"""One butler's abuse never makes another unreachable: 1,100 idle connections to alpha while beta answers.

Alpha keeps at most `max_connections` open (the rest are closed at once) and closes
silent ones after `idle_connection_timeout_s`; beta's `state_get` keeps answering, and
the log holds no flood. Latencies are printed (figures, not asserts: the machine is shared).
"""

from __future__ import annotations

import logging
import socket
import statistics
import time
from collections.abc import Iterator

import httpx
import pytest
from security_helpers import REGISTRY, daemon_settings, names_by_short

from butlers.db import ServerAddress
from butlers.supervisor import Supervisor
from butlers.testing.daemon_thread import serve_in_thread
from butlers.testing.raw_mcp import RawMcpSession

IDLE_CONNECTIONS = 1_100
MAX_CONNECTIONS = 256
IDLE_TIMEOUT_S = 5.0
CALLS = 40
MAX_SESSIONS = 4
SESSION_IDLE_S = 3.0


@pytest.fixture(scope="module")
def daemon(
    tmp_path_factory: pytest.TempPathFactory, pg_address: ServerAddress
) -> Iterator[tuple[Supervisor, dict[str, int], dict[str, str]]]:
    base = tmp_path_factory.mktemp("fair")
    settings, ports = daemon_settings(
        base / "butlers.d",
        base / "data",
        pg_address,
        max_connections=MAX_CONNECTIONS,
        idle_connection_timeout_s=IDLE_TIMEOUT_S,
        max_sessions=MAX_SESSIONS,
        session_idle_timeout_s=SESSION_IDLE_S,
    )
    with serve_in_thread(settings, REGISTRY) as supervisor:
        yield supervisor, ports, names_by_short(settings.dir)


def timed_state_gets(session: RawMcpSession, n: int) -> list[float]:
    took = []
    for i in range(n):
        started = time.perf_counter()
        answer = session.call("state_get", {"key": f"k{i}"})
        took.append((time.perf_counter() - started) * 1000)
        assert answer.message is not None and "result" in answer.message, answer.text
    return took


def p(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100)[int(q) - 1] if len(values) > 1 else values[0]


def test_idle_connections_to_one_butler_leave_the_other_answering_and_the_log_quiet(
    daemon: tuple[Supervisor, dict[str, int], dict[str, str]], caplog: pytest.LogCaptureFixture
) -> None:
    supervisor, ports, names = daemon
    alpha = supervisor.butlers[names["alpha"]]
    with RawMcpSession(f"http://127.0.0.1:{ports['beta']}/mcp") as beta:
        before = timed_state_gets(beta, CALLS)
        caplog.clear()
        caplog.set_level(logging.WARNING)
        assert alpha._http is not None
        connections = alpha._http.server_state.connections
        idle = []
        peak = 0
        try:
            for _ in range(IDLE_CONNECTIONS):
                idle.append(socket.create_connection(("127.0.0.1", ports["alpha"]), timeout=10))
                peak = max(peak, len(connections))
            during = timed_state_gets(beta, CALLS)
            peak = max(peak, len(connections))
            assert 0 < peak <= MAX_CONNECTIONS
            # Silent connections are closed after the idle timeout, freeing their descriptors.
            deadline = time.monotonic() + IDLE_TIMEOUT_S + 20
            while connections and time.monotonic() < deadline:
                time.sleep(0.1)  # polling a condition, bounded by the deadline
            assert not connections
        finally:
            for s in idle:
                s.close()
    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) < 20, [r.getMessage() for r in warnings[:5]]
    print(
        f"\nfair share: {IDLE_CONNECTIONS} idle connections to alpha, at most {peak} open at once (cap {MAX_CONNECTIONS});"
        f" beta state_get p50/p99 before {p(before, 50):.2f}/{p(before, 99):.2f} ms,"
        f" during {p(during, 50):.2f}/{p(during, 99):.2f} ms; {len(warnings)} warning lines"
    )


def test_the_session_table_is_capped_and_idle_sessions_are_freed_in_seconds(
    daemon: tuple[Supervisor, dict[str, int], dict[str, str]],
) -> None:
    _, ports, _ = daemon
    url = f"http://127.0.0.1:{ports['alpha']}/mcp"
    sessions = [RawMcpSession(url).__enter__() for _ in range(MAX_SESSIONS)]
    try:
        with pytest.raises(httpx.HTTPStatusError) as refused:
            RawMcpSession(url).__enter__()
        assert refused.value.response.status_code == 503
        # Nobody uses them: after the idle timeout they are closed and a new client gets in.
        deadline = time.monotonic() + SESSION_IDLE_S + 30
        while True:
            try:
                with RawMcpSession(url) as late:
                    assert late.call("state_get", {"key": "k"}).message is not None
                break
            except httpx.HTTPStatusError as exc:
                assert exc.response.status_code == 503 and time.monotonic() < deadline
                time.sleep(0.2)  # polling a condition, bounded by the deadline
    finally:
        for s in sessions:
            s.__exit__(None, None, None)
