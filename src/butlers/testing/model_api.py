"""A local stand-in for the Anthropic Messages API, scripted per test.

The real Claude Code CLI is pointed at it with ``ANTHROPIC_BASE_URL``. It
speaks the wire format the CLI uses (``POST /v1/messages?beta=true``, streamed
server-sent events, ``tool_use`` blocks with ``input_json_delta``, usage in
``message_start``/``message_delta``), so tests exercise the real CLI, the real
MCP round trip and the real result accounting. Module authors can use it too::

    async with ModelApiStandIn([ToolUse("mcp__notes__add", {"text": "x"}), Text("done")]) as api:
        env = {"ANTHROPIC_BASE_URL": api.base_url, "ANTHROPIC_API_KEY": "dummy"}
        ...
        assert api.tool_names(0) == ["mcp__notes__add"]

Each model request consumes the next turn of the script. A turn is a
``Text``, a ``ToolUse``, a ``Reply`` (several blocks), an ``ApiError``, a
``Hang`` or a callable that receives the request body and returns one of these.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import AsyncIterator, Callable, Iterable
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, Union

import anyio
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from butlers.testing.asgi import serve_asgi


@dataclass(frozen=True)
class Usage:
    """Token figures the stand-in reports for one model response."""

    input_tokens: int = 100
    output_tokens: int = 20
    cache_read_input_tokens: int = 0
    cache_creation_input_tokens: int = 0

    def as_dict(self) -> dict[str, int]:
        return {
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "cache_read_input_tokens": self.cache_read_input_tokens,
            "cache_creation_input_tokens": self.cache_creation_input_tokens,
        }


_ids = itertools.count(1)


@dataclass(frozen=True)
class Text:
    """The model answers with text and ends its turn."""

    text: str
    usage: Usage = field(default_factory=Usage)


@dataclass(frozen=True)
class ToolUse:
    """The model asks to call one tool."""

    name: str
    input: dict[str, Any] = field(default_factory=dict)
    usage: Usage = field(default_factory=Usage)
    id: str = field(default_factory=lambda: f"toolu_standin_{next(_ids):06d}")


@dataclass(frozen=True)
class Reply:
    """One model response made of several blocks (e.g. text then two tool calls)."""

    blocks: tuple[Text | ToolUse, ...]
    usage: Usage = field(default_factory=Usage)


@dataclass(frozen=True)
class ApiError:
    """The API answers with an HTTP error (500 server error, 529 overloaded...)."""

    status: int = 500
    error_type: str = "api_error"
    message: str = "stand-in scripted error"


@dataclass(frozen=True)
class Hang:
    """The API accepts the request and never answers (until the stand-in stops)."""


# A callable turn looks at the request body and returns the turn to play.
Turn = Union[Text, ToolUse, Reply, ApiError, Hang, Callable[[dict[str, Any]], "Turn"]]  # noqa: UP007


def classification_answer(*parts: tuple[str, str], usage: Usage | None = None) -> Text:
    """The switchboard's classification answer: each part a (butler, text) pair, as JSON."""
    body = {"parts": [{"butler": butler, "text": text} for butler, text in parts]}
    return Text(json.dumps(body), usage=usage or Usage(input_tokens=180, output_tokens=40))


def is_classification(body: dict[str, Any]) -> bool:
    """A direct Messages API call with no tools and no streaming: the switchboard's classification.

    Claude Code always streams, so its requests never match.
    """
    return not body.get("stream") and not body.get("tools")


