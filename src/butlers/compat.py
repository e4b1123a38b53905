"""Every use of another library's private API, in one place.

Each shim here leans on something a library does not promise to keep: an
underscore attribute, an internal module. `tests/unit/test_compat.py` checks
each one against the installed version and fails naming the library and its
version when an upgrade moves it, so the break shows in CI, not in production.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from importlib.metadata import version
from typing import Any

from claude_agent_sdk._internal.transport.subprocess_cli import SubprocessCLITransport
from fastmcp import FastMCP


class CompatError(RuntimeError):
    """A private API this project leans on moved in the installed version of a library."""


def library(name: str) -> str:
    """`name` and its installed version, for messages that say which upgrade broke what."""
    return f"{name} {version(name)}"


class KillableTransport(SubprocessCLITransport):
    """claude-agent-sdk's CLI transport, plus a way to kill the CLI at once (timeout, cancel).

    The SDK's own close() waits up to 5 s for a graceful exit, then 5 s more
    after SIGTERM; a hung session must stop now. Private: the internal module
    path and the `_process` attribute.
    """

    killed = False

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    def kill(self) -> None:
        # Remembered: a stop that lands while the CLI is still starting kills it once it exists.
        self.killed = True
        process = self._process
        if process is not None and process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                process.kill()

    async def connect(self) -> None:
        await super().connect()
        if self.killed:
            self.kill()

    async def close(self) -> None:
        if self.killed:
            self.kill()  # no 5 s grace for a process we stopped
        await super().close()


def index_tool_schemas(mcp: FastMCP, schemas: Mapping[str, Mapping[str, Any]]) -> None:
    """Give the MCP SDK's low-level server a by-name lookup of tool input schemas.

    Private: FastMCP's `_mcp_server` and the low-level server's `get_tool_input_schema`
    (without it each `tools/call` runs a whole `tools/list` to find one schema).
    """
    server = getattr(mcp, "_mcp_server", None)
    if server is None or not hasattr(server, "get_tool_input_schema"):
        raise CompatError(
            f"{library('fastmcp')} / {library('mcp')}: FastMCP._mcp_server.get_tool_input_schema moved; "
            "see butlers.compat.index_tool_schemas"
        )
    server.get_tool_input_schema = schemas.get


def own_yoyo_tables(backend: Any, owner: str) -> None:
    """Give a yoyo backend its own log and version tables (yoyo names only the migration table per call).

    Private: the backend's `log_table` and `version_table` class attributes.
    """
    if not (
        isinstance(getattr(backend, "log_table", None), str)
        and isinstance(getattr(backend, "version_table", None), str)
    ):
        raise CompatError(
            f"{library('yoyo-migrations')}: backend.log_table / version_table moved; see butlers.compat.own_yoyo_tables"
        )
    backend.log_table = f"_yoyo_log_{owner}"
    backend.version_table = f"_yoyo_version_{owner}"
