"""The shipped systemd units: valid for systemd, and the system unit hardened ("OK" or better)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from support.system_packages import ensure_command

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"
BUTLERD = str(Path(sys.executable).parent / "butlerd")
# systemd-analyze's levels: 0-1.9 SAFE... (PERFECT, SAFE, OK are all below 5.0; MEDIUM from 5.0).
OK_CEILING = 4.9


def local_copy(unit: str, tmp_path: Path) -> Path:
    # `verify` checks that ExecStart exists: point it at this checkout's butlerd, nothing else changes.
    text = (DEPLOY / unit).read_text(encoding="utf-8")
    text = text.replace("/opt/butlers/.venv/bin/butlerd", BUTLERD).replace("%h/butlers/.venv/bin/butlerd", BUTLERD)
    copy = tmp_path / unit.replace(".user", "-user")
    copy.write_text(text, encoding="utf-8")
    return copy


@pytest.mark.parametrize("unit", ["butlerd.service", "butlerd.user.service"])
def test_units_verify_clean(unit: str, tmp_path: Path) -> None:
    analyze = ensure_command("systemd-analyze", "systemd")
    done = subprocess.run([analyze, "verify", str(local_copy(unit, tmp_path))], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stderr.strip() == "", done.stderr  # unknown keys are only warned about: none allowed


def test_system_unit_is_hardened(tmp_path: Path) -> None:
    analyze = ensure_command("systemd-analyze", "systemd")
    done = subprocess.run(
        [analyze, "security", "--offline=true", str(local_copy("butlerd.service", tmp_path))],
        capture_output=True, text=True,
    )  # fmt: skip
    found = re.search(r"Overall exposure level for \S+: ([0-9.]+) (\w+)", done.stdout)
    assert found, done.stdout[-1000:] + done.stderr
    score, level = float(found.group(1)), found.group(2)
    print(f"systemd-analyze security: {score} {level}")
    assert score <= OK_CEILING and level in {"PERFECT", "SAFE", "OK"}, done.stdout[-3000:]
    unit = (DEPLOY / "butlerd.service").read_text(encoding="utf-8")
    for needed in ("LimitNOFILE=", "LoadCredential=", "ProtectSystem=strict", "CapabilityBoundingSet=\n"):
        assert needed in unit, needed
