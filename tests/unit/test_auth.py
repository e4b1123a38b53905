"""The operator token's lookup and generation, the bind rule, and who may call which tool."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from pydantic import SecretStr

from butlers.auth import (
    AuthError,
    Role,
    SessionCredentials,
    TokenSource,
    check_bind,
    find_operator_token,
    load_operator_token,
    may_call,
)
from butlers.settings import Settings

pytestmark = pytest.mark.unit


@pytest.fixture(autouse=True)
def no_credentials_dir(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CREDENTIALS_DIRECTORY", raising=False)
    monkeypatch.delenv("BUTLERS_TOKEN", raising=False)


def test_first_start_generates_a_token_readable_by_the_owner_only_and_keeps_it(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data")
    assert find_operator_token(settings) is None
    first = load_operator_token(settings)
    assert first.source is TokenSource.FILE and not first.explicit
    assert stat.S_IMODE(os.stat(tmp_path / "data" / "operator-token").st_mode) == 0o600
    assert load_operator_token(settings).value == first.value
    assert first.value not in repr(first)


def test_the_variable_wins_over_the_credential_which_wins_over_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = Settings(data_dir=tmp_path)
    load_operator_token(settings)
    creds = tmp_path / "creds"
    creds.mkdir()
    (creds / "butlers-token").write_text("from-the-credential-0123\n")
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(creds))
    found = load_operator_token(settings)
    assert (found.value, found.source, found.explicit) == ("from-the-credential-0123", TokenSource.CREDENTIAL, True)
    explicit = Settings(data_dir=tmp_path, token=SecretStr("from-the-variable-01234"))
    assert load_operator_token(explicit).source is TokenSource.ENV


def test_a_short_token_is_refused_naming_where_it_came_from() -> None:
    with pytest.raises(AuthError, match="BUTLERS_TOKEN: the operator token must be at least 16"):
        find_operator_token(Settings(token=SecretStr("short")))


def test_binding_beyond_loopback_needs_a_token_someone_set(tmp_path: Path) -> None:
    generated = load_operator_token(Settings(data_dir=tmp_path))
    check_bind(Settings(host="127.0.0.1"), generated)
    check_bind(Settings(host="::1"), generated)
    with pytest.raises(AuthError, match=r"refusing to listen on 0\.0\.0\.0"):
        check_bind(Settings(host="0.0.0.0"), generated)
    explicit = load_operator_token(Settings(data_dir=tmp_path, token=SecretStr("x" * 32)))
    check_bind(Settings(host="0.0.0.0"), explicit)


def test_who_may_call_what() -> None:
    assert may_call(Role.OPERATOR, "approval_approve")
    assert may_call(Role.ANONYMOUS, "state_get") and may_call(Role.ANONYMOUS, "notes_add")
    for action in ("approval_approve", "approval_reject", "session_cancel", "state_set", "schedule_create"):
        assert not may_call(Role.ANONYMOUS, action)
    assert may_call(Role.AGENT, "state_set")
    for withheld in ("approval_approve", "approval_reject", "trigger", "session_cancel"):
        assert not may_call(Role.AGENT, withheld)


def test_a_session_credential_lives_until_revoked() -> None:
    credentials = SessionCredentials()
    token = credentials.issue("s1")
    assert credentials.session_of(token) == "s1" and credentials.session_of(token + "x") is None
    credentials.revoke(token)
    assert credentials.session_of(token) is None and len(credentials) == 0
