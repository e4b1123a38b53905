"""One-time login codes for the dashboard: derived from the operator token, valid five minutes."""

from __future__ import annotations

from butlers.dashboard.login_codes import CODE_TTL_S, code_is_valid, login_cookie_value, make_login_code

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
