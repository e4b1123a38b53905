"""Outside programs the tests need (Dovecot, Node.js), installed from Debian's packages when missing.

`uv run pytest` is the whole set-up on a fresh machine: a test that needs a
program asks for it here, and it is installed once (as root, with apt-get) or
the test fails with a message saying what to install.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import threading

_lock = threading.Lock()
_updated = False


def ensure_command(command: str, apt_package: str) -> str:
    """The path of `command`, installing `apt_package` first when it is missing."""
    global _updated
    with _lock:
        found = shutil.which(command)
        if found:
            return found
        apt = shutil.which("apt-get")
        if apt is None or os.geteuid() != 0:
            raise RuntimeError(f"this test needs '{command}': install the Debian package '{apt_package}'")
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        if not _updated:
            subprocess.run([apt, "update", "-qq"], check=True, env=env, capture_output=True)
            _updated = True
        subprocess.run([apt, "install", "-y", "-qq", apt_package], check=True, env=env, capture_output=True)
        found = shutil.which(command)
        if found is None:
            raise RuntimeError(f"installed '{apt_package}' but '{command}' is still not on PATH")
        return found
