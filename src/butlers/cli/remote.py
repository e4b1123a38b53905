"""`Remote`: the options every command that asks a running butler shares, handed to it as one parameter.

A command declares `remote: Remote` as its last, keyword-only parameter and is registered through
`remote_command`, which puts `--json`, `--dir` and `--host` in its place (last, in that order, as
`--help` and docs/cli.md list them) and calls the command with one `Remote` made of their values.

A tool a module provides, asked of a butler without that module, is answered with the module to
enable (`MODULE_TOOLS`), not with the server's "Unknown tool".
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from butlers.cli.common import CALL_TIMEOUT_S, ask, butler_address, call_dict, fail, resolve_id
from butlers.cli.options import DirOption, HostOption, JsonOption
from butlers.cli.output import listed, print_table, show

_SHARED = (
    inspect.Parameter("as_json", inspect.Parameter.KEYWORD_ONLY, default=False, annotation=JsonOption),
    inspect.Parameter("directory", inspect.Parameter.KEYWORD_ONLY, default=None, annotation=DirOption),
    inspect.Parameter("host", inspect.Parameter.KEYWORD_ONLY, default=None, annotation=HostOption),
)


@dataclass(frozen=True)
class ModuleNeed:
    """The module a tool comes from, and what a butler without it has none of."""

    module: str  # its table in butler.toml: [modules.<module>]
    what: str  # e.g. "notifications"


_NOTIFY = ModuleNeed("notify", "notifications")
_SWITCHBOARD = ModuleNeed("switchboard", "inbound messages")

# Every module tool a `butlerctl` command calls (the core tools every butler has are not here).
MODULE_TOOLS: dict[str, ModuleNeed] = {
    "notify_list": _NOTIFY,
    "notify_retry": _NOTIFY,
    "inbound_list": _SWITCHBOARD,
    "inbound_get": _SWITCHBOARD,
    "inbound_retry": _SWITCHBOARD,
    "reroute": _SWITCHBOARD,
}


def without_module(name: str, tool: str) -> str | None:
    """What to tell the user when butler NAME has no `tool` because a module is not enabled (None: a core tool)."""
    need = MODULE_TOOLS.get(tool)
    if need is None:
        return None
    return f"butler '{name}' has no {need.what}: enable [modules.{need.module}] in its butler.toml"


@dataclass(frozen=True)
class IdLookup:
    """A kind of record a command names by its id or the start of it, as `butlerctl ... list` shows it."""

    list_tool: str  # lists the newest records, among which a prefix is matched
    list_args: dict[str, Any]
    key: str  # where the list tool's answer holds the records
    none_found: str  # said when no record matches, e.g. "no approval"
    argument: str  # the argument naming one record in the tools that act on it


@dataclass(frozen=True)
class Remote:
    """Where the butlers are (--dir, --host) and how to print (--json)."""

    as_json: bool
    directory: Path | None
    host: str | None

    def address(self, name: str) -> tuple[str, int]:
        """Where butler NAME listens (exit 2 for an unknown name)."""
        return butler_address(self.directory, name, self.host)

    def ask(self, name: str, tool: str, args: dict[str, Any], timeout: float = CALL_TIMEOUT_S) -> dict[str, Any]:
        """Call `tool` on butler NAME; its JSON object answer (exit 1 if down, refused or not an object;
        exit 2 if the butler lacks the module that provides it)."""
        return ask(self.directory, name, self.host, tool, args, timeout, without_module(name, tool))

    def ask_about(
        self,
        name: str,
        lookup: IdLookup,
        given: str,
        tool: str,
        args: dict[str, Any] | None = None,
        timeout: float = CALL_TIMEOUT_S,
    ) -> tuple[str, dict[str, Any]]:
        """Call `tool` on butler NAME about the record `given` names (a full id or its start): (full id, answer)."""
        address, port = self.address(name)
        listing = (lookup.list_tool, lookup.list_args, lookup.key, lookup.none_found)
        found = resolve_id(address, port, given, *listing, without_module(name, lookup.list_tool))
        answer = call_dict(
            address, port, tool, {lookup.argument: found, **(args or {})}, timeout, without_module(name, tool)
        )
        return found, answer

    def show(self, record: dict[str, Any], human: str | Callable[[dict[str, Any]], None]) -> None:
        show(record, self.as_json, human)

    def show_or_fail(self, record: dict[str, Any], human: str, failure: str | None) -> None:
        """`show`, or with a `failure` exit 1 saying it (after the record with --json; the human line is not said)."""
        if self.as_json or failure is None:
            self.show(record, human)
        if failure is not None:
            fail(failure)

    def table(
        self, answer: dict[str, Any], key: str, none: str, columns: Sequence[str], row: Callable[[Any], Sequence[str]]
    ) -> list[dict[str, Any]]:
        """The records under `key`, printed: as JSON with --json, else a table of `columns` and one `row` a record.

        `none` is said when there are none. Returns the records the table shows ([] with --json).
        """
        records = listed(answer, self.as_json, key, none)
        if records:
            print_table([columns, *map(row, records)])
        return records


def remote_command(command: Callable[..., None]) -> Callable[..., None]:
    """`command` with its `remote` parameter turned into the --json, --dir and --host options."""
    signature = inspect.signature(command, eval_str=True)
    own = [p for name, p in signature.parameters.items() if name != "remote"]

    @functools.wraps(command)
    def run(*args: Any, as_json: bool, directory: Path | None, host: str | None, **kwargs: Any) -> None:
        command(*args, remote=Remote(as_json, directory, host), **kwargs)

    # typer reads the options from the signature and, for plain parameters, the annotations.
    run.__signature__ = signature.replace(parameters=[*own, *_SHARED])  # type: ignore[attr-defined]
    run.__annotations__ = {p.name: p.annotation for p in (*own, *_SHARED)} | {"return": None}
    return run
