"""`butlerctl state`: a butler's key-value state store: list by prefix, get, set, delete.

Values are JSON. Setting and deleting are operator actions (the token is found
automatically). A value that is not valid JSON is refused here, before anything is sent.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer

from butlers.cli.options import NameArgument
from butlers.cli.output import first_line
from butlers.cli.remote import Remote, remote_command

state_app = typer.Typer(
    name="state",
    help="A butler's state store (JSON values under keys): list keys by prefix, get, set or delete one.",
    no_args_is_help=True,
    rich_markup_mode=None,
)

KeyArgument = Annotated[str, typer.Argument(metavar="KEY", help="The state key.")]


@state_app.command("list")
@remote_command
def state_list(
    name: NameArgument,
    prefix: Annotated[str, typer.Option("--prefix", help="Only keys starting with this; default all.")] = "",
    limit: Annotated[int, typer.Option("--limit", min=1, max=1000, help="At most this many keys, in key order.")] = 100,
    *,
    remote: Remote,
) -> None:
    """List butler NAME's keys starting with --prefix, in key order, with version and value."""
    answer = remote.ask(name, "state_list", {"prefix": prefix, "limit": limit})
    none = f"No keys{f' starting with {prefix!r}' if prefix else ''} on {name}."
    remote.table(answer, "entries", none, ("KEY", "VERSION", "VALUE"), _row)


def _row(e: dict[str, Any]) -> tuple[str, ...]:
    return str(e["key"]), str(e.get("version")), first_line(json.dumps(e.get("value")), 70)


@state_app.command("get")
@remote_command
def state_get(name: NameArgument, key: KeyArgument, *, remote: Remote) -> None:
    """Print the JSON value stored under KEY on butler NAME. Exit 1 when there is none."""
    answer = remote.ask(name, "state_get", {"key": key})
    value = json.dumps(answer.get("value"), indent=2, ensure_ascii=False)
    remote.show_or_fail(answer, value, None if answer.get("found") else f"no key {key!r} on {name}")


@state_app.command("set")
@remote_command
def state_set(
    name: NameArgument,
    key: KeyArgument,
    value: Annotated[str, typer.Argument(metavar="VALUE", help='The value as JSON, e.g. \'{"items": ["milk"]}\'.')],
    text: Annotated[bool, typer.Option("--text", help="Store VALUE as a JSON string, as it is.")] = False,
    expected_version: Annotated[
        int | None,
        typer.Option("--expected-version", min=1, help="Write only if the key is still at this version."),
    ] = None,
    *,
    remote: Remote,
) -> None:
    """Store VALUE (JSON) under KEY on butler NAME; print the new version.

    Exit 2 when VALUE is not JSON (nothing is sent); 1 when the butler refuses it
    (a version conflict, too large).
    """
    parsed = value if text else _json(value)
    args: dict[str, Any] = {"key": key, "value": parsed}
    if expected_version is not None:
        args["expected_version"] = expected_version
    answer = remote.ask(name, "state_set", args)
    remote.show(answer, f"{key} = version {answer.get('version')} on {name}")


def _json(value: str) -> Any:
    try:
        return json.loads(value)
    except ValueError as exc:
        raise typer.BadParameter(f"not JSON ({exc}); use --text to store it as a string", param_hint="VALUE") from None


@state_app.command("delete")
@remote_command
def state_delete(name: NameArgument, key: KeyArgument, *, remote: Remote) -> None:
    """Delete KEY on butler NAME. Exit 1 when there was no such key."""
    answer = remote.ask(name, "state_delete", {"key": key})
    remote.show_or_fail(
        answer, f"deleted {key} on {name}", None if answer.get("deleted") else f"no key {key!r} on {name}"
    )
