"""Outside programs the tests need (Dovecot, Node.js, jq, ...), installed from Debian's packages when missing.

`uv run pytest` is the whole set-up on a fresh machine: a test that needs a
program asks for it here, and it is installed once (as root, with apt-get) or
the test fails with a message saying what to install.

This lives with the tests, not in the installed package: installing system
packages is the test suite's business, never the library's. Test workers run in
several processes (pytest-xdist), and apt-get refuses to run twice at once, so
installs are serialised by a lock file shared by every process of the machine.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from filelock import FileLock

_LOCK_FILE = Path(tempfile.gettempdir()) / "butlers-tests-apt.lock"
_APT_TIMEOUT_S = 900  # a slow mirror on a fresh machine; a stuck apt fails the test instead of hanging


def ensure_command(command: str, apt_package: str) -> str:
    """The path of `command`, installing `apt_package` first when it is missing."""
    found = shutil.which(command)
    if found:
        return found
    apt = shutil.which("apt-get")
    if apt is None or os.geteuid() != 0:
        raise RuntimeError(f"this test needs '{command}': install the Debian package '{apt_package}'")
    with FileLock(_LOCK_FILE, timeout=_APT_TIMEOUT_S):
        found = shutil.which(command)  # another process may have installed it while we waited
        if found:
            return found
        _apt_install(apt, apt_package)
    found = shutil.which(command)
    if found is None:
        raise RuntimeError(f"installed '{apt_package}' but '{command}' is still not on PATH")
    return found


def _apt_install(apt: str, package: str) -> None:
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    install = [apt, "install", "-y", "-qq", package]
    # Try from the package lists already on the machine; refresh them only if that fails.
    if subprocess.run(install, env=env, capture_output=True, timeout=_APT_TIMEOUT_S).returncode == 0:
        return
    subprocess.run([apt, "update", "-qq"], check=True, env=env, capture_output=True, timeout=_APT_TIMEOUT_S)
    subprocess.run(install, check=True, env=env, capture_output=True, timeout=_APT_TIMEOUT_S)


def ensure_mail_programs() -> None:
    """What `butlers.testing.mail_servers` runs: Dovecot (IMAP) and openssl (test certificates)."""
    ensure_command("dovecot", "dovecot-imapd")
    ensure_command("openssl", "openssl")
