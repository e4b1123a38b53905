"""The one exception hierarchy of Butlers.

Every message says what went wrong, where (file and key, tool and argument,
butler and module) and, where it can, how to fix it. Errors are turned into
user-facing output only at the edges: a CLI exit code, an MCP tool error.
"""

from __future__ import annotations

from pathlib import Path


class ButlersError(Exception):
    """Base class of every error Butlers raises on purpose."""


def describe(exc: BaseException) -> str:
    """A caught library error in a message: its type and text, or its type alone when it has no text
    (a connect timeout, say, whose message would otherwise be empty)."""
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


class ConfigError(ButlersError):
    """A butler.toml (or global setting) is invalid."""

    def __init__(self, message: str, *, file: Path | str | None = None, key: str | None = None) -> None:
        self.file = str(file) if file is not None else None
        self.key = key
        where = ""
        if self.file and key:
            where = f"{self.file}: {key}: "
        elif self.file:
            where = f"{self.file}: "
        elif key:
            where = f"{key}: "
        super().__init__(f"{where}{message}")
        self.detail = message


class ConfigErrors(ButlersError):
    """Several configuration errors found at once (e.g. by `butlerctl check`)."""

    def __init__(self, errors: list[ConfigError]) -> None:
        self.errors = errors
        super().__init__("\n".join(str(e) for e in errors))


class CredentialError(ButlersError):
    """A required environment variable is missing."""


class DatabaseError(ButlersError):
    """The database could not be reached, created or started."""


class MigrationError(ButlersError):
    """A migration failed to apply."""


class ModuleError(ButlersError):
    """A module is unknown, misconfigured, has bad dependencies or failed to start."""


class ToolInputError(ButlersError):
    """A tool was called with an invalid argument; nothing was written."""

    def __init__(self, tool: str, argument: str | None, message: str) -> None:
        self.tool = tool
        self.argument = argument
        where = f"{tool}: argument '{argument}'" if argument else tool
        super().__init__(f"{where}: {message}")


class CallerError(ButlersError):
    """A request that cannot be done as asked; the message is meant for the caller.

    `argument` names the input at fault when the raiser knows it (a store names
    its own parameter, which the core tools name alike). At the MCP edge
    (`butlers.core.tool_errors.ToolErrorTranslation`) it becomes the tool error
    `tool: argument 'x': message`; any other exception stays masked.
    """

    def __init__(self, message: str, *, argument: str | None = None) -> None:
        super().__init__(message)
        self.argument = argument


class NotFoundError(CallerError):
    """The thing asked for does not exist."""


class ConflictError(CallerError):
    """The write found something else than it expected (a taken name, another version); nothing was written."""


class StateConflict(ConflictError):
    """A state compare-and-set found another version than expected; nothing was written."""

    def __init__(self, key: str, current_version: int | None, *, argument: str | None = None) -> None:
        self.key = key
        self.current_version = current_version
        now = f"is at version {current_version}" if current_version is not None else "does not exist"
        super().__init__(f"conflict: key '{key}' {now}; nothing was written, read it and retry", argument=argument)


class UnknownActionError(CallerError):
    """No executor is registered under this action name on this butler (its module is not enabled)."""


class NotifyUnavailableError(CallerError):
    """No butler of this daemon delivers notifications."""


class PortInUseError(ButlersError):
    """The port a butler asked for cannot be bound."""


class NothingToServeError(ButlersError):
    """Every butler failed to start: the daemon exits non-zero so a service manager notices."""


class DaemonUnreachableError(ButlersError):
    """butlerctl could not reach a running butler."""
