"""A bare MCP client over streamable HTTP that sends exactly the bytes a test gives it.

Ordinary clients serialise arguments themselves (NaN becomes null, 1e400 cannot
be written); a hostile caller does not. `RawMcpSession` initialises one session
and posts hand-made `tools/call` bodies, returning the decoded JSON-RPC answer.
"""

from __future__ import annotations

import itertools
import json
from dataclasses import dataclass
from typing import Any

import httpx

PROTOCOL_VERSION = "2025-06-18"
ACCEPT = "application/json, text/event-stream"


@dataclass
class Answer:
    status: int
    message: dict[str, Any] | None  # the JSON-RPC response, when there is one
    text: str


class RawMcpSession:
    """One initialised MCP session on `url`; `call` posts a body and returns the answer."""

    def __init__(self, url: str, token: str | None = None, timeout: float = 30.0) -> None:
        self.url = url
        self.headers = {"Accept": ACCEPT, "Content-Type": "application/json"}
        if token:
            self.headers["Authorization"] = f"Bearer {token}"
        self.http = httpx.Client(timeout=timeout)
        self._ids = itertools.count(1)

    def __enter__(self) -> RawMcpSession:
        init = {
            "jsonrpc": "2.0",
            "id": next(self._ids),
            "method": "initialize",
            "params": {"protocolVersion": PROTOCOL_VERSION, "capabilities": {}, "clientInfo": {"name": "raw"}},
        }
        answer = self.http.post(self.url, json=init, headers=self.headers)
        answer.raise_for_status()
        self.headers["mcp-session-id"] = answer.headers["mcp-session-id"]
        self.headers["mcp-protocol-version"] = PROTOCOL_VERSION
        note = {"jsonrpc": "2.0", "method": "notifications/initialized"}
        self.http.post(self.url, json=note, headers=self.headers).raise_for_status()
        return self

    def __exit__(self, *_: object) -> None:
        self.http.close()

    def call_body(self, tool: str, arguments_json: str) -> bytes:
        """A tools/call body with the arguments as given (raw JSON text, e.g. with NaN or 1e400)."""
        head = json.dumps({"jsonrpc": "2.0", "id": next(self._ids), "method": "tools/call"})[:-1]
        return f'{head}, "params": {{"name": {json.dumps(tool)}, "arguments": {arguments_json}}}}}'.encode()

    def post(self, body: bytes) -> Answer:
        answer = self.http.post(self.url, content=body, headers=self.headers)
        return Answer(answer.status_code, _message(answer), answer.text)

    def call(self, tool: str, arguments: dict[str, Any]) -> Answer:
        return self.post(self.call_body(tool, json.dumps(arguments)))

    def list_tools(self) -> list[dict[str, Any]]:
        body = json.dumps({"jsonrpc": "2.0", "id": next(self._ids), "method": "tools/list"}).encode()
        message = self.post(body).message
        assert message is not None and "result" in message, message
        return list(message["result"]["tools"])


def _message(answer: httpx.Response) -> dict[str, Any] | None:
    kind = answer.headers.get("content-type", "")
    try:
        if kind.startswith("application/json"):
            data = answer.json()
            return data if isinstance(data, dict) else None
        if kind.startswith("text/event-stream"):
            for line in answer.text.split("\n"):  # not splitlines: JSON may hold U+0085, U+2028
                if line.startswith("data:") and line[5:].strip():
                    data = json.loads(line[5:])
                    if isinstance(data, dict) and ("result" in data or "error" in data):
                        return data
    except ValueError:
        return None
    return None
