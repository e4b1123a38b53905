"""Each private API of another library that butlers.compat leans on is still where it was.

A failure here names the library and its installed version: the upgrade that moved it.
"""

from __future__ import annotations

from typing import Any

import pytest
from claude_agent_sdk import ClaudeAgentOptions
from fastmcp import FastMCP
from yoyo.connections import get_backend_class

from butlers import compat


def test_the_sdk_transport_still_keeps_its_process_where_the_kill_reads_it() -> None:
    transport = compat.KillableTransport("hi", ClaudeAgentOptions())
    assert hasattr(transport, "_process"), (
        f"{compat.library('claude-agent-sdk')}: SubprocessCLITransport no longer keeps `_process`"
    )
    assert transport.pid is None  # not started yet
    transport.kill()  # before the CLI exists: remembered, nothing raised
    assert transport.killed


async def test_fastmcp_server_takes_a_tool_schema_index() -> None:
    mcp: FastMCP = FastMCP("compat")

    @mcp.tool
    def echo(text: str) -> str:
        return text

    schemas = {tool.name: tool.parameters for tool in await mcp.list_tools()}
    compat.index_tool_schemas(mcp, schemas)
    lookup: Any = mcp._mcp_server.get_tool_input_schema
    assert lookup("echo") == schemas["echo"], compat.library("fastmcp")
    assert lookup("missing") is None


def test_index_tool_schemas_names_library_and_version_when_the_attribute_moved() -> None:
    class Moved:
        pass

    with pytest.raises(compat.CompatError, match=r"fastmcp \d"):
        compat.index_tool_schemas(Moved(), {})  # type: ignore[arg-type]


def test_yoyo_backend_still_names_its_log_and_version_tables() -> None:
    backend_class: Any = get_backend_class("postgresql")
    backend = backend_class.__new__(backend_class)  # no connection: only the class attributes matter
    compat.own_yoyo_tables(backend, "notes")
    assert (backend.log_table, backend.version_table) == ("_yoyo_log_notes", "_yoyo_version_notes")
    assert backend_class.log_table == "_yoyo_log", compat.library("yoyo-migrations")


def test_own_yoyo_tables_names_library_and_version_when_the_attributes_moved() -> None:
    with pytest.raises(compat.CompatError, match=r"yoyo-migrations \d"):
        compat.own_yoyo_tables(object(), "notes")