class ModelApiStandIn:
    """An HTTP server on 127.0.0.1 (ephemeral port) answering from a script."""

    def __init__(self, script: Iterable[Turn] = (), *, model: str | None = None) -> None:
        self._script: list[Turn] = list(script)
        self.model = model
        self.requests: list[dict[str, Any]] = []  # every /v1/messages body, in order
        self.headers: list[dict[str, str]] = []
        self.count_tokens_requests: list[dict[str, Any]] = []
        self.exhausted = 0  # requests that arrived after the script ran out
        # Classification requests (see is_classification) have a script of their own, so they can be
        # scripted apart from the Claude Code sessions that run around them.
        self._classify_script: list[Turn] = []
        self.classifications: list[dict[str, Any]] = []
        self.hanging = 0  # requests currently held open by a Hang turn
        # Events are made in __aenter__: anyio wants a running event loop.
        self._hang_started: anyio.Event
        self._release: anyio.Event
        self._changed: anyio.Event
        self._stack: AsyncExitStack | None = None
        self.port = 0

    # -- script -------------------------------------------------------------

    def push(self, *turns: Turn) -> None:
        """Append turns to the script (e.g. from a fixture-provided stand-in)."""
        self._script.extend(turns)

    def push_classification(self, *turns: Turn) -> None:
        """Answers for the next classification requests: classification_answer(...), Text("nonsense"),
        ApiError(500) (down) or Hang(). Unscripted, a classification gets a non-JSON answer."""
        self._classify_script.extend(turns)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def env(self) -> dict[str, str]:
        """Environment for a CLI pointed at this stand-in."""
        return {
            "ANTHROPIC_BASE_URL": self.base_url,
            "ANTHROPIC_API_KEY": "sk-ant-standin-dummy",
            "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
            "ENABLE_TOOL_SEARCH": "false",
        }

    # -- inspection ---------------------------------------------------------

    def tool_names(self, index: int = 0) -> list[str]:
        """Names of the tools offered to the model in request `index`."""
        return [t.get("name", "") for t in self.requests[index].get("tools", [])]

    def tool_results(self) -> list[dict[str, Any]]:
        """Every tool_result block the CLI sent back, in order of first appearance."""
        seen: dict[str, dict[str, Any]] = {}
        for body in self.requests:
            for msg in body.get("messages", []):
                content = msg.get("content")
                if not isinstance(content, list):
                    continue
                for block in content:
                    if block.get("type") == "tool_result":
                        seen.setdefault(block["tool_use_id"], block)
        return list(seen.values())

    def system_text(self, index: int = 0) -> str:
        system = self.requests[index].get("system", "")
        if isinstance(system, str):
            return system
        return "\n".join(b.get("text", "") for b in system)

    # The bounds below cover starting the Claude Code CLI (a Node.js program) on a busy machine:
    # seconds when quiet, tens of seconds with the test suite's workers sharing two cores.
    async def wait_for_requests(self, n: int, within_s: float = 60.0) -> None:
        """Wait (bounded) until at least `n` model requests have arrived."""
        with anyio.fail_after(within_s):
            while len(self.requests) < n:
                await self._changed.wait()

    async def wait_hanging(self, within_s: float = 60.0) -> None:
        """Wait (bounded) until a request is being held by a Hang turn."""
        with anyio.fail_after(within_s):
            await self._hang_started.wait()

    def release(self) -> None:
        """Let every held (Hang) request finish with a 500 error."""
        self._release.set()

    # -- server -------------------------------------------------------------

    async def __aenter__(self) -> ModelApiStandIn:
        self._hang_started, self._release, self._changed = anyio.Event(), anyio.Event(), anyio.Event()
        app = Starlette(
            routes=[
                Route("/v1/messages", self._messages, methods=["POST"]),
                Route("/v1/messages/count_tokens", self._count_tokens, methods=["POST"]),
            ]
        )
        self._stack = AsyncExitStack()
        self.port = int((await self._stack.enter_async_context(serve_asgi(app, lifespan="off"))).rsplit(":", 1)[1])
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._stack is not None
        self._release.set()  # held requests end, so the server can stop
        await self._stack.aclose()

    # -- handlers -----------------------------------------------------------

    def _next_turn(self, body: dict[str, Any]) -> Turn:
        if is_classification(body):
            self.classifications.append(body)
            if not self._classify_script:
                return Text("stand-in: no classification scripted")
            turn = self._classify_script.pop(0)
        elif not self._script:
            self.exhausted += 1
            return Text("stand-in: script exhausted")
        else:
            turn = self._script.pop(0)
        while callable(turn) and not isinstance(turn, (Text, ToolUse, Reply, ApiError, Hang)):
            turn = turn(body)
        return turn

    def _notify(self) -> None:
        self._changed.set()
        self._changed = anyio.Event()

    async def _count_tokens(self, request: Request) -> Response:
        body = await request.json()
        self.count_tokens_requests.append(body)
        return JSONResponse({"input_tokens": 100})

    async def _messages(self, request: Request) -> Response:
        body = await request.json()
        self.requests.append(body)
        self.headers.append(dict(request.headers))
        turn = self._next_turn(body)
        self._notify()
        if isinstance(turn, Hang):
            turn = await self._hold()
        if isinstance(turn, ApiError):
            error = {"type": "error", "error": {"type": turn.error_type, "message": turn.message}}
            return JSONResponse(error, status_code=turn.status, headers={"x-should-retry": "false"})
        assert isinstance(turn, (Text, ToolUse, Reply))
        message = _message(turn, self.model or body.get("model", "claude-standin"))
        if body.get("stream"):
            return StreamingResponse(_sse(message), media_type="text/event-stream")
        return JSONResponse(message)

    async def _hold(self) -> ApiError:
        self.hanging += 1
        self._hang_started.set()
        try:
            await self._release.wait()
        finally:
            self.hanging -= 1
        return ApiError(500, "api_error", "stand-in: released hanging request")


