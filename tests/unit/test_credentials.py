"""Secrets from systemd credentials ($CREDENTIALS_DIRECTORY)."""

from __future__ import annotations

from pathlib import Path

from butlers.credentials import load_systemd_credentials


def test_a_credential_file_named_like_a_variable_sets_it(tmp_path: Path) -> None:
    (tmp_path / "ANTHROPIC_API_KEY").write_text("sk-from-credential\n")
    (tmp_path / "butlers_POSTGRES_PASSWORD").write_text("pw")  # a file of the unit's credential folder
    (tmp_path / "butlers-token").write_text("not a variable name: left for whoever reads it")
    env = {"CREDENTIALS_DIRECTORY": str(tmp_path)}
    assert load_systemd_credentials(env) == ["ANTHROPIC_API_KEY", "POSTGRES_PASSWORD"]
    assert env["POSTGRES_PASSWORD"] == "pw"
    assert env["ANTHROPIC_API_KEY"] == "sk-from-credential"
    assert "butlers-token" not in env


def test_the_environment_wins_and_no_folder_is_no_change(tmp_path: Path) -> None:
    (tmp_path / "ANTHROPIC_API_KEY").write_text("sk-from-credential")
    env = {"CREDENTIALS_DIRECTORY": str(tmp_path), "ANTHROPIC_API_KEY": "sk-explicit"}
    assert load_systemd_credentials(env) == []
    assert env["ANTHROPIC_API_KEY"] == "sk-explicit"
    assert load_systemd_credentials({}) == []
    assert load_systemd_credentials({"CREDENTIALS_DIRECTORY": str(tmp_path / "gone")}) == []
