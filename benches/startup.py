"""Start time and idle RSS of `butlerd serve` (the 4 shipped butlers) against the floor.

    uv run python benches/startup.py            # 5 measured starts of each, interleaved
    uv run python benches/startup.py --quick    # 2 of each
    uv run python benches/startup.py --runs 10
    uv run python benches/startup.py --no-dashboard   # without the dashboard (added after the 038f223 baseline)

Start time: from spawning the process to all 4 butlers answering `tools/list`
(a fresh fastmcp.Client per probe, after a cheap TCP check). The daemon is
started as `.venv/bin/butlerd serve --dir <copy of butlers.d>` (no `uv run`
in front: uv's own resolve check costs ~0.1-0.3 s and is not the daemon's),
BUTLERS_DATA_DIR a temp dir initialised by one warm-up start first. The floor
(benches/floor.py) is started the same way, interleaved with the daemon so
both see the same machine noise. RSS: VmRSS of the python process after 2 s
idle; the embedded PostgreSQL processes are summed apart. Each daemon is
stopped with SIGTERM to the python process only, and must exit 0 and leave no
PostgreSQL process behind.

Goals (issue 3): start <= 1.3x the floor; RSS <= 1.5x the floor.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import make_workspace, phases, start_and_wait, stop_daemon
from floor import floor_once, postgres_pids, rss_kb, rss_sum_kb, summary

START_GOAL = 1.3
RSS_GOAL = 1.5


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="2 measured starts of each instead of 5")
    ap.add_argument("--runs", type=int, default=None)
    ap.add_argument("--settle", type=float, default=2.0, help="idle seconds before reading RSS")
    ap.add_argument("--keep", action="store_true", help="keep the temp folder (logs)")
    ap.add_argument(
        "--no-dashboard",
        action="store_true",
        help="BUTLERS_DASHBOARD_ENABLED=false: the daemon as it was before the dashboard, for before/after comparisons",
    )
    args = ap.parse_args()
    runs = args.runs or (2 if args.quick else 5)

    ws = make_workspace()
    if args.no_dashboard:
        ws.overrides["BUTLERS_DASHBOARD_ENABLED"] = "false"
    log = ws.root / "butlerd.log"
    print(f"workspace {ws.root}; butlers {ws.ports}; daemon: {Path(sys.prefix) / 'bin' / 'butlerd'} serve --dir ...")
    bad_exits: list[str] = []
    try:
        # Warm-up: initialises the data dir (initdb, databases, migrations) and this process's client.
        t = time.perf_counter()
        proc, first = start_and_wait(ws, log, deadline_s=180)
        code, _, left = stop_daemon(ws, proc)
        print(
            f"warm-up start (initdb + migrations): {first:.2f}s to answering, {time.perf_counter() - t:.2f}s total, exit {code}"
        )
        floor_once(0)  # warm-up of the floor

        d_times, d_rss, d_pg, f_times, f_rss, stops = [], [], [], [], [], []
        d_phases: list[dict[str, float]] = []
        for i in range(runs):
            ft, fr = floor_once(args.settle)
            f_times.append(ft)
            f_rss.append(fr)
            spawned = time.time()
            proc, dt = start_and_wait(ws, log)
            d_phases.append(phases(log, spawned))
            time.sleep(args.settle)
            d_rss.append(rss_kb(proc.pid))
            d_pg.append(rss_sum_kb(postgres_pids(ws.data_dir)))
            npg = len(postgres_pids(ws.data_dir))
            d_times.append(dt)
            code, took, left = stop_daemon(ws, proc)
            stops.append(took)
            if code != 0 or left:
                bad_exits.append(f"run {i}: exit {code}, {left} postgres process(es) left")
            print(
                f"run {i + 1}/{runs}: floor {ft:.2f}s {fr / 1024:.0f}MB | daemon {dt:.2f}s "
                f"{d_rss[-1] / 1024:.0f}MB (+{npg} postgres procs {d_pg[-1] / 1024:.0f}MB) | "
                f"SIGTERM -> exit {code} in {took:.2f}s"
            )
    finally:
        if not args.keep:
            ws.cleanup()

    fs, ds = statistics.median(f_times), statistics.median(d_times)
    fr, dr = statistics.median(f_rss) / 1024, statistics.median(d_rss) / 1024
    pg = statistics.median(d_pg) / 1024
    print()
    print(f"floor  start (s): {summary(f_times)}")
    print(f"daemon start (s): {summary(d_times)}")
    print(f"daemon SIGTERM to exit (s): {summary(stops)}")
    for key in ("database.ready", "first butler serving", "supervisor.ready"):
        xs = [p[key] for p in d_phases if key in p]
        if xs:
            print(f"daemon spawn -> {key:22} (s): {summary(xs)}")
    print()
    print(f"{'metric':34} {'measured':>10} {'floor':>10} {'ratio':>7} {'goal':>7}  result")
    rows = [
        ("start to 4 answering tools/list (s)", ds, fs, START_GOAL),
        ("idle RSS, python process (MB)", dr, fr, RSS_GOAL),
    ]
    ok = True
    for name, m, f, goal in rows:
        r = m / f
        ok &= r <= goal
        print(f"{name:34} {m:10.2f} {f:10.2f} {r:7.2f} {'<=' + str(goal):>7}  {'PASS' if r <= goal else 'FAIL'}")
    print(f"{'embedded postgres RSS, all procs (MB)':34} {pg:10.1f}  (not counted above)")
    print(f"SIGTERM exits: {'all 0, no postgres left' if not bad_exits else '; '.join(bad_exits)}")
    return 0 if ok and not bad_exits else 1


if __name__ == "__main__":
    sys.exit(main())
