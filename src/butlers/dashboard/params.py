"""Reading query and path parameters: a bad one is a 400 naming the parameter, never a traceback."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import date

from starlette.requests import Request

from butlers.errors import ButlersError


class BadParameterError(ButlersError):
    """A request parameter the dashboard cannot use; answered with 400 (JSON under /api/)."""

    def __init__(self, parameter: str, message: str) -> None:
        super().__init__(f"{parameter}: {message}")
        self.parameter = parameter
        self.message = message


def text(request: Request, name: str, *, max_length: int = 200) -> str | None:
    """An optional text parameter; empty counts as absent."""
    value = request.query_params.get(name) or None
    if value is not None and len(value) > max_length:
        raise BadParameterError(name, f"at most {max_length} characters")
    return value


def choice(request: Request, name: str, allowed: Iterable[str]) -> str | None:
    value = text(request, name)
    options = list(allowed)
    if value is not None and value not in options:
        raise BadParameterError(name, f"{value!r} is not one of {', '.join(options)}")
    return value


def integer(request: Request, name: str, *, default: int, low: int, high: int) -> int:
    raw = text(request, name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise BadParameterError(name, f"{raw!r} is not a whole number") from None
    if not low <= value <= high:
        raise BadParameterError(name, f"must be between {low} and {high}")
    return value


def day(request: Request, name: str) -> date | None:
    raw = text(request, name)
    if raw is None:
        return None
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise BadParameterError(name, f"{raw!r} is not a date (YYYY-MM-DD)") from None


def identifier(value: str, name: str) -> uuid.UUID:
    """A path's id (a session, an approval) as a UUID."""
    try:
        return uuid.UUID(value)
    except ValueError:
        raise BadParameterError(name, f"{value!r} is not an id (a UUID)") from None
