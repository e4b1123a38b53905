"""Shared by the dashboard tests: a daemon with its dashboard on a free port, seeding, a browser page."""

from __future__ import annotations

import json
import os
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg2
from psycopg2.extras import RealDictCursor
from security_helpers import REGISTRY, daemon_settings, names_by_short

from butlers.auth import find_operator_token
from butlers.dashboard.login_codes import login_cookie_value
from butlers.dashboard.security import AUTH_COOKIE
from butlers.db import ServerAddress
from butlers.settings import Settings
from butlers.supervisor import Supervisor
from butlers.testing.daemon_thread import serve_in_thread
from butlers.testing.ports import free_port

# A test run leaves the working copy as it was: screenshots go to the temp dir, and into the docs only
# when asked (`just screenshots`, which sets BUTLERS_TEST_SCREENSHOTS to docs/screenshots).
SCREENSHOTS = Path(os.environ.get("BUTLERS_TEST_SCREENSHOTS") or Path(tempfile.gettempdir()) / "butlers-screenshots")
READY_TIMEOUT_S = 30


@dataclass
class Daemon:
    supervisor: Supervisor
    names: dict[str, str]  # short name (alpha, beta) -> butler name
    url: str  # the dashboard's base URL, ending in '/'
    token: str

    @property
    def port(self) -> int:
        return int(self.url.rstrip("/").rsplit(":", 1)[1])

    def dsn(self, short: str) -> str:
        butler = self.supervisor.butlers[self.names[short]]
        return butler.address.dsn(butler.database)

    def sql(self, short: str, query: str, *args: Any) -> list[dict[str, Any]]:
        """Run one statement on a butler's database from the test's side (its own connection, %s params)."""
        with psycopg2.connect(self.dsn(short)) as conn, conn.cursor(cursor_factory=RealDictCursor) as cur:
            cur.execute(query, args)
            rows = cur.fetchall() if cur.description else []
        conn.close()
        return [dict(r) for r in rows]


@contextmanager
def dashboard_daemon(base: Path, pg: ServerAddress, **extra: Any) -> Iterator[Daemon]:
    """Butlers alpha (notes, outbox: a gated `email_send`) and beta (notes), and the dashboard."""
    port = free_port()
    settings, _ = daemon_settings(
        base / "butlers.d", base / "data", pg, dashboard_enabled=True, dashboard_port=port, **extra
    )
    with serve_in_thread(settings, REGISTRY) as supervisor:
        assert len(supervisor.serving) == 2, supervisor.failures
        dashboard = supervisor.dashboard
        assert dashboard is not None
        wait_until(lambda: dashboard.ready.is_set() or dashboard.error is not None, READY_TIMEOUT_S)
        assert dashboard.error is None, dashboard.error
        token = find_operator_token(settings)
        assert token is not None
        yield Daemon(supervisor, names_by_short(settings.dir), f"http://127.0.0.1:{port}/", token.value)


def logged_in_context(browser: Any, url: str, settings: Settings, **options: Any) -> Any:
    """A browser context logged in to the dashboard at `url`: acting (approve, cancel, change) needs it.

    The auth cookie is derived from the daemon's operator token as the dashboard derives it.
    """
    token = find_operator_token(settings)
    assert token is not None
    context = browser.new_context(**options)
    context.add_cookies([{"name": AUTH_COOKIE, "value": login_cookie_value(token.value), "url": url}])
    return context


def wait_until(condition: Any, within_s: float) -> None:
    """Poll `condition` (a cheap check of our own state) until true, or fail at the deadline."""
    import time

    deadline = time.monotonic() + within_s
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"not true within {within_s} s: {condition}")
        time.sleep(0.05)


SEED_SESSION = """INSERT INTO sessions (id, trigger_source, schedule_name, prompt, status, queued_at, started_at,
        finished_at, duration_ms, result, error, tool_calls, num_turns, input_tokens, output_tokens, cost_usd, model,
        trace_id)
    VALUES (%s, %s, %s, %s, %s, %s, %s, %s::timestamptz + interval '12 seconds', 12000, %s, %s, %s::jsonb, 3, 1200, 340, %s,
            'claude-sonnet-4-5', %s)"""


def seed_sessions(daemon: Daemon, short: str, count: int = 6) -> list[uuid.UUID]:
    """Finished sessions of the last hours: scheduled and triggered, succeeded and failed."""
    ids = []
    now = datetime.now(UTC)
    # Ten minutes apart, but all of them today: pages count "today" (the suite may run just after midnight).
    since_midnight = now - now.replace(hour=0, minute=0, second=0, microsecond=0)
    step = min(timedelta(minutes=10), since_midnight / (count + 2))
    for i in range(count):
        sid = uuid.uuid4()
        failed = i % 3 == 2
        calls = [
            {"tool": "notes_add", "arguments": {"text": f"note {i}"}, "result": {"id": i}},
            {"tool": "state_get", "arguments": {"key": "groceries"}, "result": {"found": True, "value": ["milk"]}},
        ]
        daemon.sql(
            short,
            SEED_SESSION,
            str(sid),
            "schedule" if i % 2 else "trigger_tool",
            "morning-digest" if i % 2 else None,
            f"Summarise what I stored under groceries (run {i})",
            "failed" if failed else "succeeded",
            now - step * (i + 1),
            now - step * (i + 1),
            now - step * (i + 1),
            None if failed else f"You stored milk and bread (run {i}).",
            "the model API answered 529 (overloaded)" if failed else None,
            json.dumps(calls),
            0.0123 * (i + 1),
            f"{uuid.uuid4().hex}",
        )
        ids.append(sid)
    return ids


def seed_approval(daemon: Daemon, short: str, to: str = "ann@example.com") -> uuid.UUID:
    args = {"to": to, "subject": "Dinner on Friday", "body": "See you at eight."}
    rows = daemon.sql(
        short,
        "INSERT INTO approvals (action, args, summary) VALUES ('email_send', %s::jsonb, %s) RETURNING id",
        json.dumps(args),
        f"Mail {to}: Dinner on Friday",
    )
    return uuid.UUID(str(rows[0]["id"]))


def screenshot(page: Any, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


# Every form control inside a live area (an element htmx reloads on an SSE event) of the open page, and whether a
# live swap keeps what the user typed or chose there: htmx keeps an element with hx-preserve, found by its id.
_LIVE_CONTROLS = """() => [...document.querySelectorAll('[hx-trigger*="sse:"]')].flatMap(area =>
  [...area.querySelectorAll('input:not([type=hidden]), select, textarea')].map(c => [
    c.outerHTML.slice(0, 160),
    Boolean(c.id) && c.hasAttribute('hx-preserve') && document.querySelectorAll('#' + CSS.escape(c.id)).length === 1,
  ]))"""


def live_controls(page: Any) -> list[tuple[str, bool]]:
    """(the control's HTML, kept through a live swap) for each form control in a live area of `page`."""
    return [(html, kept) for html, kept in page.evaluate(_LIVE_CONTROLS)]


def mark_for_swap(page: Any, area: str) -> None:
    """Mark the live area `area` (its id) so `wait_swapped` sees when htmx has replaced it."""
    page.evaluate("id => { document.getElementById(id).dataset.beforeSwap = 'yes' }", area)


def wait_swapped(page: Any, area: str, timeout_ms: float = 30_000) -> None:
    """Wait until the live area `area`, marked by `mark_for_swap`, was replaced by a live update."""
    page.wait_for_selector(f"#{area}:not([data-before-swap])", timeout=timeout_ms)
