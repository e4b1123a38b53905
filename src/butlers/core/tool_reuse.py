"""A tool's schemas worked out once per daemon, not once per butler.

Building a FastMCP tool from a function derives its input and output schemas
with pydantic (`ParsedFunction.from_function`): a few milliseconds a tool.
Every butler registers the same core tools as closures over its own services,
so 50 butlers paid that ~40 times each at start for identical schemas (the
largest part of a butler's start after the database; docs/benchmarks.md).

A tool whose function is the same code with the same annotations, defaults,
name and description has the same schemas; the first build is kept and later
ones copy it with their own function. Only plain functions and bound methods
whose tool keeps the function as it is (no Context parameter rewritten by
FastMCP) are reused; anything else is built as before.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Hashable
from typing import TYPE_CHECKING, Any, TypeVar

from fastmcp.tools import FunctionTool

if TYPE_CHECKING:
    from fastmcp import FastMCP

T = TypeVar("T", bound=FunctionTool)
F = TypeVar("F", bound=Callable[..., Any])

#: Distinct tools kept (each a few kB of schema); more than any daemon registers.
MAX_KEPT = 4096


def build_tool(cls: type[T], fn: Callable[..., Any], *, name: str, description: str | None = None) -> T:
    """`cls.from_function(fn, name=..., description=...)`, reusing the schemas of an identical earlier build."""
    key = _key(cls, fn, name, description)
    template = _TEMPLATES.get(key) if key is not None else None
    if template is None:
        tool = cls.from_function(fn, name=name, description=description)
        if key is not None and tool.fn is fn:  # else FastMCP wrapped or rewrote it
            _TEMPLATES.keep(key, tool.model_copy(update={"fn": _unbound}))  # holds no butler's closure
        assert isinstance(tool, cls)  # from_function builds the class it is called on
        return tool
    assert isinstance(template, cls)
    # The schemas are shared, not copied: nothing changes a registered tool's schemas in place
    # (FastMCP hands them to each listing as they are), and sharing lets InlinedSchemas inline
    # them once for every butler by identity (schema_cache.py).
    return template.model_copy(update={"fn": fn})


def function_tool(mcp: FastMCP, *, name: str, description: str) -> Callable[[F], F]:
    """Decorator: `@mcp.tool(name=..., description=...)` (a plain FunctionTool), built with `build_tool`."""

    def register(fn: F) -> F:
        mcp.add_tool(build_tool(FunctionTool, fn, name=name, description=description))
        return fn

    return register


def _unbound(*args: Any, **kwargs: Any) -> Any:
    raise AssertionError("a kept tool template is never run")  # only its copies, each with its own function


def _key(cls: type, fn: Callable[..., Any], name: str, description: str | None) -> Hashable | None:
    """What the schemas depend on; None when `fn` is not a plain function or bound method."""
    func = fn.__func__ if inspect.ismethod(fn) else fn
    if not inspect.isfunction(func) or "__signature__" in func.__dict__:
        return None
    try:
        return (
            cls,
            func.__code__,
            inspect.ismethod(fn),
            name,
            description,
            func.__doc__,
            repr(func.__annotations__),  # a closure may annotate with values of its own (a Literal, a Field)
            repr(func.__defaults__),
            repr(func.__kwdefaults__),
        )
    except Exception:  # an annotation whose repr fails: build it the usual way
        return None


class _Templates:
    """The first build of each distinct tool, by key (bounded: cleared when full)."""

    def __init__(self) -> None:
        self._kept: dict[Hashable, FunctionTool] = {}

    def get(self, key: Hashable) -> FunctionTool | None:
        return self._kept.get(key)

    def keep(self, key: Hashable, tool: FunctionTool) -> None:
        if len(self._kept) >= MAX_KEPT:
            self._kept.clear()
        self._kept[key] = tool


_TEMPLATES = _Templates()
