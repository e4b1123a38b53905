"""`butlerctl state`: a butler's key-value state store: list by prefix, get, set, delete.

Values are JSON. Setting and deleting are operator actions (the token is found
automatically). A value that is not valid JSON is refused here, before anything is sent.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer

from butlers.cli.common import ask, fail
from butlers.cli.options import DirOption, HostOption, JsonOption, NameArgument
from butlers.cli.output import first_line, listed, print_table, show

state_app = typer.Typer(
    name="state",
    help="A butler's state store (JSON values under keys): list keys by prefix, get, set or delete one.",
    no_args_is_help=True,
    rich_markup_mode=None,
)

KeyArgument = Annotated[str, typer.Argument(metavar="KEY", help="The state key.")]


@state_app.command("list")
def state_list(
    name: NameArgument,
    prefix: Annotated[str, typer.Option("--prefix", help="Only keys starting with this; default all.")] = "",
    limit: Annotated[int, typer.Option("--limit", min=1, max=1000, help="At most this many keys, in key order.")] = 100,
    as_json: JsonOption = False,
    directory: DirOption = None,
    host: HostOption = None,
) -> None:
    """List butler NAME's keys starting with --prefix, in key order, with version and value."""
    answer = ask(directory, name, host, "state_list", {"prefix": prefix, "limit": limit})
    entries = listed(answer, as_json, "entries", f"No keys{f' starting with {prefix!r}' if prefix else ''} on {name}.")
    if not entries:
        return
    table = [("KEY", "VERSION", "VALUE")]
    table += [(str(e["key"]), str(e.get("version")), first_line(json.dumps(e.get("value")), 70)) for e in entries]
    print_table(table)


@state_app.command("get")
def state_get(
    name: NameArgument,
    key: KeyArgument,
    as_json: JsonOption = False,
    directory: DirOption = None,
    host: HostOption = None,
) -> None:
    """Print the JSON value stored under KEY on butler NAME. Exit 1 when there is none."""
    answer = ask(directory, name, host, "state_get", {"key": key})
    if as_json or answer.get("found"):
        show(answer, as_json, json.dumps(answer.get("value"), indent=2, ensure_ascii=False))
    if not answer.get("found"):
        fail(f"no key {key!r} on {name}")


@state_app.command("set")
def state_set(
    name: NameArgument,
    key: KeyArgument,
    value: Annotated[str, typer.Argument(metavar="VALUE", help='The value as JSON, e.g. \'{"items": ["milk"]}\'.')],
    text: Annotated[bool, typer.Option("--text", help="Store VALUE as a JSON string, as it is.")] = False,
    expected_version: Annotated[
        int | None,
        typer.Option("--expected-version", min=1, help="Write only if the key is still at this version."),
    ] = None,
    as_json: JsonOption = False,
    directory: DirOption = None,
    host: HostOption = None,
) -> None:
    """Store VALUE (JSON) under KEY on butler NAME; print the new version.

    Exit 2 when VALUE is not JSON (nothing is sent); 1 when the butler refuses it
    (a version conflict, too large).
    """
    parsed = value if text else _json(value)
    args: dict[str, Any] = {"key": key, "value": parsed}
    if expected_version is not None:
        args["expected_version"] = expected_version
    answer = ask(directory, name, host, "state_set", args)
    show(answer, as_json, f"{key} = version {answer.get('version')} on {name}")


def _json(value: str) -> Any:
    try:
        return json.loads(value)
    except ValueError as exc:
        raise typer.BadParameter(f"not JSON ({exc}); use --text to store it as a string", param_hint="VALUE") from None


@state_app.command("delete")
def state_delete(
    name: NameArgument,
    key: KeyArgument,
    as_json: JsonOption = False,
    directory: DirOption = None,
    host: HostOption = None,
) -> None:
    """Delete KEY on butler NAME. Exit 1 when there was no such key."""
    answer = ask(directory, name, host, "state_delete", {"key": key})
    if as_json or answer.get("deleted"):
        show(answer, as_json, f"deleted {key} on {name}")
    if not answer.get("deleted"):
        fail(f"no key {key!r} on {name}")
