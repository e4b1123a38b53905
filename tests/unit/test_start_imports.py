"""What a daemon's start loads: the dashboard's web stack and channel libraries only when they are used.

The imports run in a fresh interpreter (this test process may have loaded everything already):
start time and idle memory (benches/startup.py) grow with every package on the start path.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from butlers.testing.ports import free_port

# The daemon's entry point, the supervisor, and the modules the shipped butlers enable.
DAEMON = (
    "butlers.cli.butlerd",
    "butlers.supervisor",
    "butlers.switchboard.module",
    "butlers.modules.notes",
    "butlers.modules.collections",
    "butlers.modules.health",
    "butlers.modules.relationship",
)
CHANNEL_LIBRARIES = ("slack_sdk", "aiohttp", "telegram", "aiosmtplib", "aioimaplib", "githubkit", "caldav", "icalendar")
SNAPSHOT = (
    "import importlib, json, sys\n"
    "def loaded(): return sorted(sys.modules)\n"
    "for m in {daemon!r}: importlib.import_module(m)\n"
    "started = loaded()\n"
    "importlib.import_module('butlers.dashboard.app')\n"
    "print(json.dumps({{'start': started, 'dashboard': loaded()}}))\n"
)


@pytest.fixture(scope="module")
def loaded() -> dict[str, set[str]]:
    """Top-level packages and butlers modules held after the daemon's imports, then after the dashboard's pages."""
    code = SNAPSHOT.format(daemon=list(DAEMON))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=300)
    return {
        k: {n.split(".")[0] for n in v} | {n for n in v if n.startswith("butlers.")}
        for k, v in json.loads(out.stdout).items()
    }


def test_the_daemon_starts_without_the_dashboard_pages_jinja2_or_channel_libraries(loaded: dict[str, set[str]]) -> None:
    assert "butlers.dashboard.service" in loaded["start"]  # the service itself is there, ready to start
    unwanted = {"jinja2", "butlers.dashboard.app", "butlers.dashboard.pages", *CHANNEL_LIBRARIES}
    assert not loaded["start"] & unwanted, f"loaded at start: {sorted(loaded['start'] & unwanted)}"


def test_the_dashboard_pages_load_no_channel_library_and_no_jinja2_before_a_page_renders(
    loaded: dict[str, set[str]],
) -> None:
    assert "butlers.dashboard.pages" in loaded["dashboard"]
    unwanted = {"jinja2", *CHANNEL_LIBRARIES}
    assert not loaded["dashboard"] & unwanted, f"loaded with the pages: {sorted(loaded['dashboard'] & unwanted)}"


DASHBOARD_START = (
    "import json, sys, threading, anyio\n"
    "seen = {{}}\n"
    "class Watch:\n"  # first on sys.meta_path: sees the import, then lets the usual finders find it
    "    def find_spec(self, name, path, target=None):\n"
    "        if name == 'butlers.dashboard.app':\n"
    "            seen.setdefault('thread', threading.current_thread().name)\n"
    "sys.meta_path.insert(0, Watch())\n"
    "from butlers.dashboard.service import DashboardService\n"
    "from butlers.settings import Settings\n"
    "class NoFleet:\n"
    "    butlers = {{}}\n"
    "    failures = {{}}\n"
    "async def main():\n"
    "    service = DashboardService(Settings(data_dir={data!r}, dashboard_port={port}), NoFleet())\n"
    "    async with anyio.create_task_group() as tg:\n"
    "        await tg.start(service.run)\n"
    "        service.request_stop()\n"
    "anyio.run(main)\n"
    "print(json.dumps(seen))\n"
)


def test_the_dashboard_imports_its_pages_off_the_event_loop(tmp_path: Path) -> None:
    """Compiling the pages and Jinja2 on the loop held every butler's first answers (about a second)."""
    code = DASHBOARD_START.format(data=str(tmp_path), port=free_port())
    env = {k: v for k, v in os.environ.items() if k != "BUTLERS_TOKEN"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, env=env)
    assert out.returncode == 0, out.stderr[-2000:]
    seen = json.loads(out.stdout.strip().splitlines()[-1])
    assert seen.get("thread") not in (None, "MainThread"), seen
