"""What every `butlerctl` command shares: config discovery, MCP calls and exits.

Options are in `cli/options.py`, printing in `cli/output.py` (both also importable from here).
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any, NoReturn

import anyio
import typer

from butlers.cli.client import ToolError, UnknownToolError, call_tool
from butlers.cli.options import DirOption as DirOption
from butlers.cli.options import HostOption as HostOption
from butlers.cli.options import JsonOption as JsonOption
from butlers.cli.options import NameArgument as NameArgument
from butlers.cli.output import SHORT_ID as SHORT_ID
from butlers.cli.output import echo_json as echo_json
from butlers.config import ButlerConfig, discover
from butlers.errors import ConfigError, ConfigErrors, DaemonUnreachableError
from butlers.settings import Settings, load_settings

CALL_TIMEOUT_S = 10.0  # a butler answering a plain (non-waiting) tool call


# ---------------------------------------------------------------- helpers


def settings() -> Settings:
    """Global settings, or exit 1 naming the bad environment variable."""
    try:
        return load_settings()
    except ConfigError as exc:
        fail(str(exc))


def resolve_dir(directory: Path | None) -> Path:
    """`--dir`, else BUTLERS_DIR, else ./butlers.d (read now, not at import, so env changes count)."""
    return directory if directory is not None else settings().dir


def fail(message: str, code: int = 1) -> NoReturn:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


def report_errors(errors: list[ConfigError]) -> None:
    for error in errors:
        typer.echo(f"error: {error}", err=True)


def error_dict(error: ConfigError) -> dict[str, str | None]:
    return {"file": error.file, "key": error.key, "message": error.detail}


def discover_all(root: Path) -> tuple[list[ButlerConfig], list[ConfigError]]:
    """`config.discover`, with a missing folder reported as an error instead of raised."""
    try:
        return discover(root)
    except ConfigErrors as exc:
        return [], list(exc.errors)


def butler_port(directory: Path | None, name: str) -> int:
    """NAME's port from the config folder; an unknown name is a usage error (exit 2) listing the known ones."""
    root = resolve_dir(directory)
    configs, errors = discover_all(root)
    for config in configs:
        if config.name == name:
            return config.port
    report_errors(errors)
    known = ", ".join(sorted(c.name for c in configs)) or f"none in {root}"
    fail(f"unknown butler '{name}' (known: {known})", code=2)


def host_or_default(host: str | None) -> str:
    """--host, else BUTLERS_HOST (else 127.0.0.1)."""
    return host if host is not None else settings().host


def butler_address(directory: Path | None, name: str, host: str | None) -> tuple[str, int]:
    """Where butler NAME listens: --host (default BUTLERS_HOST) and the port from its butler.toml."""
    return host_or_default(host), butler_port(directory, name)


def call(
    host: str, port: int, tool: str, args: dict[str, Any], timeout: float = CALL_TIMEOUT_S, missing: str | None = None
) -> Any:
    """One tool call; exit 1 naming the URL when the butler is down, or with the tool's message when it fails.

    `missing` is what to say (exit 2: the butler's config lacks something) when the butler has no such tool.
    """
    try:
        return anyio.run(call_tool, host, port, tool, args, timeout)
    except DaemonUnreachableError as exc:
        fail(str(exc))
    except UnknownToolError as exc:
        if missing is not None:
            fail(missing, code=2)
        fail(f"{tool} failed: {exc}")
    except ToolError as exc:
        fail(f"{tool} failed: {exc}")


def answer_dict(tool: str, answer: Any) -> dict[str, Any]:
    if not isinstance(answer, dict):
        fail(f"{tool} answered something unexpected: {answer!r}")
    return answer


def call_dict(
    host: str, port: int, tool: str, args: dict[str, Any], timeout: float = CALL_TIMEOUT_S, missing: str | None = None
) -> dict[str, Any]:
    """`call`, with an answer that is not a JSON object an error (exit 1)."""
    return answer_dict(tool, call(host, port, tool, args, timeout, missing))


def ask(
    directory: Path | None,
    name: str,
    host: str | None,
    tool: str,
    args: dict[str, Any],
    timeout: float = CALL_TIMEOUT_S,
    missing: str | None = None,
) -> dict[str, Any]:
    """Call `tool` on butler NAME (found as `butler_address` does) and return its JSON object answer."""
    address, port = butler_address(directory, name, host)
    return call_dict(address, port, tool, args, timeout, missing)


def resolve_id(
    host: str,
    port: int,
    given: str,
    tool: str,
    args: dict[str, Any],
    key: str,
    none_found: str,
    missing: str | None = None,
) -> str:
    """A full id as given; a prefix matched against the newest records `tool` lists (exit 1 if none or several)."""
    try:
        return str(uuid.UUID(given))
    except ValueError:
        pass
    answer = answer_dict(tool, call(host, port, tool, args, missing=missing))
    prefix = given.lower()
    matches = [str(r["id"]) for r in answer.get(key) or [] if str(r.get("id", "")).startswith(prefix)]
    if len(matches) != 1:
        found = none_found if not matches else f"{len(matches)} {key}"
        fail(f"{found} with an id starting with {given!r}; give more of the id")
    return matches[0]


def version_option(program: str) -> Any:
    """The eager `--version` option of PROGRAM's app callback (`version: bool = version_option(...)`)."""
    return typer.Option(
        False, "--version", is_eager=True, callback=version_callback(program), help="Print the version and exit."
    )


def version_callback(program: str) -> Any:
    """An eager `--version` option: prints `PROGRAM VERSION` and exits 0."""

    def show(value: bool) -> None:
        if value:
            from importlib.metadata import version

            typer.echo(f"{program} {version('butlers')}")
            raise typer.Exit(0)

    return show
