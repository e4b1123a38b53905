"""`butlerctl mcp-config NAME`: the ready-to-paste configuration of an MCP client for one butler."""

from __future__ import annotations

import json
from enum import StrEnum
from typing import Annotated, Any

import typer

from butlers.auth import find_operator_token, is_loopback
from butlers.cli.client import butler_url
from butlers.cli.common import butler_address, fail, settings
from butlers.cli.options import DirOption, HostOption, NameArgument
from butlers.errors import ButlersError


class ClientKind(StrEnum):
    CLAUDE_DESKTOP = "claude-desktop"
    CLAUDE_CODE = "claude-code"
    CURSOR = "cursor"
    JSON = "json"


def client_config(kind: ClientKind, name: str, url: str, token: str | None) -> dict[str, Any]:
    """The configuration `kind` reads, for the butler `name` at `url` (with the token header if given)."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    if kind is ClientKind.CLAUDE_DESKTOP:
        # Claude Desktop's config file starts local (stdio) servers only: mcp-remote bridges to HTTP.
        # The header goes through an env variable, as mcp-remote documents, so no shell splits it.
        args = ["-y", "mcp-remote", url]
        server: dict[str, Any] = {"command": "npx", "args": args}
        if token:
            args += ["--header", "Authorization:${BUTLERS_AUTH_HEADER}"]
            server["env"] = {"BUTLERS_AUTH_HEADER": f"Bearer {token}"}
        return {"mcpServers": {name: server}}
    if kind is ClientKind.CLAUDE_CODE:  # .mcp.json of a project, or `claude mcp add-json`
        return {"mcpServers": {name: {"type": "http", "url": url, **({"headers": headers} if headers else {})}}}
    if kind is ClientKind.CURSOR:  # ~/.cursor/mcp.json
        return {"mcpServers": {name: {"url": url, **({"headers": headers} if headers else {})}}}
    return {"name": name, "transport": "streamable-http", "url": url, "headers": headers}


def register(app: typer.Typer) -> None:
    @app.command("mcp-config")
    def mcp_config(
        name: NameArgument,
        client: Annotated[
            ClientKind, typer.Option("--client", help="The MCP client to configure.", case_sensitive=False)
        ] = ClientKind.JSON,
        with_token: Annotated[
            bool,
            typer.Option(
                "--with-token",
                help="Put the operator token in the config even on loopback. A client holding it can "
                "decide held actions: never give it to an AI client.",
            ),
        ] = False,
        directory: DirOption = None,
        host: HostOption = None,
    ) -> None:
        """Print the MCP client configuration for butler NAME: its URL and, where needed, the token header.

        Beyond loopback every request needs the operator token, so it is included; on
        loopback it is left out (reading and module tools answer without it) unless --with-token.
        """
        address, port = butler_address(directory, name, host)
        connect = "127.0.0.1" if address in ("0.0.0.0", "::") else address
        token: str | None = None
        if with_token or not is_loopback(address):
            try:
                found = find_operator_token(settings())
            except ButlersError as exc:
                fail(str(exc))
            if found is None:
                fail("no operator token found: set BUTLERS_TOKEN, or start `butlerd serve` once to generate it")
            token = found.value
        typer.echo(json.dumps(client_config(client, name, butler_url(connect, port), token), indent=2))
