"""pgserver's list of the server's users: pids of dead processes are dropped, live ones kept."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from butlers.db import forget_dead_handles, postmaster_alive


def dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_dead_pids_are_dropped_and_live_ones_kept(tmp_path: Path) -> None:
    gone = dead_pid()
    handles = tmp_path / ".handle_pids.json"
    handles.write_text(json.dumps([gone, os.getpid()]))
    assert forget_dead_handles(tmp_path) == [gone]
    assert json.loads(handles.read_text()) == [os.getpid()]
    assert forget_dead_handles(tmp_path) == []


def test_a_stale_postmaster_pid_file_does_not_count_as_running(tmp_path: Path) -> None:
    assert postmaster_alive(tmp_path) is False  # no file
    (tmp_path / "postmaster.pid").write_text(f"{dead_pid()}\n{tmp_path}\n0\n5432\n/tmp\n\n0 0\nready\n")
    assert postmaster_alive(tmp_path) is False
