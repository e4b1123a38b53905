"""A real CalDAV server for tests: Radicale, run as a subprocess on 127.0.0.1.

    from butlers.testing.caldav_server import RadicaleServer

    server = RadicaleServer(tmp_path / "radicale", username="alice", password="secret")
    server.start()            # returns once the server answers (bounded poll)
    server.url                # "http://127.0.0.1:<port>/"
    server.stop()             # and start() again: same port, same storage (a "server down" test)

With `password=None` the server takes any login (`auth type = none`); with a password it checks
it against an htpasswd file (plain encryption, test use only).
"""

from __future__ import annotations

import contextlib
import subprocess
import sys
import time
from pathlib import Path

import httpx

from butlers.testing.ports import free_port


class RadicaleServer:
    """Owns one Radicale subprocess with its storage folder under `folder`."""

    __test__ = False  # not a pytest test class

    def __init__(
        self,
        folder: Path,
        *,
        username: str = "butler",
        password: str | None = None,
        port: int | None = None,
        start_timeout: float = 30.0,
    ) -> None:
        self.folder = folder
        self.username = username
        self.password = password
        self.port = port or free_port()
        self.start_timeout = start_timeout
        self._proc: subprocess.Popen[bytes] | None = None
        folder.mkdir(parents=True, exist_ok=True)
        self.storage = folder / "collections"
        self.log_file = folder / "radicale.log"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def _command(self) -> list[str]:
        cmd = [
            sys.executable,
            "-m",
            "radicale",
            "--config",
            "",  # ignore any system or user configuration
            "--server-hosts",
            f"127.0.0.1:{self.port}",
            "--storage-filesystem-folder",
            str(self.storage),
            "--logging-level",
            "warning",
        ]
        if self.password is None:
            cmd += ["--auth-type", "none"]
        else:
            htpasswd = self.folder / "htpasswd"
            htpasswd.write_text(f"{self.username}:{self.password}\n", encoding="utf-8")
            cmd += [
                "--auth-type",
                "htpasswd",
                "--auth-htpasswd-filename",
                str(htpasswd),
                "--auth-htpasswd-encryption",
                "plain",
            ]
        return cmd

    def start(self) -> None:
        """Start the server and return once it answers HTTP; raise if it does not in time."""
        if self.running:
            return
        log = self.log_file.open("ab")
        try:
            self._proc = subprocess.Popen(self._command(), stdout=log, stderr=subprocess.STDOUT)
        finally:
            log.close()
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise RuntimeError(
                    f"Radicale exited with {self._proc.returncode} on port {self.port}:\n{self._log_tail()}"
                )
            if self.answers():
                return
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"Radicale did not answer on {self.url} within {self.start_timeout}s:\n{self._log_tail()}")

    def answers(self) -> bool:
        """Does the server answer an HTTP request right now?"""
        try:
            httpx.get(self.url, timeout=1.0)
        except httpx.HTTPError:
            return False
        return True

    def stop(self) -> None:
        """Stop the server and wait until it is gone (its port free for a restart)."""
        proc, self._proc = self._proc, None
        if proc is None:
            return
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)

    def _log_tail(self) -> str:
        with contextlib.suppress(OSError):
            return self.log_file.read_text(encoding="utf-8", errors="replace")[-4000:]
        return ""

    def __enter__(self) -> RadicaleServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