def _message(turn: Text | ToolUse | Reply, model: str) -> dict[str, Any]:
    blocks: tuple[Text | ToolUse, ...] = turn.blocks if isinstance(turn, Reply) else (turn,)
    content: list[dict[str, Any]] = []
    for b in blocks:
        if isinstance(b, Text):
            content.append({"type": "text", "text": b.text})
        else:
            content.append({"type": "tool_use", "id": b.id, "name": b.name, "input": b.input})
    stop = "tool_use" if any(isinstance(b, ToolUse) for b in blocks) else "end_turn"
    return {
        "id": f"msg_standin_{next(_ids):06d}",
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": content,
        "stop_reason": stop,
        "stop_sequence": None,
        "usage": turn.usage.as_dict(),
    }


def _event(kind: str, data: dict[str, Any]) -> bytes:
    return f"event: {kind}\ndata: {json.dumps(data)}\n\n".encode()


async def _sse(message: dict[str, Any]) -> AsyncIterator[bytes]:
    usage = message["usage"]
    start = {**message, "content": [], "stop_reason": None, "usage": {**usage, "output_tokens": 1}}
    yield _event("message_start", {"type": "message_start", "message": start})
    for i, block in enumerate(message["content"]):
        if block["type"] == "text":
            yield _event(
                "content_block_start",
                {"type": "content_block_start", "index": i, "content_block": {"type": "text", "text": ""}},
            )
            delta = {"type": "text_delta", "text": block["text"]}
        else:
            empty = {**block, "input": {}}
            yield _event("content_block_start", {"type": "content_block_start", "index": i, "content_block": empty})
            delta = {"type": "input_json_delta", "partial_json": json.dumps(block["input"])}
        yield _event("content_block_delta", {"type": "content_block_delta", "index": i, "delta": delta})
        yield _event("content_block_stop", {"type": "content_block_stop", "index": i})
    yield _event(
        "message_delta",
        {
            "type": "message_delta",
            "delta": {"stop_reason": message["stop_reason"], "stop_sequence": None},
            "usage": usage,
        },
    )
    yield _event("message_stop", {"type": "message_stop"})


@asynccontextmanager
async def model_api(script: Iterable[Turn] = ()) -> AsyncIterator[ModelApiStandIn]:
    """Function form of the stand-in, for fixtures: ``async with model_api() as api``."""
    async with ModelApiStandIn(script) as api:
        yield api


def model_api_fixture(name: str = "model_api") -> Any:
    """Build a pytest-asyncio fixture yielding a running, empty-script stand-in.

    In a conftest: ``model_api = model_api_fixture()``; in a test:
    ``model_api.push(ToolUse(...), Text("done"))``. Imported lazily so that the
    module works without pytest installed.
    """
    import asyncio

    import pytest_asyncio

    async def _fixture() -> AsyncIterator[ModelApiStandIn]:
        # pytest-asyncio runs a fixture's setup and teardown in different
        # tasks, and a task group must be left by the task that entered it:
        # one owner task holds the stand-in open for the whole test.
        ready: asyncio.Future[ModelApiStandIn] = asyncio.get_running_loop().create_future()
        stop = asyncio.Event()

        async def owner() -> None:
            async with model_api() as api:
                ready.set_result(api)
                await stop.wait()

        task = asyncio.create_task(owner())
        first: list[asyncio.Future[Any]] = [task, ready]
        await asyncio.wait(first, return_when=asyncio.FIRST_COMPLETED)
        if not ready.done():
            await task  # it failed before serving: raise its error
        yield ready.result()
        stop.set()
        await task

    return pytest_asyncio.fixture(name=name)(_fixture)
