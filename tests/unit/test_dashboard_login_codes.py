"""One-time login codes for the dashboard: derived from the operator token, valid five minutes."""

from __future__ import annotations

import json
import stat
import time
from pathlib import Path

import pytest

from butlers.dashboard.login_codes import (
    CODE_TTL_S,
    USED_CODES_FILE,
    UsedCodes,
    code_is_valid,
    login_cookie_value,
    make_login_code,
)

TOKEN = "operator-token-0123456789"
NOW = 1_800_000_000.0


def test_a_fresh_code_is_valid_and_carries_no_token() -> None:
    code = make_login_code(TOKEN, NOW)
    assert code_is_valid(TOKEN, code, NOW + 1)
    assert TOKEN not in code and login_cookie_value(TOKEN) not in code
    assert make_login_code(TOKEN, NOW) != code  # a nonce: two links of the same second differ


def test_an_expired_forged_or_other_tokens_code_is_refused() -> None:
    code = make_login_code(TOKEN, NOW)
    assert not code_is_valid(TOKEN, code, NOW + CODE_TTL_S + 1)
    assert not code_is_valid("another-token-0123456789", code, NOW)
    minted, nonce, mac = code.split(".")
    assert not code_is_valid(TOKEN, f"{int(minted) + 60}.{nonce}.{mac}", NOW)  # a moved timestamp breaks the MAC
    for junk in ("", "abc", "1.2", f"x.{nonce}.{mac}", f"{minted}..{mac}", f"{minted}.{nonce}.{'0' * 64}"):
        assert not code_is_valid(TOKEN, junk, NOW), junk


def test_the_cookie_value_depends_on_the_token() -> None:
    assert login_cookie_value(TOKEN) == login_cookie_value(TOKEN)
    assert login_cookie_value(TOKEN) != login_cookie_value("another-token-0123456789")


def test_a_code_works_once_also_after_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "data" / USED_CODES_FILE
    code = make_login_code(TOKEN, NOW)
    assert UsedCodes(path).accept(TOKEN, code, NOW + 1)
    restarted = UsedCodes(path)  # a new daemon reads what the last one accepted
    assert not restarted.accept(TOKEN, code, NOW + 2)
    assert restarted.accept(TOKEN, make_login_code(TOKEN, NOW), NOW + 2)  # another fresh code still works
    assert code not in path.read_text()  # only a digest is kept
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_accepted_codes_are_forgotten_once_they_would_have_expired(tmp_path: Path) -> None:
    path = tmp_path / USED_CODES_FILE
    used = UsedCodes(path)
    assert used.accept(TOKEN, make_login_code(TOKEN, NOW), NOW)
    later = NOW + CODE_TTL_S + 3600
    assert used.accept(TOKEN, make_login_code(TOKEN, later), later)
    assert len(json.loads(path.read_text())) == 1


@pytest.mark.parametrize("content", ['{"torn', "[1, 2]"])
def test_an_unreadable_file_refuses_every_code_minted_before_it_was_read(tmp_path: Path, content: str) -> None:
    path = tmp_path / USED_CODES_FILE
    path.write_text(content)
    old = make_login_code(TOKEN, time.time() - 10)  # may have been used by the daemon that wrote the file
    used = UsedCodes(path)
    assert not used.accept(TOKEN, old)
    assert used.accept(TOKEN, make_login_code(TOKEN, time.time() + 1))
