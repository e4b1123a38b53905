"""Scale in one process: 50 butlers in one `butlerd` against 4, and the heartbeat with 50 x 10 schedules.

    uv run python benches/fleet.py                # 2 measured starts of each size and condition, 2 boundaries
    uv run python benches/fleet.py --quick        # 1 measured start of each, 1 boundary
    uv run python benches/fleet.py --quick --no-heartbeat --bytecode cached
    uv run python benches/fleet.py --big 50 --small 4 --per-butler 10

Both fleets are generated the same way (minimal butlers, no modules, free
ports, a temp butlers.d and data dir under /tmp), so the ratio is the cost
of more butlers and nothing else. For each size: a first start (initdb,
databases, migrations; for 50 butlers also raising the embedded server's
`max_connections`, see pool_budget.py), then measured warm starts of
`.venv/bin/butlerd serve` in each bytecode condition (`--bytecode`), the two
sizes interleaved round by round (order flipped each round), so that a stretch
of a faster or slower host moves both alike:
`source` compiles every module at every start (PYTHONDONTWRITEBYTECODE=1, as
this sandbox runs), `cached` reads .pyc files an unmeasured start wrote (as a
normal install); both keep their caches in the workspace. Per start: seconds
from spawn to every butler answering `tools/list` (all probed at once by one
raw MCP exchange each, benches/probe.py, so the probes do not pace the
figure), the daemon's own CPU seconds until then (/proc utime+stime: the
usable figure while other work loads the machine), the embedded server's
CPU seconds until then (its processes, and the backends that exited) and the
log's `supervisor.ready`. After the last start: VmRSS of the python process after
`--settle` seconds idle; the embedded PostgreSQL processes summed apart; the
server's connection count.

Heartbeat: on the big fleet, `--per-butler` tool-mode schedules per butler
(`schedule_create` with cron `* * * * *`, tool `state_set`: no model session)
through MCP, then through the minute boundaries; lateness = claimed_at -
scheduled_for from each butler's `schedule_runs` (as benches/schedule_lateness.py).

Goals (issue 14): start and idle RSS <= 2x the 4-butler figures; lateness <= 1 s.
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import anyio
import asyncpg
from common import Workspace, generated_workspace, phases, start_daemon, stop_daemon
from fastmcp import Client
from floor import pct, postgres_pids, rss_kb, rss_sum_kb
from probe import cpu_seconds, wait_all_list_tools
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


async def watch_log(log: Path, seen: int, until: anyio.Event) -> None:
    """Fail the run as soon as the log (read from `seen`: runs append to one log) says a butler failed."""
    while not until.is_set():
        with log.open("rb") as f:
            f.seek(seen)
            failed = [line for line in f.read().splitlines() if b'"butler.failed"' in line]
        if failed:  # that butler would never answer
            raise RuntimeError(f"a butler failed to start: {failed[0].decode()[:1500]}")
        with anyio.move_on_after(1.0):
            await until.wait()


async def wait_answering(
    urls: list[str], t0: float, deadline_s: float, proc: subprocess.Popen, log: tuple[Path, int]
) -> tuple[float, float]:
    """(seconds from t0 until every url answered tools/list, the daemon's CPU seconds then), all probed at once."""
    answered = anyio.Event()
    result: list[tuple[float, float]] = []

    async def probe() -> None:
        result.append(await wait_all_list_tools(urls, t0, deadline_s, proc))
        answered.set()

    async with anyio.create_task_group() as tg:
        tg.start_soon(watch_log, *log, answered)
        tg.start_soon(probe)
    return result[0]


@dataclass
class Start:
    wall_s: float  # spawn to every butler answering tools/list
    cpu_s: float  # the daemon's own CPU seconds until then
    pg_cpu_s: float  # the embedded server's CPU seconds until then (it starts with the daemon)
    ready_s: float  # spawn to the log's supervisor.ready


def start(ws: Workspace, log: Path) -> tuple[subprocess.Popen, Start]:
    offset = log.stat().st_size if log.exists() else 0
    spawned_at, t0 = time.time(), time.perf_counter()
    proc = start_daemon(ws, log)
    try:
        wall, cpu = anyio.run(wait_answering, list(ws.urls.values()), t0, 900.0, proc, (log, offset))
    except BaseException:
        stop_daemon(ws, proc)
        raise
    pg_cpu = postgres_cpu_s(ws.data_dir)
    ready = phases(log, spawned_at).get("supervisor.ready", float("nan"))
    return proc, Start(wall, cpu, pg_cpu, ready)


def postgres_cpu_s(data_dir: Path) -> float:
    """CPU seconds of the embedded server so far: its live processes, and through the postmaster's
    reaped-children times the backends that already exited."""
    total = 0.0
    for pid in postgres_pids(data_dir):
        with contextlib.suppress(OSError):  # a backend that exited meanwhile: its parent counts it
            total += cpu_seconds(pid, with_reaped_children=True)
    return total


@dataclass
class Figures:
    first: Start  # fresh data dir: initdb, databases, migrations (bytecode compiled from source)
    starts: dict[str, list[Start]] = field(default_factory=dict)  # by bytecode condition: warm starts
    rss: list[float] = field(default_factory=list)  # MB, python process, idle
    pg: list[float] = field(default_factory=list)  # MB, embedded postgres processes
    conns: list[int] = field(default_factory=list)


def bytecode(ws: Workspace, condition: str) -> None:
    """Set the daemon's Python bytecode cache for `condition` (BYTECODE); caches live in the workspace only.

    `source`: every module compiled at every start, as in this sandbox (PYTHONDONTWRITEBYTECODE=1, and
    an empty cache prefix so no .pyc elsewhere is read). `cached`: .pyc files written and read, as a
    normal install has them (the first start in this condition writes them and is not measured).
    """
    if condition == "source":
        ws.overrides.update(PYTHONDONTWRITEBYTECODE="1", PYTHONPYCACHEPREFIX=str(ws.root / "no-pyc"))
    else:
        ws.overrides.update(PYTHONDONTWRITEBYTECODE=None, PYTHONPYCACHEPREFIX=str(ws.root / "pyc"))


def measure(fleets: dict[int, Workspace], runs: int, settle: float, conditions: list[str]) -> dict[int, Figures]:
    """Each fleet's first start (fresh data dir), then per bytecode condition `runs` warm starts of
    each, interleaved round by round with the order flipped every round: a host that runs faster or
    slower for a while (this one's CPU time for one start varied 2x) moves both sizes alike."""
    logs = {n: ws.root / "butlerd.log" for n, ws in fleets.items()}
    figures: dict[int, Figures] = {}
    for n, ws in fleets.items():
        bytecode(ws, "source")
        proc, first = start(ws, logs[n])
        code, _, _ = stop_daemon(ws, proc)
        print(f"  {n} butlers, first start (initdb + migrations): {first.wall_s:.1f}s to answering, exit {code}")
        figures[n] = Figures(first)
    for condition in conditions:
        for n, ws in fleets.items():
            bytecode(ws, condition)
            if condition == "cached":  # writes the caches
                proc, warm = start(ws, logs[n])
                stop_daemon(ws, proc)
                print(f"  {n} butlers, cached: writing .pyc files: {warm.wall_s:.1f}s to answering")
        for i in range(runs):
            last = condition == conditions[-1] and i == runs - 1  # idle RSS once, in the last condition
            for n in list(fleets) if i % 2 == 0 else list(fleets)[::-1]:
                took, stopped = measured_start(fleets[n], logs[n], figures[n], settle if last else None)
                figures[n].starts.setdefault(condition, []).append(took)
                print(
                    f"  {n} butlers, {condition} run {i + 1}/{runs}: {took.wall_s:.2f}s to all answering, daemon CPU "
                    f"{took.cpu_s:.2f}s, postgres CPU {took.pg_cpu_s:.2f}s, supervisor.ready {took.ready_s:.2f}s; {stopped}"
                )
    return figures


def measured_start(ws: Workspace, log: Path, figures: Figures, settle: float | None) -> tuple[Start, str]:
    """One warm start to all answering, then a stop (said how); with `settle`, idle memory and connections first."""
    proc, took = start(ws, log)
    if settle is not None:
        time.sleep(settle)
        figures.rss.append(rss_kb(proc.pid) / 1024)
        figures.pg.append(rss_sum_kb(postgres_pids(ws.data_dir)) / 1024)
        figures.conns.append(anyio.run(connections, ws.data_dir))
    code, stop_s, _ = stop_daemon(ws, proc)
    return took, f"SIGTERM -> exit {code} in {stop_s:.1f}s"


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
    ap.add_argument(
        "--bytecode",
        choices=["source", "cached", "both"],
        default="both",
        help="source: compile every start (PYTHONDONTWRITEBYTECODE, as this sandbox); cached: .pyc written "
        "and read (a normal install); both: measure each",
    )
    args = ap.parse_args()
    runs, boundaries = (1, 1) if args.quick else (2, 2)

    if args.heartbeat_only:
        ws = generated_workspace(args.big)
        try:
            late, expected = lateness(ws, args.per_butler, boundaries)
        finally:
            ws.cleanup()
        return report_lateness(late, expected, args.big, args.per_butler)
    conditions = ["source", "cached"] if args.bytecode == "both" else [args.bytecode]
    fleets = {size: generated_workspace(size) for size in (args.small, args.big)}
    try:
        for size, ws in fleets.items():
            print(f"{size} butlers: workspace {ws.root}")
        figures = measure(fleets, runs, args.settle, conditions)
        if not args.no_heartbeat:
            late, expected = lateness(fleets[args.big], args.per_butler, boundaries)
    finally:
        for ws in fleets.values():
            ws.cleanup()
    ok = report_starts(figures[args.small], figures[args.big], args.small, args.big, conditions)
    if args.no_heartbeat:
        return 0 if ok else 1
    return 0 if ok and report_lateness(late, expected, args.big, args.per_butler) == 0 else 1


def report_starts(small: Figures, big: Figures, n_small: int, n_big: int, conditions: list[str]) -> bool:
    """The table of both fleets; True when every counted ratio meets the goal."""
    med = statistics.median
    rows: list[tuple[str, float, float, bool]] = []
    for c in conditions:
        s, b = small.starts[c], big.starts[c]
        rows += [
            (f"start to all answering tools/list, {c} (s)", med(x.wall_s for x in s), med(x.wall_s for x in b), True),
            (f"  daemon CPU until then, {c} (s)", med(x.cpu_s for x in s), med(x.cpu_s for x in b), False),
            (f"  log's supervisor.ready, {c} (s)", med(x.ready_s for x in s), med(x.ready_s for x in b), False),
        ]
    rows += [
        ("idle RSS, python process (MB)", med(small.rss), med(big.rss), True),
        ("first start, fresh data dir (s)", small.first.wall_s, big.first.wall_s, False),
    ]
    print(f"\n{'metric':44} {n_small:>8} {n_big:>8} {'ratio':>7} {'goal':>6}  result")
    ok = True
    for name, s_fig, b_fig, counted in rows:
        ratio = b_fig / s_fig
        ok &= ratio <= RATIO_GOAL or not counted
        verdict = ("PASS" if ratio <= RATIO_GOAL else "FAIL") + ("" if counted else " (not counted)")
        print(f"{name:44} {s_fig:8.2f} {b_fig:8.2f} {ratio:7.2f} {'<=' + str(RATIO_GOAL):>6}  {verdict}")
    for c in conditions:
        pg_cpu = [med(x.pg_cpu_s for x in f.starts[c]) for f in (small, big)]
        print(
            f"{'embedded postgres CPU until answering, ' + c + ' (s)':44} {pg_cpu[0]:8.2f} {pg_cpu[1]:8.2f}  (not counted)"
        )
    print(f"{'embedded postgres RSS, all procs (MB)':44} {med(small.pg):8.0f} {med(big.pg):8.0f}  (not counted)")
    print(f"{'client connections when idle':44} {med(small.conns):8.0f} {med(big.conns):8.0f}")
    return ok


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
