"""The dashboard's figures (issue 13): page times with 100,000 sessions, live-event latency, idle RSS.

    uv run python benches/dashboard.py            # everything, briefly
    uv run python benches/dashboard.py --skip-rss # only the in-process figures

1. Page time: a daemon (2 butlers, the dashboard on a free port) is served in this process
   against a throwaway PostgreSQL; 100,000 finished sessions are inserted into one butler's
   database; then GET `/` (overview), `/sessions`, `/sessions?status=failed`, a deep page
   (`before=` cursor) and `/api/sessions`, each `--requests` times over loopback HTTP. The
   round trip on loopback is reported (it bounds the server time from above). Goal p50 <= 50 ms.
2. Live latency: headless Chromium opens `/sessions`; the bench ends a running session (an
   UPDATE of its status) and the page's own EventSource records when the `session` event
   arrives; latency = arrival (browser clock) - commit (same machine clock). Goal p50 <= 500 ms.
3. Idle RSS: `butlerd serve` with the dashboard on, then off (2 butlers, 3 s idle), VmRSS of
   the daemon's python process.
Figures taken on a shared machine are "under load".
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import psycopg2

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "integration"))

from common import generated_workspace, start_and_wait, stop_daemon
from floor import free_ports, pct, rss_kb

from butlers.settings import Settings
from butlers.testing.daemon_thread import serve_in_thread
from butlers.testing.postgres import TestPostgres

SEED = """INSERT INTO sessions (trigger_source, schedule_name, prompt, status, queued_at, started_at, finished_at,
        duration_ms, result, cost_usd, model, input_tokens, output_tokens)
    SELECT CASE WHEN i %% 3 = 0 THEN 'schedule' ELSE 'trigger_tool' END,
           CASE WHEN i %% 3 = 0 THEN 'digest-' || (i %% 5) END,
           'Summarise my day, run ' || i, CASE WHEN i %% 10 = 0 THEN 'failed' ELSE 'succeeded' END,
           now() - i * interval '30 seconds', now() - i * interval '30 seconds',
           now() - i * interval '30 seconds' + interval '5 seconds', 5000, 'done ' || i, 0.0123, 'claude-sonnet-4-5',
           1200, 300
    FROM generate_series(1, %s) AS i"""
LISTEN_JS = """() => new Promise(resolve => {
    window.arrivals = {};
    const source = new EventSource('/events');
    source.addEventListener('session', e => {
        const d = JSON.parse(e.data);
        if (d.status === 'succeeded') window.arrivals[d.id] = Date.now();
    });
    source.onopen = () => resolve(true);
})"""


def settings_for(root: Path, pg: TestPostgres, dashboard_port: int) -> Settings:
    ports = free_ports(2)
    for i, port in enumerate(ports):
        folder = root / "butlers.d" / f"bench-{i}"
        folder.mkdir(parents=True)
        (folder / "butler.toml").write_text(f'[butler]\nname = "bench-{i}"\nport = {port}\n\n[modules.notes]\n')
    a = pg.address
    return Settings(
        dir=root / "butlers.d",
        data_dir=root / "data",
        postgres_host=a.host,
        postgres_port=a.port,
        postgres_user=a.user,
        postgres_password=a.password,
        dashboard_enabled=True,
        dashboard_port=dashboard_port,
        drain_timeout_s=5,
    )


def timed_gets(base: str, path: str, n: int) -> list[float]:
    took = []
    with httpx.Client(base_url=base, timeout=30) as client:
        client.get(path).raise_for_status()  # warm-up (plans, pool connections)
        for _ in range(n):
            t = time.perf_counter()
            client.get(path).raise_for_status()
            took.append((time.perf_counter() - t) * 1000)
    return took


def page_times(base: str, dsn: str, n: int, seeded: int) -> None:
    with psycopg2.connect(dsn) as conn, conn.cursor() as cur:
        cur.execute(
            "SELECT queued_at, id FROM sessions ORDER BY queued_at DESC, id DESC OFFSET %s LIMIT 1", (seeded * 6 // 10,)
        )
        at, ident = cur.fetchone()
    deep = httpx.QueryParams({"before": f"{at.isoformat()}_{ident}"})
    for path in ("/", "/sessions", "/sessions?status=failed", f"/sessions?{deep}", "/api/sessions"):
        took = timed_gets(base, path, n)
        print(f"  GET {path[:40]:<42} p50 {statistics.median(took):6.1f} ms  p95 {pct(took, 0.95):6.1f} ms  (n={n})")


def arrived(page: Any, sid: str, within_s: float = 10.0) -> None:
    deadline = time.monotonic() + within_s
    while page.evaluate("id => window.arrivals[id]", sid) is None:
        if time.monotonic() > deadline:
            raise TimeoutError(f"the end of session {sid} never reached the browser")
        time.sleep(0.005)  # polling the browser; arrival times are its own clock, not this loop's


def live_latency(base: str, dsn: str, n: int) -> None:
    from playwright.sync_api import sync_playwright

    chromium = shutil.which("chromium")
    if chromium is None:
        raise SystemExit("benches/dashboard.py needs Debian's chromium: apt-get install chromium")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, headless=True, args=["--no-sandbox"])
        page = browser.new_context(bypass_csp=True).new_page()  # the timing hook is the bench's own script
        page.goto(base + "/sessions")
        page.evaluate(LISTEN_JS)
        sent: dict[str, float] = {}
        conn = psycopg2.connect(dsn)
        conn.autocommit = True  # each statement commits: its NOTIFY goes out at once
        try:
            with conn.cursor() as cur:
                for _ in range(n):
                    sid = str(uuid.uuid4())
                    cur.execute(
                        "INSERT INTO sessions (id, trigger_source, prompt, status, started_at)"
                        " VALUES (%s, 'trigger_tool', 'bench', 'running', now())",
                        (sid,),
                    )
                    sent[sid] = time.time() * 1000
                    cur.execute("UPDATE sessions SET status = 'succeeded', finished_at = now() WHERE id = %s", (sid,))
                    arrived(page, sid)
        finally:
            conn.close()
        arrivals = page.evaluate("window.arrivals")
        browser.close()
    took = [arrivals[s] - t for s, t in sent.items()]
    print(f"  session end -> browser event      p50 {statistics.median(took):6.1f} ms  p95 {pct(took, 0.95):6.1f} ms")


def in_process(args: argparse.Namespace) -> None:
    root = Path(tempfile.mkdtemp(prefix="butlers-bench-dashboard-"))
    pg = TestPostgres(root / "pg")
    try:
        (port,) = free_ports(1)
        settings = settings_for(root, pg, port)
        with serve_in_thread(settings) as supervisor:
            while supervisor.dashboard is None or not supervisor.dashboard.ready.is_set():
                time.sleep(0.05)  # polling the daemon's own flag until the dashboard listens
            butler = supervisor.butlers["bench-0"]
            dsn = butler.address.dsn(butler.database)
            t = time.perf_counter()
            with psycopg2.connect(dsn) as conn, conn.cursor() as cur:
                # Bulk history, not live traffic: no 100,000 announcements for the listener to chew through.
                cur.execute("SET session_replication_role = replica")
                cur.execute(SEED, (args.sessions,))
                cur.execute("ANALYZE sessions")
            print(f"seeded {args.sessions:,} sessions in {time.perf_counter() - t:.1f} s")
            base = f"http://127.0.0.1:{port}"
            print(f"page times with {args.sessions:,} sessions (loopback round trip):")
            page_times(base, dsn, args.requests, args.sessions)
            print("live events:")
            live_latency(base, dsn, args.events)
    finally:
        pg.stop()


def idle_rss(dashboard: bool) -> int:
    ws = generated_workspace(2)
    try:
        env_port = str(free_ports(1)[0])
        original = ws.env

        def env() -> dict[str, str]:
            return {
                **original(),
                "BUTLERS_DASHBOARD_ENABLED": str(dashboard).lower(),
                "BUTLERS_DASHBOARD_PORT": env_port,
            }

        ws.env = env  # type: ignore[method-assign]
        proc, _ = start_and_wait(ws, ws.root / "daemon.log", deadline_s=300)
        if dashboard:
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                try:
                    httpx.get(f"http://127.0.0.1:{env_port}/api/overview", timeout=2).raise_for_status()
                    break
                except httpx.HTTPError:
                    time.sleep(0.1)  # polling until the dashboard answers
        time.sleep(3)  # idle: the figure is the settled RSS
        rss = rss_kb(proc.pid)
        stop_daemon(ws, proc)
        return rss
    finally:
        ws.cleanup()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sessions", type=int, default=100_000, help="sessions seeded (default 100,000)")
    ap.add_argument("--requests", type=int, default=30, help="timed requests per page")
    ap.add_argument("--events", type=int, default=20, help="session ends timed into the browser")
    ap.add_argument("--skip-rss", action="store_true", help="skip the idle RSS runs (two daemon starts)")
    ap.add_argument("--rss-only", action="store_true", help="only the idle RSS runs")
    args = ap.parse_args()
    if not args.rss_only:
        in_process(args)
    if not args.skip_rss:
        on, off = idle_rss(True), idle_rss(False)
        print(f"idle RSS of butlerd (2 butlers): dashboard on {on / 1024:.1f} MB, off {off / 1024:.1f} MB "
              f"({(on - off) / 1024:+.1f} MB)")  # fmt: skip
    print("(figures from a shared machine: under load)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
