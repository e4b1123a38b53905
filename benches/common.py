"""Shared by the daemon benches: a throwaway butler folder and data dir, and starting `butlerd`.

The butler folder is a copy of the repo's `butlers.d/` (the 4 shipped butlers:
switchboard 8100, general 8101, relationship 8102, health 8103). When those
ports are taken (say another daemon runs), the copy is moved to free ports and
a note is printed. When `butlers.d/` does not hold the 4 butlers, minimal
`butler.toml` files with those names and ports are written instead.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from floor import HOST, ROOT, free_ports, port_free, postgres_pids, stop, url, wait_all_answer

SHIPPED = {"switchboard": 8100, "general": 8101, "relationship": 8102, "health": 8103}
BUTLERD = ROOT / ".venv" / "bin" / "butlerd"


@dataclass
class Workspace:
    root: Path
    butlers_dir: Path
    data_dir: Path
    ports: dict[str, int] = field(default_factory=dict)
    dashboard_port: int | None = None  # a free port, so a dashboard of another daemon (8200) is not in the way
    # Variables set (a value) or removed (None) for the daemon: e.g. the bytecode cache conditions of fleet.py.
    overrides: dict[str, str | None] = field(default_factory=dict)

    @property
    def urls(self) -> dict[str, str]:
        return {n: url(p) for n, p in self.ports.items()}

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("BUTLERS_", "POSTGRES_", "OTEL_"))}
        env.update(BUTLERS_DATA_DIR=str(self.data_dir), BUTLERS_DIR=str(self.butlers_dir), BUTLERS_LOG_FORMAT="json")
        if self.dashboard_port is not None:
            env["BUTLERS_DASHBOARD_PORT"] = str(self.dashboard_port)
        for name, value in self.overrides.items():
            if value is None:
                env.pop(name, None)
            else:
                env[name] = value
        return env

    def cleanup(self) -> None:
        for pid in postgres_pids(self.data_dir):  # only ever the server of our own temp data dir
            with contextlib.suppress(OSError):
                os.kill(pid, 15)
        shutil.rmtree(self.root, ignore_errors=True)


def make_workspace(prefix: str = "butlers-bench-") -> Workspace:
    root = Path(tempfile.mkdtemp(prefix=prefix))
    dst = root / "butlers.d"
    src = ROOT / "butlers.d"
    have = all((src / n / "butler.toml").is_file() for n in SHIPPED)
    if have:
        dst.mkdir()
        for n in SHIPPED:
            shutil.copytree(src / n, dst / n)
    else:
        print("note: butlers.d/ does not hold the 4 shipped butlers; writing minimal ones", file=sys.stderr)
        for n, port in SHIPPED.items():
            (dst / n).mkdir(parents=True)
            (dst / n / "butler.toml").write_text(f'[butler]\nname = "{n}"\ndescription = "bench"\nport = {port}\n')
            (dst / n / "CLAUDE.md").write_text(f"# {n}\n")
    ports = dict(SHIPPED)
    if not all(port_free(p) for p in SHIPPED.values()):
        new = free_ports(len(SHIPPED))
        ports = dict(zip(SHIPPED, new, strict=True))
        print(f"note: shipped ports busy; the copy uses {ports}", file=sys.stderr)
    # Read the real port from each copied toml (and move it when needed).
    for n in SHIPPED:
        toml = dst / n / "butler.toml"
        text = toml.read_text()
        m = re.search(r"^port\s*=\s*(\d+)", text, re.M)
        assert m, f"no port in {toml}"
        if int(m.group(1)) != ports[n]:
            text = text[: m.start(1)] + str(ports[n]) + text[m.end(1) :]
            toml.write_text(text)
    data = root / "data"
    data.mkdir()
    return Workspace(root, dst, data, ports)


def generated_workspace(count: int, prefix: str = "butlers-bench-fleet-") -> Workspace:
    """`count` minimal butlers (no modules) named bench-000.., on free ports, with a temp data dir."""
    root = Path(tempfile.mkdtemp(prefix=prefix))
    dst = root / "butlers.d"
    *butler_ports, dashboard = free_ports(count + 1)
    ports = dict(zip((f"bench-{i:03d}" for i in range(count)), butler_ports, strict=True))
    for name, port in ports.items():
        (dst / name).mkdir(parents=True)
        (dst / name / "butler.toml").write_text(f'[butler]\nname = "{name}"\ndescription = "bench"\nport = {port}\n')
        (dst / name / "CLAUDE.md").write_text(f"# {name}\n")
    data = root / "data"
    data.mkdir()
    return Workspace(root, dst, data, ports, dashboard)


def start_daemon(ws: Workspace, log: Path, via_uv: bool = False) -> subprocess.Popen:
    """`.venv/bin/butlerd serve` (or `uv run butlerd`)."""
    cmd = ["uv", "run", "butlerd"] if via_uv else [str(BUTLERD)]
    cmd += ["serve", "--dir", str(ws.butlers_dir)]
    out = open(log, "ab")  # noqa: SIM115
    return subprocess.Popen(cmd, env=ws.env(), stdout=out, stderr=out, cwd=ROOT)


def start_and_wait(ws: Workspace, log: Path, deadline_s: float = 120.0) -> tuple[subprocess.Popen, float]:
    import anyio

    t0 = time.perf_counter()
    proc = start_daemon(ws, log)
    try:
        elapsed = anyio.run(wait_all_answer, list(ws.urls.values()), t0, deadline_s, proc)
    except BaseException:
        stop(proc)
        sys.stderr.write(log.read_text()[-3000:])
        raise
    return proc, elapsed


def phases(log: Path, spawned_at: float) -> dict[str, float]:
    """Seconds from spawn (a time.time() reading) to the daemon's own startup events, from its JSON log."""
    import json
    from datetime import datetime

    out: dict[str, float] = {}
    for line in log.read_text().splitlines():
        if not line.startswith("{"):
            continue
        try:
            ev = json.loads(line)
            ts = datetime.fromisoformat(ev["timestamp"].replace("Z", "+00:00")).timestamp()
        except (ValueError, KeyError):
            continue
        if ts < spawned_at:
            continue
        name = ev.get("event")
        if name in ("database.ready", "supervisor.ready") and name not in out:
            out[name] = ts - spawned_at
        if name == "butler.serving":
            out.setdefault("first butler serving", ts - spawned_at)
    return out


def stop_daemon(ws: Workspace, proc: subprocess.Popen) -> tuple[int, float, int]:
    """SIGTERM to the python process only: (exit code, seconds to exit, postgres processes left after 3 s)."""
    t = time.perf_counter()
    code = stop(proc)
    took = time.perf_counter() - t
    for _ in range(30):
        if not postgres_pids(ws.data_dir):
            break
        time.sleep(0.1)
    return code, took, len(postgres_pids(ws.data_dir))


__all__ = [
    "HOST",
    "SHIPPED",
    "Workspace",
    "generated_workspace",
    "make_workspace",
    "start_and_wait",
    "start_daemon",
    "stop_daemon",
]
