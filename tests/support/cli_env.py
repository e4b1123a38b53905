"""The environment `butlerctl` has on the machine of a test's daemon."""

from __future__ import annotations

from butlers.settings import Settings


def butlerctl_env(settings: Settings) -> dict[str, str]:
    """The daemon's butlers.d and data dir, where butlerctl finds the butlers and the operator token
    (the suite's own data dir, tests/conftest.py, holds none of this daemon's)."""
    return {"BUTLERS_DIR": str(settings.dir), "BUTLERS_DATA_DIR": str(settings.data_dir)}
