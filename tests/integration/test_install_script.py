"""deploy/install.sh: the service user gets a venv it can run, from a root-made install."""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SERVICE_USER = "butlers-ci"
LOCAL_ONLY = (".venv", ".git", ".hypothesis", ".pytest_cache", ".mypy_cache", ".ruff_cache", "__pycache__")


@pytest.fixture
def prefix() -> Iterator[Path]:
    # Outside pytest's basetemp (mode 700): the service user must reach the install.
    folder = Path(tempfile.mkdtemp(prefix="butlers-install-"))
    folder.chmod(0o755)
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


@pytest.mark.skipif(os.geteuid() != 0, reason="install.sh creates a system user: root only")
def test_install_gives_the_service_user_a_venv_it_can_run(prefix: Path) -> None:
    env = {
        **os.environ,
        "PREFIX": str(prefix / "opt"),
        "SERVICE_USER": SERVICE_USER,
        "DATA_DIR": str(prefix / "data"),
        "UNIT_DIR": str(prefix / "units"),
        "ETC_DIR": str(prefix / "etc"),
    }
    (prefix / "units").mkdir()
    # From a copy of the checkout: other tests write into the checkout meanwhile (screenshots, pytest's
    # cache), and tar fails an archive whose files change while it reads them.
    checkout = prefix / "checkout"
    shutil.copytree(REPO, checkout, ignore=shutil.ignore_patterns(*LOCAL_ONLY))
    (checkout / ".mypy_cache").mkdir()  # a developer's checkout has tool caches: they stay out of the install
    (checkout / ".mypy_cache" / "CACHEDIR.TAG").write_text("Signature: 8a477f597d28d172789f06886806bc55\n")
    for attempt in ("install", "upgrade"):  # a second run (an upgrade) must work the same
        done = subprocess.run(
            ["bash", str(checkout / "deploy" / "install.sh")], env=env, capture_output=True, text=True
        )
        assert done.returncode == 0, (attempt, done.stdout[-2000:], done.stderr[-3000:])
    pwd.getpwnam(SERVICE_USER)
    venv_python = (prefix / "opt" / ".venv" / "bin" / "python").resolve()
    assert not str(venv_python).startswith("/root"), venv_python
    checked = subprocess.run(
        ["runuser", "-u", SERVICE_USER, "--", str(prefix / "opt" / ".venv" / "bin" / "butlerctl"),
         "check", "--dir", str(prefix / "opt" / "butlers.d")],
        capture_output=True, text=True,
    )  # fmt: skip
    assert checked.returncode == 0, checked.stderr
    assert "butlers OK" in checked.stdout
    unit = (prefix / "units" / "butlerd.service").read_text()
    assert f"ExecStart={prefix / 'opt'}/.venv/bin/butlerd serve" in unit
    assert f"User={SERVICE_USER}" in unit
    # Bytecode compiled at install: the service sees the venv read-only and could not write it.
    opt = prefix / "opt"
    assert list((opt / "src" / "butlers" / "__pycache__").glob("butler.*.pyc"))
    assert list(opt.glob(".venv/lib/python3*/site-packages/fastmcp/server/__pycache__/server.*.pyc"))
    assert not (opt / ".mypy_cache").exists()
    # Dev tools stay out of a production venv.
    assert not (prefix / "opt" / ".venv" / "bin" / "pytest").exists()
