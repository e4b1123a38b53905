"""The dashboard's login credentials, derived from the operator token (never the token itself).

- The auth cookie's value: HMAC(token, fixed label). It says "this browser was given the token"
  without holding it, and every token change logs every browser out.
- A one-time login code for `/login?code=...` (`butlerctl dashboard` prints the link):
  `<unix time>.<nonce>.<HMAC(token, time.nonce)>`, valid for CODE_TTL_S. It puts no token in
  URLs or browser history; the dashboard refuses a code it has already accepted, also after a
  restart (`UsedCodes` keeps the accepted ones in the data dir until they would have expired).

Plain standard library so `butlerctl` and the tests derive the same values without the web stack.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
import time
from pathlib import Path

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


def code_is_valid(token: str, code: str, now: float | None = None, not_before: float = 0.0) -> bool:
    """True when `code` was minted from `token` less than CODE_TTL_S ago, and not before `not_before`
    (one-time use is the caller's)."""
    minted, dot, rest = code.partition(".")
    nonce, dot2, mac = rest.partition(".")
    if not (dot and dot2 and minted.isdigit() and nonce and mac):
        return False
    if not hmac.compare_digest(mac, _mac(token, f"{minted}.{nonce}")):
        return False
    age = (time.time() if now is None else now) - int(minted)
    return -CLOCK_SKEW_S <= age <= CODE_TTL_S and int(minted) >= not_before


USED_CODES_FILE = "dashboard-used-login-codes.json"


class UsedCodes:
    """The login codes the dashboard accepted, kept on disk so a restart cannot make one work twice.

    Only a code's SHA-256 is written (mode 600, replaced whole), and each is forgotten once it
    would have expired anyway: the file stays a few lines long.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._refuse_before = 0.0  # codes minted before this are refused (the file could not be read)
        try:
            loaded: object = json.loads(path.read_text())
        except FileNotFoundError:
            loaded = {}
        except (OSError, ValueError):
            loaded = None
        if not isinstance(loaded, dict):  # unreadable, torn or not ours: refusing every older code is safe
            self._refuse_before = time.time()
            loaded = {}
        self._accepted: dict[str, float] = {k: float(v) for k, v in loaded.items() if isinstance(v, int | float)}

    def accept(self, token: str, code: str, now: float | None = None) -> bool:
        """True, once, for a valid code; the acceptance is on disk before the browser is logged in."""
        at = time.time() if now is None else now
        key = hashlib.sha256(code.encode()).hexdigest()
        self._forget_expired(at)
        if key in self._accepted or not code_is_valid(token, code, at, not_before=self._refuse_before):
            return False
        self._accepted[key] = at
        self._save()
        return True

    def _forget_expired(self, now: float) -> None:
        for key, at in list(self._accepted.items()):
            if now - at > CODE_TTL_S + 2 * CLOCK_SKEW_S:
                del self._accepted[key]

    def _save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        partial = self.path.with_name(self.path.name + ".partial")
        fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            json.dump(self._accepted, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(partial, self.path)
