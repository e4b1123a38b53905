"""`butlerctl dashboard`: the URL and a one-time login link, from the token the daemon would use."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from butlers.auth import TOKEN_FILE
from butlers.cli.butlerctl import app
from butlers.dashboard.login_codes import code_is_valid

TOKEN = "operator-token-from-the-file-0123456789"


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for name in ("BUTLERS_TOKEN", "CREDENTIALS_DIRECTORY", "BUTLERS_DASHBOARD_HOST"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("BUTLERS_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("BUTLERS_DASHBOARD_PORT", "8311")
    return tmp_path


def test_it_prints_the_url_and_a_link_whose_code_is_valid(data_dir: Path) -> None:
    (data_dir / TOKEN_FILE).write_text(TOKEN + "\n")
    result = CliRunner().invoke(app, ["dashboard", "--json"])
    assert result.exit_code == 0, result.output
    shown = json.loads(result.stdout)
    assert shown["url"] == "http://127.0.0.1:8311/"
    prefix = "http://127.0.0.1:8311/login?code="
    assert shown["login_url"].startswith(prefix) and TOKEN not in shown["login_url"]
    assert code_is_valid(TOKEN, shown["login_url"].removeprefix(prefix))
    plain = CliRunner().invoke(app, ["dashboard"])
    assert plain.exit_code == 0 and "Dashboard: http://127.0.0.1:8311/" in plain.stdout and prefix in plain.stdout


def test_an_any_address_bind_is_reached_on_loopback(data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (data_dir / TOKEN_FILE).write_text(TOKEN)
    monkeypatch.setenv("BUTLERS_DASHBOARD_HOST", "0.0.0.0")
    result = CliRunner().invoke(app, ["dashboard", "--json"])
    assert json.loads(result.stdout)["url"] == "http://127.0.0.1:8311/"


def test_without_a_token_it_exits_1_naming_where_it_looked(data_dir: Path) -> None:
    result = CliRunner().invoke(app, ["dashboard"])
    assert result.exit_code == 1
    assert "no operator token found" in result.stderr
    assert "BUTLERS_TOKEN" in result.stderr and str(data_dir / TOKEN_FILE) in result.stderr
