"""How a spawned agent reaches its own butler: a session credential in a private MCP config file.

The SDK would pass an `mcp_servers` dict to the CLI as a `--mcp-config` JSON
argument, which every local user can read in the process list. A file of mode
0600, named by path instead, keeps the credential out of argv and out of the
CLI's environment; it is removed (and the credential revoked) when the session ends.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterator
from pathlib import Path

from butlers.auth import SessionCredentials
from butlers.core.agent_env import mcp_server_config


@contextlib.contextmanager
def session_mcp_config(
    directory: Path,
    butler: str,
    url: str,
    session_id: str,
    credentials: SessionCredentials | None,
    traceparent: str | None = None,
) -> Iterator[Path | dict[str, object]]:
    """The `mcp_servers` option of one session: a private file with its credential, or a plain dict."""
    server = mcp_server_config(url, traceparent)
    if credentials is None:
        yield {butler: server}
        return
    token = credentials.issue(session_id)
    path = directory / f"mcp-{session_id}.json"
    try:
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        headers = {**server.get("headers", {}), "Authorization": f"Bearer {token}"}
        config = {"mcpServers": {butler: {**server, "headers": headers}}}
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as out:
            json.dump(config, out)
        yield path
    finally:
        credentials.revoke(token)
        path.unlink(missing_ok=True)
