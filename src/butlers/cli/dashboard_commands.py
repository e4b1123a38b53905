"""`butlerctl dashboard`: the dashboard's URL and a one-time login link for this browser.

The link carries a code derived from the operator token (valid CODE_TTL_S, accepted once),
never the token itself, so nothing secret lands in browser history.
"""

from __future__ import annotations

import os
import time
from datetime import UTC, datetime
from ipaddress import ip_address
from urllib.parse import quote

import typer

from butlers.auth import CREDENTIAL_NAME, find_operator_token, token_file
from butlers.cli.common import JsonOption, echo_json, fail, settings
from butlers.dashboard.login_codes import CODE_TTL_S, make_login_code
from butlers.errors import ButlersError
from butlers.settings import Settings


def dashboard_url(config: Settings) -> str:
    """Where a browser on this machine reaches the dashboard (an any-address bind is reached on loopback)."""
    host = config.dashboard_host
    try:
        address = ip_address(host)
    except ValueError:
        return f"http://{host}:{config.dashboard_port}/"
    if address.is_unspecified:
        host = "127.0.0.1" if address.version == 4 else "[::1]"
    elif address.version == 6:
        host = f"[{host}]"
    return f"http://{host}:{config.dashboard_port}/"


def _looked_in(config: Settings) -> str:
    credentials = os.environ.get("CREDENTIALS_DIRECTORY")
    credential = f"{credentials}/{CREDENTIAL_NAME}" if credentials else f"$CREDENTIALS_DIRECTORY/{CREDENTIAL_NAME}"
    return f"BUTLERS_TOKEN, {credential}, {token_file(config)}"


def dashboard_command(as_json: JsonOption = False) -> None:
    """Print the dashboard's URL and a one-time login link (valid 5 minutes, usable once).

    Reading pages on loopback needs no login; approving, cancelling and changing things does.
    Open the link in the browser to log it in (the login lasts 30 days). The operator token is
    found as the daemon finds it: BUTLERS_TOKEN, the systemd credential, the data dir's file.
    Exit 0; 1 when no operator token is found (run as the daemon's user, or set BUTLERS_TOKEN).
    """
    config = settings()
    try:
        token = find_operator_token(config)
    except ButlersError as exc:
        fail(str(exc))
    if token is None:
        fail(f"no operator token found; looked in {_looked_in(config)} (start butlerd once, or set BUTLERS_TOKEN)")
    url = dashboard_url(config)
    now = time.time()
    login = f"{url}login?code={quote(make_login_code(token.value, now))}"
    expires = datetime.fromtimestamp(now + CODE_TTL_S, UTC)
    if as_json:
        echo_json(
            {"url": url, "login_url": login, "expires_at": expires.isoformat(), "enabled": config.dashboard_enabled}
        )
    else:
        typer.echo(f"Dashboard: {url}")
        typer.echo(f"Log in (once, within {CODE_TTL_S // 60} minutes): {login}")
    if not config.dashboard_enabled:
        typer.echo("warning: the dashboard is turned off (BUTLERS_DASHBOARD_ENABLED=false)", err=True)
    raise typer.Exit(0)
