"""The dashboard's login credentials, derived from the operator token (never the token itself).

- The auth cookie's value: HMAC(token, fixed label). It says "this browser was given the token"
  without holding it, and every token change logs every browser out.
- A one-time login code for `/login?code=...` (`butlerctl dashboard` prints the link):
  `<unix time>.<nonce>.<HMAC(token, time.nonce)>`, valid for CODE_TTL_S. It puts no token in
  URLs or browser history; the dashboard refuses a code it has already accepted.

Plain standard library so `butlerctl` and the tests derive the same values without the web stack.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time

CODE_TTL_S = 300
CLOCK_SKEW_S = 30  # a code minted a little "in the future" (clock steps) still counts
_COOKIE_LABEL = b"butlers-dashboard-login"
_CODE_LABEL = "butlers-dashboard-code:"


def login_cookie_value(token: str) -> str:
    """The auth cookie's value for the operator token `token`."""
    return hmac.new(token.encode(), _COOKIE_LABEL, hashlib.sha256).hexdigest()


def _mac(token: str, stamp: str) -> str:
    return hmac.new(token.encode(), (_CODE_LABEL + stamp).encode(), hashlib.sha256).hexdigest()


def make_login_code(token: str, now: float | None = None) -> str:
    """A fresh login code, valid for CODE_TTL_S from `now` (default: the current time)."""
    stamp = f"{int(time.time() if now is None else now)}.{secrets.token_hex(8)}"
    return f"{stamp}.{_mac(token, stamp)}"


def code_is_valid(token: str, code: str, now: float | None = None) -> bool:
    """True when `code` was minted from `token` less than CODE_TTL_S ago (one-time use is the caller's)."""
    minted, dot, rest = code.partition(".")
    nonce, dot2, mac = rest.partition(".")
    if not (dot and dot2 and minted.isdigit() and nonce and mac):
        return False
    if not hmac.compare_digest(mac, _mac(token, f"{minted}.{nonce}")):
        return False
    age = (time.time() if now is None else now) - int(minted)
    return -CLOCK_SKEW_S <= age <= CODE_TTL_S
