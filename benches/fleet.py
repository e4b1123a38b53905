"""Scale in one process: 50 butlers in one `butlerd` against 4, and the heartbeat with 50 x 10 schedules.

    uv run python benches/fleet.py                # 2 measured starts of each size, 2 minute boundaries
    uv run python benches/fleet.py --quick        # 1 measured start of each, 1 boundary
    uv run python benches/fleet.py --big 50 --small 4 --per-butler 10

Both fleets are generated the same way (minimal butlers, no modules, free
ports, a temp butlers.d and data dir under /tmp), so the ratio is the cost
of more butlers and nothing else. For each size: a warm-up start (initdb,
databases, migrations; for 50 butlers also raising the embedded server's
`max_connections`, see pool_budget.py), then measured starts of
`.venv/bin/butlerd serve`: seconds from spawn to every butler answering
`tools/list`; VmRSS of the python process after `--settle` seconds idle; the
embedded PostgreSQL processes summed apart; the server's connection count.

Heartbeat: on the big fleet, `--per-butler` tool-mode schedules per butler
(`schedule_create` with cron `* * * * *`, tool `state_set`: no model session)
through MCP, then through the minute boundaries; lateness = claimed_at -
scheduled_for from each butler's `schedule_runs` (as benches/schedule_lateness.py).

Goals (issue 14): start and idle RSS <= 2x the 4-butler figures; lateness <= 1 s.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import anyio
import asyncpg
from common import Workspace, generated_workspace, start_daemon, stop_daemon
from fastmcp import Client
from floor import _tcp_open, answers_tools_list, pct, postgres_pids, rss_kb, rss_sum_kb
from schedule_lateness import pg_address

from butlers.auth import TOKEN_FILE

RATIO_GOAL = 2.0
LATENESS_GOAL_S = 1.0


async def connections(data_dir: Path) -> int:
    host, port = pg_address(data_dir)
    conn = await asyncpg.connect(host=host, port=port, user="postgres", database="postgres")
    try:
        return int(await conn.fetchval("SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend'"))
    finally:
        await conn.close()


async def wait_answering(
    urls: list[str], t0: float, deadline_s: float, proc: subprocess.Popen, log: tuple[Path, int] | None = None
) -> float:
    """Seconds from t0 until every url answered tools/list, probing 4 at a time with a patient client.

    50 probes at once, each with a short timeout (floor.wait_all_answer), starve one
    another on a loaded 2-core machine and time out forever; a few at a time measure the daemon.
    """
    done: dict[str, float] = {}
    limiter = anyio.CapacityLimiter(4)

    async def one(u: str) -> None:
        while time.perf_counter() - t0 < deadline_s:
            if proc.poll() is not None:
                raise RuntimeError(f"butlerd exited with {proc.returncode} before {u} answered")
            if not _tcp_open(u):
                await anyio.sleep(0.05)
                continue
            async with limiter:
                if await answers_tools_list(u, timeout=15.0):
                    done[u] = time.perf_counter() - t0
                    return
            await anyio.sleep(0.1)
        raise TimeoutError(f"{u} did not answer tools/list within {deadline_s}s")

    async def watch_log(log: Path, seen: int) -> None:  # from `seen`: earlier runs appended to the same log
        while len(done) < len(urls):  # the times are taken by `one`: this loop's pace does not count
            with log.open("rb") as f:
                f.seek(seen)
                failed = [line for line in f.read().splitlines() if b'"butler.failed"' in line]
            if failed:  # that butler would never answer
                raise RuntimeError(f"a butler failed to start: {failed[0].decode()[:1500]}")
            await anyio.sleep(1.0)

    async with anyio.create_task_group() as tg:
        for u in urls:
            tg.start_soon(one, u)
        if log is not None:
            tg.start_soon(watch_log, *log)
    return max(done.values())


def start(ws: Workspace, log: Path) -> tuple[subprocess.Popen, float]:
    offset = log.stat().st_size if log.exists() else 0
    t0 = time.perf_counter()
    proc = start_daemon(ws, log)
    try:
        took = anyio.run(wait_answering, list(ws.urls.values()), t0, 900.0, proc, (log, offset))
    except BaseException:
        stop_daemon(ws, proc)
        raise
    return proc, took


def measure(ws: Workspace, runs: int, settle: float) -> tuple[list[float], list[float], list[float], list[int]]:
    """First start (fresh data dir), then `runs` measured ones: (start s, python RSS MB, postgres RSS MB, connections).

    The first start's time is the first item of the start list; the others are warm starts.
    """
    log = ws.root / "butlerd.log"
    t = time.perf_counter()
    proc, first = start(ws, log)
    code, _, _ = stop_daemon(ws, proc)
    print(
        f"  warm-up (initdb + migrations): {first:.1f}s to answering, {time.perf_counter() - t:.1f}s total, exit {code}"
    )
    starts, rss, pg, conns = [first], [], [], []
    for i in range(runs):
        proc, took = start(ws, log)
        time.sleep(settle)
        starts.append(took)
        rss.append(rss_kb(proc.pid) / 1024)
        pg.append(rss_sum_kb(postgres_pids(ws.data_dir)) / 1024)
        conns.append(anyio.run(connections, ws.data_dir))
        code, stop_s, left = stop_daemon(ws, proc)
        print(
            f"  run {i + 1}/{runs}: {took:.2f}s to all answering; python {rss[-1]:.0f} MB; "
            f"postgres {pg[-1]:.0f} MB; {conns[-1]} connections; SIGTERM -> exit {code} in {stop_s:.1f}s, "
            f"{left} postgres left"
        )
    return starts, rss, pg, conns


async def create_schedules(urls: dict[str, str], per_butler: int, data_dir: Path) -> dict[str, list[str]]:
    made: dict[str, list[str]] = {}
    token = (data_dir / TOKEN_FILE).read_text().strip()  # schedule_create is an operator action

    async def one(name: str, u: str) -> None:
        async with Client(u, timeout=30, auth=token) as c:
            for i in range(per_butler):
                sched = f"fleet-{i}"
                args = {"key": f"fleet-{i}", "value": i}
                await c.call_tool(
                    "schedule_create",
                    {"name": sched, "cron": "* * * * *", "tool": "state_set", "args": args, "timezone": "UTC"},
                )
                made.setdefault(name, []).append(sched)

    limiter = anyio.CapacityLimiter(8)

    async def limited(name: str, u: str) -> None:
        async with limiter:
            await one(name, u)

    async with anyio.create_task_group() as tg:
        for name, u in urls.items():
            tg.start_soon(limited, name, u)
    return made


async def read_runs(data_dir: Path, made: dict[str, list[str]]) -> list[float]:
    host, port = pg_address(data_dir)
    late: list[float] = []
    by_window: dict[str, list[float]] = {}
    for butler, scheds in made.items():
        db = "butler_" + butler.replace("-", "_")
        conn = await asyncpg.connect(host=host, port=port, user="postgres", database=db)
        try:
            rows = await conn.fetch(
                "SELECT scheduled_for, extract(epoch FROM claimed_at - scheduled_for) AS late FROM schedule_runs"
                " WHERE schedule_name = ANY($1::text[])",
                scheds,
            )
            late.extend(float(r["late"]) for r in rows)
            for r in rows:
                by_window.setdefault(f"{r['scheduled_for']:%H:%M}", []).append(float(r["late"]))
        finally:
            await conn.close()
    for minute, xs in sorted(by_window.items()):  # a boundary while creating them is loaded by the creating
        print(
            f"  windows due {minute}: {len(xs)} fired, lateness median {statistics.median(xs):.3f}s max {max(xs):.3f}s"
        )
    return late


def lateness(ws: Workspace, per_butler: int, boundaries: int) -> tuple[list[float], int]:
    """Lateness of every window fired (at least count x boundaries: creating them may span a boundary)."""
    log = ws.root / "butlerd.log"
    proc, _ = start(ws, log)
    try:
        if datetime.now(UTC).second >= 40:  # creating 500 schedules takes a while: start after a boundary
            time.sleep(61 - datetime.now(UTC).second)
        t = time.perf_counter()
        made = anyio.run(create_schedules, ws.urls, per_butler, ws.data_dir)
        count = sum(len(v) for v in made.values())
        print(f"  created {count} schedules in {time.perf_counter() - t:.1f}s")
        until = (time.time() // 60 + boundaries) * 60 + 5
        print(
            f"  waiting {until - time.time():.0f}s for {boundaries} minute boundar{'y' if boundaries == 1 else 'ies'}"
        )
        time.sleep(max(0.0, until - time.time()))
        late = anyio.run(read_runs, ws.data_dir, made)
    finally:
        stop_daemon(ws, proc)
    return late, count * boundaries


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="1 measured start of each size, 1 minute boundary")
    ap.add_argument("--big", type=int, default=50)
    ap.add_argument("--small", type=int, default=4)
    ap.add_argument("--per-butler", type=int, default=10, help="schedules per butler of the big fleet")
    ap.add_argument("--heartbeat-only", action="store_true", help="only the lateness run on the big fleet")
    ap.add_argument("--no-heartbeat", action="store_true", help="only the starts and RSS, no lateness run")
    ap.add_argument("--settle", type=float, default=3.0, help="idle seconds before reading RSS")
    args = ap.parse_args()
    runs, boundaries = (1, 1) if args.quick else (2, 2)

    if args.heartbeat_only:
        ws = generated_workspace(args.big)
        try:
            late, expected = lateness(ws, args.per_butler, boundaries)
        finally:
            ws.cleanup()
        return report_lateness(late, expected, args.big, args.per_butler)
    figures = {}
    for size in (args.small, args.big):
        ws = generated_workspace(size)
        print(f"{size} butlers (workspace {ws.root}):")
        try:
            figures[size] = measure(ws, runs, args.settle)
            if size == args.big and not args.no_heartbeat:
                late, expected = lateness(ws, args.per_butler, boundaries)
        finally:
            ws.cleanup()

    (s_start, s_rss, s_pg, s_conn), (b_start, b_rss, b_pg, b_conn) = figures[args.small], figures[args.big]
    med = statistics.median
    print(f"\n{'metric':40} {args.small:>8} {args.big:>8} {'ratio':>7} {'goal':>6}  result")
    ok = True
    for name, small, big, counted in (
        ("start to all answering tools/list (s)", med(s_start[1:]), med(b_start[1:]), True),
        ("idle RSS, python process (MB)", med(s_rss), med(b_rss), True),
        ("first start, fresh data dir (s)", s_start[0], b_start[0], False),
    ):
        ratio = big / small
        ok &= ratio <= RATIO_GOAL or not counted
        verdict = ("PASS" if ratio <= RATIO_GOAL else "FAIL") + ("" if counted else " (not the goal's figure)")
        print(f"{name:40} {small:8.2f} {big:8.2f} {ratio:7.2f} {'<=' + str(RATIO_GOAL):>6}  {verdict}")
    print(f"{'embedded postgres RSS, all procs (MB)':40} {med(s_pg):8.0f} {med(b_pg):8.0f}  (not counted above)")
    print(f"{'client connections when idle':40} {med(s_conn):8.0f} {med(b_conn):8.0f}")
    if args.no_heartbeat:
        return 0 if ok else 1
    return 0 if ok and report_lateness(late, expected, args.big, args.per_butler) == 0 else 1


def report_lateness(late: list[float], expected: int, butlers: int, per_butler: int) -> int:
    if not late:
        print("no schedule window fired: FAIL")
        return 1
    med = statistics.median
    print(
        f"\nheartbeat, {butlers} butlers x {per_butler} schedules: {len(late)} windows fired (>= {expected} expected); "
        f"lateness median {med(late):.3f}s p95 {pct(late, 0.95):.3f}s max {max(late):.3f}s "
        f"(goal <= {LATENESS_GOAL_S}s: {'PASS' if max(late) <= LATENESS_GOAL_S else 'FAIL'})"
    )
    return 0 if max(late) <= LATENESS_GOAL_S and len(late) >= expected else 1


if __name__ == "__main__":
    sys.exit(main())
