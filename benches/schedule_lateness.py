"""Schedule lateness: from a window's due time to its claim (dispatch), in the running daemon.

    uv run python benches/schedule_lateness.py            # 2 minute boundaries, 2 schedules per butler
    uv run python benches/schedule_lateness.py --quick    # 1 minute boundary
    uv run python benches/schedule_lateness.py --boundaries 3 --per-butler 4

Starts `.venv/bin/butlerd serve` on a copy of the 4 shipped butlers (temp data
dir), creates runtime schedules through the `schedule_create` MCP tool with cron
`* * * * *` (due at the next minute boundary), waits through the boundaries,
then reads `schedule_runs` from each butler's own database (`butler_<name>`):
lateness = claimed_at - scheduled_for (claimed_at is the claim transaction's
now(), the moment the window is handed to the dispatcher). Also checks each
window fired exactly once. The daemon is stopped with SIGTERM (exit 0 expected).

The heartbeat wakes at the earliest next_run_at, so this measures its wake-up
precision plus the claim. Goal (issue 3): <= 1 s.

Runs no agent: the environment handed to the daemon carries no ANTHROPIC_* or
CLAUDE_* variable. Takes up to (boundaries + 1) minutes.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import anyio
import asyncpg
from common import make_workspace, start_and_wait, stop_daemon
from fastmcp import Client
from floor import pct

GOAL_S = 1.0


def pg_address(data_dir: Path) -> tuple[str, int]:
    """Socket folder and port of the embedded server, from postmaster.pid."""
    lines = (data_dir / "postgres" / "postmaster.pid").read_text().splitlines()
    return lines[4], int(lines[3])


async def create_schedules(urls: dict[str, str], per_butler: int) -> dict[str, list[str]]:
    made: dict[str, list[str]] = {}
    for name, u in urls.items():
        async with Client(u, timeout=10) as c:
            for i in range(per_butler):
                sched = f"bench-lateness-{i}"
                r = await c.call_tool(
                    "schedule_create",
                    {"name": sched, "cron": "* * * * *", "prompt": "benchmark: no-op", "timezone": "UTC"},
                )
                made.setdefault(name, []).append(sched)
                if i == 0:
                    print(f"  {name}: {sched} next_run_at {r.structured_content.get('next_run_at')}")
    return made


async def read_runs(data_dir: Path, made: dict[str, list[str]]) -> list[dict]:
    host, port = pg_address(data_dir)
    rows: list[dict] = []
    for butler, scheds in made.items():
        conn = await asyncpg.connect(host=host, port=port, user="postgres", database=f"butler_{butler}")
        try:
            for r in await conn.fetch(
                """SELECT schedule_name, scheduled_for, claimed_at, skipped_windows,
                          extract(epoch FROM claimed_at - scheduled_for) AS late
                   FROM schedule_runs WHERE schedule_name = ANY($1::text[]) ORDER BY scheduled_for""",
                scheds,
            ):
                rows.append({"butler": butler, **dict(r)})
        finally:
            await conn.close()
    return rows


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="one minute boundary instead of two")
    ap.add_argument("--boundaries", type=int, default=None)
    ap.add_argument("--per-butler", type=int, default=2, help="runtime schedules created on each butler")
    args = ap.parse_args()
    boundaries = args.boundaries or (1 if args.quick else 2)

    ws = make_workspace()
    for k in list(os.environ):
        if k.startswith(("ANTHROPIC_", "CLAUDE_")):
            os.environ.pop(k)  # the daemon inherits from here: no agent session may start
    log = ws.root / "butlerd.log"
    proc = None
    code = None
    try:
        proc, _ = start_and_wait(ws, log)
        now = datetime.now(UTC)
        if now.second >= 57:  # too close to the boundary: the first window might land before we are done
            time.sleep(61 - now.second)
        print(f"creating {args.per_butler} schedule(s) per butler with cron '* * * * *':")
        made = anyio.run(create_schedules, ws.urls, args.per_butler)
        created_at = datetime.now(UTC)
        until = (created_at.timestamp() // 60 + boundaries) * 60 + 3
        wait = until - time.time()
        print(f"waiting {wait:.0f} s for {boundaries} minute boundar{'y' if boundaries == 1 else 'ies'} ...")
        time.sleep(max(0.0, wait))
        rows = anyio.run(read_runs, ws.data_dir, made)
    finally:
        if proc is not None:
            code = stop_daemon(ws, proc)[0]
        failed = [ln for ln in log.read_text().splitlines() if "dispatch_failed" in ln or "tick_failed" in ln]
        ws.cleanup()

    expected = boundaries * sum(len(v) for v in made.values())
    late = [float(r["late"]) for r in rows]
    keys = [(r["butler"], r["schedule_name"], r["scheduled_for"]) for r in rows]
    dupes = len(keys) - len(set(keys))
    print(f"\nwindows fired: {len(rows)} of {expected} expected; duplicates {dupes}; daemon exit {code}")
    if failed:
        print(f"daemon logged {len(failed)} dispatch/tick failure(s), first: {failed[0][:300]}")
    if not late:
        print("no window fired: FAIL")
        return 1
    for r in rows[:: max(1, len(rows) // 8)]:
        print(
            f"  {r['butler']:13} {r['schedule_name']:18} due {r['scheduled_for']:%H:%M:%S} late {float(r['late']) * 1e3:8.1f} ms"
        )
    print(
        f"\nlateness (s): median {statistics.median(late):.3f}  p95 {pct(late, 0.95):.3f}  max {max(late):.3f}  "
        f"min {min(late):.3f} (n={len(late)})"
    )
    ok = max(late) <= GOAL_S and len(rows) == expected and dupes == 0 and code == 0
    print(f"{'metric':34} {'measured':>10} {'goal':>7}  result")
    print(
        f"{'schedule lateness, max (s)':34} {max(late):10.3f} {'<=' + str(GOAL_S):>7}  {'PASS' if max(late) <= GOAL_S else 'FAIL'}"
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
