"""The suite never meets the user's own daemon (tests/conftest.py): not its data dir, token or settings."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from butlers.auth import find_operator_token
from butlers.settings import Settings, default_data_dir, environment_variable


def test_the_suite_has_a_data_dir_of_its_own_and_none_of_the_shells_daemon_settings() -> None:
    settings = Settings()
    assert settings.data_dir != default_data_dir()
    assert settings.data_dir.is_relative_to(Path(tempfile.gettempdir()))
    assert settings.token is None and settings.postgres_host is None
    assert "CREDENTIALS_DIRECTORY" not in os.environ
    kept = {environment_variable(f) for f in Settings.model_fields} & set(os.environ)
    assert kept <= {"BUTLERS_DATA_DIR", "BUTLERS_DASHBOARD_ENABLED"}, kept
    found = find_operator_token(settings)
    assert found is None or (found.path is not None and found.path.is_relative_to(settings.data_dir))
